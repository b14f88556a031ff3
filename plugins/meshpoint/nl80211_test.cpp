// nl80211.cpp without root or a radio. The requests are compared byte for byte with
// layouts written out here from the kernel's <linux/nl80211.h>: every attribute and
// command number is a literal with the constant it must be, so a wrong number in the
// builders (or a header that moved) fails here. The parsers read answers built the same
// way, malformed ones included. The socket (send, answers, errors, dumps, the timeout) is
// checked against the kernel's generic netlink controller, which every Linux has.
#include "nl80211.hpp"

#include <doctest/doctest.h>

#include <linux/genetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace mh::meshpoint {

// Reaches the socket's private parts (nl80211.hpp names it a friend): the tests drive
// transact() against the genl controller, since no nl80211 radio is at hand.
struct Nl80211TestAccess {
  static std::unique_ptr<Nl80211> connect(const char* family, std::string* error) {
    return Nl80211::connect(family, error);
  }
  static std::string transact(Nl80211& nl, MessagePtr message, const char* operation,
                              int (*on_message)(nl_msg*, void*), void* context) {
    return nl.transact(std::move(message), "nlctrl", operation, on_message, context);
  }
  static nl_sock* socket(Nl80211& nl) { return nl.socket_; }
};

}  // namespace mh::meshpoint

