// iptunnel's rtnetlink configuration: see net_config.hpp. Links, addresses and routes are
// sent as libnl objects; rules and proxy neighbours are built by hand because libnl 3.7 has
// no suppress_prefixlength, no FIB_RULE_INVERT and no NDA_PROTOCOL. Every read is a raw dump
// parsed here: libnl's route cache folds IPv6 routes that differ only in device into one.
#include "net_config.hpp"

#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace mh::iptunnel {

namespace {

// A dump the kernel marks interrupted (the set changed while it was read) is read again.
constexpr int kDumpAttempts = 5;

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using NlAddr = std::unique_ptr<nl_addr, Deleter<nl_addr_put>>;
using NlMsg = std::unique_ptr<nl_msg, Deleter<nlmsg_free>>;
using NlCb = std::unique_ptr<nl_cb, Deleter<nl_cb_put>>;
using Link = std::unique_ptr<rtnl_link, Deleter<rtnl_link_put>>;
using Addr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr_put>>;
using Route = std::unique_ptr<rtnl_route, Deleter<rtnl_route_put>>;

int af_of(Family f) noexcept { return f == Family::ip4 ? AF_INET : AF_INET6; }

std::optional<Family> family_of(int af) noexcept {
  if (af == AF_INET) return Family::ip4;
  if (af == AF_INET6) return Family::ip6;
  return std::nullopt;
}

NlAddr to_nl(const IpAddress& a, unsigned length) {
  NlAddr out(nl_addr_build(af_of(a.family), a.bytes, address_size(a.family)));
  if (out) nl_addr_set_prefixlen(out.get(), static_cast<int>(length));
  return out;
}

// An address attribute of a `family` message; nullopt when absent or of the wrong size.
std::optional<IpAddress> address_attr(const nlattr* attr, Family family) {
  if (attr == nullptr || static_cast<std::size_t>(nla_len(attr)) != address_size(family)) return std::nullopt;
  IpAddress a;
  a.family = family;
  std::memcpy(a.bytes, nla_data(attr), address_size(family));
  return a;
}

std::string device(std::uint32_t ifindex) {
  char name[IF_NAMESIZE];
  if (ifindex != 0 && ::if_indextoname(ifindex, name) != nullptr) return name;
  return "ifindex " + std::to_string(ifindex);
}

std::string describe(const RouteSpec& r) {
  std::string out = "route " + format_block(IpBlock{network_of(r.destination), r.destination.length}) + " dev " +
                    device(r.ifindex) + " table " + std::to_string(r.table);
  if (r.preferred_source) out += " src " + format_ip(*r.preferred_source);
  if (r.metric != 0) out += " metric " + std::to_string(r.metric);
  return out;
}

std::string describe(const RuleSpec& r) {
  std::string out = std::string("rule ") + (r.family == Family::ip4 ? "-4" : "-6") + " priority " + std::to_string(r.priority);
  if (r.invert_fwmark) out += " not";
  if (r.fwmark != 0) out += " fwmark " + std::to_string(r.fwmark);
  out += " table " + std::to_string(r.table);
  if (r.suppress_prefixlength >= 0) out += " suppress_prefixlength " + std::to_string(r.suppress_prefixlength);
  return out;
}

void push_unique(std::vector<IpBlock>* out, const IpBlock& block) {
  const IpBlock b{network_of(block), block.length};
  const bool seen = std::any_of(out->begin(), out->end(),
                                [&b](const IpBlock& o) { return o.length == b.length && o.address == b.address; });
  if (!seen) out->push_back(b);
}

void append_problem(std::string* all, const std::string& problem) {
  if (!all->empty()) *all += "; ";
  *all += problem;
}

int collect(nl_msg* msg, void* out) {
  const nlmsghdr* header = nlmsg_hdr(msg);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(header);
  static_cast<std::vector<std::vector<std::uint8_t>>*>(out)->emplace_back(bytes, bytes + header->nlmsg_len);
  return NL_OK;
}

// The address and route dumps as iptunnel reads them.
struct DumpedAddress {
  std::uint32_t ifindex;
  IpAddress local;   // the address itself (IFA_LOCAL, else IFA_ADDRESS)
  IpAddress prefix;  // what the prefix length applies to (IFA_ADDRESS: the peer on a point-to-point link)
  std::uint8_t length;
};

std::optional<DumpedAddress> parse_address(nlmsghdr* header) {
  nlattr* tb[IFA_MAX + 1];
  if (header->nlmsg_type != RTM_NEWADDR || nlmsg_parse(header, sizeof(ifaddrmsg), tb, IFA_MAX, nullptr) < 0) {
    return std::nullopt;
  }
  const auto* ifa = static_cast<const ifaddrmsg*>(nlmsg_data(header));
  const auto family = family_of(ifa->ifa_family);
  if (!family) return std::nullopt;
  const auto address = address_attr(tb[IFA_ADDRESS], *family);
  const auto local = address_attr(tb[IFA_LOCAL], *family);
  if (!address && !local) return std::nullopt;
  return DumpedAddress{ifa->ifa_index, local ? *local : *address, address ? *address : *local, ifa->ifa_prefixlen};
}

struct DumpedRoute {
  std::uint32_t table;
  std::uint8_t protocol;
  IpBlock destination;
};

std::optional<DumpedRoute> parse_route(nlmsghdr* header) {
  nlattr* tb[RTA_MAX + 1];
  if (header->nlmsg_type != RTM_NEWROUTE || nlmsg_parse(header, sizeof(rtmsg), tb, RTA_MAX, nullptr) < 0) {
    return std::nullopt;
  }
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(header));
  const auto family = family_of(rtm->rtm_family);
  if (!family) return std::nullopt;
  IpAddress destination;
  destination.family = *family;
  if (const auto dst = address_attr(tb[RTA_DST], *family)) destination = *dst;  // absent for default routes
  const std::uint32_t table = tb[RTA_TABLE] != nullptr ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
  return DumpedRoute{table, rtm->rtm_protocol, IpBlock{destination, rtm->rtm_dst_len}};
}

