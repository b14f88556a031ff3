// iptunnel's wire format on session protocol 0x0005 (docs/protocol.md, "iptunnel"): lease
// request, grant, denial, renew, release, probe, the client's account at its gateway and
// IP data. Parsing and writing only; no state.
#pragma once

#include "ip_block.hpp"

#include <meshhost/account.hpp>
#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>

namespace mh::iptunnel {

inline constexpr std::uint8_t kVersion = 1;

enum class MessageType : std::uint8_t {
  lease_request = 0x01,  // client → gateway
  grant = 0x02,          // gateway → client
  denial = 0x03,         // gateway → client
  renew = 0x04,          // client → gateway, answered by a grant or a denial
  release = 0x05,        // client → gateway, no answer
  probe = 0x06,          // client → gateway: are you there, do you hold my lease?
  probe_reply = 0x07,    // gateway → client: `families` of the lease it holds (0: none)
  account_request = 0x08,  // client → gateway: my usage and plan, please
  account_report = 0x09,   // gateway → client: the answer, with the request's nonce
  account_notice = 0x0a,   // gateway → client, unasked: the account is now blocked, throttled or open
  ip_data = 0x10,        // either way: one IPv4 or IPv6 packet
};

// Every message starts with version and type.
inline constexpr std::size_t kHeaderSize = 1 + 1;
// Request, renew, release, probe, probe reply: header, families wanted (bit 0 IPv4, bit 1 IPv6), reserved, nonce.
inline constexpr std::size_t kControlSize = kHeaderSize + 1 + 1 + 4;  // 8
inline constexpr std::uint8_t kWantIp4 = 0x01;
inline constexpr std::uint8_t kWantIp6 = 0x02;
// Grant: header, address count, DNS count, nonce, MTU, reserved, lease seconds; then entries.
inline constexpr std::size_t kGrantFixedSize = kHeaderSize + 1 + 1 + 4 + 2 + 2 + 4;  // 16
// Address entry: family, prefix, alloc, reserved, address (4 or 16).
inline constexpr std::size_t kGrantEntryFixedSize = 4;
// DNS entry: family, address (4 or 16).
inline constexpr std::size_t kDnsEntryFixedSize = 1;
inline constexpr std::size_t kMaxGrantAddresses = 8;
inline constexpr std::size_t kMaxDnsServers = 4;
// Denial: header, reason, text length, nonce, text.
inline constexpr std::size_t kDenialFixedSize = kHeaderSize + 1 + 1 + 4;  // 8
inline constexpr std::size_t kMaxDenialText = 64;
// Account request: header, reserved (2), nonce.
inline constexpr std::size_t kAccountRequestSize = kHeaderSize + 2 + 4;  // 8
// Account report and notice: header, status, reserved, nonce; with status ok the account
// follows: state, plan length, currency length, reserved, period start and end (signed),
// ten counters (quota, billable, up, down, unbilled, rate up, rate down, throttle rate,
// price, amount), then the plan's name and the currency's code.
inline constexpr std::size_t kAccountFixedSize = kHeaderSize + 1 + 1 + 4;  // 8
inline constexpr std::size_t kAccountCounters = 10;
inline constexpr std::size_t kAccountBodyFixedSize = 1 + 1 + 1 + 1 + 2 * 8 + kAccountCounters * 8;  // 100
inline constexpr std::size_t kMaxAccountPlan = sizeof(AccountReport::plan);          // 32
inline constexpr std::size_t kMaxAccountCurrency = sizeof(AccountReport::currency);  // 8
inline constexpr std::size_t kMaxAccountSize =
    kAccountFixedSize + kAccountBodyFixedSize + kMaxAccountPlan + kMaxAccountCurrency;  // 148
// IP data: header, then the packet. Overhead 2 bytes.
inline constexpr std::size_t kIpDataHeaderSize = kHeaderSize;
inline constexpr std::size_t kIp4MinHeader = 20;
inline constexpr std::size_t kIp6Header = 40;
// The largest control message: a grant with every entry IPv6.
inline constexpr std::size_t kMaxControlSize =
    kGrantFixedSize + kMaxGrantAddresses * (kGrantEntryFixedSize + kIp6Size) + kMaxDnsServers * (kDnsEntryFixedSize + kIp6Size);
static_assert(kMaxAccountSize <= kMaxControlSize, "an account message fits a control buffer");

enum class DenialReason : std::uint8_t {
  not_pinned = 1,      // the key is not in allowedConnections
  pool_exhausted = 2,  // pinned without a fixed address, and the pool has none free
  bad_request = 3,     // asked for nothing this gateway offers
};

// Request, renew, release, probe and probe reply share one shape. `nonce` is the client's; the answer echoes it.
struct ControlMessage {
  std::uint8_t families = 0;  // kWantIp4 | kWantIp6
  std::uint32_t nonce = 0;
};

// One granted address: the client's `address` and its Alloc block (`alloc` bits) and the
// route it installs (`prefix` bits, 0 = default route).
struct GrantedAddress {
  IpAddress address;
  std::uint8_t prefix = 0;
  std::uint8_t alloc = 0;
};

struct Grant {
  std::uint32_t nonce = 0;
  std::uint16_t mtu = 0;
  std::uint32_t lease_seconds = 0;
  std::uint8_t address_count = 0;
  GrantedAddress addresses[kMaxGrantAddresses];
  std::uint8_t dns_count = 0;
  IpAddress dns[kMaxDnsServers];
};

// What an account report says about the request it answers.
enum class AccountStatus : std::uint8_t {
  ok = 0,              // the account follows
  not_metered = 1,     // the gateway runs no billing: nothing is metered, nothing is owed
  unknown_client = 2,  // billing knows no account for this key
};

// Account report (answering the request with `nonce`) and account notice (nonce 0, status
// ok). `report` is meaningful only with status ok.
struct AccountMessage {
  AccountStatus status = AccountStatus::ok;
  std::uint32_t nonce = 0;
  AccountReport report;
};

struct Denial {
  std::uint32_t nonce = 0;
  DenialReason reason = DenialReason::not_pinned;
  std::uint8_t text_size = 0;
  char text[kMaxDenialText] = {};
};

// Why a message was refused; each is a drop counter's reason.
enum class ParseError : std::uint8_t {
  ok = 0,
  truncated,        // shorter than its fixed part or its entries
  bad_version,
  unknown_type,
  bad_field,        // reserved bits set, unknown family, prefix/alloc out of range, counts too big
  trailing_bytes,   // longer than its contents say
  bad_packet,       // IP data whose packet is not one whole IPv4 or IPv6 packet
};

// A parsed message. Fixed-size: parsing never allocates. `packet` borrows from the input.
struct Message {
  MessageType type = MessageType::lease_request;
  ControlMessage control;  // lease_request, renew, release, probe, probe_reply
  Grant grant;             // grant
  Denial denial;           // denial
  std::uint32_t account_nonce = 0;  // account_request
  AccountMessage account;  // account_report, account_notice
  ByteSpan packet;         // ip_data
};

// Parses one whole session payload into *out. Never reads outside `in`.
ParseError parse_message(ByteSpan in, Message* out) noexcept;

// Writers: each returns the bytes written into `out`, or 0 when `out` is too small or the
// message cannot be encoded (counts over the maxima, prefix > alloc or alloc over the
// family's length, a denial text over kMaxDenialText).
std::size_t write_control(MessageType type, const ControlMessage& m, MutableByteSpan out) noexcept;
std::size_t write_grant(const Grant& g, MutableByteSpan out) noexcept;
std::size_t write_denial(const Denial& d, MutableByteSpan out) noexcept;
std::size_t write_account_request(std::uint32_t nonce, MutableByteSpan out) noexcept;
// `type` is account_report or account_notice; a notice must have status ok and nonce 0.
// Refuses a report whose state is unknown, whose name lengths are over the fields' sizes,
// or whose period ends before it starts.
std::size_t write_account(MessageType type, const AccountMessage& m, MutableByteSpan out) noexcept;
// Writes the 2-byte IP data header in front of a packet (the caller prepends it in place).
void write_ip_data_header(std::uint8_t header[kIpDataHeaderSize]) noexcept;

// Checks that `packet` is exactly one IPv4 (IHL ≥ 5, total length = size) or IPv6 (payload
// length + 40 = size) packet and returns its source address; false otherwise.
bool packet_source(ByteSpan packet, IpAddress* source) noexcept;
// The same check, returning the destination address.
bool packet_destination(ByteSpan packet, IpAddress* destination) noexcept;

const char* to_string(ParseError e) noexcept;
const char* to_string(DenialReason r) noexcept;
const char* to_string(AccountStatus s) noexcept;
const char* to_string(AccountState s) noexcept;

}  // namespace mh::iptunnel
