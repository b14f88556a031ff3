// The client's gateways, leases and health: see client_table.hpp.
#include "client_table.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>

namespace mh::iptunnel {

namespace {

bool same_key(const PublicKey& a, const PublicKey& b) noexcept {
  return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0;
}

constexpr std::uint8_t kBothFamilies = kWantIp4 | kWantIp6;

bool same_addresses(const Grant& a, const Grant& b) noexcept {
  if (a.address_count != b.address_count) return false;
  for (std::uint8_t i = 0; i < a.address_count; ++i) {
    const GrantedAddress& x = a.addresses[i];
    const GrantedAddress& y = b.addresses[i];
    if (!(x.address == y.address) || x.alloc != y.alloc || x.prefix != y.prefix) return false;
  }
  return true;
}

IpBlock host_block(const IpAddress& a) noexcept { return IpBlock{a, max_length(a.family)}; }

}  // namespace

const char* to_string(GatewayState s) noexcept {
  switch (s) {
    case GatewayState::requesting:
      return "requesting";
    case GatewayState::leased:
      return "leased";
    case GatewayState::dead:
      return "dead";
    case GatewayState::denied:
      return "denied";
    case GatewayState::refused:
      return "refused";
  }
  return "?";
}

std::string short_key(const PublicKey& key) {
  const std::string k = format_public_key(key);
  return k.size() > 14 ? k.substr(0, 6) + "..." + k.substr(k.size() - 6) : k;
}

std::string format_utc(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  char text[32] = {};
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(unix_s);
  }
  return text;
}

std::string format_account_line(const std::string& gateway, const AccountReport& r) {
  const std::string billable = std::to_string(r.billable_bytes);
  const std::string quota = std::to_string(r.quota_bytes);
  const std::string period = " for the period ending " + format_utc(r.period_end_unix);
  const std::string head = "gateway " + gateway + ": ";
  const std::string used = r.quota_bytes > 0 ? "quota " + quota + " bytes used (" + billable + " billable)"
                                             : billable + " bytes billable";
  switch (r.state) {
    case AccountState::blocked:
      return head + "blocked: " + used + period + "; nothing passes through this gateway until then";
    case AccountState::throttled:
      return head + "throttled to " + std::to_string(r.throttle_bps) + " bit/s: " + used + period;
    case AccountState::open:
      break;
  }
  return head + "open again: " + billable + (r.quota_bytes > 0 ? " of " + quota : "") + " bytes billable" + period;
}

ClientTable::ClientTable(const std::vector<OutgoingConnection>& gateways, const ClientTimers& timers)
    : timers_(timers) {
  for (const OutgoingConnection& g : gateways) {
    ClientGateway gateway;
    gateway.config = g;
    gateways_.push_back(gateway);
  }
}

ClientGateway* ClientTable::find(const PublicKey& key) noexcept {
  for (ClientGateway& g : gateways_) {
    if (same_key(g.config.key, key)) return &g;
  }
  return nullptr;
}