namespace {

using namespace mh::meshpoint;
using Bytes = std::vector<std::uint8_t>;

// Netlink carries integers in host order; the layouts below are written little-endian.
static_assert(std::endian::native == std::endian::little, "the byte layouts below are little-endian");

constexpr int kFamily = 0x1c;  // any family id: the builders only copy it into nlmsg_type
constexpr std::size_t kHeaders = 16 + 4;  // struct nlmsghdr + struct genlmsghdr

struct Built {
  std::uint16_t type = 0;
  std::uint16_t flags = 0;
  std::uint8_t command = 0;
  std::uint8_t version = 0xff;
  Bytes attributes;  // everything after the two headers
};

Built take(const MessagePtr& message) {
  REQUIRE(message);
  const nlmsghdr* header = nlmsg_hdr(message.get());
  REQUIRE(header->nlmsg_len >= kHeaders);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(header);
  Built built;
  built.type = header->nlmsg_type;
  built.flags = header->nlmsg_flags;
  built.command = bytes[16];
  built.version = bytes[17];
  built.attributes.assign(bytes + kHeaders, bytes + header->nlmsg_len);
  return built;
}

// A kernel answer: nlmsghdr (length, type, flags, seq, pid), genlmsghdr (cmd, version 1),
// then `attributes` as written. `cut` shortens nlmsg_len (and the bytes) by that much.
struct Answer {
  std::vector<std::uint32_t> storage;  // 4-byte aligned, as libnl's receive buffer is
  const nlmsghdr* header() const { return reinterpret_cast<const nlmsghdr*>(storage.data()); }
};

Answer answer(std::uint8_t command, const Bytes& attributes, std::size_t cut = 0) {
  Bytes bytes(16, 0);
  bytes.insert(bytes.end(), {command, 1, 0, 0});
  bytes.insert(bytes.end(), attributes.begin(), attributes.end());
  bytes.resize(bytes.size() - cut);
  const auto length = static_cast<std::uint32_t>(bytes.size());
  std::memcpy(bytes.data(), &length, 4);
  bytes[4] = kFamily;  // nlmsg_type
  Answer out;
  out.storage.resize((bytes.size() + 3) / 4);
  std::memcpy(out.storage.data(), bytes.data(), bytes.size());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

}  // namespace

TEST_CASE("NEW_INTERFACE asks for a mesh point on the wiphy") {
  const Built built = take(build_new_interface(kFamily, 2, "mesh0"));
  CHECK(built.type == kFamily);
  CHECK(built.command == 7);  // NL80211_CMD_NEW_INTERFACE
  CHECK(built.version == 0);
  CHECK(built.flags == 0);
  const Bytes expected = {
      0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,                    // NL80211_ATTR_WIPHY = 1: u32 2
      0x0a, 0x00, 0x04, 0x00, 'm',  'e',  's',  'h',  '0', 0x00, 0, 0,  // NL80211_ATTR_IFNAME = 4: "mesh0\0", pad
      0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00,                    // NL80211_ATTR_IFTYPE = 5: NL80211_IFTYPE_MESH_POINT = 7
  };
  CHECK(built.attributes == expected);
}

TEST_CASE("DEL_INTERFACE, LEAVE_MESH and GET_INTERFACE name the interface by index") {
  const Bytes ifindex_9 = {0x08, 0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00};  // NL80211_ATTR_IFINDEX = 3: u32 9
  const Built del = take(build_del_interface(kFamily, 9));
  CHECK(del.command == 8);  // NL80211_CMD_DEL_INTERFACE
  CHECK(del.attributes == ifindex_9);
  const Built leave = take(build_leave_mesh(kFamily, 9));
  CHECK(leave.command == 69);  // NL80211_CMD_LEAVE_MESH
  CHECK(leave.attributes == ifindex_9);
  const Built get = take(build_get_interface(kFamily, 9));
  CHECK(get.command == 5);  // NL80211_CMD_GET_INTERFACE
  CHECK(get.flags == 0);
  CHECK(get.attributes == ifindex_9);
  for (const Built* built : {&del, &leave, &get}) CHECK(built->version == 0);
}

TEST_CASE("dumps: GET_STATION on an interface, GET_WIPHY split") {
  const Built stations = take(build_station_dump(kFamily, 5));
  CHECK(stations.command == 17);       // NL80211_CMD_GET_STATION
  CHECK(stations.flags == 0x300);      // NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
  CHECK(stations.attributes == Bytes{0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00});  // NL80211_ATTR_IFINDEX = 3
  const Built wiphys = take(build_wiphy_dump(kFamily));
  CHECK(wiphys.command == 1);  // NL80211_CMD_GET_WIPHY
  CHECK(wiphys.flags == 0x300);
  CHECK(wiphys.attributes == Bytes{0x04, 0x00, 0xae, 0x00});  // NL80211_ATTR_SPLIT_WIPHY_DUMP = 174: flag
}

TEST_CASE("JOIN_MESH on a 20 MHz channel sends the channel as iw does") {
  MeshJoin join;
  join.mesh_id = "meshhost";
  join.frequency_mhz = 2412;
  join.width = ChannelWidth::mhz20;
  const Built built = take(build_join_mesh(kFamily, 5, join));
  CHECK(built.command == 68);  // NL80211_CMD_JOIN_MESH
  CHECK(built.version == 0);
  const Bytes expected = {
      0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,                          // NL80211_ATTR_IFINDEX = 3: 5
      0x0c, 0x00, 0x18, 0x00, 'm',  'e',  's',  'h',  'h', 'o', 's', 't',      // NL80211_ATTR_MESH_ID = 24: 8 bytes, no NUL
      0x08, 0x00, 0x26, 0x00, 0x6c, 0x09, 0x00, 0x00,                          // NL80211_ATTR_WIPHY_FREQ = 38: 2412
      0x08, 0x00, 0x9f, 0x00, 0x01, 0x00, 0x00, 0x00,                          // NL80211_ATTR_CHANNEL_WIDTH = 159: NL80211_CHAN_WIDTH_20 = 1
      0x08, 0x00, 0x27, 0x00, 0x01, 0x00, 0x00, 0x00,                          // NL80211_ATTR_WIPHY_CHANNEL_TYPE = 39: NL80211_CHAN_HT20 = 1
      0x08, 0x00, 0xa0, 0x00, 0x6c, 0x09, 0x00, 0x00,                          // NL80211_ATTR_CENTER_FREQ1 = 160: 2412
  };
  CHECK(built.attributes == expected);

  join.mesh_id = "abc";  // an odd length is padded to 4 bytes
  join.width = ChannelWidth::mhz20_noht;
  const Bytes noht = {
      0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,  // NL80211_ATTR_IFINDEX = 3
      0x07, 0x00, 0x18, 0x00, 'a',  'b',  'c',  0x00,  // NL80211_ATTR_MESH_ID = 24: 3 bytes, pad
      0x08, 0x00, 0x26, 0x00, 0x6c, 0x09, 0x00, 0x00,  // NL80211_ATTR_WIPHY_FREQ = 38: 2412
      0x08, 0x00, 0x9f, 0x00, 0x00, 0x00, 0x00, 0x00,  // NL80211_ATTR_CHANNEL_WIDTH = 159: NL80211_CHAN_WIDTH_20_NOHT = 0
      0x08, 0x00, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00,  // NL80211_ATTR_WIPHY_CHANNEL_TYPE = 39: NL80211_CHAN_NO_HT = 0
      0x08, 0x00, 0xa0, 0x00, 0x6c, 0x09, 0x00, 0x00,  // NL80211_ATTR_CENTER_FREQ1 = 160: 2412
  };
  CHECK(take(build_join_mesh(kFamily, 5, join)).attributes == noht);
}

TEST_CASE("JOIN_MESH on 40 MHz: the center and HT40+/- from the primary channel") {
  MeshJoin join;
  join.mesh_id = "m";
  join.frequency_mhz = 5180;  // channel 36, paired with 40 above it
  join.width = ChannelWidth::mhz40;
  const Bytes up = {
      0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,  // NL80211_ATTR_IFINDEX = 3: 1
      0x05, 0x00, 0x18, 0x00, 'm',  0x00, 0x00, 0x00,  // NL80211_ATTR_MESH_ID = 24
      0x08, 0x00, 0x26, 0x00, 0x3c, 0x14, 0x00, 0x00,  // NL80211_ATTR_WIPHY_FREQ = 38: 5180
      0x08, 0x00, 0x9f, 0x00, 0x02, 0x00, 0x00, 0x00,  // NL80211_ATTR_CHANNEL_WIDTH = 159: NL80211_CHAN_WIDTH_40 = 2
      0x08, 0x00, 0x27, 0x00, 0x03, 0x00, 0x00, 0x00,  // NL80211_ATTR_WIPHY_CHANNEL_TYPE = 39: NL80211_CHAN_HT40PLUS = 3
      0x08, 0x00, 0xa0, 0x00, 0x46, 0x14, 0x00, 0x00,  // NL80211_ATTR_CENTER_FREQ1 = 160: 5190
  };
  CHECK(take(build_join_mesh(kFamily, 1, join)).attributes == up);

  join.frequency_mhz = 2462;  // channel 11: the secondary can only be below
  const Bytes down = {
      0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,  // NL80211_ATTR_IFINDEX = 3: 1
      0x05, 0x00, 0x18, 0x00, 'm',  0x00, 0x00, 0x00,  // NL80211_ATTR_MESH_ID = 24
      0x08, 0x00, 0x26, 0x00, 0x9e, 0x09, 0x00, 0x00,  // NL80211_ATTR_WIPHY_FREQ = 38: 2462
      0x08, 0x00, 0x9f, 0x00, 0x02, 0x00, 0x00, 0x00,  // NL80211_ATTR_CHANNEL_WIDTH = 159: NL80211_CHAN_WIDTH_40 = 2
      0x08, 0x00, 0x27, 0x00, 0x02, 0x00, 0x00, 0x00,  // NL80211_ATTR_WIPHY_CHANNEL_TYPE = 39: NL80211_CHAN_HT40MINUS = 2
      0x08, 0x00, 0xa0, 0x00, 0x94, 0x09, 0x00, 0x00,  // NL80211_ATTR_CENTER_FREQ1 = 160: 2452
  };
  CHECK(take(build_join_mesh(kFamily, 1, join)).attributes == down);
}

TEST_CASE("JOIN_MESH on 80 MHz, with beacon interval and DTIM period") {
  MeshJoin join;
  join.mesh_id = "m";
  join.frequency_mhz = 5200;  // channel 40, in the 36–48 block centered on 42
  join.width = ChannelWidth::mhz80;
  join.beacon_interval_tu = 1000;
  join.dtim_period = 2;
  const Bytes expected = {
      0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,  // NL80211_ATTR_IFINDEX = 3: 1
      0x05, 0x00, 0x18, 0x00, 'm',  0x00, 0x00, 0x00,  // NL80211_ATTR_MESH_ID = 24
      0x08, 0x00, 0x26, 0x00, 0x50, 0x14, 0x00, 0x00,  // NL80211_ATTR_WIPHY_FREQ = 38: 5200
      0x08, 0x00, 0x9f, 0x00, 0x03, 0x00, 0x00, 0x00,  // NL80211_ATTR_CHANNEL_WIDTH = 159: NL80211_CHAN_WIDTH_80 = 3
      0x08, 0x00, 0xa0, 0x00, 0x5a, 0x14, 0x00, 0x00,  // NL80211_ATTR_CENTER_FREQ1 = 160: 5210 (no channel type for 80)
      0x08, 0x00, 0x0c, 0x00, 0xe8, 0x03, 0x00, 0x00,  // NL80211_ATTR_BEACON_INTERVAL = 12: 1000 TU
      0x08, 0x00, 0x0d, 0x00, 0x02, 0x00, 0x00, 0x00,  // NL80211_ATTR_DTIM_PERIOD = 13: 2
  };
  CHECK(take(build_join_mesh(kFamily, 1, join)).attributes == expected);

  // A center given in config is sent as given; the kernel judges it.
  join.center_frequency_mhz = 5290;
  join.beacon_interval_tu = 0;
  join.dtim_period = 0;
  const Built given = take(build_join_mesh(kFamily, 1, join));
  const Bytes center_5290 = {0x08, 0x00, 0xa0, 0x00, 0xaa, 0x14, 0x00, 0x00};  // NL80211_ATTR_CENTER_FREQ1 = 160: 5290
  REQUIRE(given.attributes.size() >= center_5290.size());
  CHECK(Bytes(given.attributes.end() - 8, given.attributes.end()) == center_5290);
}

TEST_CASE("JOIN_MESH carries the kernel's forwarding switch in a mesh config nest") {
  MeshJoin join;
  join.mesh_id = "m";
  join.frequency_mhz = 2412;
  join.width = ChannelWidth::mhz20;
  const Built plain = take(build_join_mesh(kFamily, 1, join));
  join.kernel_forwarding = 0;
  const Built off = take(build_join_mesh(kFamily, 1, join));
  REQUIRE(off.attributes.size() == plain.attributes.size() + 12);
  CHECK(Bytes(off.attributes.begin(), off.attributes.begin() + static_cast<long>(plain.attributes.size())) ==
        plain.attributes);
  const Bytes tail(off.attributes.end() - 12, off.attributes.end());
  CHECK(tail[0] == 0x0c);                // nest length 12: its header and one u8 attribute
  CHECK(tail[1] == 0x00);
  CHECK((tail[2] | (tail[3] << 8)) % 0x8000 == 35);  // NL80211_ATTR_MESH_CONFIG = 35 (NLA_F_NESTED may be set)
  const Bytes forwarding = {0x05, 0x00, 0x13, 0x00, 0x00, 0x00, 0x00, 0x00};  // NL80211_MESHCONF_FORWARDING = 19: 0, pad
  CHECK(Bytes(tail.begin() + 4, tail.end()) == forwarding);
  join.kernel_forwarding = 1;
  const Built on = take(build_join_mesh(kFamily, 1, join));
  CHECK(on.attributes[on.attributes.size() - 4] == 0x01);
}

TEST_CASE("JOIN_MESH refuses a mesh ID outside 1–32 bytes and a channel with no center") {
  MeshJoin join;
  join.mesh_id = "";
  CHECK_FALSE(build_join_mesh(kFamily, 1, join));
  join.mesh_id = std::string(33, 'x');
  CHECK_FALSE(build_join_mesh(kFamily, 1, join));
  join.mesh_id = std::string(32, 'x');
  CHECK(build_join_mesh(kFamily, 1, join));
  join.frequency_mhz = 2437;
  join.width = ChannelWidth::mhz80;  // no 80 MHz channels on 2.4 GHz
  CHECK_FALSE(build_join_mesh(kFamily, 1, join));
}

TEST_CASE("center frequencies as iw's chandef derives them") {
  CHECK(center_frequency_mhz(2412, ChannelWidth::mhz20) == 2412);
  CHECK(center_frequency_mhz(5500, ChannelWidth::mhz20_noht) == 5500);
  // 2.4 GHz, 40 MHz: HT40+ for channels 1–7, HT40- for 8–13.
  CHECK(center_frequency_mhz(2412, ChannelWidth::mhz40) == 2422);
  CHECK(center_frequency_mhz(2442, ChannelWidth::mhz40) == 2452);
  CHECK(center_frequency_mhz(2447, ChannelWidth::mhz40) == 2437);
  CHECK(center_frequency_mhz(2472, ChannelWidth::mhz40) == 2462);
  // 5 GHz, 40 MHz: fixed pairs 36+40 (38), 44+48 (46), 140+144 (142), 149+153 (151), 165+169 (167).
  CHECK(center_frequency_mhz(5180, ChannelWidth::mhz40) == 5190);
  CHECK(center_frequency_mhz(5200, ChannelWidth::mhz40) == 5190);
  CHECK(center_frequency_mhz(5240, ChannelWidth::mhz40) == 5230);
  CHECK(center_frequency_mhz(5720, ChannelWidth::mhz40) == 5710);
  CHECK(center_frequency_mhz(5745, ChannelWidth::mhz40) == 5755);
  CHECK(center_frequency_mhz(5765, ChannelWidth::mhz40) == 5755);
  CHECK(center_frequency_mhz(5825, ChannelWidth::mhz40) == 5835);
  // 5 GHz, 80 MHz: blocks 36–48 (42), 52–64 (58), 100–112 (106), 149–161 (155).
  CHECK(center_frequency_mhz(5180, ChannelWidth::mhz80) == 5210);
  CHECK(center_frequency_mhz(5240, ChannelWidth::mhz80) == 5210);
  CHECK(center_frequency_mhz(5260, ChannelWidth::mhz80) == 5290);
  CHECK(center_frequency_mhz(5500, ChannelWidth::mhz80) == 5530);
  CHECK(center_frequency_mhz(5805, ChannelWidth::mhz80) == 5775);
  // No such channel.
  CHECK(center_frequency_mhz(2437, ChannelWidth::mhz80) == 0);
  CHECK(center_frequency_mhz(5340, ChannelWidth::mhz80) == 0);  // channel 68: no 80 MHz block
  CHECK(center_frequency_mhz(2484, ChannelWidth::mhz40) == 0);  // channel 14: no HT40
  CHECK(center_frequency_mhz(900, ChannelWidth::mhz40) == 0);
}

TEST_CASE("parse_channel_width takes the four config names only") {
  ChannelWidth width = ChannelWidth::mhz80;
  CHECK(parse_channel_width("20noht", &width));
  CHECK(width == ChannelWidth::mhz20_noht);
  CHECK(parse_channel_width("20", &width));
  CHECK(width == ChannelWidth::mhz20);
  CHECK(parse_channel_width("40", &width));
  CHECK(width == ChannelWidth::mhz40);
  CHECK(parse_channel_width("80", &width));
  CHECK(width == ChannelWidth::mhz80);
  for (const char* text : {"", "HT20", "40+", "160", "20MHz", "80 ", "noht"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_channel_width(text, &width));
  }
  CHECK(width == ChannelWidth::mhz80);
}

namespace {

// Parts of a NEW_STATION (NL80211_CMD_NEW_STATION = 19) as a mesh kernel sends it.
const Bytes kIfindex5 = {0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00};  // NL80211_ATTR_IFINDEX = 3: 5
const Bytes kMac = {0x0a, 0x00, 0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};  // NL80211_ATTR_MAC = 6, pad
const Bytes kFullStaInfo = {
    0x80, 0x00, 0x15, 0x00,                          // NL80211_ATTR_STA_INFO = 21: nest of 124 bytes
    0x08, 0x00, 0x01, 0x00, 0x2c, 0x01, 0x00, 0x00,  //   NL80211_STA_INFO_INACTIVE_TIME = 1: 300 ms
    0x08, 0x00, 0x02, 0x00, 0x10, 0x27, 0x00, 0x00,  //   NL80211_STA_INFO_RX_BYTES = 2: 10000 (wrapped)
    0x08, 0x00, 0x03, 0x00, 0x20, 0x4e, 0x00, 0x00,  //   NL80211_STA_INFO_TX_BYTES = 3: 20000
    0x05, 0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_PLINK_STATE = 6: u8 NL80211_PLINK_ESTAB = 4
    0x05, 0x00, 0x07, 0x00, 0xc4, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_SIGNAL = 7: s8 -60 dBm
    0x14, 0x00, 0x08, 0x00,                          //   NL80211_STA_INFO_TX_BITRATE = 8: nest of 16 bytes
    0x06, 0x00, 0x01, 0x00, 0x8a, 0x02, 0x00, 0x00,  //     NL80211_RATE_INFO_BITRATE = 1: u16 650 (65.0 Mbit/s)
    0x08, 0x00, 0x05, 0x00, 0x8a, 0x02, 0x00, 0x00,  //     NL80211_RATE_INFO_BITRATE32 = 5: u32 650
    0x08, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_TX_RETRIES = 11: 3
    0x08, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_TX_FAILED = 12: 1
    0x05, 0x00, 0x0d, 0x00, 0xc6, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_SIGNAL_AVG = 13: s8 -58 dBm
    0x0c, 0x00, 0x17, 0x00, 0x10, 0x27, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_RX_BYTES64 = 23: 2^32 + 10000
    0x0c, 0x00, 0x18, 0x00, 0x20, 0x4e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_TX_BYTES64 = 24: 20000
    0x08, 0x00, 0x1b, 0x00, 0xa0, 0x86, 0x01, 0x00,  //   NL80211_STA_INFO_EXPECTED_THROUGHPUT = 27: 100000 kbit/s
    0x08, 0x00, 0x29, 0x00, 0x6e, 0x01, 0x00, 0x00,  //   NL80211_STA_INFO_AIRTIME_LINK_METRIC = 41: 366
};

constexpr std::uint8_t kNewStation = 19;  // NL80211_CMD_NEW_STATION

}  // namespace

TEST_CASE("a station dump's message: every figure, the averaged signal, the 32-bit rate") {
  StationInfo info;
  REQUIRE(parse_station(answer(kNewStation, cat({kIfindex5, kMac, kFullStaInfo})).header(), &info));
  CHECK(info.mac == mh::ether::MacAddress{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}});
  const mh::RadioFigures& f = info.figures;
  CHECK(f.present == (mh::kRadioSignal | mh::kRadioTxBitrate | mh::kRadioExpectedThroughput |
                      mh::kRadioAirtimeMetric | mh::kRadioInactiveTime));
  CHECK(f.signal_dbm == -58);
  CHECK(f.tx_bitrate_kbps == 65000);
  CHECK(f.expected_throughput_kbps == 100000);
  CHECK(f.airtime_metric == 366);
  CHECK(f.inactive_ms == 300);
  CHECK(info.rx_bytes == 4294977296ull);
  CHECK(info.tx_bytes == 20000);
  CHECK(info.tx_retries == 3);
  CHECK(info.tx_failed == 1);
  CHECK(info.has_plink_state);
  CHECK(info.plink_state == 4);
}

