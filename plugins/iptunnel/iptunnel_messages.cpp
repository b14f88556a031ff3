// Parser and writers for iptunnel's messages; the layout is in docs/protocol.md.
#include "iptunnel_messages.hpp"

#include <meshhost/byte_order.hpp>

#include <cstring>

namespace mh::iptunnel {

namespace {

bool family_of(std::uint8_t wire, Family* out) noexcept {
  if (wire == static_cast<std::uint8_t>(Family::ip4) || wire == static_cast<std::uint8_t>(Family::ip6)) {
    *out = static_cast<Family>(wire);
    return true;
  }
  return false;
}

bool grant_entry_ok(const GrantedAddress& a) noexcept {
  return (a.address.family == Family::ip4 || a.address.family == Family::ip6) && a.alloc <= max_length(a.address.family) &&
         a.prefix <= a.alloc;
}

ParseError parse_control(ByteSpan in, ControlMessage* out) noexcept {
  if (in.size < kControlSize) return ParseError::truncated;
  if (in.size > kControlSize) return ParseError::trailing_bytes;
  const std::uint8_t families = in.data[2];
  if ((families & ~(kWantIp4 | kWantIp6)) != 0 || in.data[3] != 0) return ParseError::bad_field;
  out->families = families;
  out->nonce = get_u32(in.data + 4);
  return ParseError::ok;
}

ParseError parse_grant(ByteSpan in, Grant* out) noexcept {
  if (in.size < kGrantFixedSize) return ParseError::truncated;
  const std::uint8_t address_count = in.data[2];
  const std::uint8_t dns_count = in.data[3];
  if (address_count > kMaxGrantAddresses || dns_count > kMaxDnsServers || get_u16(in.data + 10) != 0) {
    return ParseError::bad_field;
  }
  out->nonce = get_u32(in.data + 4);
  out->mtu = get_u16(in.data + 8);
  out->lease_seconds = get_u32(in.data + 12);
  out->address_count = address_count;
  out->dns_count = dns_count;
  std::size_t at = kGrantFixedSize;
  for (std::uint8_t i = 0; i < address_count; ++i) {
    if (in.size - at < kGrantEntryFixedSize) return ParseError::truncated;
    GrantedAddress& a = out->addresses[i];
    a = GrantedAddress{};
    if (!family_of(in.data[at], &a.address.family) || in.data[at + 3] != 0) return ParseError::bad_field;
    a.prefix = in.data[at + 1];
    a.alloc = in.data[at + 2];
    if (!grant_entry_ok(a)) return ParseError::bad_field;
    at += kGrantEntryFixedSize;
    const std::size_t n = address_size(a.address.family);
    if (in.size - at < n) return ParseError::truncated;
    std::memcpy(a.address.bytes, in.data + at, n);
    at += n;
  }
  for (std::uint8_t i = 0; i < dns_count; ++i) {
    if (in.size - at < kDnsEntryFixedSize) return ParseError::truncated;
    IpAddress& d = out->dns[i];
    d = IpAddress{};
    if (!family_of(in.data[at], &d.family)) return ParseError::bad_field;
    at += kDnsEntryFixedSize;
    const std::size_t n = address_size(d.family);
    if (in.size - at < n) return ParseError::truncated;
    std::memcpy(d.bytes, in.data + at, n);
    at += n;
  }
  return at == in.size ? ParseError::ok : ParseError::trailing_bytes;
}

ParseError parse_denial(ByteSpan in, Denial* out) noexcept {
  if (in.size < kDenialFixedSize) return ParseError::truncated;
  const std::uint8_t reason = in.data[2];
  const std::uint8_t text_size = in.data[3];
  if (reason < static_cast<std::uint8_t>(DenialReason::not_pinned) ||
      reason > static_cast<std::uint8_t>(DenialReason::bad_request) || text_size > kMaxDenialText) {
    return ParseError::bad_field;
  }
  if (in.size - kDenialFixedSize < text_size) return ParseError::truncated;
  if (in.size - kDenialFixedSize > text_size) return ParseError::trailing_bytes;
  out->reason = static_cast<DenialReason>(reason);
  out->nonce = get_u32(in.data + 4);
  out->text_size = text_size;
  std::memcpy(out->text, in.data + kDenialFixedSize, text_size);
  return ParseError::ok;
}

ParseError parse_account_request(ByteSpan in, std::uint32_t* nonce) noexcept {
  if (in.size < kAccountRequestSize) return ParseError::truncated;
  if (in.size > kAccountRequestSize) return ParseError::trailing_bytes;
  if (in.data[2] != 0 || in.data[3] != 0) return ParseError::bad_field;
  *nonce = get_u32(in.data + 4);
  return ParseError::ok;
}

bool account_state_ok(std::uint8_t wire) noexcept { return wire <= static_cast<std::uint8_t>(AccountState::throttled); }

bool account_report_ok(const AccountReport& r) noexcept {
  return account_state_ok(static_cast<std::uint8_t>(r.state)) && r.plan_size <= kMaxAccountPlan &&
         r.currency_size <= kMaxAccountCurrency && r.period_end_unix >= r.period_start_unix;
}

// The ten counters in wire order.
std::uint64_t* account_counters(AccountReport& r, std::size_t i) noexcept {
  std::uint64_t* const fields[kAccountCounters] = {&r.quota_bytes,    &r.billable_bytes, &r.bytes_up,
                                                   &r.bytes_down,     &r.unbilled_bytes, &r.rate_up_bps,
                                                   &r.rate_down_bps,  &r.throttle_bps,   &r.price_micro_per_gb,
                                                   &r.amount_micro};
  return fields[i];
}

ParseError parse_account(MessageType type, ByteSpan in, AccountMessage* out) noexcept {
  if (in.size < kAccountFixedSize) return ParseError::truncated;
  const std::uint8_t status = in.data[2];
  if (status > static_cast<std::uint8_t>(AccountStatus::unknown_client) || in.data[3] != 0) {
    return ParseError::bad_field;
  }
  out->status = static_cast<AccountStatus>(status);
  out->nonce = get_u32(in.data + 4);
  // A notice is never an answer: no nonce, and it always carries the account.
  if (type == MessageType::account_notice && (out->status != AccountStatus::ok || out->nonce != 0)) {
    return ParseError::bad_field;
  }
  out->report = AccountReport{};
  if (out->status != AccountStatus::ok) {
    return in.size == kAccountFixedSize ? ParseError::ok : ParseError::trailing_bytes;
  }
  if (in.size - kAccountFixedSize < kAccountBodyFixedSize) return ParseError::truncated;
  const std::uint8_t* p = in.data + kAccountFixedSize;
  AccountReport& r = out->report;
  const std::uint8_t state = p[0];
  r.plan_size = p[1];
  r.currency_size = p[2];
  if (!account_state_ok(state) || r.plan_size > kMaxAccountPlan || r.currency_size > kMaxAccountCurrency || p[3] != 0) {
    return ParseError::bad_field;
  }
  r.state = static_cast<AccountState>(state);
  r.period_start_unix = static_cast<std::int64_t>(get_u64(p + 4));
  r.period_end_unix = static_cast<std::int64_t>(get_u64(p + 12));
  if (r.period_end_unix < r.period_start_unix) return ParseError::bad_field;
  for (std::size_t i = 0; i < kAccountCounters; ++i) *account_counters(r, i) = get_u64(p + 20 + 8 * i);
  const std::size_t names = std::size_t{r.plan_size} + r.currency_size;
  const std::size_t rest = in.size - kAccountFixedSize - kAccountBodyFixedSize;
  if (rest < names) return ParseError::truncated;
  if (rest > names) return ParseError::trailing_bytes;
  p += kAccountBodyFixedSize;
  std::memcpy(r.plan, p, r.plan_size);
  std::memcpy(r.currency, p + r.plan_size, r.currency_size);
  return ParseError::ok;
}

}  // namespace

namespace {

// One whole IPv4 or IPv6 packet: the address at IPv4 offset `v4_at` or IPv6 offset `v6_at`.
bool packet_address(ByteSpan packet, std::size_t v4_at, std::size_t v6_at, IpAddress* out) noexcept {
  if (packet.size == 0) return false;
  const unsigned version = packet.data[0] >> 4;
  if (version == 4) {
    if (packet.size < kIp4MinHeader) return false;
    const std::size_t header = std::size_t{packet.data[0] & 0x0fu} * 4;
    if (header < kIp4MinHeader || header > packet.size || get_u16(packet.data + 2) != packet.size) return false;
    *out = IpAddress{};
    out->family = Family::ip4;
    std::memcpy(out->bytes, packet.data + v4_at, kIp4Size);
    return true;
  }
  if (version == 6) {
    if (packet.size < kIp6Header || get_u16(packet.data + 4) + kIp6Header != packet.size) return false;
    out->family = Family::ip6;
    std::memcpy(out->bytes, packet.data + v6_at, kIp6Size);
    return true;
  }
  return false;
}

// Where the addresses sit: IPv4 source 12, destination 16; IPv6 source 8, destination 24.
constexpr std::size_t kIp4SourceAt = 12;
constexpr std::size_t kIp4DestinationAt = 16;
constexpr std::size_t kIp6SourceAt = 8;
constexpr std::size_t kIp6DestinationAt = 24;

}  // namespace

bool packet_source(ByteSpan packet, IpAddress* source) noexcept {
  return packet_address(packet, kIp4SourceAt, kIp6SourceAt, source);
}

bool packet_destination(ByteSpan packet, IpAddress* destination) noexcept {
  return packet_address(packet, kIp4DestinationAt, kIp6DestinationAt, destination);
}

ParseError parse_message(ByteSpan in, Message* out) noexcept {
  if (in.size < kHeaderSize) return ParseError::truncated;
  if (in.data[0] != kVersion) return ParseError::bad_version;
  const auto type = static_cast<MessageType>(in.data[1]);
  out->type = type;
  switch (type) {
    case MessageType::lease_request:
    case MessageType::renew:
    case MessageType::release:
    case MessageType::probe:
    case MessageType::probe_reply:
      return parse_control(in, &out->control);
    case MessageType::grant:
      return parse_grant(in, &out->grant);
    case MessageType::denial:
      return parse_denial(in, &out->denial);
    case MessageType::account_request:
      return parse_account_request(in, &out->account_nonce);
    case MessageType::account_report:
    case MessageType::account_notice:
      return parse_account(type, in, &out->account);
    case MessageType::ip_data: {
      out->packet = ByteSpan{in.data + kIpDataHeaderSize, in.size - kIpDataHeaderSize};
      IpAddress source;
      return packet_source(out->packet, &source) ? ParseError::ok : ParseError::bad_packet;
    }
  }
  return ParseError::unknown_type;
}

std::size_t write_control(MessageType type, const ControlMessage& m, MutableByteSpan out) noexcept {
  if (type != MessageType::lease_request && type != MessageType::renew && type != MessageType::release &&
      type != MessageType::probe && type != MessageType::probe_reply) {
    return 0;
  }
  if (out.size < kControlSize || (m.families & ~(kWantIp4 | kWantIp6)) != 0) return 0;
  out.data[0] = kVersion;
  out.data[1] = static_cast<std::uint8_t>(type);
  out.data[2] = m.families;
  out.data[3] = 0;
  put_u32(out.data + 4, m.nonce);
  return kControlSize;
}

std::size_t write_grant(const Grant& g, MutableByteSpan out) noexcept {
  if (g.address_count > kMaxGrantAddresses || g.dns_count > kMaxDnsServers) return 0;
  std::size_t need = kGrantFixedSize;
  for (std::uint8_t i = 0; i < g.address_count; ++i) {
    if (!grant_entry_ok(g.addresses[i])) return 0;
    need += kGrantEntryFixedSize + address_size(g.addresses[i].address.family);
  }
  for (std::uint8_t i = 0; i < g.dns_count; ++i) {
    if (g.dns[i].family != Family::ip4 && g.dns[i].family != Family::ip6) return 0;
    need += kDnsEntryFixedSize + address_size(g.dns[i].family);
  }
  if (out.size < need) return 0;
  std::uint8_t* p = out.data;
  p[0] = kVersion;
  p[1] = static_cast<std::uint8_t>(MessageType::grant);
  p[2] = g.address_count;
  p[3] = g.dns_count;
  put_u32(p + 4, g.nonce);
  put_u16(p + 8, g.mtu);
  put_u16(p + 10, 0);
  put_u32(p + 12, g.lease_seconds);
  std::size_t at = kGrantFixedSize;
  for (std::uint8_t i = 0; i < g.address_count; ++i) {
    const GrantedAddress& a = g.addresses[i];
    p[at] = static_cast<std::uint8_t>(a.address.family);
    p[at + 1] = a.prefix;
    p[at + 2] = a.alloc;
    p[at + 3] = 0;
    at += kGrantEntryFixedSize;
    std::memcpy(p + at, a.address.bytes, address_size(a.address.family));
    at += address_size(a.address.family);
  }
  for (std::uint8_t i = 0; i < g.dns_count; ++i) {
    p[at] = static_cast<std::uint8_t>(g.dns[i].family);
    at += kDnsEntryFixedSize;
    std::memcpy(p + at, g.dns[i].bytes, address_size(g.dns[i].family));
    at += address_size(g.dns[i].family);
  }
  return at;
}

std::size_t write_denial(const Denial& d, MutableByteSpan out) noexcept {
  if (d.text_size > kMaxDenialText || out.size < kDenialFixedSize + d.text_size) return 0;
  out.data[0] = kVersion;
  out.data[1] = static_cast<std::uint8_t>(MessageType::denial);
  out.data[2] = static_cast<std::uint8_t>(d.reason);
  out.data[3] = d.text_size;
  put_u32(out.data + 4, d.nonce);
  std::memcpy(out.data + kDenialFixedSize, d.text, d.text_size);
  return kDenialFixedSize + d.text_size;
}

std::size_t write_account_request(std::uint32_t nonce, MutableByteSpan out) noexcept {
  if (out.size < kAccountRequestSize) return 0;
  out.data[0] = kVersion;
  out.data[1] = static_cast<std::uint8_t>(MessageType::account_request);
  out.data[2] = 0;
  out.data[3] = 0;
  put_u32(out.data + 4, nonce);
  return kAccountRequestSize;
}

std::size_t write_account(MessageType type, const AccountMessage& m, MutableByteSpan out) noexcept {
  if (type != MessageType::account_report && type != MessageType::account_notice) return 0;
  if (m.status > AccountStatus::unknown_client) return 0;
  if (type == MessageType::account_notice && (m.status != AccountStatus::ok || m.nonce != 0)) return 0;
  const bool with_account = m.status == AccountStatus::ok;
  if (with_account && !account_report_ok(m.report)) return 0;
  const std::size_t need = kAccountFixedSize + (with_account ? kAccountBodyFixedSize + m.report.plan_size +
                                                                   m.report.currency_size
                                                             : 0);
  if (out.size < need) return 0;
  std::uint8_t* p = out.data;
  p[0] = kVersion;
  p[1] = static_cast<std::uint8_t>(type);
  p[2] = static_cast<std::uint8_t>(m.status);
  p[3] = 0;
  put_u32(p + 4, m.nonce);
  if (!with_account) return need;
  AccountReport r = m.report;
  p += kAccountFixedSize;
  p[0] = static_cast<std::uint8_t>(r.state);
  p[1] = r.plan_size;
  p[2] = r.currency_size;
  p[3] = 0;
  put_u64(p + 4, static_cast<std::uint64_t>(r.period_start_unix));
  put_u64(p + 12, static_cast<std::uint64_t>(r.period_end_unix));
  for (std::size_t i = 0; i < kAccountCounters; ++i) put_u64(p + 20 + 8 * i, *account_counters(r, i));
  p += kAccountBodyFixedSize;
  std::memcpy(p, r.plan, r.plan_size);
  std::memcpy(p + r.plan_size, r.currency, r.currency_size);
  return need;
}

void write_ip_data_header(std::uint8_t header[kIpDataHeaderSize]) noexcept {
  header[0] = kVersion;
  header[1] = static_cast<std::uint8_t>(MessageType::ip_data);
}

const char* to_string(ParseError e) noexcept {
  switch (e) {
    case ParseError::ok: return "ok";
    case ParseError::truncated: return "truncated";
    case ParseError::bad_version: return "bad_version";
    case ParseError::unknown_type: return "unknown_type";
    case ParseError::bad_field: return "bad_field";
    case ParseError::trailing_bytes: return "trailing_bytes";
    case ParseError::bad_packet: return "bad_packet";
  }
  return "unknown";
}

const char* to_string(DenialReason r) noexcept {
  switch (r) {
    case DenialReason::not_pinned: return "not_pinned";
    case DenialReason::pool_exhausted: return "pool_exhausted";
    case DenialReason::bad_request: return "bad_request";
  }
  return "unknown";
}

const char* to_string(AccountStatus s) noexcept {
  switch (s) {
    case AccountStatus::ok: return "ok";
    case AccountStatus::not_metered: return "not_metered";
    case AccountStatus::unknown_client: return "unknown_client";
  }
  return "unknown";
}

const char* to_string(AccountState s) noexcept {
  switch (s) {
    case AccountState::open: return "open";
    case AccountState::blocked: return "blocked";
    case AccountState::throttled: return "throttled";
  }
  return "unknown";
}

}  // namespace mh::iptunnel