std::vector<ClientTable::Send> ClientTable::tick(std::uint64_t now_ns, std::uint64_t* next_ns, bool* changed) {
  std::vector<Send> sends;
  std::uint64_t next = UINT64_MAX;
  for (std::size_t i = 0; i < gateways_.size(); ++i) {
    ClientGateway& g = gateways_[i];
    if (g.holds_lease() && now_ns >= g.lease_end_ns) {
      // The lease ran out without a renewal: its addresses go.
      g.state = GatewayState::requesting;
      g.grant = Grant{};
      g.next_send_ns = now_ns;
      *changed = true;
    }
    if (g.state == GatewayState::leased && now_ns - g.last_heard_ns >= timers_.gateway_dead_ns) {
      g.state = GatewayState::dead;
      *changed = true;
    }
    if (g.blocked() && now_ns >= g.account->blocked_until_ns) {
      // The period it was blocked for is over, whether or not its "open" notice arrived.
      g.account->report.state = AccountState::open;
      *changed = true;
    }
    if (now_ns >= g.next_send_ns) {
      switch (g.state) {
        case GatewayState::requesting:
        case GatewayState::denied:
        case GatewayState::refused:
          g.nonce = next_nonce();
          sends.push_back(Send{i, MessageType::lease_request, ControlMessage{kBothFamilies, g.nonce}});
          g.next_send_ns = now_ns + (g.state == GatewayState::requesting ? timers_.request_retry_ns : timers_.denied_retry_ns);
          break;
        case GatewayState::leased:
        case GatewayState::dead: {
          // Past half the lease a renewal; otherwise a probe. Either answers "alive".
          const std::uint64_t half = g.lease_start_ns + (g.lease_end_ns - g.lease_start_ns) / 2;
          if (now_ns >= half) {
            g.nonce = next_nonce();
            sends.push_back(Send{i, MessageType::renew, ControlMessage{kBothFamilies, g.nonce}});
          } else {
            sends.push_back(Send{i, MessageType::probe, ControlMessage{0, next_nonce()}});
          }
          g.next_send_ns = now_ns + timers_.probe_interval_ns;
          break;
        }
      }
    }
    if (g.blocked() && g.holds_lease() && now_ns >= g.account->refresh_ns) {
      g.account_nonce = next_nonce();
      g.account_asked_ns = now_ns;
      g.account->refresh_ns = now_ns + timers_.denied_retry_ns;
      sends.push_back(Send{i, MessageType::account_request, ControlMessage{0, g.account_nonce}});
    }
    next = std::min(next, g.next_send_ns);
    if (g.blocked()) {
      next = std::min(next, g.account->blocked_until_ns);
      // The account is asked for again only over a lease: without one, a refresh time in
      // the past would wake the loop at once, over and over.
      if (g.holds_lease()) next = std::min(next, g.account->refresh_ns);
    }
    if (g.holds_lease()) next = std::min(next, g.lease_end_ns);
    if (g.state == GatewayState::leased) next = std::min(next, g.last_heard_ns + timers_.gateway_dead_ns);
  }
  *next_ns = next;
  return sends;
}

bool ClientTable::grant_blocks_overlap(const Grant& grant, const IpBlock& block) {
  for (std::uint8_t i = 0; i < grant.address_count; ++i) {
    const GrantedAddress& a = grant.addresses[i];
    if (overlaps(IpBlock{a.address, a.alloc}, block)) return true;
  }
  return false;
}

ClientTable::GrantOutcome ClientTable::on_grant(const PublicKey& from, const Grant& grant,
                                                const std::vector<IpBlock>& local_routes, std::uint64_t now_ns,
                                                std::string* why) {
  ClientGateway* g = find(from);
  // Nonce 0 is never sent: it marks "nothing in flight".
  if (g == nullptr || g->nonce == 0 || grant.nonce != g->nonce || grant.address_count == 0) return GrantOutcome::stale;
  g->nonce = 0;  // answered: a duplicate of this grant is stale
  g->last_heard_ns = now_ns;
  // Another gateway's lease, or a route this node has for other reasons, must not be
  // shadowed by this one: packets would leave through the wrong place.
  for (const ClientGateway& other : gateways_) {
    if (&other == g || !other.holds_lease()) continue;
    for (std::uint8_t i = 0; i < other.grant.address_count; ++i) {
      const GrantedAddress& a = other.grant.addresses[i];
      if (grant_blocks_overlap(grant, IpBlock{a.address, a.alloc})) {
        *why = "overlaps the lease from " + format_public_key(other.config.key) + " (" + format_ip(a.address) + "/" +
               std::to_string(a.alloc) + ")";
        g->state = GatewayState::refused;
        g->reason = *why;
        g->grant = Grant{};
        g->next_send_ns = now_ns + timers_.denied_retry_ns;
        return GrantOutcome::refused;
      }
    }
  }
  for (const IpBlock& route : local_routes) {
    // This gateway's own earlier grant shows up as routes the kernel made for its addresses.
    if (g->holds_lease() && grant_blocks_overlap(g->grant, route)) continue;
    if (grant_blocks_overlap(grant, route)) {
      *why = "overlaps the local route " + format_block(route);
      g->state = GatewayState::refused;
      g->reason = *why;
      g->grant = Grant{};
      g->next_send_ns = now_ns + timers_.denied_retry_ns;
      return GrantOutcome::refused;
    }
  }
  const bool same = g->holds_lease() && same_addresses(g->grant, grant);
  const bool was_leased = g->state == GatewayState::leased;
  g->grant = grant;
  g->reason.clear();
  // A renewal counts the lease from now: restart the half-way point there too.
  g->lease_start_ns = now_ns;
  g->lease_end_ns = now_ns + std::uint64_t{grant.lease_seconds} * 1'000'000'000;
  g->state = GatewayState::leased;
  g->next_send_ns = now_ns + timers_.probe_interval_ns;
  return same && was_leased ? GrantOutcome::renewed : GrantOutcome::accepted;
}

