// iptunnel's admin methods: iptunnel.status (what `meshctl tunnel` shows),
// iptunnel.requestAccount and iptunnel.account (`meshctl tunnel usage`) and iptunnel.reload.
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

std::string text_of(const char* data, std::size_t size) { return std::string(data, size); }

// A gateway's account as the client last heard it; null when it never answered.
nlohmann::json account_json(const std::optional<ClientAccount>& a, std::uint64_t now_ns) {
  if (!a) return nullptr;
  nlohmann::json out = {{"status", to_string(a->status)},
                        {"notice", a->notice},
                        {"receivedUnix", a->received_unix},
                        {"receivedMsAgo", now_ns >= a->received_ns ? (now_ns - a->received_ns) / 1'000'000 : 0}};
  if (a->status != AccountStatus::ok) return out;
  const AccountReport& r = a->report;
  out["state"] = to_string(r.state);
  out["plan"] = text_of(r.plan, r.plan_size);
  out["currency"] = text_of(r.currency, r.currency_size);
  out["periodStart"] = r.period_start_unix;
  out["periodEnd"] = r.period_end_unix;
  out["periodStartUtc"] = format_utc(r.period_start_unix);
  out["periodEndUtc"] = format_utc(r.period_end_unix);
  out["quotaBytes"] = r.quota_bytes;
  out["billableBytes"] = r.billable_bytes;
  // As billing.usage counts it: nothing is left once the quota was crossed, though the
  // packet that crossed it was not counted and billable bytes stay just below the quota.
  const bool over = r.state != AccountState::open;
  const std::uint64_t left = !over && r.quota_bytes > r.billable_bytes ? r.quota_bytes - r.billable_bytes : 0;
  out["quotaLeftBytes"] = r.quota_bytes == 0 ? nlohmann::json(nullptr) : nlohmann::json(left);
  out["bytesUp"] = r.bytes_up;
  out["bytesDown"] = r.bytes_down;
  out["unbilledBytes"] = r.unbilled_bytes;
  out["rateUpBps"] = r.rate_up_bps;
  out["rateDownBps"] = r.rate_down_bps;
  out["throttleBps"] = r.throttle_bps;
  out["priceMicrosPerGb"] = r.price_micro_per_gb;
  out["amountMicros"] = r.amount_micro;
  return out;
}

// Names from the network may be anything: shown, never refused.
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

// params: none. result: {gateway: {tun, uplink, activeLeases, clients: [{publicKey, active,
// addresses, start, end, packetsUp, bytesUp, packetsDown, bytesDown}]} or null, client:
// {tun, gateways: [{publicKey, priority, state, preferred4, preferred6, addresses,
// leaseRemainingS, lastHeardMsAgo, reason, packetsUp, bytesUp, packetsDown, bytesDown,
// account}]} or null, dropped: {reason: n}}. start/end are Unix seconds; bytes are inner IP
// bytes; account as in iptunnel.account.
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
            {"account", account_json(g.account, now)},
        });
      }
      out["client"] = {{"tun", config_.client_tun}, {"gateways", std::move(gateways)}};
    }
    nlohmann::json dropped = nlohmann::json::object();
    for (std::size_t i = 0; i < kDropCount; ++i) dropped[drop_name(static_cast<Drop>(i))] = drops_[i];
    out["dropped"] = std::move(dropped);
    const std::string text = dump(out);
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

// params: none. Sends an account request to every gateway holding our lease and returns at
// once; the answers arrive in iptunnel.account. result: {asked: [publicKey]}.
Status IptunnelPlugin::request_account(Str, StringSink* result) noexcept {
  try {
    if (!client_) {
      return Status::error(StatusCode::unavailable, "this node is not an iptunnel client (no outgoingConnections)");
    }
    nlohmann::json asked = nlohmann::json::array();
    std::uint8_t out[kAccountRequestSize];
    for (const ClientTable::Send& s : client_->request_accounts(host_->loop()->now_ns())) {
      const PublicKey& key = client_->gateways()[s.gateway].config.key;
      const std::size_t n = write_account_request(s.message.nonce, MutableByteSpan{out, sizeof out});
      if (n > 0) send_control(key, out, n);
      asked.push_back(format_public_key(key));
    }
    const std::string text = nlohmann::json{{"asked", std::move(asked)}}.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

// params: none. result: {gateways: [{publicKey, state, pending, askedMsAgo, account}]}:
// `pending` while the last iptunnel.requestAccount has no answer from it; account null
// when it never answered, else {status (ok, not_metered, unknown_client), notice (unasked),
// receivedUnix, receivedMsAgo, and with status ok: state (open, blocked, throttled), plan,
// currency, periodStart, periodEnd (Unix seconds), periodStartUtc, periodEndUtc,
// quotaBytes (0: none), billableBytes, quotaLeftBytes (null: no quota; 0 once over it), bytesUp,
// bytesDown, unbilledBytes, rateUpBps, rateDownBps (0: none), throttleBps,
// priceMicrosPerGb, amountMicros}.
Status IptunnelPlugin::account(Str, StringSink* result) noexcept {
  try {
    if (!client_) {
      return Status::error(StatusCode::unavailable, "this node is not an iptunnel client (no outgoingConnections)");
    }
    const std::uint64_t now = host_->loop()->now_ns();
    nlohmann::json gateways = nlohmann::json::array();
    for (const ClientGateway& g : client_->gateways()) {
      const nlohmann::json asked_ms_ago = g.account_asked_ns == 0
                                              ? nlohmann::json(nullptr)
                                              : nlohmann::json((now - g.account_asked_ns) / 1'000'000);
      gateways.push_back({{"publicKey", format_public_key(g.config.key)},
                          {"state", to_string(g.state)},
                          {"pending", g.account_pending()},
                          {"askedMsAgo", asked_ms_ago},
                          {"account", account_json(g.account, now)}});
    }
    const std::string text = dump(nlohmann::json{{"gateways", std::move(gateways)}});
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
