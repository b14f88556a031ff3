// nl80211 through libnl-genl-3, as `iw` drives it, for what meshpoint needs: find a phy,
// create and delete a mesh point interface, join and leave a mesh, read an interface's
// type, dump its stations. Two layers:
//   - pure builders and parsers (build_* / parse_*): a message in, a message or a struct
//     out, no socket, so unit tests check them against byte layouts from the kernel's
//     <linux/nl80211.h>;
//   - Nl80211, a blocking generic-netlink socket that sends what the builders make and
//     waits for the kernel's answer (each call a few hundred microseconds: the kernel
//     answers these at once, so meshpoint calls them on the loop thread).
// Every error is one line naming the phy or interface and the operation, ending with the
// kernel's reason: "phy0: creating mesh point mesh0: Operation not supported".
#pragma once

#include "ether_frame.hpp"

#include <meshhost/link_metrics.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct nl_msg;
struct nl_sock;
struct nlmsghdr;

namespace mh::meshpoint {

// nl80211_chan_width values meshpoint offers in config ("20noht", "20", "40", "80").
enum class ChannelWidth : std::uint8_t { mhz20_noht, mhz20, mhz40, mhz80 };

struct MeshJoin {
  std::string mesh_id;           // 1–32 bytes (NL80211_ATTR_MESH_ID)
  std::uint32_t frequency_mhz = 2412;   // NL80211_ATTR_WIPHY_FREQ
  ChannelWidth width = ChannelWidth::mhz20;  // NL80211_ATTR_CHANNEL_WIDTH
  std::uint32_t center_frequency_mhz = 0;    // NL80211_ATTR_CENTER_FREQ1; 0: derived for 40/80
  std::uint32_t beacon_interval_tu = 0;      // 0: the kernel's default
  std::uint32_t dtim_period = 0;             // 0: the kernel's default
  // NL80211_MESHCONF_FORWARDING inside NL80211_ATTR_MESH_CONFIG: 0 the kernel's HWMP does
  // not forward between mesh stations (meshhost's router picks every hop and sees each
  // hop's radio cost), 1 it does; kKernelDefault sends no mesh config at all.
  static constexpr std::uint8_t kKernelDefault = 0xff;
  std::uint8_t kernel_forwarding = kKernelDefault;
};

// One station of a station dump (NL80211_CMD_GET_STATION, NLM_F_DUMP).
struct StationInfo {
  ether::MacAddress mac;
  RadioFigures figures;  // the fields the kernel sent, flagged in figures.present
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
  std::uint32_t tx_retries = 0;
  std::uint32_t tx_failed = 0;
  std::uint8_t plink_state = 0;  // NL80211_PLINK_*: 4 (ESTAB) is a peered mesh station
  bool has_plink_state = false;
};

using MessagePtr = std::unique_ptr<nl_msg, void (*)(nl_msg*)>;

// ---- builders: one request each, for generic-netlink family `family` ----
// A null message only when memory runs out (or, for join, the input is invalid).
// NL80211_CMD_NEW_INTERFACE: WIPHY, IFNAME, IFTYPE = MESH_POINT.
MessagePtr build_new_interface(int family, std::uint32_t wiphy, const std::string& name);
// NL80211_CMD_DEL_INTERFACE: IFINDEX.
MessagePtr build_del_interface(int family, std::uint32_t ifindex);
// NL80211_CMD_JOIN_MESH: IFINDEX, MESH_ID, WIPHY_FREQ, CHANNEL_WIDTH, CENTER_FREQ1 (and
// WIPHY_CHANNEL_TYPE for 20/40 as iw sends it), BEACON_INTERVAL / DTIM_PERIOD when set.
// A null message also when the mesh ID is not 1–32 bytes or no center can be derived.
MessagePtr build_join_mesh(int family, std::uint32_t ifindex, const MeshJoin& join);
// NL80211_CMD_LEAVE_MESH: IFINDEX.
MessagePtr build_leave_mesh(int family, std::uint32_t ifindex);
// NL80211_CMD_GET_INTERFACE: IFINDEX.
MessagePtr build_get_interface(int family, std::uint32_t ifindex);
// NL80211_CMD_GET_STATION with NLM_F_DUMP: IFINDEX.
MessagePtr build_station_dump(int family, std::uint32_t ifindex);
// NL80211_CMD_GET_WIPHY with NLM_F_DUMP (and NL80211_ATTR_SPLIT_WIPHY_DUMP).
MessagePtr build_wiphy_dump(int family);

// ---- parsers: one kernel message each; false when it is not what was asked for ----
// A NEW_STATION message of a station dump (nested STA_INFO, TX_BITRATE's RATE_INFO).
bool parse_station(const nlmsghdr* message, StationInfo* out) noexcept;
// A NEW_INTERFACE answer to GET_INTERFACE: its type (nl80211_iftype) and wiphy.
bool parse_interface(const nlmsghdr* message, std::uint32_t* iftype, std::uint32_t* wiphy) noexcept;
// A NEW_WIPHY message of a wiphy dump: its index and name ("phy0"); false for a split
// dump's later parts that carry no name.
bool parse_wiphy(const nlmsghdr* message, std::uint32_t* wiphy, std::string* name);

// "20noht" / "20" / "40" / "80"; false for anything else.
bool parse_channel_width(const std::string& text, ChannelWidth* out) noexcept;

// The center of the `width` channel whose primary (control) channel is `frequency_mhz`,
// as iw derives it: the primary itself for 20 MHz; for 40 MHz the 5 GHz pair the primary
// belongs to (36+40, 44+48, …), on 2.4 GHz HT40+ (secondary above) for channels 1–7 and
// HT40- for 8–13; for 80 MHz the 5 GHz block (36–48, 52–64, 100–112, 116–128, 132–144,
// 149–161, 165–177) it lies in. 0 when there is no such channel (80 MHz on 2.4 GHz).
std::uint32_t center_frequency_mhz(std::uint32_t frequency_mhz, ChannelWidth width) noexcept;

class Nl80211 {
 public:
  // Connects a generic-netlink socket and resolves the "nl80211" family; nullptr with
  // *error set ("nl80211: not available: …", e.g. a kernel without cfg80211).
  static std::unique_ptr<Nl80211> open(std::string* error);
  ~Nl80211();
  Nl80211(const Nl80211&) = delete;
  Nl80211& operator=(const Nl80211&) = delete;