TEST_CASE("a station from an older kernel: SIGNAL, the 16-bit rate, 32-bit counters, NLA_F_NESTED") {
  const Bytes sta_info = {
      0x28, 0x00, 0x15, 0x80,                          // NL80211_ATTR_STA_INFO = 21 | NLA_F_NESTED: 36 bytes
      0x08, 0x00, 0x02, 0x00, 0x10, 0x27, 0x00, 0x00,  //   NL80211_STA_INFO_RX_BYTES = 2: 10000
      0x05, 0x00, 0x07, 0x00, 0xb5, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_SIGNAL = 7: -75 dBm
      0x0c, 0x00, 0x08, 0x80,                          //   NL80211_STA_INFO_TX_BITRATE = 8 | NLA_F_NESTED
      0x06, 0x00, 0x01, 0x00, 0x3c, 0x00, 0x00, 0x00,  //     NL80211_RATE_INFO_BITRATE = 1: 60 (6.0 Mbit/s)
      0x08, 0x00, 0x03, 0x00, 0x20, 0x4e, 0x00, 0x00,  //   NL80211_STA_INFO_TX_BYTES = 3: 20000
  };
  StationInfo info;
  REQUIRE(parse_station(answer(kNewStation, cat({kMac, sta_info})).header(), &info));
  CHECK(info.figures.present == (mh::kRadioSignal | mh::kRadioTxBitrate));
  CHECK(info.figures.signal_dbm == -75);
  CHECK(info.figures.tx_bitrate_kbps == 6000);
  CHECK(info.rx_bytes == 10000);
  CHECK(info.tx_bytes == 20000);
  CHECK_FALSE(info.has_plink_state);
}

