// nl80211 requests and answers through libnl-genl-3 (see nl80211.hpp): the builders put
// the attributes in the order iw puts them, the parsers read answers with nla_parse and
// a policy per nest so a short or oversized attribute is refused, never read past.
#include "nl80211.hpp"

#include <linux/netlink.h>
#include <linux/nl80211.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace mh::meshpoint {
namespace {

// The kernel answers nl80211 requests at once; a socket left waiting longer than this has
// lost its answer (or is talking to something that never answers), and says so.
constexpr int kAnswerTimeoutMs = 2000;

constexpr std::size_t kMaxMeshIdSize = 32;  // IEEE80211_MAX_MESH_ID_LEN
constexpr std::uint32_t kRateUnitKbps = 100;  // NL80211_RATE_INFO_BITRATE(32): 100 kbit/s

MessagePtr null_message() noexcept { return MessagePtr(nullptr, nlmsg_free); }

// A message carrying the generic-netlink header for `command`, or null.
MessagePtr start_message(int family, std::uint8_t command, int flags) noexcept {
  MessagePtr message(nlmsg_alloc(), nlmsg_free);
  if (!message) return message;
  // Version 0, no family header: what iw sends for every nl80211 command.
  if (genlmsg_put(message.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, command, 0) == nullptr) {
    return null_message();
  }
  return message;
}

// The message with `attribute` = `value` (u32) appended, or null when it did not fit.
MessagePtr put_u32(MessagePtr message, int attribute, std::uint32_t value) noexcept {
  if (message && nla_put_u32(message.get(), attribute, value) < 0) return null_message();
  return message;
}

MessagePtr with_ifindex(int family, std::uint8_t command, int flags, std::uint32_t ifindex) noexcept {
  return put_u32(start_message(family, command, flags), NL80211_ATTR_IFINDEX, ifindex);
}

// The generic-netlink command of `message`, after checking the header is inside it.
bool genl_command(const nlmsghdr* message, std::uint8_t* command) noexcept {
  if (message == nullptr || !genlmsg_valid_hdr(const_cast<nlmsghdr*>(message), 0)) return false;
  *command = static_cast<const genlmsghdr*>(nlmsg_data(message))->cmd;
  return true;
}

// Parses the top-level attributes of a message answering with `command`.
bool parse_top(const nlmsghdr* message, std::uint8_t command, nlattr** table, int max_type,
               nla_policy* policy) noexcept {
  std::uint8_t actual = 0;
  if (!genl_command(message, &actual) || actual != command) return false;
  return genlmsg_parse(const_cast<nlmsghdr*>(message), 0, table, max_type, policy) == 0;
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

// ---- builders ----

MessagePtr build_new_interface(int family, std::uint32_t wiphy, const std::string& name) {
  MessagePtr message = put_u32(start_message(family, NL80211_CMD_NEW_INTERFACE, 0), NL80211_ATTR_WIPHY, wiphy);
  // The name goes with its terminating NUL, as NLA_PUT_STRING writes it.
  if (message && nla_put_string(message.get(), NL80211_ATTR_IFNAME, name.c_str()) < 0) return null_message();
  return put_u32(std::move(message), NL80211_ATTR_IFTYPE, NL80211_IFTYPE_MESH_POINT);
}

MessagePtr build_del_interface(int family, std::uint32_t ifindex) {
  return with_ifindex(family, NL80211_CMD_DEL_INTERFACE, 0, ifindex);
}

std::uint32_t center_frequency_mhz(std::uint32_t frequency_mhz, ChannelWidth width) noexcept {
  const std::uint32_t f = frequency_mhz;
  const bool band_2ghz = f >= 2412 && f <= 2472 && (f - 2407) % 5 == 0;  // channels 1–13
  const bool band_5ghz = f >= 5180 && f <= 5885 && (f - 5000) % 5 == 0;  // channels 36–177
  switch (width) {
    case ChannelWidth::mhz20_noht:
    case ChannelWidth::mhz20:
      return f;
    case ChannelWidth::mhz40:
      if (band_2ghz) {
        // Channels 1–7 have room above (secondary channel 5–11), 8–13 only below.
        return (f - 2407) / 5 <= 7 ? f + 10 : f - 10;
      }
      if (band_5ghz) {
        // 40 MHz pairs are fixed: 36+40, 44+48, …, 140+144, then 149+153, …, 173+177.
        const std::uint32_t channel = (f - 5000) / 5;
        const std::uint32_t first = channel >= 149 ? 149 : 36;
        if (channel >= 145 && channel < 149) return 0;
        const std::uint32_t pair = first + (channel - first) / 8 * 8;
        return 5000 + (pair + 2) * 5;
      }
      return 0;
    case ChannelWidth::mhz80: {
      if (!band_5ghz) return 0;
      // The VHT 80 MHz blocks, by their lowest 20 MHz channel's frequency; the center is
      // 30 MHz above it (between the second and third 20 MHz channel).
      static constexpr std::uint32_t kBlocks[] = {5180, 5260, 5500, 5580, 5660, 5745, 5825};
      for (std::uint32_t start : kBlocks) {
        if (f >= start && f < start + 80) return start + 30;
      }
      return 0;
    }
  }
  return 0;
}

MessagePtr build_join_mesh(int family, std::uint32_t ifindex, const MeshJoin& join) {
  if (join.mesh_id.empty() || join.mesh_id.size() > kMaxMeshIdSize) return null_message();
  const std::uint32_t center =
      join.center_frequency_mhz != 0 ? join.center_frequency_mhz : center_frequency_mhz(join.frequency_mhz, join.width);
  if (center == 0) return null_message();

  MessagePtr message = with_ifindex(family, NL80211_CMD_JOIN_MESH, 0, ifindex);
  // The mesh ID is bytes, not a C string: no terminator, as iw sends it.
  if (message && nla_put(message.get(), NL80211_ATTR_MESH_ID, static_cast<int>(join.mesh_id.size()),
                         join.mesh_id.data()) < 0) {
    return null_message();
  }
  message = put_u32(std::move(message), NL80211_ATTR_WIPHY_FREQ, join.frequency_mhz);
  std::uint32_t width = NL80211_CHAN_WIDTH_20;
  switch (join.width) {
    case ChannelWidth::mhz20_noht: width = NL80211_CHAN_WIDTH_20_NOHT; break;
    case ChannelWidth::mhz20: width = NL80211_CHAN_WIDTH_20; break;
    case ChannelWidth::mhz40: width = NL80211_CHAN_WIDTH_40; break;
    case ChannelWidth::mhz80: width = NL80211_CHAN_WIDTH_80; break;
  }
  message = put_u32(std::move(message), NL80211_ATTR_CHANNEL_WIDTH, width);
  // Kernels before the chandef API (3.8) read only the channel type; newer ones check it
  // agrees with the center. iw sends both for the widths a channel type can say.
  switch (join.width) {
    case ChannelWidth::mhz20_noht:
      message = put_u32(std::move(message), NL80211_ATTR_WIPHY_CHANNEL_TYPE, NL80211_CHAN_NO_HT);
      break;
    case ChannelWidth::mhz20:
      message = put_u32(std::move(message), NL80211_ATTR_WIPHY_CHANNEL_TYPE, NL80211_CHAN_HT20);
      break;
    case ChannelWidth::mhz40:
      message = put_u32(std::move(message), NL80211_ATTR_WIPHY_CHANNEL_TYPE,
                        join.frequency_mhz > center ? NL80211_CHAN_HT40MINUS : NL80211_CHAN_HT40PLUS);
      break;
    case ChannelWidth::mhz80:
      break;
  }
  message = put_u32(std::move(message), NL80211_ATTR_CENTER_FREQ1, center);
  if (join.beacon_interval_tu != 0) {
    message = put_u32(std::move(message), NL80211_ATTR_BEACON_INTERVAL, join.beacon_interval_tu);
  }
  if (join.dtim_period != 0) message = put_u32(std::move(message), NL80211_ATTR_DTIM_PERIOD, join.dtim_period);
  if (message && join.kernel_forwarding != MeshJoin::kKernelDefault) {
    // The kernel reads mesh parameters given with the join as `iw mesh join … <param>` sends them.
    nlattr* config = nla_nest_start(message.get(), NL80211_ATTR_MESH_CONFIG);
    if (config == nullptr || nla_put_u8(message.get(), NL80211_MESHCONF_FORWARDING, join.kernel_forwarding) < 0) {
      return null_message();
    }
    nla_nest_end(message.get(), config);
  }
  return message;
}

MessagePtr build_leave_mesh(int family, std::uint32_t ifindex) {
  return with_ifindex(family, NL80211_CMD_LEAVE_MESH, 0, ifindex);
}

MessagePtr build_get_interface(int family, std::uint32_t ifindex) {
  return with_ifindex(family, NL80211_CMD_GET_INTERFACE, 0, ifindex);
}

MessagePtr build_station_dump(int family, std::uint32_t ifindex) {
  return with_ifindex(family, NL80211_CMD_GET_STATION, NLM_F_DUMP, ifindex);
}

MessagePtr build_wiphy_dump(int family) {
  MessagePtr message = start_message(family, NL80211_CMD_GET_WIPHY, NLM_F_DUMP);
  // Without it a kernel refuses to dump a wiphy whose description outgrows one message.
  if (message && nla_put_flag(message.get(), NL80211_ATTR_SPLIT_WIPHY_DUMP) < 0) return null_message();
  return message;
}

// ---- parsers ----

bool parse_station(const nlmsghdr* message, StationInfo* out) noexcept {
  nla_policy top_policy[NL80211_ATTR_STA_INFO + 1] = {};
  top_policy[NL80211_ATTR_IFINDEX].type = NLA_U32;
  top_policy[NL80211_ATTR_MAC].minlen = ether::kMacSize;
  top_policy[NL80211_ATTR_MAC].maxlen = ether::kMacSize;
  top_policy[NL80211_ATTR_STA_INFO].type = NLA_NESTED;
  nlattr* top[NL80211_ATTR_STA_INFO + 1] = {};
  if (!parse_top(message, NL80211_CMD_NEW_STATION, top, NL80211_ATTR_STA_INFO, top_policy)) return false;
  if (top[NL80211_ATTR_MAC] == nullptr || top[NL80211_ATTR_STA_INFO] == nullptr) return false;

  nla_policy sta_policy[NL80211_STA_INFO_AIRTIME_LINK_METRIC + 1] = {};
  sta_policy[NL80211_STA_INFO_INACTIVE_TIME].type = NLA_U32;
  sta_policy[NL80211_STA_INFO_RX_BYTES].type = NLA_U32;
  sta_policy[NL80211_STA_INFO_TX_BYTES].type = NLA_U32;
  sta_policy[NL80211_STA_INFO_RX_BYTES64].type = NLA_U64;
  sta_policy[NL80211_STA_INFO_TX_BYTES64].type = NLA_U64;
  sta_policy[NL80211_STA_INFO_PLINK_STATE].type = NLA_U8;
  sta_policy[NL80211_STA_INFO_SIGNAL].type = NLA_U8;
  sta_policy[NL80211_STA_INFO_SIGNAL_AVG].type = NLA_U8;
  sta_policy[NL80211_STA_INFO_TX_BITRATE].type = NLA_NESTED;
  sta_policy[NL80211_STA_INFO_TX_RETRIES].type = NLA_U32;
  sta_policy[NL80211_STA_INFO_TX_FAILED].type = NLA_U32;
  sta_policy[NL80211_STA_INFO_EXPECTED_THROUGHPUT].type = NLA_U32;
  sta_policy[NL80211_STA_INFO_AIRTIME_LINK_METRIC].type = NLA_U32;
  nlattr* sta[NL80211_STA_INFO_AIRTIME_LINK_METRIC + 1] = {};
  if (nla_parse_nested(sta, NL80211_STA_INFO_AIRTIME_LINK_METRIC, top[NL80211_ATTR_STA_INFO], sta_policy) != 0) {
    return false;
  }

  nla_policy rate_policy[NL80211_RATE_INFO_BITRATE32 + 1] = {};
  rate_policy[NL80211_RATE_INFO_BITRATE].type = NLA_U16;
  rate_policy[NL80211_RATE_INFO_BITRATE32].type = NLA_U32;
  nlattr* rate[NL80211_RATE_INFO_BITRATE32 + 1] = {};
  if (sta[NL80211_STA_INFO_TX_BITRATE] != nullptr &&
      nla_parse_nested(rate, NL80211_RATE_INFO_BITRATE32, sta[NL80211_STA_INFO_TX_BITRATE], rate_policy) != 0) {
    return false;
  }

  StationInfo info;
  std::memcpy(info.mac.bytes, nla_data(top[NL80211_ATTR_MAC]), ether::kMacSize);
  RadioFigures& figures = info.figures;
  if (const nlattr* a = sta[NL80211_STA_INFO_INACTIVE_TIME]) {
    figures.inactive_ms = nla_get_u32(a);
    figures.present |= kRadioInactiveTime;
  }
  // The averaged signal says more of the link than the last frame's; SIGNAL is the
  // fallback for drivers that do not average. Both are s8 dBm carried as u8.
  const nlattr* signal = sta[NL80211_STA_INFO_SIGNAL_AVG] != nullptr ? sta[NL80211_STA_INFO_SIGNAL_AVG]
                                                                    : sta[NL80211_STA_INFO_SIGNAL];
  if (signal != nullptr) {
    figures.signal_dbm = static_cast<std::int8_t>(nla_get_u8(signal));
    figures.present |= kRadioSignal;
  }
  // BITRATE32 carries rates above 6553.5 Mbit/s too; the kernel sends BITRATE (u16) only
  // for rates that fit and both only for a known, non-zero rate.
  std::uint32_t rate_units = 0;
  if (rate[NL80211_RATE_INFO_BITRATE32] != nullptr) {
    rate_units = nla_get_u32(rate[NL80211_RATE_INFO_BITRATE32]);
  } else if (rate[NL80211_RATE_INFO_BITRATE] != nullptr) {
    rate_units = nla_get_u16(rate[NL80211_RATE_INFO_BITRATE]);
  }
  if (rate_units != 0) {
    const std::uint64_t kbps = std::uint64_t{rate_units} * kRateUnitKbps;
    figures.tx_bitrate_kbps = static_cast<std::uint32_t>(std::min<std::uint64_t>(kbps, UINT32_MAX));
    figures.present |= kRadioTxBitrate;
  }
  if (const nlattr* a = sta[NL80211_STA_INFO_EXPECTED_THROUGHPUT]) {
    figures.expected_throughput_kbps = nla_get_u32(a);
    figures.present |= kRadioExpectedThroughput;
  }
  if (const nlattr* a = sta[NL80211_STA_INFO_AIRTIME_LINK_METRIC]) {
    figures.airtime_metric = nla_get_u32(a);
    figures.present |= kRadioAirtimeMetric;
  }
  // The 64-bit counters where the kernel sends them (it sends both); the 32-bit ones wrap.
  if (sta[NL80211_STA_INFO_RX_BYTES64] != nullptr) {
    info.rx_bytes = nla_get_u64(sta[NL80211_STA_INFO_RX_BYTES64]);
  } else if (sta[NL80211_STA_INFO_RX_BYTES] != nullptr) {
    info.rx_bytes = nla_get_u32(sta[NL80211_STA_INFO_RX_BYTES]);
  }
  if (sta[NL80211_STA_INFO_TX_BYTES64] != nullptr) {
    info.tx_bytes = nla_get_u64(sta[NL80211_STA_INFO_TX_BYTES64]);
  } else if (sta[NL80211_STA_INFO_TX_BYTES] != nullptr) {
    info.tx_bytes = nla_get_u32(sta[NL80211_STA_INFO_TX_BYTES]);
  }
  if (sta[NL80211_STA_INFO_TX_RETRIES] != nullptr) info.tx_retries = nla_get_u32(sta[NL80211_STA_INFO_TX_RETRIES]);
  if (sta[NL80211_STA_INFO_TX_FAILED] != nullptr) info.tx_failed = nla_get_u32(sta[NL80211_STA_INFO_TX_FAILED]);
  if (sta[NL80211_STA_INFO_PLINK_STATE] != nullptr) {
    info.plink_state = nla_get_u8(sta[NL80211_STA_INFO_PLINK_STATE]);
    info.has_plink_state = true;
  }
  *out = info;
  return true;
}

bool parse_interface(const nlmsghdr* message, std::uint32_t* iftype, std::uint32_t* wiphy) noexcept {
  nla_policy policy[NL80211_ATTR_IFTYPE + 1] = {};
  policy[NL80211_ATTR_WIPHY].type = NLA_U32;
  policy[NL80211_ATTR_IFINDEX].type = NLA_U32;
  policy[NL80211_ATTR_IFTYPE].type = NLA_U32;
  nlattr* table[NL80211_ATTR_IFTYPE + 1] = {};
  if (!parse_top(message, NL80211_CMD_NEW_INTERFACE, table, NL80211_ATTR_IFTYPE, policy)) return false;
  if (table[NL80211_ATTR_IFTYPE] == nullptr || table[NL80211_ATTR_WIPHY] == nullptr) return false;
  *iftype = nla_get_u32(table[NL80211_ATTR_IFTYPE]);
  *wiphy = nla_get_u32(table[NL80211_ATTR_WIPHY]);
  return true;
}

bool parse_wiphy(const nlmsghdr* message, std::uint32_t* wiphy, std::string* name) {
  nla_policy policy[NL80211_ATTR_WIPHY_NAME + 1] = {};
  policy[NL80211_ATTR_WIPHY].type = NLA_U32;
  // NLA_STRING: at least one byte and NUL-terminated inside the attribute.
  policy[NL80211_ATTR_WIPHY_NAME].type = NLA_STRING;
  nlattr* table[NL80211_ATTR_WIPHY_NAME + 1] = {};
  if (!parse_top(message, NL80211_CMD_NEW_WIPHY, table, NL80211_ATTR_WIPHY_NAME, policy)) return false;
  if (table[NL80211_ATTR_WIPHY] == nullptr || table[NL80211_ATTR_WIPHY_NAME] == nullptr) return false;
  const char* text = static_cast<const char*>(nla_data(table[NL80211_ATTR_WIPHY_NAME]));
  const std::size_t length = strnlen(text, static_cast<std::size_t>(nla_len(table[NL80211_ATTR_WIPHY_NAME])));
  if (length == 0) return false;
  name->assign(text, length);
  *wiphy = nla_get_u32(table[NL80211_ATTR_WIPHY]);
  return true;
}

bool parse_channel_width(const std::string& text, ChannelWidth* out) noexcept {
  if (text == "20noht") {
    *out = ChannelWidth::mhz20_noht;
  } else if (text == "20") {
    *out = ChannelWidth::mhz20;
  } else if (text == "40") {
    *out = ChannelWidth::mhz40;
  } else if (text == "80") {
    *out = ChannelWidth::mhz80;
  } else {
    return false;
  }
  return true;
}

// ---- the socket ----

namespace {

// What one transaction has heard so far; the callbacks below fill it.
struct Exchange {
  std::uint32_t sequence = 0;
  bool done = false;
  int error = 0;            // the kernel's errno, positive
  std::string kernel_note;  // the extended ack's message ("center frequency 1 doesn't match")
  int (*on_message)(nl_msg*, void*) = nullptr;
  void* context = nullptr;
};

// Answers to an earlier request whose wait timed out carry its sequence number: skipped,
// so they are not taken for this request's answer.
int on_sequence(nl_msg* message, void* arg) {
  const auto* exchange = static_cast<const Exchange*>(arg);
  return nlmsg_hdr(message)->nlmsg_seq == exchange->sequence ? NL_OK : NL_SKIP;
}

int on_valid(nl_msg* message, void* arg) {
  auto* exchange = static_cast<Exchange*>(arg);
  return exchange->on_message != nullptr ? exchange->on_message(message, exchange->context) : NL_SKIP;
}

int on_ack(nl_msg*, void* arg) {
  static_cast<Exchange*>(arg)->done = true;
  return NL_STOP;
}

// NLMSG_DONE ends a dump; since Linux 4.x it carries the dump's error, if it failed midway.
int on_finish(nl_msg* message, void* arg) {
  auto* exchange = static_cast<Exchange*>(arg);
  const nlmsghdr* header = nlmsg_hdr(message);
  if (nlmsg_datalen(header) >= static_cast<int>(sizeof(int))) {
    int error = 0;
    std::memcpy(&error, nlmsg_data(header), sizeof error);
    if (error < 0) exchange->error = -error;
  }
  exchange->done = true;
  return NL_STOP;
}

// The kernel's error; with NETLINK_EXT_ACK the message may carry a line of explanation
// (NLMSGERR_ATTR_MSG) after the echoed request header (NETLINK_CAP_ACK: header only).
int on_error(sockaddr_nl*, nlmsgerr* error, void* arg) {
  auto* exchange = static_cast<Exchange*>(arg);
  exchange->error = error->error < 0 ? -error->error : error->error;
  exchange->done = true;
  const nlmsghdr* header = reinterpret_cast<const nlmsghdr*>(error) - 1;
  if ((header->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return NL_STOP;
  std::size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if ((header->nlmsg_flags & NLM_F_CAPPED) == 0) {
    if (error->msg.nlmsg_len < NLMSG_HDRLEN) return NL_STOP;
    offset += NLMSG_ALIGN(error->msg.nlmsg_len - NLMSG_HDRLEN);
  }
  if (header->nlmsg_len <= offset) return NL_STOP;
  nla_policy policy[NLMSGERR_ATTR_MSG + 1] = {};
  policy[NLMSGERR_ATTR_MSG].type = NLA_STRING;
  nlattr* table[NLMSGERR_ATTR_MSG + 1] = {};
  auto* attributes = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(header) + offset));
  if (nla_parse(table, NLMSGERR_ATTR_MSG, attributes, static_cast<int>(header->nlmsg_len - offset), policy) == 0 &&
      table[NLMSGERR_ATTR_MSG] != nullptr) {
    try {
      exchange->kernel_note = nla_get_string(table[NLMSGERR_ATTR_MSG]);
    } catch (const std::bad_alloc&) {
      // The errno alone still says what failed.
    }
  }
  return NL_STOP;
}

struct CallbackFree {
  void operator()(nl_cb* cb) const noexcept { nl_cb_put(cb); }
};

}  // namespace

std::unique_ptr<Nl80211> Nl80211::open(std::string* error) { return connect("nl80211", error); }

std::unique_ptr<Nl80211> Nl80211::connect(const char* family_name, std::string* error) {
  const std::string prefix = std::string(family_name) + ": not available: ";
  std::unique_ptr<Nl80211> nl(new Nl80211());
  nl->socket_ = nl_socket_alloc();
  if (nl->socket_ == nullptr) {
    *error = prefix + "out of memory";
    return nullptr;
  }
  if (int rc = genl_connect(nl->socket_); rc < 0) {
    *error = prefix + "connecting a generic netlink socket: " + nl_geterror(rc);
    return nullptr;
  }
  // Answers larger than a page (a split wiphy dump's band part, a busy station dump) are
  // peeked at first so libnl sizes its buffer to them instead of truncating.
  nl_socket_enable_msg_peek(nl->socket_);
  const int fd = nl_socket_get_fd(nl->socket_);
  const timeval timeout{kAnswerTimeoutMs / 1000, (kAnswerTimeoutMs % 1000) * 1000};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
    *error = prefix + "setting the receive timeout: " + errno_text(errno);
    return nullptr;
  }
  // The kernel's own explanation of an EINVAL, and errors without the echoed request.
  // Kernels before 4.12 lack these; the errno alone is still reported there.
  const int one = 1;
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  const int family = genl_ctrl_resolve(nl->socket_, family_name);
  if (family < 0) {
    *error = prefix + nl_geterror(family) +
             (std::strcmp(family_name, "nl80211") == 0 ? " (a kernel without cfg80211, the 802.11 configuration layer)"
                                                       : "");
    return nullptr;
  }
  nl->family_ = family;
  return nl;
}

Nl80211::~Nl80211() {
  if (socket_ != nullptr) nl_socket_free(socket_);
}

std::string Nl80211::transact(MessagePtr message, const std::string& what, const char* operation,
                              int (*on_message)(nl_msg*, void*), void* context) {
  const std::string prefix = what + ": " + operation + ": ";
  if (!message) return prefix + "out of memory building the request";
  std::unique_ptr<nl_cb, CallbackFree> cb(nl_cb_alloc(NL_CB_DEFAULT));
  if (!cb) return prefix + "out of memory";
  Exchange exchange;
  exchange.on_message = on_message;
  exchange.context = context;
  nl_cb_set(cb.get(), NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_sequence, &exchange);
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &exchange);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &exchange);
  nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &exchange);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &exchange);

  if (int rc = nl_send_auto(socket_, message.get()); rc < 0) return prefix + "sending: " + nl_geterror(rc);
  exchange.sequence = nlmsg_hdr(message.get())->nlmsg_seq;

  // SO_RCVTIMEO bounds each read inside libnl; the deadline bounds the whole exchange, so
  // a stream of unrelated messages cannot hold the caller either.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(kAnswerTimeoutMs);
  const std::string timeout_line =
      prefix + "no answer from the kernel within " + std::to_string(kAnswerTimeoutMs / 1000) + " s";
  while (!exchange.done) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return timeout_line;
    pollfd ready{nl_socket_get_fd(socket_), POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(left));
    if (polled < 0 && errno == EINTR) continue;
    if (polled < 0) return prefix + "waiting for the answer: " + errno_text(errno);
    if (polled == 0) return timeout_line;
    const int rc = nl_recvmsgs(socket_, cb.get());
    if (exchange.done) break;
    if (rc == -NLE_AGAIN || rc == -NLE_INTR) continue;
    if (rc < 0) return prefix + "reading the answer: " + nl_geterror(rc);
  }
  if (exchange.error != 0) {
    std::string line = prefix + errno_text(exchange.error);
    if (!exchange.kernel_note.empty()) line += " (" + exchange.kernel_note + ")";
    return line;
  }
  return {};
}