// A rule request with the selectors meshhost uses (iproute2 sends the same for
// `ip rule add [not] fwmark M table T suppress_prefixlength N priority P protocol 109`).
NlMsg rule_message(int type, int flags, const RuleSpec& rule) {
  NlMsg msg(nlmsg_alloc_simple(type, flags));
  if (!msg) return msg;
  fib_rule_hdr frh{};
  frh.family = static_cast<std::uint8_t>(af_of(rule.family));
  frh.action = FR_ACT_TO_TBL;
  // Tables past 255 travel only in FRA_TABLE.
  frh.table = static_cast<std::uint8_t>(rule.table < 256 ? rule.table : std::uint32_t{RT_TABLE_UNSPEC});
  frh.flags = rule.invert_fwmark ? FIB_RULE_INVERT : 0;
  // The kernel defaults the mark's mask to all bits, as iproute2 relies on.
  const bool ok = nlmsg_append(msg.get(), &frh, sizeof frh, NLMSG_ALIGNTO) == 0 &&
                  nla_put_u32(msg.get(), FRA_PRIORITY, rule.priority) == 0 &&
                  nla_put_u32(msg.get(), FRA_TABLE, rule.table) == 0 &&
                  (rule.fwmark == 0 || nla_put_u32(msg.get(), FRA_FWMARK, rule.fwmark) == 0) &&
                  (rule.suppress_prefixlength < 0 ||
                   nla_put_u32(msg.get(), FRA_SUPPRESS_PREFIXLEN, static_cast<std::uint32_t>(rule.suppress_prefixlength)) == 0) &&
                  nla_put_u8(msg.get(), FRA_PROTOCOL, kRtProtocol) == 0;
  if (!ok) msg.reset();
  return msg;
}

NlMsg proxy_message(int type, int flags, std::uint32_t ifindex, const IpAddress& address) {
  NlMsg msg(nlmsg_alloc_simple(type, flags));
  if (!msg) return msg;
  ndmsg ndm{};
  ndm.ndm_family = static_cast<std::uint8_t>(af_of(address.family));
  ndm.ndm_ifindex = static_cast<int>(ifindex);
  ndm.ndm_state = NUD_PERMANENT;
  ndm.ndm_flags = NTF_PROXY;
  const bool ok = nlmsg_append(msg.get(), &ndm, sizeof ndm, NLMSG_ALIGNTO) == 0 &&
                  nla_put(msg.get(), NDA_DST, static_cast<int>(address_size(address.family)), address.bytes) == 0 &&
                  (type != RTM_NEWNEIGH || nla_put_u8(msg.get(), NDA_PROTOCOL, kRtProtocol) == 0);
  if (!ok) msg.reset();
  return msg;
}

}  // namespace

