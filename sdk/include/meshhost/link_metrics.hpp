// Link metrics (DESIGN §1, §5): what a plugin knows of the medium to one neighbour — a
// radio's signal, bitrate and expected throughput — offered to the switch, which adds the
// metric's cost to the RTT/loss cost it measures for that path. The router reads the sum
// (NeighbourObserver in mesh.hpp), so a weak radio link loses routes to a stronger one
// even when its round trips are shorter.
//
// A source provides a Service named "linkmetric.<name>" (meshpoint: "linkmetric.meshpoint")
// answering kLinkMetricSourceInterface. The switch finds every source with
// Host::lookup_prefix("linkmetric.") at start and observes it; a source names paths by
// the link's name (Link::name(), e.g. "meshpoint/mesh0") and the neighbour's endpoint on it,
// so it need not be the link's own driver.
#pragma once

#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

namespace mh {

// Which RadioFigures fields are known (a driver or kernel may lack some).
inline constexpr std::uint32_t kRadioSignal = 1u << 0;
inline constexpr std::uint32_t kRadioTxBitrate = 1u << 1;
inline constexpr std::uint32_t kRadioExpectedThroughput = 1u << 2;
inline constexpr std::uint32_t kRadioAirtimeMetric = 1u << 3;
inline constexpr std::uint32_t kRadioInactiveTime = 1u << 4;

// One 802.11 station as the kernel reports it (nl80211 station info), for people and for
// the cost. Fixed-size fields only: it crosses the plugin boundary.
struct RadioFigures {
  std::uint32_t present = 0;                   // kRadio* bits
  std::int32_t signal_dbm = 0;                 // averaged signal (SIGNAL_AVG, else SIGNAL)
  std::uint32_t tx_bitrate_kbps = 0;           // the rate of the last frames sent to it
  std::uint32_t expected_throughput_kbps = 0;  // the rate control's estimate, 802.11 header included
  std::uint32_t airtime_metric = 0;            // 802.11s airtime link metric (the kernel's units)
  std::uint32_t inactive_ms = 0;               // since the station was last heard
};

struct LinkMetric {
  // Added to the switch's cost of the path (same units, docs/protocol.md: 10 is an ideal
  // link); 0 adds nothing; kInfiniteLinkCost (mesh.hpp) makes the path unusable. The source smooths
  // it and applies its own hysteresis; the switch applies its usual one to the sum.
  std::uint32_t cost = 0;
  RadioFigures radio;  // present == 0 when the source is not a radio
};

// Implemented by the switch. Called on the loop thread.
class LinkMetricObserver {
 public:
  // The path to `endpoint` on the link named `link_name` measures `metric` from now on
  // (until the next call for it, or forget). Paths the switch does not know yet are
  // remembered and applied when they appear. Borrowed for the call.
  virtual void on_link_metric(Str link_name, const Endpoint& endpoint, const LinkMetric& metric) noexcept = 0;
  // The source has nothing more to say of that path: its cost is the switch's own again.
  virtual void on_link_metric_forget(Str link_name, const Endpoint& endpoint) noexcept = 0;

 protected:
  ~LinkMetricObserver() = default;
};

class LinkMetricSource {
 public:
  // Starts telling `observer` (borrowed until set_metric_observer(nullptr)) about paths,
  // replaying every current metric before it returns. One observer.
  virtual void set_metric_observer(LinkMetricObserver* observer) noexcept = 0;

 protected:
  ~LinkMetricSource() = default;
};

inline constexpr InterfaceId kLinkMetricSourceInterface = interface_id("meshhost.link_metric_source.v1");

}  // namespace mh
