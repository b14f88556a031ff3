// iptunnel's admin methods: iptunnel.status (what `meshctl tunnel` shows) and
// iptunnel.reload.
#include "iptunnel.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <csignal>
#include <exception>

namespace mh::iptunnel {

namespace {

nlohmann::json addresses_json(const GrantedAddress* addresses, std::size_t count) {
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < count; ++i) {
    list.push_back(format_ip(addresses[i].address) + "/" + std::to_string(addresses[i].alloc));
  }
  return list;
}

}  // namespace

// params: none. result: {gateway: {tun, uplink, activeLeases, clients: [{publicKey, active,
// addresses, start, end, packetsUp, bytesUp, packetsDown, bytesDown}]} or null, client:
// {tun, gateways: [{publicKey, priority, state, preferred4, preferred6, addresses,
// leaseRemainingS, lastHeardMsAgo, reason, packetsUp, bytesUp, packetsDown, bytesDown}]} or
// null, dropped: {reason: n}}. start/end are Unix seconds; bytes are inner IP bytes.
Status IptunnelPlugin::status(Str, StringSink* result) noexcept {
  try {
    nlohmann::json out = {{"gateway", nullptr}, {"client", nullptr}};
    if (gateway_) {
      nlohmann::json clients = nlohmann::json::array();
      for (const GatewayTable::ClientView& c : gateway_->clients()) {
        nlohmann::json entry = {{"publicKey", format_public_key(c.key)},
                                {"active", c.active},
                                {"addresses", addresses_json(c.addresses.data(), c.addresses.size())},
                                {"start", wall_s(c.start_s)},
                                {"end", wall_s(c.end_s)}};
        const auto t = client_traffic_.find(c.key);
        const Traffic traffic = t != client_traffic_.end() ? t->second : Traffic{};
        entry["packetsUp"] = traffic.packets_up;
        entry["bytesUp"] = traffic.bytes_up;
        entry["packetsDown"] = traffic.packets_down;
        entry["bytesDown"] = traffic.bytes_down;
        clients.push_back(std::move(entry));
      }
      out["gateway"] = {{"tun", config_.gateway_tun},
                        {"uplink", config_.nat.uplink},
                        {"activeLeases", gateway_->active_leases()},
                        {"clients", std::move(clients)}};
    }
    if (client_) {
      const std::uint64_t now = host_->loop()->now_ns();
      const ClientGateway* best4 = client_->preferred(Family::ip4);
      const ClientGateway* best6 = client_->preferred(Family::ip6);
      nlohmann::json gateways = nlohmann::json::array();
      for (const ClientGateway& g : client_->gateways()) {
        const bool leased = g.holds_lease();
        gateways.push_back({
            {"publicKey", format_public_key(g.config.key)},
            {"priority", g.config.priority},
            {"state", to_string(g.state)},
            {"preferred4", &g == best4},
            {"preferred6", &g == best6},
            {"addresses", leased ? addresses_json(g.grant.addresses, g.grant.address_count) : nlohmann::json::array()},
            {"leaseRemainingS", leased && g.lease_end_ns > now ? (g.lease_end_ns - now) / 1'000'000'000 : 0},
            {"lastHeardMsAgo", g.last_heard_ns == 0 ? nlohmann::json(nullptr)
                                                    : nlohmann::json((now - g.last_heard_ns) / 1'000'000)},
            {"reason", g.reason},
            {"packetsUp", g.packets_up},
            {"bytesUp", g.bytes_up},
            {"packetsDown", g.packets_down},
            {"bytesDown", g.bytes_down},
        });
      }
      out["client"] = {{"tun", config_.client_tun}, {"gateways", std::move(gateways)}};
    }
    nlohmann::json dropped = nlohmann::json::object();
    for (std::size_t i = 0; i < kDropCount; ++i) dropped[drop_name(static_cast<Drop>(i))] = drops_[i];
    out["dropped"] = std::move(dropped);
    const std::string text = out.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

// params: none. Asks the host to re-read its config file, as SIGHUP does: a changed
// allowedConnections then applies without dropping other clients (reconfigure()). The
// outcome is logged; result: {requested: true}.
Status IptunnelPlugin::reload(Str, StringSink* result) noexcept {
  if (std::raise(SIGHUP) != 0) return Status::error(StatusCode::internal, "cannot signal the host");
  result->append("{\"requested\":true}");
  return Status::success();
}

}  // namespace mh::iptunnel