namespace {

struct WiphySearch {
  const std::string* wanted = nullptr;
  bool found = false;
  std::uint32_t wiphy = 0;
  std::vector<std::string> seen;  // the names the kernel listed, for the not-found line
  bool out_of_memory = false;
};

int on_wiphy(nl_msg* message, void* arg) {
  auto* search = static_cast<WiphySearch*>(arg);
  try {
    std::uint32_t wiphy = 0;
    std::string name;
    if (!parse_wiphy(nlmsg_hdr(message), &wiphy, &name)) return NL_SKIP;
    if (name == *search->wanted) {
      search->found = true;
      search->wiphy = wiphy;
    }
    // A split dump repeats the name in every part of one wiphy.
    if (std::find(search->seen.begin(), search->seen.end(), name) == search->seen.end()) {
      search->seen.push_back(std::move(name));
    }
  } catch (const std::bad_alloc&) {
    search->out_of_memory = true;
  }
  return NL_SKIP;
}

struct InterfaceAnswer {
  bool found = false;
  std::uint32_t iftype = 0;
  std::uint32_t wiphy = 0;
};

int on_interface(nl_msg* message, void* arg) {
  auto* answer = static_cast<InterfaceAnswer*>(arg);
  if (parse_interface(nlmsg_hdr(message), &answer->iftype, &answer->wiphy)) answer->found = true;
  return NL_SKIP;
}

struct StationDump {
  std::vector<StationInfo>* out = nullptr;
  bool out_of_memory = false;
};

int on_station(nl_msg* message, void* arg) {
  auto* dump = static_cast<StationDump*>(arg);
  StationInfo info;
  if (!parse_station(nlmsg_hdr(message), &info)) return NL_SKIP;
  try {
    dump->out->push_back(info);
  } catch (const std::bad_alloc&) {
    dump->out_of_memory = true;
  }
  return NL_SKIP;
}

}  // namespace

