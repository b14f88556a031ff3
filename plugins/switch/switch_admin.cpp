// The switch's admin methods: switch.peers (the neighbour table as `meshctl peers` shows
// it), switch.routes (the FIB), and ping / traceroute over the control protocol with
// switch.probe to read their results (docs/operations.md, "switch").
#include "switch.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace mh::sw {

namespace {

using nlohmann::json;

std::string endpoint_text(const Path& path) {
  char text[64];
  const std::size_t n = path.link->format_endpoint(path.endpoint, text, sizeof text);
  return std::string(text, n);
}

json optional_ms(bool has, std::uint64_t ns) { return has ? json(static_cast<double>(ns) / 1e6) : json(); }

Status reply(StringSink* result, const json& value) {
  const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  result->append(Str::of(text));
  return Status::success();
}

// Reads params as an object ("null" is an empty one); throws std::invalid_argument with
// the message the caller sees.
json params_object(Str params_json) {
  json params = json::parse(std::string_view(params_json.data, params_json.size), nullptr, false);
  if (params.is_discarded()) throw std::invalid_argument("params: not JSON");
  if (params.is_null()) return json::object();
  if (!params.is_object()) throw std::invalid_argument("params: expected an object");
  return params;
}

std::uint64_t integer_param(const json& params, const char* key, std::uint64_t fallback, std::uint64_t min,
                            std::uint64_t max) {
  const auto it = params.find(key);
  if (it == params.end()) return fallback;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min || it->get<std::uint64_t>() > max)
    throw std::invalid_argument(std::string(key) + ": expected an integer from " + std::to_string(min) + " to " +
                                std::to_string(max));
  return it->get<std::uint64_t>();
}

Address address_param(const json& params) {
  const auto it = params.find("address");
  if (it == params.end() || !it->is_string()) throw std::invalid_argument("address: expected an fc00::/8 address");
  const auto address = parse_address(it->get<std::string>());
  if (!address || address->bytes[0] != kAddressPrefix)
    throw std::invalid_argument("address: expected an fc00::/8 address, got \"" + it->get<std::string>() + "\"");
  return *address;
}

// A link metric as switch.peers shows it: {cost, radio: {only the figures present}}; null
// when no source names the path. cost null: the metric rules the path out.
json link_metric_json(const Path& path) {
  if (!path.has_metric) return json();
  const LinkMetric& m = path.metric;
  json radio = json::object();
  const RadioFigures& r = m.radio;
  if (r.present & kRadioSignal) radio["signalDbm"] = r.signal_dbm;
  if (r.present & kRadioTxBitrate) radio["txBitrateKbps"] = r.tx_bitrate_kbps;
  if (r.present & kRadioExpectedThroughput) radio["expectedThroughputKbps"] = r.expected_throughput_kbps;
  if (r.present & kRadioAirtimeMetric) radio["airtimeMetric"] = r.airtime_metric;
  if (r.present & kRadioInactiveTime) radio["inactiveMs"] = r.inactive_ms;
  return {{"cost", m.cost == kInfiniteLinkCost ? json() : json(m.cost)}, {"radio", radio}};
}

// The cost's parts as they are now, before the hysteresis: {rtt, metric}.
json cost_parts_json(const Path& path) {
  const LinkQuality& q = path.quality;
  return {{"rtt", q.has_rtt() ? json(q.rtt_cost()) : json()},
          {"metric", q.metric_cost() == kInfiniteLinkCost ? json() : json(q.metric_cost())}};
}

double ms_between(std::uint64_t from_ns, std::uint64_t to_ns) {
  return to_ns >= from_ns ? static_cast<double>(to_ns - from_ns) / 1e6 : 0.0;
}

}  // namespace

