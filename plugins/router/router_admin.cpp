// router.routes: the route table as `meshctl routes` shows it.
#include "router.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

namespace mh::router {

// params: none. result: one row per (destination, neighbour) route, plus our own first:
// [{"address", "publicKey", "nextHop" (the neighbour's address, "self" for our own),
//   "neighbour" (its NeighbourId, 0 for our own), "metric" (number, or "infinite" when
//   retracted or unusable), "seqno", "selected", "feasible", "ageSeconds"}]
Status RouterPlugin::call(Str, StringSink* result) noexcept {
  try {
    nlohmann::json rows = nlohmann::json::array();
    if (table_ != nullptr) {
      const std::uint64_t t = now();
      const auto age = [t](std::uint64_t since_ns) { return since_ns < t ? static_cast<double>(t - since_ns) / 1e9 : 0.0; };
      rows.push_back({{"address", format_address(table_->own_address())},
                      {"publicKey", format_public_key(table_->own_key())},
                      {"nextHop", "self"},
                      {"neighbour", 0},
                      {"metric", 0},
                      {"seqno", table_->own_seqno()},
                      {"selected", true},
                      {"feasible", true},
                      {"ageSeconds", age(table_->own_seqno_since_ns())}});
      for (const auto& [address, d] : table_->destinations()) {
        const std::string address_text = format_address(address);
        const std::string key_text = format_public_key(d.key);
        for (const auto& r : d.routes) {
          const Neighbour* n = table_->neighbour(r.neighbour);
          const std::uint16_t metric = table_->metric(r);
          rows.push_back({{"address", address_text},
                          {"publicKey", key_text},
                          {"nextHop", n != nullptr ? nlohmann::json(format_address(n->address)) : nlohmann::json()},
                          {"neighbour", r.neighbour},
                          {"metric", metric == kInfiniteMetric ? nlohmann::json("infinite") : nlohmann::json(metric)},
                          {"seqno", r.seqno},
                          {"selected", d.selected == r.neighbour},
                          {"feasible", RouteTable::feasible(d, r.seqno, r.advertised_metric)},
                          {"ageSeconds", age(r.updated_ns)}});
        }
      }
    }
    const std::string text = rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "router.routes: out of memory");
  }
}

}  // namespace mh::router
