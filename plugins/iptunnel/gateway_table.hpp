// The gateway's decisions (DESIGN §6): which addresses a requesting key gets — its pinned
// blocks, or a stable lease from the pools — or why it is denied; whether a client's
// packet has a source it owns; and the lease log. No sockets, no clocks: time is passed in.
#pragma once

#include "iptunnel_config.hpp"
#include "iptunnel_messages.hpp"
#include "lease_store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mh::iptunnel {

// One line of the lease log: who held which addresses from when to when (seconds).
struct LeaseRecord {
  enum class Event : std::uint8_t { granted, renewed, ended };
  Event event = Event::granted;
  PublicKey key;
  std::vector<GrantedAddress> addresses;
  std::uint64_t start_s = 0;
  std::uint64_t end_s = 0;  // the lease's end: planned for granted/renewed, actual for ended
};

// "granted <key>.k 100.64.0.10/32 2001:db8::10/128 start=… end=…"
std::string format_lease_record(const LeaseRecord& record);

struct GatewayDecision {
  bool granted = false;
  Grant grant;    // when granted
  Denial denial;  // otherwise
  // The log line for a grant or renewal; unset on a denial.
  std::optional<LeaseRecord> record;
  // A new pool lease could not be saved: it holds until restart only (the plugin logs it).
  bool store_failed = false;
};

class GatewayTable {
 public:
  // `store` (borrowed, outlives the table) holds the pool leases of earlier runs; leases
  // of keys no longer pinned, or outside the configured pools, are dropped from it.
  GatewayTable(const IptunnelConfig& config, LeaseStore* store);

  // Answers a lease request or renew from `key` (the session's authenticated key) for the
  // families in `families` (kWantIp4 | kWantIp6) at `now_s`.
  GatewayDecision request(const PublicKey& key, std::uint8_t families, std::uint32_t nonce, std::uint64_t now_s);

  // Applies a changed config (SIGHUP, `iptunnel.reload`) without dropping other clients:
  // a live lease stays when every address it holds is still the key's (pinned alike, or
  // its pool address still fits); a removed key's lease, or one whose addresses changed,
  // ends at once. The records of the leases that ended.
  std::vector<LeaseRecord> reconfigure(const IptunnelConfig& config, std::uint64_t now_s);

  // The client gives its lease back. The record when it held one.
  std::optional<LeaseRecord> release(const PublicKey& key, std::uint64_t now_s);

  // Ends every lease whose time ran out by `now_s`; their records.
  std::vector<LeaseRecord> expire(std::uint64_t now_s);

  // The anti-spoof check, per packet: true when `key` holds a live lease and `packet` is
  // one whole IPv4/IPv6 packet whose source lies in one of its Alloc blocks. No
  // allocation, no hashing (binary search over the pinned keys).
  bool source_allowed(const PublicKey& key, ByteSpan packet) const noexcept;

  // The client whose live lease holds the destination of `packet` (one whole IPv4/IPv6
  // packet), for the downstream path; nullptr for none. Binary search over the leased
  // blocks, which never overlap: no allocation, no hashing.
  const PublicKey* client_for_destination(ByteSpan packet) const noexcept;

  // The families of `key`'s live lease (kWantIp4 | kWantIp6), 0 when it holds none: what a
  // probe is answered with.
  std::uint8_t held_families(const PublicKey& key) const noexcept;
  // Whether to answer an account request from `key` at `now_ns`: only while it holds a
  // live lease, and at most kAccountBurst at once and kAccountPerSecond after that, so a
  // client cannot make the gateway do unbounded work. No allocation.
  static constexpr std::uint64_t kAccountBurst = 4;
  static constexpr std::uint64_t kAccountPerSecond = 2;
  enum class AccountAsk : std::uint8_t { answer, no_lease, rate_limited };
  AccountAsk account_request(const PublicKey& key, std::uint64_t now_ns) noexcept;
  // The addresses of `key`'s live lease; empty when it holds none.
  std::vector<GrantedAddress> held(const PublicKey& key) const;

  // One client as the admin views show it.
  struct ClientView {
    PublicKey key;
    bool active = false;
    std::vector<GrantedAddress> addresses;  // the live lease's
    std::uint64_t start_s = 0;
    std::uint64_t end_s = 0;
  };
  std::vector<ClientView> clients() const;

  // Every block a client may send from: the pinned Alloc blocks and the pools.
  std::vector<IpBlock> client_blocks() const;

  std::size_t active_leases() const noexcept;
  // The constructor dropped stale stored leases but could not save the smaller set.
  bool store_failed_at_load() const noexcept { return store_failed_; }

 private:
  struct Client {
    PublicKey key;
    std::vector<PinnedAddress> pinned;
    std::uint8_t held_count = 0;  // addresses of the live lease
    GrantedAddress held[kMaxGrantAddresses];
    bool active = false;
    std::uint64_t start_s = 0;
    std::uint64_t end_s = 0;
    // The account requests' rate (GCRA): when the next one would be on time.
    std::uint64_t account_due_ns = 0;
  };

  // A leased block and the client that holds it, sorted by address for the downstream path.
  struct LeasedBlock {
    IpBlock block;  // network address, alloc length
    std::uint32_t client = 0;  // index into clients_
  };
  void rebuild_leased();

  Client* find(const PublicKey& key) noexcept;
  const Client* find(const PublicKey& key) const noexcept;
  // The pool address of `key` for `pool`'s family: the stored one, or the lowest free.
  std::optional<IpAddress> pool_address(const PublicKey& key, const IpBlock& pool, bool* saved_new);
  bool reserved(const IpBlock& pool, const IpAddress& a) const noexcept;
  const PinnedAddress* pinned_containing(const IpAddress& a) const noexcept;
  LeaseRecord record_of(const Client& c, LeaseRecord::Event event) const;

  std::vector<Client> clients_;  // sorted by key
  std::vector<LeasedBlock> leased_;
  std::optional<IpBlock> ip4_pool_;
  std::optional<IpBlock> ip6_pool_;
  std::uint32_t lease_seconds_;
  std::uint16_t mtu_;
  std::vector<IpAddress> dns_;
  LeaseStore* store_;
  std::vector<StoredLease> pool_leases_;
  bool store_failed_ = false;
};

}  // namespace mh::iptunnel