TEST_CASE("a station with only some figures says which it has") {
  const Bytes sta_info = {
      0x0c, 0x00, 0x15, 0x00,                          // NL80211_ATTR_STA_INFO = 21
      0x08, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_INACTIVE_TIME = 1: 16 ms
  };
  StationInfo info;
  info.figures.present = 0xffff;  // overwritten, not merged
  REQUIRE(parse_station(answer(kNewStation, cat({kMac, sta_info})).header(), &info));
  CHECK(info.figures.present == mh::kRadioInactiveTime);
  CHECK(info.figures.inactive_ms == 16);
  CHECK(info.rx_bytes == 0);

  // An empty rate nest (the kernel knew no rate) is no rate.
  const Bytes empty_rate = {
      0x08, 0x00, 0x15, 0x00,  // NL80211_ATTR_STA_INFO = 21
      0x04, 0x00, 0x08, 0x00,  //   NL80211_STA_INFO_TX_BITRATE = 8: empty nest
  };
  REQUIRE(parse_station(answer(kNewStation, cat({kMac, empty_rate})).header(), &info));
  CHECK(info.figures.present == 0);
}

TEST_CASE("malformed station messages are refused, never read past") {
  StationInfo info;
  // Not a station: another command, no MAC, no STA_INFO.
  CHECK_FALSE(parse_station(answer(7, cat({kMac, kFullStaInfo})).header(), &info));  // NL80211_CMD_NEW_INTERFACE
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kIfindex5, kFullStaInfo})).header(), &info));
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kIfindex5, kMac})).header(), &info));
  // A MAC of 4 or 8 bytes.
  const Bytes short_mac = {0x08, 0x00, 0x06, 0x00, 0x02, 0x00, 0x00, 0x00};
  CHECK_FALSE(parse_station(answer(kNewStation, cat({short_mac, kFullStaInfo})).header(), &info));
  const Bytes long_mac = {0x0c, 0x00, 0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
  CHECK_FALSE(parse_station(answer(kNewStation, cat({long_mac, kFullStaInfo})).header(), &info));
  // Figures of the wrong size: a u32 of 2 bytes, a u8 of none, a u64 of 4.
  const Bytes short_u32 = {0x0c, 0x00, 0x15, 0x00, 0x06, 0x00, 0x01, 0x00, 0x2c, 0x01, 0x00, 0x00};
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kMac, short_u32})).header(), &info));
  const Bytes empty_u8 = {0x08, 0x00, 0x15, 0x00, 0x04, 0x00, 0x07, 0x00};
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kMac, empty_u8})).header(), &info));
  const Bytes short_u64 = {0x0c, 0x00, 0x15, 0x00, 0x08, 0x00, 0x17, 0x00, 0x10, 0x27, 0x00, 0x00};
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kMac, short_u64})).header(), &info));
  // A rate of the wrong size inside the rate nest.
  const Bytes short_rate = {0x10, 0x00, 0x15, 0x00, 0x0c, 0x00, 0x08, 0x00,
                            0x06, 0x00, 0x05, 0x00, 0x8a, 0x02, 0x00, 0x00};  // BITRATE32 of 2 bytes
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kMac, short_rate})).header(), &info));
  // The message ends inside STA_INFO (nlmsg_len says so): the nest is not there at all.
  CHECK_FALSE(parse_station(answer(kNewStation, cat({kMac, kFullStaInfo}), 60).header(), &info));
  // Shorter than the generic netlink header.
  CHECK_FALSE(parse_station(answer(kNewStation, {}, 2).header(), &info));
  CHECK_FALSE(parse_station(nullptr, &info));
}

