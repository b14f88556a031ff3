// switch.peers: the neighbour table as `meshctl peers` shows it.
#include "switch.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

namespace mh::sw {

namespace {

std::string endpoint_text(const Path& path) {
  char text[64];
  const std::size_t n = path.link->format_endpoint(path.endpoint, text, sizeof text);
  return std::string(text, n);
}

nlohmann::json optional_ms(bool has, std::uint64_t ns) {
  return has ? nlohmann::json(static_cast<double>(ns) / 1e6) : nlohmann::json();
}

}  // namespace

// params: none. result: [{publicKey, address, peerName, state, link, endpoint, rttMs,
// lossPercent, cost, bytesIn, bytesOut, lastSeenSecondsAgo, paths: [...]}]
Status SwitchPlugin::call(Str, StringSink* result) noexcept {
  try {
    const std::uint64_t now = host_->loop()->now_ns();
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& n : table_->neighbours()) {
      nlohmann::json paths = nlohmann::json::array();
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
                         {"cost", p->quality.cost() == kInfiniteCost ? nlohmann::json() : nlohmann::json(p->quality.cost())},
                         {"bytesIn", p->bytes_in},
                         {"bytesOut", p->bytes_out}});
      }
      const Path* best = n->best;
      nlohmann::json entry = {
          {"publicKey", format_public_key(n->key)},
          {"address", format_address(address_of(n->key))},
          {"peerName", n->peer_name},
          {"state", to_string(n->state)},
          {"link", best ? nlohmann::json(std::string(best->link->name().data, best->link->name().size)) : nlohmann::json()},
          {"endpoint", best ? nlohmann::json(endpoint_text(*best)) : nlohmann::json()},
          {"rttMs", best ? optional_ms(best->quality.has_rtt(), best->quality.srtt_ns()) : nlohmann::json()},
          {"lossPercent", best ? nlohmann::json(best->quality.loss_permille() / 10.0) : nlohmann::json()},
          {"cost", n->published_cost == kInfiniteCost ? nlohmann::json() : nlohmann::json(n->published_cost)},
          {"bytesIn", bytes_in},
          {"bytesOut", bytes_out},
          {"lastSeenSecondsAgo",
           last_received ? nlohmann::json(static_cast<double>(now - last_received) / 1e9) : nlohmann::json()},
          {"paths", paths}};
      peers.push_back(std::move(entry));
    }
    const std::string text = peers.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "switch.peers: out of memory");
  }
}

}  // namespace mh::sw