std::unique_ptr<NetConfig> NetConfig::open(std::string* error) {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) {
    *error = "rtnetlink: out of memory";
    return nullptr;
  }
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock);
    *error = std::string("rtnetlink: cannot open a socket: ") + nl_geterror(err);
    return nullptr;
  }
  // The kernel's own words on a refusal ("Nexthop device is not up"); short acks. Kernels
  // without them simply answer as before.
  const int on = 1;
  ::setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  ::setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  std::unique_ptr<NetConfig> config(new NetConfig(sock));
  nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, &NetConfig::on_error, config.get());
  return config;
}

NetConfig::~NetConfig() { nl_socket_free(sock_); }

int NetConfig::on_error(sockaddr_nl* /*from*/, nlmsgerr* answer, void* self) {
  auto* config = static_cast<NetConfig*>(self);
  config->kernel_errno_ = -answer->error;
  // libnl hands over the payload of the NLMSG_ERROR message; its TLVs follow the error and,
  // unless the ack is capped, the echoed request.
  auto* base = reinterpret_cast<std::uint8_t*>(answer);
  const auto* header = reinterpret_cast<const nlmsghdr*>(base - NLMSG_HDRLEN);
  if ((header->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return NL_STOP;
  std::size_t offset = sizeof(nlmsgerr);
  if ((header->nlmsg_flags & NLM_F_CAPPED) == 0 && answer->msg.nlmsg_len >= NLMSG_HDRLEN) {
    offset += answer->msg.nlmsg_len - NLMSG_HDRLEN;
  }
  offset = NLMSG_ALIGN(offset);
  const std::size_t payload = header->nlmsg_len - NLMSG_HDRLEN;
  if (offset >= payload) return NL_STOP;
  nlattr* tb[NLMSGERR_ATTR_MAX + 1];
  auto* first = reinterpret_cast<nlattr*>(base + offset);
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, first, static_cast<int>(payload - offset), nullptr) == 0 &&
      tb[NLMSGERR_ATTR_MSG] != nullptr) {
    const char* text = static_cast<const char*>(nla_data(tb[NLMSGERR_ATTR_MSG]));
    config->kernel_message_.assign(text, ::strnlen(text, static_cast<std::size_t>(nla_len(tb[NLMSGERR_ATTR_MSG]))));
  }
  // NL_STOP: libnl turns the errno into its own code and ends the wait.
  return NL_STOP;
}

std::string NetConfig::reason(int nl_error) const {
  if (kernel_errno_ == 0) return nl_geterror(nl_error);
  const std::string text = std::strerror(kernel_errno_);
  return kernel_message_.empty() ? text : kernel_message_ + " (" + text + ")";
}

int NetConfig::send(nl_msg* msg) {
  if (msg == nullptr) return -NLE_NOMEM;
  return nl_send_sync(sock_, msg);
}

int NetConfig::dump(int type, const void* request, std::size_t size, std::vector<Message>* out) {
  int err = 0;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    out->clear();
    begin();
    err = nl_send_simple(sock_, type, NLM_F_DUMP, const_cast<void*>(request), size);
    if (err < 0) return err;
    nl_cb* socket_cb = nl_socket_get_cb(sock_);
    NlCb cb(nl_cb_clone(socket_cb));
    nl_cb_put(socket_cb);
    if (!cb) return -NLE_NOMEM;
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, collect, out);
    err = nl_recvmsgs(sock_, cb.get());
    if (err != -NLE_DUMP_INTR) return err < 0 ? err : 0;
  }
  return err;
}

int NetConfig::resend_as(const Message& dumped, int type) {
  const auto* header = reinterpret_cast<const nlmsghdr*>(dumped.data());
  NlMsg msg(nlmsg_alloc_simple(type, 0));
  if (!msg || nlmsg_append(msg.get(), nlmsg_data(header), static_cast<std::size_t>(nlmsg_datalen(header)), NLMSG_ALIGNTO) < 0) {
    return -NLE_NOMEM;
  }
  begin();
  return send(msg.release());
}

std::uint32_t NetConfig::ifindex(const std::string& name) const {
  rtnl_link* found = nullptr;
  if (name.empty() || name.size() >= IF_NAMESIZE || rtnl_link_get_kernel(sock_, 0, name.c_str(), &found) < 0) return 0;
  const Link link(found);
  return static_cast<std::uint32_t>(rtnl_link_get_ifindex(link.get()));
}

