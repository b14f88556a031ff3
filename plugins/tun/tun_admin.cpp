// tun.status: the device and its counters, as `meshctl` and operators read them.
#include "tun.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <exception>

namespace mh::tun {

// params: none. result: {name, ifindex, mtu, address, up, packetsIn, packetsOut, bytesIn,
// bytesOut, icmpErrors, troubledDestinations, dropped: {reason: n}}; ifindex is 0 while
// the device is not open.
Status TunPlugin::call(Str, StringSink* result) noexcept {
  try {
    const TunStats& stats = forwarder_ ? forwarder_->stats() : last_stats_;
    nlohmann::json dropped = nlohmann::json::object();
    for (std::size_t i = 0; i < kDropReasonCount; ++i) {
      dropped[drop_reason_name(static_cast<DropReason>(i))] = stats.dropped[i];
    }
    const nlohmann::json status = {
        {"name", device_ ? device_->name() : config_.name},
        {"ifindex", device_ ? device_->ifindex() : 0},
        {"mtu", device_ ? device_->mtu() : config_.mtu},
        {"address", format_address(host_->address())},
        {"up", device_ != nullptr},
        {"packetsIn", stats.packets_in},
        {"packetsOut", stats.packets_out},
        {"bytesIn", stats.bytes_in},
        {"bytesOut", stats.bytes_out},
        {"icmpErrors", stats.icmp_errors},
        {"troubledDestinations", forwarder_ ? forwarder_->troubled_destinations() : 0},
        {"dropped", std::move(dropped)},
    };
    const std::string text = status.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception& e) {
    return host_->fail(StatusCode::internal, Str(e.what()));
  }
}

}  // namespace mh::tun