TEST_CASE("a rate nest whose inner attribute claims more than the nest holds gives no rate") {
  const Bytes sta_info = {
      0x18, 0x00, 0x15, 0x00,                          // NL80211_ATTR_STA_INFO = 21: 20 bytes
      0x0c, 0x00, 0x08, 0x00,                          //   NL80211_STA_INFO_TX_BITRATE = 8: 8 bytes
      0x10, 0x00, 0x05, 0x00, 0x8a, 0x02, 0x00, 0x00,  //     BITRATE32 claiming 16 bytes of the 8
      0x08, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00,  //   NL80211_STA_INFO_INACTIVE_TIME = 1: 5 ms
  };
  StationInfo info;
  REQUIRE(parse_station(answer(kNewStation, cat({kMac, sta_info})).header(), &info));
  CHECK(info.figures.present == mh::kRadioInactiveTime);
  CHECK(info.figures.tx_bitrate_kbps == 0);
}

TEST_CASE("GET_INTERFACE's answer: type and wiphy") {
  const Bytes attributes = {
      0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,                    // NL80211_ATTR_IFINDEX = 3: 5
      0x0a, 0x00, 0x04, 0x00, 'w',  'l',  'a',  'n',  '0', 0x00, 0, 0,  // NL80211_ATTR_IFNAME = 4: "wlan0"
      0x08, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00,                    // NL80211_ATTR_IFTYPE = 5: STATION = 2
      0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00,                    // NL80211_ATTR_WIPHY = 1: 1
  };
  std::uint32_t iftype = 99;
  std::uint32_t wiphy = 99;
  REQUIRE(parse_interface(answer(7, attributes).header(), &iftype, &wiphy));  // NL80211_CMD_NEW_INTERFACE = 7
  CHECK(iftype == 2);
  CHECK(wiphy == 1);

  CHECK_FALSE(parse_interface(answer(19, attributes).header(), &iftype, &wiphy));  // a NEW_STATION
  const Bytes no_type = {0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00};          // WIPHY only
  CHECK_FALSE(parse_interface(answer(7, no_type).header(), &iftype, &wiphy));
  const Bytes short_type = {0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00,
                            0x06, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00};  // IFTYPE of 2 bytes
  CHECK_FALSE(parse_interface(answer(7, short_type).header(), &iftype, &wiphy));
  // The message ends before IFTYPE's value.
  CHECK_FALSE(parse_interface(answer(7, attributes, 12).header(), &iftype, &wiphy));
}

