// The client's gateways, leases and health: see client_table.hpp.
#include "client_table.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>

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
    next = std::min(next, g.next_send_ns);
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
    const bool g_healthy = g.state == GatewayState::leased;
    const bool best_healthy = best->state == GatewayState::leased;
    if (g_healthy != best_healthy) {
      if (g_healthy) best = &g;
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