// params: none. result: [{publicKey, address, neighbourId, peerName, state, link, endpoint,
// rttMs, lossPercent, cost, costParts: {rtt, metric}, linkMetric: {cost, radio: {signalDbm,
// txBitrateKbps, expectedThroughputKbps, airtimeMetric, inactiveMs}} | null, bytesIn,
// bytesOut, lastSeenSecondsAgo, paths: [...]}] — the neighbour's fields are its best path's.
// cost is what the router has: costParts summed, once past the hysteresis.
Status SwitchPlugin::admin_peers(Str, StringSink* result) noexcept {
  try {
    const std::uint64_t now = host_->loop()->now_ns();
    json peers = json::array();
    for (const auto& n : table_->neighbours()) {
      json paths = json::array();
      std::uint64_t bytes_in = 0, bytes_out = 0, last_received = 0;
      for (const auto& p : n->paths) {
        bytes_in += p->bytes_in;
        bytes_out += p->bytes_out;
        last_received = std::max(last_received, p->last_received_ns);
        paths.push_back({{"link", std::string(p->link->name().data, p->link->name().size)},
                         {"endpoint", endpoint_text(*p)},
                         {"state", to_string(p->state)},
                         {"rttMs", optional_ms(p->quality.has_rtt(), p->quality.srtt_ns())},
                         {"lossPercent", p->quality.loss_permille() / 10.0},
                         {"cost", p->quality.cost() == kInfiniteCost ? json() : json(p->quality.cost())},
                         {"costParts", cost_parts_json(*p)},
                         {"linkMetric", link_metric_json(*p)},
                         {"bytesIn", p->bytes_in},
                         {"bytesOut", p->bytes_out}});
      }
      const Path* best = n->best;
      json entry = {
          {"publicKey", format_public_key(n->key)},
          {"address", format_address(address_of(n->key))},
          {"neighbourId", n->mesh_id == kNoNeighbour ? json() : json(n->mesh_id)},
          {"peerName", n->peer_name},
          {"state", to_string(n->state)},
          {"link", best ? json(std::string(best->link->name().data, best->link->name().size)) : json()},
          {"endpoint", best ? json(endpoint_text(*best)) : json()},
          {"rttMs", best ? optional_ms(best->quality.has_rtt(), best->quality.srtt_ns()) : json()},
          {"lossPercent", best ? json(best->quality.loss_permille() / 10.0) : json()},
          {"cost", n->published_cost == kInfiniteCost ? json() : json(n->published_cost)},
          {"costParts", best ? cost_parts_json(*best) : json()},
          {"linkMetric", best ? link_metric_json(*best) : json()},
          {"bytesIn", bytes_in},
          {"bytesOut", bytes_out},
          {"lastSeenSecondsAgo", last_received ? json(static_cast<double>(now - last_received) / 1e9) : json()},
          {"paths", paths}};
      peers.push_back(std::move(entry));
    }
    return reply(result, peers);
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "switch.peers: out of memory");
  }
}

// params: none. result: [{address, nextHop (the neighbour's address), neighbour (its id)}]
Status SwitchPlugin::admin_routes(Str, StringSink* result) noexcept {
  try {
    json routes = json::array();
    fib_->for_each([&](const Address& destination, NeighbourId next_hop) {
      const NeighbourIds::Entry* e = ids_->find(next_hop);
      routes.push_back({{"address", format_address(destination)},
                        {"nextHop", e != nullptr ? json(format_address(e->address)) : json()},
                        {"neighbour", next_hop}});
    });
    return reply(result, routes);
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "switch.routes: out of memory");
  }
}

// params: {address, count 1..100 (4), intervalMs 10..10000 (1000), timeoutMs 1..60000 (2000),
// size 0..1200 (56)}. result: {probe: N}
Status SwitchPlugin::admin_ping(Str params_json, StringSink* result) noexcept {
  return start_probe(Probe::Kind::ping, params_json, result);
}

// params: {address, maxHops 1..64 (30), timeoutMs 1..60000 (2000)}. result: {probe: N}
Status SwitchPlugin::admin_traceroute(Str params_json, StringSink* result) noexcept {
  return start_probe(Probe::Kind::traceroute, params_json, result);
}

SwitchPlugin::Probe* SwitchPlugin::find_probe(std::uint16_t id) noexcept {
  for (auto& p : probes_)
    if (p.used && p.id == id) return &p;
  return nullptr;
}