std::string Nl80211::find_wiphy(const std::string& phy_name, std::uint32_t* wiphy) {
  WiphySearch search;
  search.wanted = &phy_name;
  std::string error = transact(build_wiphy_dump(family_), phy_name, "finding the radio", on_wiphy, &search);
  if (!error.empty()) return error;
  if (search.out_of_memory) return phy_name + ": finding the radio: out of memory";
  if (!search.found) {
    std::string listed;
    for (const std::string& name : search.seen) listed += (listed.empty() ? "" : ", ") + name;
    return phy_name + ": finding the radio: no such phy (the kernel has " +
           (listed.empty() ? std::string("no 802.11 radio") : listed) + " in this network namespace)";
  }
  *wiphy = search.wiphy;
  return {};
}

std::string Nl80211::create_mesh_interface(const std::string& phy_name, std::uint32_t wiphy, const std::string& name) {
  const std::string operation = "creating mesh point " + name;
  return transact(build_new_interface(family_, wiphy, name), phy_name, operation.c_str(), nullptr, nullptr);
}

std::string Nl80211::delete_interface(const std::string& name, std::uint32_t ifindex) {
  return transact(build_del_interface(family_, ifindex), name, "deleting the interface", nullptr, nullptr);
}

std::string Nl80211::join_mesh(const std::string& name, std::uint32_t ifindex, const MeshJoin& join) {
  const std::string operation = "joining mesh \"" + join.mesh_id + "\"";
  if (join.mesh_id.empty() || join.mesh_id.size() > kMaxMeshIdSize) {
    return name + ": " + operation + ": the mesh ID must be 1 to 32 bytes, got " + std::to_string(join.mesh_id.size());
  }
  if (join.center_frequency_mhz == 0 && center_frequency_mhz(join.frequency_mhz, join.width) == 0) {
    return name + ": " + operation + ": no " + (join.width == ChannelWidth::mhz80 ? "80" : "40") +
           " MHz channel has " + std::to_string(join.frequency_mhz) + " MHz as its primary";
  }
  return transact(build_join_mesh(family_, ifindex, join), name, operation.c_str(), nullptr, nullptr);
}

std::string Nl80211::leave_mesh(const std::string& name, std::uint32_t ifindex) {
  return transact(build_leave_mesh(family_, ifindex), name, "leaving the mesh", nullptr, nullptr);
}

std::string Nl80211::interface_type(const std::string& name, std::uint32_t ifindex, std::uint32_t* iftype) {
  InterfaceAnswer answer;
  std::string error =
      transact(build_get_interface(family_, ifindex), name, "reading its 802.11 type", on_interface, &answer);
  if (!error.empty()) return error;
  if (!answer.found) return name + ": reading its 802.11 type: the kernel's answer carried no interface type";
  *iftype = answer.iftype;
  return {};
}

std::string Nl80211::dump_stations(const std::string& name, std::uint32_t ifindex, std::vector<StationInfo>* out) {
  out->clear();
  StationDump dump;
  dump.out = out;
  std::string error = transact(build_station_dump(family_, ifindex), name, "reading its stations", on_station, &dump);
  if (!error.empty()) return error;
  if (dump.out_of_memory) return name + ": reading its stations: out of memory";
  return {};
}

}  // namespace mh::meshpoint
