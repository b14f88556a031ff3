// The udp plugin's admin surface: `udp.links` lists each bound socket with its counters.
#include "udp.hpp"

#include <nlohmann/json.hpp>

#include <exception>

namespace mh::udp {

// udp.links (no params) → [{"name", "bind", "family", "mtu", "framesIn", "bytesIn",
// "framesOut", "bytesOut", "beaconsSent", "beaconsReceived", "drops": {reason: n}}, …]
Status UdpPlugin::call(Str /*params_json*/, StringSink* result) noexcept {
  try {
    nlohmann::json links = nlohmann::json::array();
    for (const auto& link : links_) {
      const LinkStats& stats = link->stats();
      nlohmann::json drops = nlohmann::json::object();
      for (std::size_t i = 0; i < kDropReasonCount; ++i) drops[drop_reason_name(static_cast<DropReason>(i))] = stats.drops[i];
      links.push_back({
          {"name", link->name_text()},
          {"bind", format_endpoint(link->bound())},
          {"family", link->family() == Family::ipv4 ? "ipv4" : "ipv6"},
          {"mtu", link->mtu()},
          {"framesIn", stats.frames_in},
          {"bytesIn", stats.bytes_in},
          {"framesOut", stats.frames_out},
          {"bytesOut", stats.bytes_out},
          {"beaconsSent", stats.beacons_sent},
          {"beaconsReceived", stats.beacons_received},
          {"drops", std::move(drops)},
      });
    }
    const std::string text = links.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

}  // namespace mh::udp