  int family() const noexcept { return family_; }

  // Each returns "" on success, else the one-line error described above. `what` is the
  // phy or interface name the error names.
  std::string find_wiphy(const std::string& phy_name, std::uint32_t* wiphy);
  std::string create_mesh_interface(const std::string& phy_name, std::uint32_t wiphy, const std::string& name);
  std::string delete_interface(const std::string& name, std::uint32_t ifindex);
  // JOIN_MESH and LEAVE_MESH need the interface up (nl80211 answers "Network is down"
  // otherwise): join after bringing it up, leave before taking it down. Joining twice
  // answers EALREADY, leaving an interface in no mesh ENOTCONN.
  std::string join_mesh(const std::string& name, std::uint32_t ifindex, const MeshJoin& join);
  std::string leave_mesh(const std::string& name, std::uint32_t ifindex);
  // NL80211_IFTYPE_*; an interface nl80211 does not know (a veth) answers ENODEV, which
  // comes back as the error "<name>: reading its 802.11 type: No such device".
  std::string interface_type(const std::string& name, std::uint32_t ifindex, std::uint32_t* iftype);
  std::string dump_stations(const std::string& name, std::uint32_t ifindex, std::vector<StationInfo>* out);

 private:
  friend struct Nl80211TestAccess;  // nl80211_test.cpp: the socket against the genl controller
  Nl80211() = default;
  // Connects and resolves `family_name` ("nl80211"); nullptr with *error set.
  static std::unique_ptr<Nl80211> connect(const char* family_name, std::string* error);
  // Sends `message`, collects the answers through `on_message` (nullptr: an ack only),
  // and returns "" or "<what>: <operation>: <strerror of the kernel's errno>", followed by
  // " (<the kernel's extended-ack text>)" when it sent one. Waits at most 2 s for the
  // whole answer (SO_RCVTIMEO on each read, a deadline over all), then says so.
  std::string transact(MessagePtr message, const std::string& what, const char* operation,
                       int (*on_message)(nl_msg*, void*), void* context);

  nl_sock* socket_ = nullptr;
  int family_ = -1;
};

}  // namespace mh::meshpoint