TEST_CASE("a wiphy dump's message: index and name; split parts without a name are skipped") {
  const Bytes attributes = {
      0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00,                    // NL80211_ATTR_WIPHY = 1: 1
      0x09, 0x00, 0x02, 0x00, 'p',  'h',  'y',  '1',  0x00, 0, 0, 0,    // NL80211_ATTR_WIPHY_NAME = 2: "phy1\0"
      0x08, 0x00, 0x2e, 0x00, 0x07, 0x00, 0x00, 0x00,                    // NL80211_ATTR_GENERATION = 46: 7
  };
  std::uint32_t wiphy = 0;
  std::string name;
  REQUIRE(parse_wiphy(answer(3, attributes).header(), &wiphy, &name));  // NL80211_CMD_NEW_WIPHY = 3
  CHECK(wiphy == 1);
  CHECK(name == "phy1");

  CHECK_FALSE(parse_wiphy(answer(3, Bytes(attributes.begin(), attributes.begin() + 8)).header(), &wiphy, &name));
  const Bytes unterminated = {0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00,
                              0x08, 0x00, 0x02, 0x00, 'p',  'h',  'y',  '1'};
  CHECK_FALSE(parse_wiphy(answer(3, unterminated).header(), &wiphy, &name));
  const Bytes empty_name = {0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x02, 0x00, 0, 0, 0, 0};
  CHECK_FALSE(parse_wiphy(answer(3, empty_name).header(), &wiphy, &name));
  CHECK_FALSE(parse_wiphy(answer(7, attributes).header(), &wiphy, &name));
}