bool ClientTable::on_denial(const PublicKey& from, const Denial& denial, std::uint64_t now_ns) {
  ClientGateway* g = find(from);
  if (g == nullptr || g->nonce == 0 || denial.nonce != g->nonce) return false;
  g->nonce = 0;
  g->last_heard_ns = now_ns;
  g->state = GatewayState::denied;
  g->grant = Grant{};
  g->reason = std::string(denial.text, denial.text_size);
  g->next_send_ns = now_ns + timers_.denied_retry_ns;
  return true;
}

void ClientTable::on_probe_reply(const PublicKey& from, const ControlMessage& reply, std::uint64_t now_ns,
                                 bool* changed) {
  ClientGateway* g = find(from);
  if (g == nullptr || !g->holds_lease()) return;
  g->last_heard_ns = now_ns;
  if (reply.families == 0) {
    // The gateway no longer knows our lease (it restarted): its addresses go, and we ask
    // again at once; pinned and pool addresses come back the same.
    g->nonce = next_nonce();
    g->next_send_ns = now_ns;
    g->state = GatewayState::requesting;
    g->grant = Grant{};
    *changed = true;
    return;
  }
  if (g->state == GatewayState::dead) {
    g->state = GatewayState::leased;
    *changed = true;
  }
}

std::vector<ClientTable::Send> ClientTable::request_accounts(std::uint64_t now_ns) {
  std::vector<Send> sends;
  for (std::size_t i = 0; i < gateways_.size(); ++i) {
    ClientGateway& g = gateways_[i];
    if (!g.holds_lease()) continue;
    g.account_nonce = next_nonce();
    g.account_asked_ns = now_ns;
    sends.push_back(Send{i, MessageType::account_request, ControlMessage{0, g.account_nonce}});
  }
  return sends;
}

ClientTable::AccountOutcome ClientTable::on_account(const PublicKey& from, MessageType type,
                                                    const AccountMessage& message, std::uint64_t now_ns,
                                                    std::int64_t now_unix, bool* changed) {
  ClientGateway* g = find(from);
  // Only a gateway that leased us addresses speaks for our account there.
  if (g == nullptr || !g->holds_lease()) return AccountOutcome::ignored;
  if (type == MessageType::account_report) {
    if (g->account_nonce == 0 || message.nonce != g->account_nonce) return AccountOutcome::ignored;
    g->account_nonce = 0;
  } else if (type != MessageType::account_notice) {
    return AccountOutcome::ignored;
  }
  g->last_heard_ns = now_ns;
  const AccountState before = g->account && g->account->status == AccountStatus::ok ? g->account->report.state
                                                                                    : AccountState::open;
  const bool was_blocked = g->blocked();
  ClientAccount a;
  a.status = message.status;
  a.report = message.report;
  a.received_ns = now_ns;
  a.received_unix = now_unix;
  a.notice = type == MessageType::account_notice;
  // Without an account (not metered, unknown to billing) nothing is enforced: open.
  const AccountState after = a.status == AccountStatus::ok ? a.report.state : AccountState::open;
  if (a.status == AccountStatus::ok && a.report.state == AccountState::blocked) {
    // Saturating: a period end the gateway put at the end of time must not wrap around.
    const std::int64_t left_s = a.report.period_end_unix > now_unix ? a.report.period_end_unix - now_unix : 0;
    const std::uint64_t max_left_s = (UINT64_MAX - now_ns) / 1'000'000'000;
    a.blocked_until_ns = static_cast<std::uint64_t>(left_s) >= max_left_s
                             ? UINT64_MAX
                             : now_ns + static_cast<std::uint64_t>(left_s) * 1'000'000'000;
    a.refresh_ns = now_ns + timers_.denied_retry_ns;
  }
  g->account = a;
  if (was_blocked != g->blocked()) *changed = true;
  return after != before ? AccountOutcome::changed : AccountOutcome::kept;
}

