// iptunnel's kernel network configuration over rtnetlink (libnl-route-3): the tunnel
// device's link and addresses, routes and policy rules, NDP proxy entries, and the views of
// the host's addresses and routes that the egress policy and the grant checks need.
#pragma once

#include "ip_block.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct nl_msg;
struct nl_sock;
struct nlmsgerr;
struct sockaddr_nl;

namespace mh::iptunnel {

// Every route, rule and proxy neighbour meshhost installs carries this rtm_protocol (or
// FRA_PROTOCOL / NDA_PROTOCOL), so a restart after kill -9 finds and removes its
// predecessor's. Unused by the kernel's <linux/rtnetlink.h> RTPROT_ list and by iproute2's
// rt_protos (checked against both; `ip route` shows it as "proto 109").
inline constexpr std::uint8_t kRtProtocol = 109;

inline constexpr std::uint32_t kMainTable = 254;  // RT_TABLE_MAIN

// A device route: `destination` through `ifindex`, no gateway (scope link). `metric` 0 is
// the kernel's default (0 for IPv4, 1024 for IPv6).
struct RouteSpec {
  std::uint32_t table = kMainTable;
  IpBlock destination;
  std::uint32_t ifindex = 0;
  std::optional<IpAddress> preferred_source;
  std::uint32_t metric = 0;
};

// A policy rule that looks up `table`. `invert_fwmark` makes it match packets *without*
// `fwmark` (iproute2's "not fwmark"); suppress_prefixlength N ignores answers from `table`
// whose prefix is N bits or shorter (0: everything but the default route).
struct RuleSpec {
  Family family = Family::ip4;
  std::uint32_t priority = 0;
  std::uint32_t table = kMainTable;
  std::uint32_t fwmark = 0;
  bool invert_fwmark = false;
  int suppress_prefixlength = -1;  // -1: none
};

// One rtnetlink socket. Every call sends one request (or a dump) and blocks briefly on the
// kernel's answer; not thread-safe. A failure returns false (or an empty result) with one
// line in *error naming the object and the kernel's reason (its extended ack message where
// it gives one). Needs CAP_NET_ADMIN for anything that changes state.
class NetConfig {
 public:
  // nullptr with the reason in *error when no rtnetlink socket can be opened.
  static std::unique_ptr<NetConfig> open(std::string* error);

  ~NetConfig();
  NetConfig(const NetConfig&) = delete;
  NetConfig& operator=(const NetConfig&) = delete;

  // The index of interface `name` in this socket's network namespace; 0 if none.
  std::uint32_t ifindex(const std::string& name) const;

  // Sets the MTU (0: leave it) and brings the link up or down.
  bool set_link(std::uint32_t ifindex, std::uint32_t mtu, bool up, std::string* error);

  // `address` with its prefix length (host bits kept: 100.64.0.1/24). IPv6 addresses get
  // IFA_F_NODAD: the tunnel has no neighbours to collide with, and DAD would hold the
  // address tentative (unusable as a source) for a second. Already present = ok.
  bool add_address(std::uint32_t ifindex, const IpBlock& address, std::string* error);
  // Absent = ok.
  bool remove_address(std::uint32_t ifindex, const IpBlock& address, std::string* error);

  // Adds the route or replaces the one with the same table, destination and metric
  // (NLM_F_REPLACE: moving the preferred source on failover is one atomic change), with
  // protocol kRtProtocol and scope link. Host bits in the destination are cleared.
  bool replace_route(const RouteSpec& route, std::string* error);
  // Removes our route to route.destination in route.table through route.ifindex, whatever
  // its preferred source (metric 0 matches any metric). Absent = ok.
  bool remove_route(const RouteSpec& route, std::string* error);

  // With FRA_PROTOCOL kRtProtocol (kernels before 4.17 ignore it). Already present = ok.
  bool add_rule(const RuleSpec& rule, std::string* error);
  // Removes our rule with these selectors. Absent = ok.
  bool remove_rule(const RuleSpec& rule, std::string* error);

  // Removes a crashed predecessor's leftovers: every rule, route (any table, both families)
  // and proxy neighbour with protocol kRtProtocol; on a kernel that reports no rule
  // protocols, every rule that looks up `table` instead. Returns how many went; *error
  // holds what could not be removed ("" when all went).
  std::size_t remove_own(std::uint32_t table, std::string* error);

  // A proxy neighbour entry (NTF_PROXY) for `address` on `ifindex`, with NDA_PROTOCOL
  // kRtProtocol: with net.ipv6.conf.<dev>.proxy_ndp=1 the kernel answers neighbour
  // solicitations for it there (IPv4: ARP with proxy_arp). Already present = ok.
  bool add_proxy_neighbour(std::uint32_t ifindex, const IpAddress& address, std::string* error);
  // Absent = ok.
  bool remove_proxy_neighbour(std::uint32_t ifindex, const IpAddress& address, std::string* error);

  // Every address on every interface (the gateway's own addresses, loopback and link-local
  // included), each as a single-address block (/32, /128).
  std::vector<IpBlock> own_addresses(std::string* error);
  // The connected prefix of every address on every interface except those named in
  // `except` (unknown names are ignored), host bits cleared, each once: the gateway's LAN
  // for the egress policy.
  std::vector<IpBlock> connected_prefixes(const std::vector<std::string>& except, std::string* error);
  // Destinations of the main table's routes (both families) other than default routes and
  // meshhost's own, each once: a grant overlapping one of them is refused.
  std::vector<IpBlock> local_routes(std::string* error);

 private:
  explicit NetConfig(nl_sock* sock) : sock_(sock) {}

  // A copy of one netlink message from a dump.
  using Message = std::vector<std::uint8_t>;

  // The socket's error hook: keeps the kernel's errno and extended ack message.
  static int on_error(sockaddr_nl* from, nlmsgerr* answer, void* self);

  // Each request first forgets the previous request's answer.
  void begin() {
    kernel_errno_ = 0;
    kernel_message_.clear();
  }
  // Sends `msg` (owned from here on) and waits for the kernel's ack.
  int send(nl_msg* msg);
  int dump(int type, const void* request, std::size_t size, std::vector<Message>* out);
  // Sends a dumped object back as request `type` (RTM_DELROUTE for a dumped route), the
  // way `ip route flush` does: the kernel matches it on every attribute it reported.
  int resend_as(const Message& dumped, int type);
  // The kernel's words for the last request's failure, else libnl's for `nl_error`.
  std::string reason(int nl_error) const;

  nl_sock* sock_;
  int kernel_errno_ = 0;  // 0 when the last request failed before the kernel answered
  std::string kernel_message_;
};

}  // namespace mh::iptunnel
