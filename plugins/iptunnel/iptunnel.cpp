// The iptunnel plugin's lifecycle and control plane: see iptunnel.hpp. Start opens the TUN
// devices, clears a crashed predecessor's routes and rules, sets the sysctls forwarding
// needs, installs the firewall and policy rules; stop undoes all of it.
#include "iptunnel.hpp"

#include "net_config.hpp"
#include "nft_table.hpp"
#include "sysctl_state.hpp"

#include <link_driver_config.hpp>
#include <plugin_entry.hpp>
#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <unistd.h>
#include <exception>
#include <new>
#include <random>

namespace mh::iptunnel {

namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// How often the gateway looks for leases that ran out.
constexpr std::uint64_t kExpiryIntervalNs = kNsPerSecond;
// Upstream copies a queueing hook may hold at once.
constexpr std::uint32_t kHookPoolPackets = 1024;
constexpr std::uint32_t kHookPoolBuffer = 2048;
// IPv6 needs at least this MTU: the kernel takes every IPv6 address off a smaller link.
constexpr std::uint32_t kIp6MinMtu = 1280;
constexpr const char* kIp4Forward = "net/ipv4/ip_forward";
constexpr const char* kIp6Forward = "net/ipv6/conf/all/forwarding";

// A sysctl's value without its newline, "" when it cannot be read.
std::string read_sysctl(const std::string& relative) {
  std::FILE* f = std::fopen(("/proc/sys/" + relative).c_str(), "re");
  if (f == nullptr) return {};
  char line[64] = {};
  const bool got = std::fgets(line, sizeof line, f) != nullptr;
  std::fclose(f);
  std::string value = got ? line : "";
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

RouteSpec device_route(std::uint32_t table, const IpBlock& destination, std::uint32_t ifindex) {
  RouteSpec r;
  r.table = table;
  r.destination = IpBlock{network_of(destination), destination.length};
  r.ifindex = ifindex;
  return r;
}

IpBlock default_block(Family family) {
  IpBlock b;
  b.address.family = family;
  b.length = 0;
  return b;
}

}  // namespace

bool IptunnelPlugin::KeyLess::operator()(const PublicKey& a, const PublicKey& b) const noexcept {
  return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) < 0;
}

const char* drop_name(Drop d) noexcept {
  static const char* const kNames[kDropCount] = {
      "bad_message",     "not_a_client",      "spoofed_source", "no_client",  "unsolicited", "not_our_gateway",
      "wrong_destination", "no_lease",        "hook",           "no_buffers", "too_big",     "send_failed",
      "tun_write_failed",  "rate_limited"};
  const auto i = static_cast<std::size_t>(d);
  return i < kDropCount ? kNames[i] : "?";
}

IptunnelPlugin::IptunnelPlugin(Host* host, IptunnelConfig config) : host_(host), config_(std::move(config)) {}

IptunnelPlugin::~IptunnelPlugin() { stop(); }

void IptunnelPlugin::info(const std::string& line) { host_->log(LogLevel::info, Str::of(line)); }
void IptunnelPlugin::warn(const std::string& line) { host_->log(LogLevel::warn, Str::of(line)); }

// Leases run on the monotonic clock, so a board without a real-time clock whose NTP steps
// the time at boot neither ends every lease at once nor stretches them; the lease log and
// the admin view show wall-clock seconds.
std::uint64_t IptunnelPlugin::now_s() const noexcept { return host_->loop()->now_ns() / kNsPerSecond; }

std::uint64_t IptunnelPlugin::wall_s(std::uint64_t monotonic_s) const noexcept {
  // One offset between the clocks, so the same moment always shows as the same second; it
  // moves only when the wall clock was stepped (more than a second of disagreement).
  const std::int64_t offset = static_cast<std::int64_t>(std::time(nullptr)) - static_cast<std::int64_t>(now_s());
  if (!wall_offset_known_ || offset > wall_offset_ + 1 || offset < wall_offset_ - 1) {
    wall_offset_ = offset;
    wall_offset_known_ = true;
  }
  return static_cast<std::uint64_t>(wall_offset_ + static_cast<std::int64_t>(monotonic_s));
}

LeaseRecord IptunnelPlugin::on_wall_clock(LeaseRecord record) const {
  record.start_s = wall_s(record.start_s);
  record.end_s = wall_s(record.end_s);
  return record;
}

Status IptunnelPlugin::init() noexcept {
  for (std::size_t i = 0; i < kDropCount; ++i) {
    const Label label{"reason", drop_name(static_cast<Drop>(i))};
    drop_counters_[i] = host_->counter("meshhost_iptunnel_dropped_total", "Packets iptunnel dropped, by reason",
                                       &label, 1);
  }
  if (Status s = host_->provide("iptunnel", this); !s.ok()) return s;
  if (Status s = host_->register_admin_method("iptunnel.status", &status_method_); !s.ok()) return s;
  if (Status s = host_->register_admin_method("iptunnel.requestAccount", &request_account_method_); !s.ok()) return s;
  if (Status s = host_->register_admin_method("iptunnel.account", &account_method_); !s.ok()) return s;
  return host_->register_admin_method("iptunnel.reload", &reload_method_);
}

void* IptunnelPlugin::query(InterfaceId id) noexcept {
  if (id == kTrafficHooksInterface) return static_cast<TrafficHooks*>(this);
  if (id == kAccountNoticesInterface) return static_cast<AccountNotices*>(this);
  return nullptr;
}