// ---- the socket, against the generic netlink controller ("nlctrl") ----

namespace {

MessagePtr get_family(const char* name, int flags) {
  MessagePtr message(nlmsg_alloc(), nlmsg_free);
  REQUIRE(message);
  REQUIRE(genlmsg_put(message.get(), NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, flags, CTRL_CMD_GETFAMILY, 1));
  if (name != nullptr) REQUIRE(nla_put_string(message.get(), CTRL_ATTR_FAMILY_NAME, name) == 0);
  return message;
}

int count_message(nl_msg*, void* arg) {
  ++*static_cast<int*>(arg);
  return NL_SKIP;
}

}  // namespace

TEST_CASE("the socket: an answer and its ack, a dump, the kernel's errno as one line") {
  std::string error;
  auto nl = Nl80211TestAccess::connect("nlctrl", &error);
  REQUIRE_MESSAGE(nl, error);
  CHECK(nl->family() == GENL_ID_CTRL);

  int answers = 0;
  CHECK(Nl80211TestAccess::transact(*nl, get_family("nlctrl", 0), "asking", count_message, &answers) == "");
  CHECK(answers == 1);

  answers = 0;
  CHECK(Nl80211TestAccess::transact(*nl, get_family(nullptr, NLM_F_DUMP), "dumping", count_message, &answers) == "");
  CHECK(answers >= 1);  // nlctrl itself at least

  answers = 0;
  const std::string line =
      Nl80211TestAccess::transact(*nl, get_family("mh-no-such", 0), "finding a family", count_message, &answers);
  CHECK(line == "nlctrl: finding a family: No such file or directory");
  CHECK(answers == 0);

  // A name longer than GENL_NAMSIZ (16 with the NUL) fails the kernel's policy, and the
  // extended ack's explanation follows the errno.
  const std::string refused = Nl80211TestAccess::transact(*nl, get_family("meshhost-too-long-a-name", 0),
                                                          "finding a family", count_message, &answers);
  INFO(refused);
  CHECK(refused.rfind("nlctrl: finding a family: Invalid argument (", 0) == 0);
  CHECK(refused.back() == ')');
  CHECK(refused.find('\n') == std::string::npos);

  // The socket is still in step after an error.
  CHECK(Nl80211TestAccess::transact(*nl, get_family("nlctrl", 0), "asking again", count_message, &answers) == "");
  CHECK(answers == 1);
}

