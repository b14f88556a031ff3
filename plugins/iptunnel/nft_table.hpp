// The gateway's nftables table `inet meshhost` (DESIGN §6): the firewall rendered as nft
// text by a pure function, and the libnftables context that applies, lists and removes it.
#pragma once

#include "ip_block.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nft_ctx;

namespace mh::iptunnel {

// What the gateway's firewall enforces (DESIGN §6).
struct GatewayFirewall {
  std::string tunnel;                  // the gateway's TUN (clients' side), e.g. "mhgw0"
  std::string uplink;                  // NAT uplink; "" = no NAT, forwarding only
  std::vector<IpBlock> client_blocks;  // every Alloc block and pool clients may send from (both families)
  std::vector<IpBlock> denied;         // the gateway's own addresses and its LAN prefixes (both families)
  std::vector<IpAddress> dns_servers;  // reachable from clients even when inside `denied` (udp+tcp 53 only)
  bool client_isolation = false;       // clients may not reach each other through the gateway
  bool block_smtp = false;             // no tcp/25 from clients
  std::uint16_t mtu = 1280;            // tunnel MTU: TCP MSS clamped to mtu-40 (IPv4) / mtu-60 (IPv6)
  // Forwarding was off before meshhost turned it on for the tunnel: traffic that neither
  // enters nor leaves `tunnel` is still not forwarded (per family), so the gateway does
  // not become a router between its other interfaces.
  bool tunnel_only_forwarding4 = false;
  bool tunnel_only_forwarding6 = false;
};

// The whole nft script that replaces table `inet meshhost` in one transaction: "add table
// inet meshhost" + "delete table inet meshhost" + the table's definition, so a crashed run's
// leftovers go and no other table is touched. Pure; unit-tested as text.
// `tunnel` and `uplink` are interface names as the config checks them (nft cannot quote a
// '"'; a trailing '*' would be a wildcard); `mtu` is at least kMinMtu. Blocks may overlap
// and need not be aligned: each family's list is reduced to disjoint network blocks. A
// family without client blocks has all its packets from the tunnel dropped.
std::string render_gateway_ruleset(const GatewayFirewall& fw);

// One libnftables context. Every call talks to the kernel over netlink and blocks until
// it answers; each needs CAP_NET_ADMIN in the caller's network namespace, even listing.
// Not thread-safe: one owner, one call at a time.
class NftTable {
 public:
  // A libnftables context (nft_ctx_new, output buffered, JSON off); nullptr + *error when it cannot be made.
  static std::unique_ptr<NftTable> open(std::string* error);
  ~NftTable();
  NftTable(const NftTable&) = delete;
  NftTable& operator=(const NftTable&) = delete;

  // Runs `script` as one transaction (nft_run_cmd_from_buffer); false + *error with nft's own error text on one line.
  bool apply(const std::string& script, std::string* error);
  // Deletes table inet meshhost if it exists (absent is not an error).
  bool remove(std::string* error);
  // Whether table inet meshhost exists now, and its ruleset text (`list table inet meshhost`).
  // nullopt with *error cleared when the table is absent; nullopt with *error set when
  // the kernel could not be asked.
  std::optional<std::string> list_own(std::string* error);
  // The other tables ("family name", e.g. "ip filter") that have a chain on the forward hook
  // whose policy is drop, or whose rules include a plain `drop` verdict: the gateway warns
  // that they may drop its clients' forwarded traffic. Uses `list ruleset` with JSON output.
  // A `reject` counts as a drop, and so do the rules of chains such a chain jumps or goes
  // to (firewalld rejects from a chain its forward chain jumps to). Bridge tables are left
  // out: routed traffic never passes their forward hook. Empty with *error set on failure.
  std::vector<std::string> forward_droppers(std::string* error);

 private:
  explicit NftTable(nft_ctx* ctx) : ctx_(ctx) {}
  // Runs `commands`; nft's output in *output (when not null). False + *error on failure.
  bool run(const std::string& commands, std::string* output, std::string* error);

  nft_ctx* ctx_;
};

}  // namespace mh::iptunnel