Status IptunnelPlugin::start() noexcept {
  try {
    Service* service = host_->lookup("sessions");
    sessions_ = service != nullptr ? static_cast<Sessions*>(service->query(kSessionsInterface)) : nullptr;
    if (sessions_ == nullptr) {
      return Status::error(StatusCode::unavailable,
                           "no service \"sessions\" offering meshhost.sessions.v1: enable the session plugin");
    }
    const std::uint32_t carried = sessions_->max_payload(Address{});
    if (config_.mtu + kIpDataHeaderSize > carried) {
      return host_->fail(StatusCode::invalid_argument,
                         Str::of("mtu " + std::to_string(config_.mtu) + " and iptunnel's " +
                                 std::to_string(kIpDataHeaderSize) + "-byte header are more than the sessions carry (" +
                                 std::to_string(carried) + ")"));
    }
    std::string error;
    net_ = NetConfig::open(&error);
    if (!net_) return host_->fail(StatusCode::io_error, Str::of(error));
    // A predecessor killed with -9 left its routes and rules: they carry our protocol.
    if (const std::size_t removed = net_->remove_own(config_.routing_table, &error); removed > 0) {
      info("removed " + std::to_string(removed) + " routes and rules a previous run left behind");
    }
    const std::string state_dir(host_->state_dir().data, host_->state_dir().size);
    sysctl_ = std::make_unique<SysctlState>("/proc/sys", state_dir + "/sysctl.state");
    if (sysctl_->adopted() > 0) {
      info("a previous run changed " + std::to_string(sysctl_->adopted()) +
           " sysctls and did not restore them: they will be restored at stop");
    }
    lease_log_ = std::fopen((state_dir + "/leases.log").c_str(), "ae");
    if (lease_log_ == nullptr) warn("cannot open " + state_dir + "/leases.log: " + std::strerror(errno));

    if (Status s = sessions_->register_protocol(kProtocolIptunnel, this); !s.ok()) {
      stop();
      return s;
    }
    started_ = true;
    if (Status s = host_->loop()->create_timer(this, &timer_); !s.ok()) {
      stop();
      return s;
    }
    // The client side first: a chained gateway's NAT uplink is its own mhup0.
    if (config_.client()) {
      if (Status s = start_client(); !s.ok()) {
        stop();
        return s;
      }
    }
    if (config_.gateway()) {
      if (Status s = start_gateway(); !s.ok()) {
        stop();
        return s;
      }
    }
    if (!config_.gateway() && !config_.client()) {
      info("idle: no allowedConnections, pool or nat (gateway) and no outgoingConnections (client)");
    }
    on_timer();
    return Status::success();
  } catch (const std::bad_alloc&) {
    stop();
    return Status::error(StatusCode::internal, "out of memory");
  } catch (const std::exception& e) {
    stop();
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

Status IptunnelPlugin::start_gateway() {
  std::string error;
  const std::string state_dir(host_->state_dir().data, host_->state_dir().size);
  lease_store_ = std::make_unique<FileLeaseStore>(state_dir + "/pool-leases");
  gateway_ = std::make_unique<GatewayTable>(config_, lease_store_.get());
  if (gateway_->store_failed_at_load()) warn("cannot rewrite " + state_dir + "/pool-leases without its stale leases");
  hook_pool_ = std::make_unique<FixedPacketPool>(kHookPoolPackets, kHookPoolBuffer, kSessionHeadroom);
  FlowTableLimits limits;
  limits.max_clients = std::max(limits.max_clients, config_.allowed.size());
  std::random_device random;
  limits.hash_seed = std::uint64_t{random()} << 32 | random();
  flows_ = std::make_unique<FlowTable>(limits);

  gateway_tun_ = TunnelDevice::open(config_.gateway_tun, &error);
  if (!gateway_tun_) return host_->fail(StatusCode::io_error, Str::of(error));
  if (!net_->set_link(gateway_tun_->ifindex(), config_.mtu, true, &error)) {
    return host_->fail(StatusCode::io_error, Str::of(config_.gateway_tun + ": " + error));
  }
  // The pools' first host address is the gateway's side of the tunnel.
  for (const auto& pool : {config_.ip4_pool, config_.ip6_pool}) {
    if (!pool) continue;
    const IpBlock own{add_offset(network_of(*pool), 1), pool->length};
    if (!net_->add_address(gateway_tun_->ifindex(), own, &error)) {
      return host_->fail(StatusCode::io_error, Str::of(config_.gateway_tun + ": " + error));
    }
    gateway_addresses_.push_back(own);
  }
  // The firewall goes in before forwarding is turned on, and without it the gateway does
  // not run: clients would reach the gateway's own services and its LAN.
  nft_ = NftTable::open(&error);
  if (!nft_) return host_->fail(StatusCode::io_error, Str::of(error));
  if (!apply_gateway_firewall(config_, &error)) return host_->fail(StatusCode::io_error, Str::of(error));
  // Forwarding, and on the uplink router advertisements still accepted while forwarding.
  // Slashed names: an uplink's name may hold dots (a VLAN, eth0.100).
  struct Setting {
    std::string name, value;
  };
  std::vector<Setting> settings = {{kIp4Forward, "1"}, {kIp6Forward, "1"}};
  if (!config_.nat.uplink.empty() && net_->ifindex(config_.nat.uplink) == 0) {
    warn("uplink " + config_.nat.uplink + " does not exist (yet): NAT applies once it does; its accept_ra" +
         (config_.nat.ndp_proxy ? " and proxy_ndp are" : " is") + " left as it is");
  } else if (!config_.nat.uplink.empty()) {
    const std::string conf = "net/ipv6/conf/" + config_.nat.uplink;
    // accept_ra 1 stops working once forwarding is on; 2 keeps the uplink's SLAAC default route.
    settings.push_back({conf + "/accept_ra", "2"});
    if (config_.nat.ndp_proxy) settings.push_back({conf + "/proxy_ndp", "1"});
  }
  for (const Setting& s : settings) {
    if (!sysctl_->set(s.name, s.value, &error)) {
      return host_->fail(StatusCode::io_error, Str::of("sysctl " + s.name + ": " + error));
    }
  }
  if (Status s = host_->loop()->watch_fd(gateway_tun_->fd(), kFdReadable, this, &gateway_watch_); !s.ok()) return s;
  std::string roles = config_.gateway_tun + " up, MTU " + std::to_string(config_.mtu) + ", " +
                      std::to_string(config_.allowed.size()) + " pinned keys";
  if (!config_.nat.uplink.empty()) roles += ", NAT out of " + config_.nat.uplink;
  info("gateway: " + roles);
  return Status::success();
}

bool IptunnelPlugin::apply_gateway_firewall(const IptunnelConfig& config, std::string* why) {
  std::string error;
  GatewayFirewall fw;
  fw.tunnel = config.gateway_tun;
  fw.uplink = config.nat.uplink;
  for (const AllowedConnection& c : config.allowed) {
    for (const PinnedAddress& p : c.addresses) fw.client_blocks.push_back(IpBlock{network_of(p.alloc), p.alloc.length});
  }
  if (config.ip4_pool) fw.client_blocks.push_back(*config.ip4_pool);
  if (config.ip6_pool) fw.client_blocks.push_back(*config.ip6_pool);
  fw.denied = net_->own_addresses(&error);
  // The LAN: every interface's network but the tunnels' and loopback. The uplink's count
  // too (a home router's LAN behind it is still a LAN), except its IPv6 /64 when clients
  // live in it through the NDP proxy.
  const std::vector<IpBlock> lan = net_->connected_prefixes({config.gateway_tun, config.client_tun, "lo"}, &error);
  std::vector<IpBlock> uplink_v6;
  if (config.nat.ndp_proxy && !config.nat.uplink.empty()) {
    const std::vector<IpBlock> without_uplink =
        net_->connected_prefixes({config.gateway_tun, config.client_tun, "lo", config.nat.uplink}, &error);
    for (const IpBlock& b : lan) {
      if (b.address.family == Family::ip6 && std::find(without_uplink.begin(), without_uplink.end(), b) == without_uplink.end()) {
        uplink_v6.push_back(b);
      }
    }
  }
  for (const IpBlock& b : lan) {
    if (std::find(uplink_v6.begin(), uplink_v6.end(), b) == uplink_v6.end()) fw.denied.push_back(b);
  }
  fw.dns_servers = config.dns_servers;
  fw.client_isolation = config.client_isolation;
  fw.block_smtp = config.block_smtp;
  fw.mtu = config.mtu;
  // Forwarding the operator had off stays off for everything but the tunnel.
  fw.tunnel_only_forwarding4 = sysctl_->value_before(kIp4Forward) == "0";
  fw.tunnel_only_forwarding6 = sysctl_->value_before(kIp6Forward) == "0";
  if (!nft_->apply(render_gateway_ruleset(fw), &error)) {
    *why = "nftables: table inet meshhost not installed: " + error;
    return false;
  }
  for (const std::string& table : nft_->forward_droppers(&error)) {
    warn("nftables table " + table + " drops forwarded traffic: clients' packets may not get through");
  }
  return true;
}

Status IptunnelPlugin::start_client() {
  std::string error;
  client_ = std::make_unique<ClientTable>(config_.outgoing, config_.timers);
  client_tun_ = TunnelDevice::open(config_.client_tun, &error);
  if (!client_tun_) return host_->fail(StatusCode::io_error, Str::of(error));
  if (!net_->set_link(client_tun_->ifindex(), config_.mtu, true, &error)) {
    return host_->fail(StatusCode::io_error, Str::of(config_.client_tun + ": " + error));
  }
  client_mtu_ = config_.mtu;
  // As wg-quick: the main table keeps every route but its default ones; what it does not
  // route, and the mesh's own sockets did not mark, goes to our table's default route.
  for (Family family : {Family::ip4, Family::ip6}) {
    RuleSpec suppress{family, config_.rule_priority, 254, 0, false, 0};
    RuleSpec tunnel{family, config_.rule_priority + 1, config_.routing_table, config_.fwmark, true, -1};
    rules_installed_ = true;  // stop() removes whatever of them went in
    if (!net_->add_rule(suppress, &error) || !net_->add_rule(tunnel, &error)) {
      if (family == Family::ip6 && ::access("/proc/sys/net/ipv6", F_OK) != 0) {
        warn("IPv6 is disabled on this host: the tunnel carries IPv4 only");
        break;
      }
      return host_->fail(StatusCode::io_error, Str::of("policy rules: " + error));
    }
  }
  // As wg-quick finds: strict reverse-path filtering drops the mesh's datagrams from peers
  // reached by the default route once that route points into the tunnel.
  if (read_sysctl("net/ipv4/conf/all/rp_filter") == "1" || read_sysctl("net/ipv4/conf/default/rp_filter") == "1") {
    warn("net.ipv4.conf.all/default.rp_filter is 1 (strict): datagrams from mesh peers reached by the default "
         "route will be dropped; set it to 2 (loose)");
  }
  if (Status s = host_->loop()->watch_fd(client_tun_->fd(), kFdReadable, this, &client_watch_); !s.ok()) return s;
  info("client: " + config_.client_tun + " up, asking " + std::to_string(config_.outgoing.size()) +
       " gateways; the mesh's own sockets must carry fwmark " + std::to_string(config_.fwmark));
  return Status::success();
}

void IptunnelPlugin::stop() noexcept {
  if (sessions_ != nullptr) flush_ip_data();
  if (gateway_watch_ != nullptr) gateway_watch_->release();
  if (client_watch_ != nullptr) client_watch_->release();
  gateway_watch_ = client_watch_ = nullptr;
  if (timer_ != nullptr) timer_->release();
  timer_ = nullptr;
  if (started_ && sessions_ != nullptr) sessions_->unregister_protocol(kProtocolIptunnel);
  started_ = false;
  try {
    std::string error;
    if (gateway_ && lease_log_ != nullptr) {
      for (const GatewayTable::ClientView& c : gateway_->clients()) {
        if (!c.active) continue;
        LeaseRecord r{LeaseRecord::Event::ended, c.key, c.addresses, c.start_s, std::min(c.end_s, now_s())};
        log_lease(r);
      }
    }
    if (net_ && rules_installed_) {
      for (Family family : {Family::ip4, Family::ip6}) {
        net_->remove_rule(RuleSpec{family, config_.rule_priority, 254, 0, false, 0}, &error);
        net_->remove_rule(RuleSpec{family, config_.rule_priority + 1, config_.routing_table, config_.fwmark, true, -1},
                          &error);
      }
    }
    rules_installed_ = false;
    if (net_) net_->remove_own(config_.routing_table, &error);
    if (nft_ && !nft_->remove(&error)) warn("nftables: " + error);
    if (sysctl_) {
      for (const std::string& problem : sysctl_->restore_all()) warn("sysctl: " + problem);
    }
  } catch (const std::exception&) {
    // Cleanup is best effort; the next start removes what is left.
  }
  // Closing the devices removes their addresses and device routes.
  gateway_tun_.reset();
  client_tun_.reset();
  applied_ = ClientKernelState{};
  gateway_addresses_.clear();
  nft_.reset();
  sysctl_.reset();
  net_.reset();
  if (lease_log_ != nullptr) std::fclose(lease_log_);
  lease_log_ = nullptr;
  // Hooks were removed by their plugins' stop(), which runs first (billing requires us).
  hook_pool_.reset();
  flows_.reset();
}

ReconfigureResult IptunnelPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  try {
    std::optional<IptunnelConfig> next = parse_iptunnel_config(config_json, errors);
    if (!next) return ReconfigureResult::error;
    const auto same_pool = [](const std::optional<IpBlock>& a, const std::optional<IpBlock>& b) {
      return a.has_value() == b.has_value() && (!a || *a == *b);
    };
    const auto same_timers = [](const ClientTimers& a, const ClientTimers& b) {
      return a.request_retry_ns == b.request_retry_ns && a.probe_interval_ns == b.probe_interval_ns &&
             a.gateway_dead_ns == b.gateway_dead_ns && a.denied_retry_ns == b.denied_retry_ns;
    };
    // Devices, roles, pools, policy routing and the client's gateways are made once.
    bool fixed_same = next->gateway() == config_.gateway() && next->client() == config_.client() &&
                      next->gateway_tun == config_.gateway_tun && next->client_tun == config_.client_tun &&
                      next->mtu == config_.mtu && next->nat.uplink == config_.nat.uplink &&
                      next->nat.ndp_proxy == config_.nat.ndp_proxy && next->fwmark == config_.fwmark &&
                      next->routing_table == config_.routing_table && next->rule_priority == config_.rule_priority &&
                      same_pool(next->ip4_pool, config_.ip4_pool) && same_pool(next->ip6_pool, config_.ip6_pool) &&
                      same_timers(next->timers, config_.timers) && next->outgoing.size() == config_.outgoing.size();
    for (std::size_t i = 0; fixed_same && i < next->outgoing.size(); ++i) {
      fixed_same = std::memcmp(next->outgoing[i].key.bytes, config_.outgoing[i].key.bytes, kPublicKeySize) == 0 &&
                   next->outgoing[i].priority == config_.outgoing[i].priority;
    }
    // What applies now: who is pinned (a removed key loses its lease at once, even when the
    // rest of the change waits for a restart), lease time, DNS and the egress options.
    IptunnelConfig applied = config_;
    applied.allowed = next->allowed;
    applied.lease_seconds = next->lease_seconds;
    applied.dns_servers = next->dns_servers;
    if (fixed_same) applied = *next;
    if (gateway_) {
      // The new table first: if the kernel refuses it, the old one and the old config stay.
      std::string error;
      if (nft_ && !apply_gateway_firewall(applied, &error)) {
        errors->error("", "a config whose firewall the kernel accepts", Str::of(error));
        return ReconfigureResult::error;
      }
      for (const LeaseRecord& ended : gateway_->reconfigure(applied, now_s())) gateway_lease_ended(ended);
    }
    config_ = std::move(applied);
    if (!fixed_same) {
      warn("reconfigured allowedConnections (" + std::to_string(config_.allowed.size()) +
           " pinned keys); the other changes need a restart");
      return ReconfigureResult::restart_required;
    }
    info("reconfigured: " + std::to_string(config_.allowed.size()) + " pinned keys");
    return ReconfigureResult::applied;
  } catch (const std::exception&) {
    errors->error("", "a config iptunnel can hold", "too little memory to hold it");
    return ReconfigureResult::error;
  }
}

// ---- control messages ----

void IptunnelPlugin::send_control(const PublicKey& to, const std::uint8_t* bytes, std::size_t size) {
  Packet* packet = sessions_->pool()->acquire();
  if (packet == nullptr) {
    drops_[static_cast<std::size_t>(Drop::no_buffers)]++;
    return;
  }
  std::uint8_t* at = packet->append(static_cast<std::uint32_t>(size));
  if (at == nullptr) {
    packet->release();
    return;
  }
  std::memcpy(at, bytes, size);
  sessions_->send_to_key(to, kProtocolIptunnel, &packet, 1);
}

void IptunnelPlugin::log_lease(const LeaseRecord& record) {
  info("lease " + format_lease_record(on_wall_clock(record)));
  log_lease_file(record);
}

void IptunnelPlugin::log_lease_file(const LeaseRecord& record) {
  if (lease_log_ == nullptr) return;
  std::fprintf(lease_log_, "%s\n", format_lease_record(on_wall_clock(record)).c_str());
  std::fflush(lease_log_);
}

void IptunnelPlugin::install_lease_routes(const std::vector<GrantedAddress>& addresses, bool add) {
  std::string error;
  for (const GrantedAddress& a : addresses) {
    const IpBlock block{a.address, a.alloc};
    const RouteSpec route = device_route(254, block, gateway_tun_->ifindex());
    const bool ok = add ? net_->replace_route(route, &error) : net_->remove_route(route, &error);
    if (!ok) warn("route " + format_block(route.destination) + " via " + config_.gateway_tun + ": " + error);
    if (config_.nat.ndp_proxy && a.address.family == Family::ip6) {
      const std::uint32_t uplink = net_->ifindex(config_.nat.uplink);
      const bool proxied = add ? net_->add_proxy_neighbour(uplink, a.address, &error)
                               : net_->remove_proxy_neighbour(uplink, a.address, &error);
      if (!proxied) warn("NDP proxy for " + format_ip(a.address) + " on " + config_.nat.uplink + ": " + error);
    }
  }
}

void IptunnelPlugin::gateway_request(const PublicKey& from, const ControlMessage& request, MessageType type) {
  const std::vector<GrantedAddress> before = gateway_->held(from);
  GatewayDecision d = gateway_->request(from, request.families, request.nonce, now_s());
  std::uint8_t out[kMaxControlSize];
  if (!d.granted) {
    // Once per key and run at info: any node can ask, as often as it likes.
    const bool first = denied_logged_.size() < kMaxDeniedLogged && denied_logged_.insert(from).second;
    host_->log(first ? LogLevel::info : LogLevel::debug,
               Str::of("denied " + format_public_key(from) + " (" + to_string(d.denial.reason) + ")"));
    const std::size_t n = write_denial(d.denial, MutableByteSpan{out, sizeof out});
    if (n > 0) send_control(from, out, n);
    return;
  }
  if (d.store_failed) warn("cannot save the pool lease of " + format_public_key(from) + ": it holds until restart");
  if (d.record) {
    if (d.record->event == LeaseRecord::Event::granted || type == MessageType::lease_request) {
      install_lease_routes(d.record->addresses, true);
    }
    // A renewal for fewer families than the lease held: the addresses it no longer holds go.
    std::vector<GrantedAddress> dropped;
    for (const GrantedAddress& a : before) {
      const bool kept = std::any_of(d.record->addresses.begin(), d.record->addresses.end(), [&a](const GrantedAddress& b) {
        return b.address == a.address && b.alloc == a.alloc;
      });
      if (!kept) dropped.push_back(a);
    }
    if (!dropped.empty()) install_lease_routes(dropped, false);
    if (d.record->event == LeaseRecord::Event::granted) {
      log_lease(*d.record);
    } else {
      log_lease_file(*d.record);  // renewals: the lease log only, not every half lease in the log
    }
  }
  const std::size_t n = write_grant(d.grant, MutableByteSpan{out, sizeof out});
  if (n > 0) send_control(from, out, n);
}

void IptunnelPlugin::gateway_lease_ended(const LeaseRecord& record) {
  log_lease(record);
  install_lease_routes(record.addresses, false);
  flows_->forget_client(record.key);
}

void IptunnelPlugin::on_control(const SessionPeer& from, const Message& m) {
  std::uint8_t out[kMaxControlSize];
  std::string why;
  switch (m.type) {
    case MessageType::lease_request:
    case MessageType::renew:
      if (gateway_) gateway_request(from.key, m.control, m.type);
      return;
    case MessageType::release:
      if (gateway_) {
        if (auto record = gateway_->release(from.key, now_s())) gateway_lease_ended(*record);
      }
      return;
    case MessageType::probe:
      if (gateway_) {
        const ControlMessage reply{gateway_->held_families(from.key), m.control.nonce};
        const std::size_t n = write_control(MessageType::probe_reply, reply, MutableByteSpan{out, sizeof out});
        if (n > 0) send_control(from.key, out, n);
      }
      return;
    case MessageType::grant: {
      // Only our gateways' grants cost a route dump.
      if (!client_ || client_->find(from.key) == nullptr) return;
      std::string error;
      std::vector<IpBlock> local = net_->local_routes(&error);
      // The networks of this node's own gateway side (a chained gateway's pools) are not in
      // the way of a grant from upstream: they are what it delegated.
      local.erase(std::remove_if(local.begin(), local.end(),
                                 [this](const IpBlock& r) {
                                   return std::any_of(gateway_addresses_.begin(), gateway_addresses_.end(),
                                                      [&r](const IpBlock& own) {
                                                        return r == IpBlock{network_of(own), own.length};
                                                      });
                                 }),
                  local.end());
      const auto outcome = client_->on_grant(from.key, m.grant, local, host_->loop()->now_ns(), &why);
      if (outcome == ClientTable::GrantOutcome::refused) {
        warn("refused the grant of " + format_public_key(from.key) + ": " + why);
        const std::size_t n =
            write_control(MessageType::release, ControlMessage{0, 0}, MutableByteSpan{out, sizeof out});
        if (n > 0) send_control(from.key, out, n);
        apply_client_kernel_state();  // a lease it held before is gone with the refusal
      } else if (outcome == ClientTable::GrantOutcome::accepted) {
        std::string addresses;
        for (std::uint8_t i = 0; i < m.grant.address_count; ++i) {
          const GrantedAddress& a = m.grant.addresses[i];
          addresses += " " + format_ip(a.address) + "/" + std::to_string(a.alloc);
        }
        info("lease from " + format_public_key(from.key) + ":" + addresses + ", " +
             std::to_string(m.grant.lease_seconds) + " s");
        apply_client_kernel_state();
      }
      client_tick();
      return;
    }
    case MessageType::denial:
      if (client_ && client_->on_denial(from.key, m.denial, host_->loop()->now_ns())) {
        warn("gateway " + format_public_key(from.key) + " denied us: " + to_string(m.denial.reason) + " (" +
             std::string(m.denial.text, m.denial.text_size) + ")");
        apply_client_kernel_state();
      }
      return;
    case MessageType::probe_reply:
      if (client_) {
        bool changed = false;
        client_->on_probe_reply(from.key, m.control, host_->loop()->now_ns(), &changed);
        if (changed) {
          apply_client_kernel_state();
          client_tick();
        }
      }
      return;
    case MessageType::account_request:
      if (gateway_) gateway_account_request(from.key, m.account_nonce);
      return;
    case MessageType::account_report:
    case MessageType::account_notice:
      if (client_) client_account(from.key, m.type, m.account);
      return;
    case MessageType::ip_data:
      return;  // the data path handles these
  }
}

// ---- the client's account at its gateway ----

void IptunnelPlugin::gateway_account_request(const PublicKey& from, std::uint32_t nonce) {
  switch (gateway_->account_request(from, host_->loop()->now_ns())) {
    case GatewayTable::AccountAsk::no_lease:
      drops_[static_cast<std::size_t>(Drop::not_a_client)]++;
      return;
    case GatewayTable::AccountAsk::rate_limited:
      drops_[static_cast<std::size_t>(Drop::rate_limited)]++;
      return;
    case GatewayTable::AccountAsk::answer:
      break;
  }
  AccountMessage answer;
  answer.nonce = nonce;
  // Billing starts after us and may be reloaded away: asked each time, as rarely as the
  // rate above allows.
  Service* billing = host_->lookup("billing");
  auto* reporter =
      billing != nullptr ? static_cast<AccountReporter*>(billing->query(kAccountReporterInterface)) : nullptr;
  if (reporter == nullptr) {
    answer.status = AccountStatus::not_metered;
  } else if (Status s = reporter->account_of(from, &answer.report); !s.ok()) {
    // Billing not started (yet, or any more) meters nothing; only its not_found means it
    // does not know the client.
    answer.status = s.code == StatusCode::not_found ? AccountStatus::unknown_client : AccountStatus::not_metered;
    if (s.code != StatusCode::not_found && s.message.data != nullptr) {
      host_->log(LogLevel::debug, Str::of("account of " + format_public_key(from) + ": " +
                                          std::string(s.message.data, s.message.size)));
    }
  }
  std::uint8_t out[kMaxAccountSize];
  const std::size_t n = write_account(MessageType::account_report, answer, MutableByteSpan{out, sizeof out});
  if (n == 0) {
    host_->log(LogLevel::debug, Str::of("billing's account of " + format_public_key(from) + " cannot be encoded"));
    return;
  }
  send_control(from, out, n);
}

void IptunnelPlugin::notify_account(const PublicKey& client, const AccountReport& report) noexcept {
  try {
    if (!gateway_ || gateway_->held_families(client) == 0) return;
    AccountMessage notice;
    notice.report = report;
    std::uint8_t out[kMaxAccountSize];
    const std::size_t n = write_account(MessageType::account_notice, notice, MutableByteSpan{out, sizeof out});
    if (n > 0) send_control(client, out, n);
  } catch (const std::exception&) {
    // Nothing above allocates; the catch keeps the plugin boundary noexcept all the same.
  }
}

void IptunnelPlugin::client_account(const PublicKey& from, MessageType type, const AccountMessage& message) {
  bool changed = false;
  const auto outcome = client_->on_account(from, type, message, host_->loop()->now_ns(),
                                           static_cast<std::int64_t>(std::time(nullptr)), &changed);
  if (outcome == ClientTable::AccountOutcome::ignored) return;
  // A notice is news for people even when it repeats what a report said.
  if (message.status == AccountStatus::ok &&
      (outcome == ClientTable::AccountOutcome::changed || type == MessageType::account_notice)) {
    const std::string line = format_account_line(short_key(from), message.report);
    warn(line);
  }
  if (changed) {
    apply_client_kernel_state();
    client_tick();
  }
}

void IptunnelPlugin::client_tick() {
  if (!client_) return;
  bool changed = false;
  std::uint64_t next = 0;
  const std::uint64_t now = host_->loop()->now_ns();
  const std::vector<ClientTable::Send> sends = client_->tick(now, &next, &changed);
  std::uint8_t out[kMaxControlSize];
  for (const ClientTable::Send& s : sends) {
    const std::size_t n = s.type == MessageType::account_request
                              ? write_account_request(s.message.nonce, MutableByteSpan{out, sizeof out})
                              : write_control(s.type, s.message, MutableByteSpan{out, sizeof out});
    if (n > 0) send_control(client_->gateways()[s.gateway].config.key, out, n);
  }
  if (changed || kernel_dirty_) apply_client_kernel_state();
  if (timer_ != nullptr) {
    const std::uint64_t wake = std::min(next, next_expiry_ns_ == 0 ? next : next_expiry_ns_);
    timer_->arm(wake > now ? wake - now : 1);
  }
}

void IptunnelPlugin::apply_client_kernel_state() {
  std::string error;
  const std::uint32_t ifindex = client_tun_->ifindex();
  // The tunnel carries no more than the smallest MTU a gateway granted (nor our own), but
  // never less than IPv6's 1280: below it the kernel would take every IPv6 address away.
  std::uint32_t mtu = config_.mtu;
  for (const ClientGateway& g : client_->gateways()) {
    if (g.holds_lease() && g.grant.mtu >= kIp6MinMtu) mtu = std::min<std::uint32_t>(mtu, g.grant.mtu);
  }
  if (mtu != client_mtu_) {
    if (net_->set_link(ifindex, mtu, true, &error)) {
      client_mtu_ = mtu;
    } else {
      warn(config_.client_tun + ": MTU " + std::to_string(mtu) + ": " + error);
    }
  }
  const ClientKernelState want = client_->kernel_state();
  if (want == applied_) {
    kernel_dirty_ = false;
    return;
  }
  // `done` follows what the kernel took, so a failed step is tried again at the next tick.
  ClientKernelState done = applied_;
  auto has = [](const std::vector<IpBlock>& list, const IpBlock& b) {
    return std::find(list.begin(), list.end(), b) != list.end();
  };
  // Addresses first, so the routes' preferred sources exist when the routes go in.
  for (const IpBlock& a : want.addresses) {
    if (has(done.addresses, a)) continue;
    if (net_->add_address(ifindex, a, &error)) {
      done.addresses.push_back(a);
    } else {
      warn(config_.client_tun + ": address " + format_block(a) + ": " + error);
    }
  }
  for (Family family : {Family::ip4, Family::ip6}) {
    const auto& w = family == Family::ip4 ? want.default_source4 : want.default_source6;
    auto& h = family == Family::ip4 ? done.default_source4 : done.default_source6;
    RouteSpec route = device_route(config_.routing_table, default_block(family), ifindex);
    const char* name = family == Family::ip4 ? "IPv4" : "IPv6";
    if (w) {
      if (h && *h == *w) continue;
      route.preferred_source = *w;
      if (net_->replace_route(route, &error)) {
        h = *w;
        info(std::string("default route (") + name + ") from " + format_ip(*w));
      } else {
        warn("default route via " + config_.client_tun + " from " + format_ip(*w) + ": " + error);
      }
    } else if (h) {
      if (net_->remove_route(route, &error)) {
        h.reset();
        info(std::string("no gateway holds a lease for ") + name + ": default route removed");
      } else {
        warn(std::string("default route (") + name + "): " + error);
      }
    }
  }
  for (auto it = done.prefix_routes.begin(); it != done.prefix_routes.end();) {
    const bool wanted = std::find(want.prefix_routes.begin(), want.prefix_routes.end(), *it) != want.prefix_routes.end();
    if (!wanted && net_->remove_route(device_route(254, it->destination, ifindex), &error)) {
      it = done.prefix_routes.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& r : want.prefix_routes) {
    if (std::find(done.prefix_routes.begin(), done.prefix_routes.end(), r) != done.prefix_routes.end()) continue;
    RouteSpec route = device_route(254, r.destination, ifindex);
    route.preferred_source = r.source;
    if (net_->replace_route(route, &error)) {
      done.prefix_routes.push_back(r);
    } else {
      warn("route " + format_block(r.destination) + ": " + error);
    }
  }
  for (auto it = done.addresses.begin(); it != done.addresses.end();) {
    if (!has(want.addresses, *it) && net_->remove_address(ifindex, *it, &error)) {
      it = done.addresses.erase(it);
    } else {
      ++it;
    }
  }
  // Everything went in: take `want` itself, whose order the next comparison expects.
  const auto same_set = [](const auto& a, const auto& b) {
    return a.size() == b.size() &&
           std::all_of(a.begin(), a.end(), [&b](const auto& x) { return std::find(b.begin(), b.end(), x) != b.end(); });
  };
  if (same_set(done.addresses, want.addresses) && same_set(done.prefix_routes, want.prefix_routes) &&
      done.default_source4 == want.default_source4 && done.default_source6 == want.default_source6) {
    done = want;
  }
  applied_ = std::move(done);
  kernel_dirty_ = !(applied_ == want);
}

void IptunnelPlugin::on_timer() noexcept {
  try {
    const std::uint64_t now = host_->loop()->now_ns();
    if (gateway_ && now >= next_expiry_ns_) {
      for (const LeaseRecord& ended : gateway_->expire(now_s())) gateway_lease_ended(ended);
      // An eighth of the flow table a second: expired flows stop counting against their
      // client's cap within 8 s.
      flows_->sweep(now, flows_->capacity() / 8);
      next_expiry_ns_ = now + kExpiryIntervalNs;
    }
    if (client_) {
      client_tick();
    } else if (timer_ != nullptr && gateway_) {
      timer_->arm(next_expiry_ns_ - now);
    }
  } catch (const std::exception& e) {
    warn(std::string("timer: ") + e.what());
    if (timer_ != nullptr) timer_->arm(kExpiryIntervalNs);
  }
}

// ---- the descriptor's functions: C-compatible, noexcept, no exceptions escape ----

namespace {

constexpr char kName[] = "iptunnel";
using Entry = link_common::PluginEntry<IptunnelPlugin, parse_iptunnel_config, kName>;

constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "description": "cjdns's ipTunnel block; see docs/operations.md, \"Making a node an ISP\"",
  "properties": {
    "allowedConnections": {"type": "array", "description": "gateway: pinned client keys and what each is given",
      "items": {"type": "object", "required": ["publicKey"], "properties": {
        "publicKey": {"type": "string"}, "ip4Address": {"type": "string"}, "ip4Prefix": {"type": "integer"},
        "ip4Alloc": {"type": "integer"}, "ip6Address": {"type": "string"}, "ip6Prefix": {"type": "integer"},
        "ip6Alloc": {"type": "integer"}, "plan": {"type": "string"}}}},
    "ip4Pool": {"type": "string", "description": "gateway: IPv4 block for pinned keys without an ip4Address"},
    "ip6Pool": {"type": "string", "description": "gateway: IPv6 block for pinned keys without an ip6Address"},
    "leaseSeconds": {"type": "integer", "minimum": 60, "maximum": 604800, "default": 3600},
    "mtu": {"type": "integer", "minimum": 576, "maximum": 9000, "default": 1280},
    "dnsServers": {"type": "array", "maxItems": 4, "items": {"type": "string"}},
    "gatewayTun": {"type": "string", "default": "mhgw0"},
    "nat": {"type": "object", "properties": {"uplink": {"type": "string"}, "ndpProxy": {"type": "boolean", "default": false}}},
    "clientIsolation": {"type": "boolean", "default": false},
    "blockSmtp": {"type": "boolean", "default": false},
    "ipv6InboundOpen": {"type": "boolean", "default": false},
    "ipv4InboundOpen": {"type": "boolean", "default": false},
    "outgoingConnections": {"type": "array", "description": "client: gateway keys, or {publicKey, priority}"},
    "clientTun": {"type": "string", "default": "mhup0"},
    "fwmark": {"type": "integer", "default": 27976},
    "routingTable": {"type": "integer", "default": 27976},
    "rulePriority": {"type": "integer", "default": 27970},
    "timers": {"type": "object", "properties": {
      "requestRetryMs": {"type": "integer", "default": 2000},
      "probeIntervalMs": {"type": "integer", "default": 2000},
      "gatewayDeadMs": {"type": "integer", "default": 6000},
      "deniedRetryMs": {"type": "integer", "default": 30000}}}
  },
  "additionalProperties": false
})json";

const Str kProvided[] = {"iptunnel"};
const Str kRequired[] = {"sessions"};

const PluginDescriptor kDescriptor = {
    .struct_size = sizeof(PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = kName,
    .version = "0.1.0",
    .description = "Key-pinned Internet gateway and client over end-to-end sessions, each on its own TUN",
    .kind = "gateway",
    .provided = kProvided,
    .provided_count = 1,
    .required = kRequired,
    .required_count = 1,
    .config_schema = kConfigSchema,
    .stability = Stability::experimental,
    .validate = Entry::validate,
    .create = Entry::create,
    .destroy = Entry::destroy,
};

}  // namespace
}  // namespace mh::iptunnel

MESHHOST_PLUGIN(mh::iptunnel::kDescriptor)