TEST_CASE("the socket: an unknown family is a clear line, nl80211 opens or says why not") {
  std::string error;
  CHECK_FALSE(Nl80211TestAccess::connect("meshhost-no-such", &error));
  CHECK(error.rfind("meshhost-no-such: not available: ", 0) == 0);

  error.clear();
  auto nl = Nl80211::open(&error);
  if (nl) {
    CHECK(nl->family() > 0);
  } else {
    MESSAGE("this kernel has no nl80211: " << error);
    CHECK(error.rfind("nl80211: not available: ", 0) == 0);
  }
}

TEST_CASE("the socket: a peer that never answers gives an error line, not a hang") {
  std::string error;
  auto nl = Nl80211TestAccess::connect("nlctrl", &error);
  REQUIRE_MESSAGE(nl, error);
  // Another netlink socket stands in for a kernel that never answers: requests are sent
  // to its port instead of the kernel's.
  const int silent = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  REQUIRE(silent >= 0);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  socklen_t size = sizeof local;
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&local), &size) == 0);
  nl_socket_set_peer_port(Nl80211TestAccess::socket(*nl), local.nl_pid);

  const auto start = std::chrono::steady_clock::now();
  int answers = 0;
  const std::string line = Nl80211TestAccess::transact(*nl, get_family("nlctrl", 0), "asking", count_message, &answers);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(line == "nlctrl: asking: no answer from the kernel within 2 s");
  CHECK(waited >= std::chrono::milliseconds(1900));
  CHECK(waited < std::chrono::seconds(5));

  // Back to the kernel: the next request is answered.
  nl_socket_set_peer_port(Nl80211TestAccess::socket(*nl), 0);
  CHECK(Nl80211TestAccess::transact(*nl, get_family("nlctrl", 0), "asking", count_message, &answers) == "");
  CHECK(answers == 1);
  ::close(silent);
}