void ClientTable::heard(const PublicKey& from, std::uint64_t now_ns) noexcept {
  for (ClientGateway& g : gateways_) {
    if (same_key(g.config.key, from)) {
      g.last_heard_ns = now_ns;
      return;
    }
  }
}

ClientGateway* ClientTable::gateway_for_source(const IpAddress& source) noexcept {
  for (ClientGateway& g : gateways_) {
    if (!g.holds_lease()) continue;
    for (std::uint8_t i = 0; i < g.grant.address_count; ++i) {
      const GrantedAddress& a = g.grant.addresses[i];
      if (contains(IpBlock{a.address, a.alloc}, source)) return &g;
    }
  }
  return nullptr;
}

ClientGateway* ClientTable::accepts(const PublicKey& from, const IpAddress& destination) noexcept {
  ClientGateway* g = find(from);
  if (g == nullptr || !g->holds_lease()) return nullptr;
  for (std::uint8_t i = 0; i < g->grant.address_count; ++i) {
    const GrantedAddress& a = g->grant.addresses[i];
    if (contains(IpBlock{a.address, a.alloc}, destination)) return g;
  }
  return nullptr;
}

const ClientGateway* ClientTable::preferred(Family family) const noexcept {
  const ClientGateway* best = nullptr;
  // Only a gateway that grants a default route (prefix 0) of the family can carry it.
  auto has_family = [family](const ClientGateway& g) {
    for (std::uint8_t i = 0; i < g.grant.address_count; ++i) {
      if (g.grant.addresses[i].address.family == family && g.grant.addresses[i].prefix == 0) return true;
    }
    return false;
  };
  for (const ClientGateway& g : gateways_) {
    if (!g.holds_lease() || !has_family(g)) continue;
    if (best == nullptr) {
      best = &g;
      continue;
    }
    // Healthy first; then alive but blocking us (it may still pass its free prefixes, and
    // it answers); then silent.
    auto rank = [](const ClientGateway& x) {
      if (x.state != GatewayState::leased) return 2;
      return x.blocked() ? 1 : 0;
    };
    if (rank(g) != rank(*best)) {
      if (rank(g) < rank(*best)) best = &g;
    } else if (g.config.priority < best->config.priority) {
      best = &g;
    }
  }
  return best;
}

ClientKernelState ClientTable::kernel_state() const {
  ClientKernelState state;
  for (const ClientGateway& g : gateways_) {
    if (!g.holds_lease()) continue;
    for (std::uint8_t i = 0; i < g.grant.address_count; ++i) {
      const GrantedAddress& a = g.grant.addresses[i];
      state.addresses.push_back(host_block(a.address));
      if (a.prefix > 0) {
        const IpBlock route{a.address, a.prefix};
        state.prefix_routes.push_back({IpBlock{network_of(route), a.prefix}, a.address});
      }
    }
  }
  for (Family family : {Family::ip4, Family::ip6}) {
    const ClientGateway* g = preferred(family);
    if (g == nullptr) continue;
    for (std::uint8_t i = 0; i < g->grant.address_count; ++i) {
      const GrantedAddress& a = g->grant.addresses[i];
      if (a.address.family == family && a.prefix == 0) {
        (family == Family::ip4 ? state.default_source4 : state.default_source6) = a.address;
        break;
      }
    }
  }
  return state;
}

}  // namespace mh::iptunnel