bool NetConfig::set_link(std::uint32_t ifindex, std::uint32_t mtu, bool up, std::string* error) {
  const std::string what = "link " + device(ifindex);
  begin();
  rtnl_link* found = nullptr;
  if (int err = rtnl_link_get_kernel(sock_, static_cast<int>(ifindex), nullptr, &found); err < 0) {
    *error = "cannot read " + what + ": " + reason(err);
    return false;
  }
  const Link current(found);
  const Link change(rtnl_link_alloc());
  if (!change) {
    *error = "cannot change " + what + ": out of memory";
    return false;
  }
  if (mtu != 0) rtnl_link_set_mtu(change.get(), mtu);
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  begin();
  if (int err = rtnl_link_change(sock_, current.get(), change.get(), 0); err < 0) {
    *error = "cannot set " + what + (mtu != 0 ? " mtu " + std::to_string(mtu) : std::string()) + (up ? " up" : " down") +
             ": " + reason(err);
    return false;
  }
  return true;
}

namespace {

// The libnl object for an address request; nullptr when out of memory.
Addr address_object(std::uint32_t ifindex, const IpBlock& address) {
  Addr addr(rtnl_addr_alloc());
  const NlAddr local = to_nl(address.address, address.length);
  if (!addr || !local) return nullptr;
  rtnl_addr_set_ifindex(addr.get(), static_cast<int>(ifindex));
  rtnl_addr_set_family(addr.get(), af_of(address.address.family));
  if (rtnl_addr_set_local(addr.get(), local.get()) < 0) return nullptr;
  rtnl_addr_set_prefixlen(addr.get(), address.length);
  if (address.address.family == Family::ip6) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  return addr;
}

}  // namespace

bool NetConfig::add_address(std::uint32_t ifindex, const IpBlock& address, std::string* error) {
  const Addr addr = address_object(ifindex, address);
  const std::string what = "address " + format_block(address) + " to " + device(ifindex);
  if (!addr) {
    *error = "cannot add " + what + ": out of memory";
    return false;
  }
  begin();
  if (int err = rtnl_addr_add(sock_, addr.get(), 0); err < 0 && kernel_errno_ != EEXIST) {
    *error = "cannot add " + what + ": " + reason(err);
    return false;
  }
  return true;
}

bool NetConfig::remove_address(std::uint32_t ifindex, const IpBlock& address, std::string* error) {
  const Addr addr = address_object(ifindex, address);
  const std::string what = "address " + format_block(address) + " from " + device(ifindex);
  if (!addr) {
    *error = "cannot remove " + what + ": out of memory";
    return false;
  }
  begin();
  if (int err = rtnl_addr_delete(sock_, addr.get(), 0); err < 0 && kernel_errno_ != EADDRNOTAVAIL) {
    *error = "cannot remove " + what + ": " + reason(err);
    return false;
  }
  return true;
}

namespace {

// The libnl object for a device route; nullptr when out of memory. `with_source` is off for
// deletion, so a route goes whichever source failover last gave it.
Route route_object(const RouteSpec& spec, bool with_source) {
  Route route(rtnl_route_alloc());
  const NlAddr destination = to_nl(network_of(spec.destination), spec.destination.length);
  if (!route || !destination) return nullptr;
  rtnl_route_set_family(route.get(), static_cast<std::uint8_t>(af_of(spec.destination.address.family)));
  rtnl_route_set_table(route.get(), spec.table);
  rtnl_route_set_protocol(route.get(), kRtProtocol);
  rtnl_route_set_scope(route.get(), RT_SCOPE_LINK);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  if (rtnl_route_set_dst(route.get(), destination.get()) < 0) return nullptr;
  if (spec.metric != 0) rtnl_route_set_priority(route.get(), spec.metric);
  if (with_source && spec.preferred_source) {
    const NlAddr source = to_nl(*spec.preferred_source, max_length(spec.preferred_source->family));
    if (!source || rtnl_route_set_pref_src(route.get(), source.get()) < 0) return nullptr;
  }
  rtnl_nexthop* hop = rtnl_route_nh_alloc();
  if (hop == nullptr) return nullptr;
  rtnl_route_nh_set_ifindex(hop, static_cast<int>(spec.ifindex));
  rtnl_route_add_nexthop(route.get(), hop);  // the route owns it from here
  return route;
}

}  // namespace