Status SwitchPlugin::start_probe(Probe::Kind kind, Str params_json, StringSink* result) noexcept {
  const char* method = kind == Probe::Kind::ping ? "switch.ping" : "switch.traceroute";
  try {
    const json params = params_object(params_json);
    for (const auto& [key, value] : params.items()) {
      const bool known = key == "address" || key == "timeoutMs" ||
                         (kind == Probe::Kind::ping && (key == "count" || key == "intervalMs" || key == "size")) ||
                         (kind == Probe::Kind::traceroute && key == "maxHops");
      if (!known) throw std::invalid_argument(key + ": unknown parameter");
    }
    const std::uint64_t now = host_->loop()->now_ns();
    on_probe_timer();  // forget probes past their keep time before counting
    Probe* slot = nullptr;
    for (auto& p : probes_)
      if (!p.used) {
        slot = &p;
        break;
      }
    // Full: the probe finished longest ago makes room; 16 running ones refuse another.
    if (slot == nullptr) {
      for (auto& p : probes_)
        if (slot == nullptr || (p.done_ns != 0 && (slot->done_ns == 0 || p.done_ns < slot->done_ns))) slot = &p;
      if (slot->done_ns == 0) return host_->fail(StatusCode::again, "too many probes");
    }
    Probe probe;
    probe.used = true;
    probe.kind = kind;
    probe.address = address_param(params);
    probe.timeout_ns = integer_param(params, "timeoutMs", 2000, 1, 60000) * 1'000'000;
    if (kind == Probe::Kind::ping) {
      probe.count = static_cast<std::uint32_t>(integer_param(params, "count", 4, 1, 100));
      probe.interval_ns = integer_param(params, "intervalMs", 1000, 10, 10000) * 1'000'000;
      probe.size = static_cast<std::uint32_t>(integer_param(params, "size", 56, 0, 1200));
    } else {
      probe.count = static_cast<std::uint32_t>(integer_param(params, "maxHops", 30, 1, 64));
      probe.size = 0;
    }
    // Ids cycle through 1..65535, skipping live ones.
    do {
      probe.id = next_probe_id_++;
      if (next_probe_id_ == 0) next_probe_id_ = 1;
    } while (find_probe(probe.id) != nullptr);
    probe.started_ns = now;
    probe.next_send_ns = now;
    probe.sent_ns.assign(probe.count, 0);
    probe.replies.reserve(probe.count);
    probe.errors.reserve(probe.count);
    *slot = std::move(probe);
    const std::uint16_t id = slot->id;
    on_probe_timer();  // sends the first echo (a traceroute: all of them)
    return reply(result, json{{"probe", id}});
  } catch (const std::invalid_argument& e) {
    return host_->fail(StatusCode::invalid_argument, Str::of(std::string(method) + ": " + e.what()));
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, Str::of(std::string(method) + ": out of memory"));
  }
}

void SwitchPlugin::on_probe_timer() noexcept {
  const std::uint64_t now = host_->loop()->now_ns();
  std::uint64_t wake = ~std::uint64_t{0};
  for (auto& p : probes_) {
    if (!p.used) continue;
    if (p.done_ns != 0) {
      if (now - p.done_ns >= kProbeKeepNs) {
        p = Probe{};
        continue;
      }
      wake = std::min(wake, p.done_ns + kProbeKeepNs);
      continue;
    }
    // Send what is due: a ping one echo per interval, a traceroute every hop limit at once.
    while (p.sent < p.count && now >= p.next_send_ns) {
      const auto sequence = static_cast<std::uint16_t>(p.sent + 1);
      const auto hop_limit = p.kind == Probe::Kind::traceroute ? static_cast<std::uint8_t>(sequence) : kDefaultHopLimit;
      p.sent_ns[p.sent] = now;
      ++p.sent;
      if (!send_echo(p.address, p.id, sequence, hop_limit, p.size)) {
        // No route (or no packet): the error is known at once.
        Probe::Error e{sequence, MeshError::Kind::no_route, own_address_, 0.0};
        if (p.errors.size() < p.count) p.errors.push_back(e);
      }
      if (p.kind == Probe::Kind::ping) p.next_send_ns = now + p.interval_ns;
    }
    const bool all_sent = p.sent == p.count;
    const std::uint64_t last_sent = all_sent ? p.sent_ns[p.count - 1] : 0;
    const bool all_answered = p.replies.size() + p.errors.size() >= p.count;
    const bool traceroute_done = p.kind == Probe::Kind::traceroute && p.reached && [&] {
      // Every hop below the one that reached the target has answered.
      std::uint16_t reached_at = 0xffff;
      for (const auto& r : p.replies) reached_at = std::min(reached_at, r.seq);
      for (std::uint16_t hop = 1; hop < reached_at; ++hop) {
        const bool answered = std::any_of(p.errors.begin(), p.errors.end(), [&](const auto& e) { return e.seq == hop; });
        if (!answered) return false;
      }
      return true;
    }();
    if (all_sent && (all_answered || traceroute_done || now - last_sent >= p.timeout_ns)) {
      p.done_ns = now;
      wake = std::min(wake, now + kProbeKeepNs);
      continue;
    }
    if (!all_sent) wake = std::min(wake, p.next_send_ns);
    if (all_sent) wake = std::min(wake, last_sent + p.timeout_ns);
  }
  if (wake != ~std::uint64_t{0}) probe_timer_->arm(wake > now ? wake - now : 0);
}