bool NetConfig::replace_route(const RouteSpec& spec, std::string* error) {
  const Route route = route_object(spec, true);
  if (!route) {
    *error = "cannot add " + describe(spec) + ": out of memory";
    return false;
  }
  begin();
  if (int err = rtnl_route_add(sock_, route.get(), NLM_F_REPLACE); err < 0) {
    *error = "cannot add " + describe(spec) + ": " + reason(err);
    return false;
  }
  return true;
}

bool NetConfig::remove_route(const RouteSpec& spec, std::string* error) {
  const Route route = route_object(spec, false);
  if (!route) {
    *error = "cannot remove " + describe(spec) + ": out of memory";
    return false;
  }
  begin();
  if (int err = rtnl_route_delete(sock_, route.get(), 0); err < 0 && kernel_errno_ != ESRCH) {
    *error = "cannot remove " + describe(spec) + ": " + reason(err);
    return false;
  }
  return true;
}

bool NetConfig::add_rule(const RuleSpec& rule, std::string* error) {
  // NLM_F_EXCL: without it the kernel adds a duplicate rather than answer EEXIST.
  NlMsg msg = rule_message(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule);
  begin();
  if (int err = send(msg.release()); err < 0 && kernel_errno_ != EEXIST) {
    *error = "cannot add " + describe(rule) + ": " + reason(err);
    return false;
  }
  return true;
}

bool NetConfig::remove_rule(const RuleSpec& rule, std::string* error) {
  NlMsg msg = rule_message(RTM_DELRULE, 0, rule);
  begin();
  if (int err = send(msg.release()); err < 0 && kernel_errno_ != ENOENT) {
    *error = "cannot remove " + describe(rule) + ": " + reason(err);
    return false;
  }
  return true;
}

bool NetConfig::add_proxy_neighbour(std::uint32_t ifindex, const IpAddress& address, std::string* error) {
  NlMsg msg = proxy_message(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ifindex, address);
  begin();
  if (int err = send(msg.release()); err < 0 && kernel_errno_ != EEXIST) {
    *error = "cannot add proxy neighbour " + format_ip(address) + " on " + device(ifindex) + ": " + reason(err);
    return false;
  }
  return true;
}

bool NetConfig::remove_proxy_neighbour(std::uint32_t ifindex, const IpAddress& address, std::string* error) {
  NlMsg msg = proxy_message(RTM_DELNEIGH, 0, ifindex, address);
  begin();
  if (int err = send(msg.release()); err < 0 && kernel_errno_ != ENOENT) {
    *error = "cannot remove proxy neighbour " + format_ip(address) + " on " + device(ifindex) + ": " + reason(err);
    return false;
  }
  return true;
}