void SwitchPlugin::on_echo_reply(const MeshInfo& info, const EchoView& echo) noexcept {
  Probe* p = find_probe(echo.id);
  if (p == nullptr || p->done_ns != 0 || echo.sequence == 0 || echo.sequence > p->sent) return;
  if (!same_address(info.source, p->address)) return;
  for (const auto& r : p->replies)
    if (r.seq == echo.sequence) return;  // a duplicate
  const double rtt = ms_between(p->sent_ns[echo.sequence - 1], host_->loop()->now_ns());
  p->replies.push_back({echo.sequence, rtt, info.source, info.hop_limit});
  p->reached = true;
  on_probe_timer();  // done when everything is answered
}

void SwitchPlugin::on_probe_error(const Address& reporter, const ErrorView& error) noexcept {
  const auto echo = parse_echo(error.quote);
  if (!echo || echo->reply) return;
  Probe* p = find_probe(echo->id);
  if (p == nullptr || p->done_ns != 0 || echo->sequence == 0 || echo->sequence > p->sent) return;
  if (!same_address(error.original.destination, p->address)) return;
  for (const auto& e : p->errors)
    if (e.seq == echo->sequence) return;
  const double rtt = ms_between(p->sent_ns[echo->sequence - 1], host_->loop()->now_ns());
  p->errors.push_back({echo->sequence, error.kind, reporter, rtt});
  on_probe_timer();
}

// params: {probe: N}. result: {kind, address, done, sent, replies: [{seq, rttMs, from,
// hopLimit}], errors: [{seq, kind, from}], hops (traceroute): [{hop, address, rttMs} or
// {hop, timeout: true}], reached}
Status SwitchPlugin::admin_probe(Str params_json, StringSink* result) noexcept {
  try {
    const json params = params_object(params_json);
    const auto id = integer_param(params, "probe", 0, 1, 65535);
    on_probe_timer();
    const Probe* p = id == 0 ? nullptr : find_probe(static_cast<std::uint16_t>(id));
    if (p == nullptr) return host_->fail(StatusCode::not_found, "switch.probe: no such probe (finished over 60 s ago?)");
    json replies = json::array();
    for (const auto& r : p->replies)
      replies.push_back(
          {{"seq", r.seq}, {"rttMs", r.rtt_ms}, {"from", format_address(r.from)}, {"hopLimit", r.hop_limit}});
    json errors = json::array();
    for (const auto& e : p->errors)
      errors.push_back({{"seq", e.seq}, {"kind", to_string(e.kind)}, {"from", format_address(e.from)}});
    json out = {{"kind", p->kind == Probe::Kind::ping ? "ping" : "traceroute"},
                {"address", format_address(p->address)},
                {"done", p->done_ns != 0},
                {"sent", p->sent},
                {"replies", replies},
                {"errors", errors},
                {"reached", p->reached}};
    if (p->kind == Probe::Kind::traceroute) {
      json hops = json::array();
      std::uint16_t last = static_cast<std::uint16_t>(p->sent);
      for (const auto& r : p->replies) last = std::min(last, r.seq);
      for (std::uint16_t hop = 1; hop <= last; ++hop) {
        const auto reply_it = std::find_if(p->replies.begin(), p->replies.end(), [&](const auto& r) { return r.seq == hop; });
        const auto error_it = std::find_if(p->errors.begin(), p->errors.end(), [&](const auto& e) { return e.seq == hop; });
        if (reply_it != p->replies.end()) {
          hops.push_back({{"hop", hop}, {"address", format_address(reply_it->from)}, {"rttMs", reply_it->rtt_ms}});
        } else if (error_it != p->errors.end()) {
          hops.push_back({{"hop", hop}, {"address", format_address(error_it->from)}, {"rttMs", error_it->rtt_ms}});
        } else if (p->done_ns != 0) {
          hops.push_back({{"hop", hop}, {"timeout", true}});
        }
      }
      out["hops"] = std::move(hops);
    }
    return reply(result, out);
  } catch (const std::invalid_argument& e) {
    return host_->fail(StatusCode::invalid_argument, Str::of(std::string("switch.probe: ") + e.what()));
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "switch.probe: out of memory");
  }
}

}  // namespace mh::sw