std::size_t NetConfig::remove_own(std::uint32_t table, std::string* error) {
  error->clear();
  std::size_t removed = 0;
  std::vector<Message> dumped;

  // Rules first, so nothing is steered into a table while its routes go.
  const fib_rule_hdr rule_request{};  // AF_UNSPEC: every family's rules
  if (int err = dump(RTM_GETRULE, &rule_request, sizeof rule_request, &dumped); err < 0) {
    append_problem(error, "cannot list rules: " + reason(err));
  }
  for (Message& m : dumped) {
    auto* header = reinterpret_cast<nlmsghdr*>(m.data());
    nlattr* tb[FRA_MAX + 1];
    if (header->nlmsg_type != RTM_NEWRULE || nlmsg_parse(header, sizeof(fib_rule_hdr), tb, FRA_MAX, nullptr) < 0) continue;
    const auto* frh = static_cast<const fib_rule_hdr*>(nlmsg_data(header));
    if (!family_of(frh->family)) continue;
    const std::uint32_t rule_table = tb[FRA_TABLE] != nullptr ? nla_get_u32(tb[FRA_TABLE]) : frh->table;
    // Kernels before 4.17 report no FRA_PROTOCOL: then a rule into our table is taken as ours.
    const bool ours = tb[FRA_PROTOCOL] != nullptr ? nla_get_u8(tb[FRA_PROTOCOL]) == kRtProtocol
                                                  : table != 0 && rule_table == table;
    if (!ours) continue;
    if (int err = resend_as(m, RTM_DELRULE); err < 0 && kernel_errno_ != ENOENT) {
      const std::string priority = tb[FRA_PRIORITY] != nullptr ? std::to_string(nla_get_u32(tb[FRA_PRIORITY])) : "0";
      append_problem(error, "cannot remove rule priority " + priority + " table " + std::to_string(rule_table) + ": " +
                                reason(err));
    } else if (err >= 0) {
      ++removed;
    }
  }

  const rtmsg route_request{};  // AF_UNSPEC, every table
  if (int err = dump(RTM_GETROUTE, &route_request, sizeof route_request, &dumped); err < 0) {
    append_problem(error, "cannot list routes: " + reason(err));
  }
  for (Message& m : dumped) {
    const auto route = parse_route(reinterpret_cast<nlmsghdr*>(m.data()));
    if (!route || route->protocol != kRtProtocol) continue;
    if (int err = resend_as(m, RTM_DELROUTE); err < 0 && kernel_errno_ != ESRCH) {
      append_problem(error, "cannot remove route " + format_block(route->destination) + " table " +
                                std::to_string(route->table) + ": " + reason(err));
    } else if (err >= 0) {
      ++removed;
    }
  }

  ndmsg proxy_request{};
  proxy_request.ndm_flags = NTF_PROXY;  // the kernel dumps proxy entries only when asked exactly this
  if (int err = dump(RTM_GETNEIGH, &proxy_request, sizeof proxy_request, &dumped); err < 0) {
    append_problem(error, "cannot list proxy neighbours: " + reason(err));
  }
  for (Message& m : dumped) {
    auto* header = reinterpret_cast<nlmsghdr*>(m.data());
    nlattr* tb[NDA_MAX + 1];
    if (header->nlmsg_type != RTM_NEWNEIGH || nlmsg_parse(header, sizeof(ndmsg), tb, NDA_MAX, nullptr) < 0) continue;
    const auto* ndm = static_cast<const ndmsg*>(nlmsg_data(header));
    if ((ndm->ndm_flags & NTF_PROXY) == 0 || tb[NDA_PROTOCOL] == nullptr || nla_get_u8(tb[NDA_PROTOCOL]) != kRtProtocol) {
      continue;
    }
    if (int err = resend_as(m, RTM_DELNEIGH); err < 0 && kernel_errno_ != ENOENT) {
      append_problem(error, "cannot remove a proxy neighbour on " + device(static_cast<std::uint32_t>(ndm->ndm_ifindex)) +
                                ": " + reason(err));
    } else if (err >= 0) {
      ++removed;
    }
  }
  return removed;
}

std::vector<IpBlock> NetConfig::own_addresses(std::string* error) {
  std::vector<IpBlock> out;
  std::vector<Message> dumped;
  const ifaddrmsg request{};
  if (int err = dump(RTM_GETADDR, &request, sizeof request, &dumped); err < 0) {
    *error = "cannot list addresses: " + reason(err);
    return out;
  }
  for (Message& m : dumped) {
    if (const auto a = parse_address(reinterpret_cast<nlmsghdr*>(m.data()))) {
      push_unique(&out, IpBlock{a->local, max_length(a->local.family)});
    }
  }
  return out;
}

std::vector<IpBlock> NetConfig::connected_prefixes(const std::vector<std::string>& except, std::string* error) {
  std::vector<std::uint32_t> skipped;
  for (const std::string& name : except) {
    if (const std::uint32_t index = ifindex(name); index != 0) skipped.push_back(index);
  }
  std::vector<IpBlock> out;
  std::vector<Message> dumped;
  const ifaddrmsg request{};
  if (int err = dump(RTM_GETADDR, &request, sizeof request, &dumped); err < 0) {
    *error = "cannot list addresses: " + reason(err);
    return out;
  }
  for (Message& m : dumped) {
    const auto a = parse_address(reinterpret_cast<nlmsghdr*>(m.data()));
    if (!a || std::find(skipped.begin(), skipped.end(), a->ifindex) != skipped.end()) continue;
    push_unique(&out, IpBlock{a->prefix, a->length});
  }
  return out;
}

std::vector<IpBlock> NetConfig::local_routes(std::string* error) {
  std::vector<IpBlock> out;
  std::vector<Message> dumped;
  const rtmsg request{};
  if (int err = dump(RTM_GETROUTE, &request, sizeof request, &dumped); err < 0) {
    *error = "cannot list routes: " + reason(err);
    return out;
  }
  for (Message& m : dumped) {
    const auto route = parse_route(reinterpret_cast<nlmsghdr*>(m.data()));
    if (!route || route->table != kMainTable || route->protocol == kRtProtocol || route->destination.length == 0) continue;
    push_unique(&out, route->destination);
  }
  return out;
}

}  // namespace mh::iptunnel
