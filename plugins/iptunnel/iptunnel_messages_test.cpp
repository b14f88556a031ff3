// iptunnel messages: every type round-trips, and malformed input is refused with a reason.
#include "iptunnel_messages.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

namespace {

using namespace mh;
using namespace mh::iptunnel;

IpAddress ip(const char* text) { return *parse_ip(text); }

ParseError parse(const std::vector<std::uint8_t>& bytes, Message* out) {
  return parse_message(ByteSpan{bytes.data(), bytes.size()}, out);
}

std::vector<std::uint8_t> encode_grant(const Grant& g) {
  std::vector<std::uint8_t> buf(kMaxControlSize);
  const std::size_t n = write_grant(g, MutableByteSpan{buf.data(), buf.size()});
  buf.resize(n);
  return buf;
}

Grant sample_grant() {
  Grant g;
  g.nonce = 0x01020304;
  g.mtu = 1280;
  g.lease_seconds = 3600;
  g.address_count = 2;
  g.addresses[0] = GrantedAddress{ip("100.64.0.10"), 0, 32};
  g.addresses[1] = GrantedAddress{ip("2001:db8:1::10"), 0, 64};
  g.dns_count = 2;
  g.dns[0] = ip("9.9.9.9");
  g.dns[1] = ip("2620:fe::fe");
  return g;
}

std::vector<std::uint8_t> ip4_packet(const char* src) {
  std::vector<std::uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  std::memcpy(p.data() + 12, ip(src).bytes, 4);
  return p;
}

std::vector<std::uint8_t> ip6_packet(const char* src, std::size_t payload) {
  std::vector<std::uint8_t> p(40 + payload, 0);
  p[0] = 0x60;
  p[4] = static_cast<std::uint8_t>(payload >> 8);
  p[5] = static_cast<std::uint8_t>(payload);
  std::memcpy(p.data() + 8, ip(src).bytes, 16);
  return p;
}

}  // namespace

TEST_CASE("a grant round-trips with both families and DNS servers") {
  const Grant g = sample_grant();
  const auto bytes = encode_grant(g);
  // 16 fixed + (4+4) + (4+16) + (1+4) + (1+16)
  CHECK(bytes.size() == 16 + 8 + 20 + 5 + 17);
  Message m;
  REQUIRE(parse(bytes, &m) == ParseError::ok);
  CHECK(m.type == MessageType::grant);
  CHECK(m.grant.nonce == 0x01020304);
  CHECK(m.grant.mtu == 1280);
  CHECK(m.grant.lease_seconds == 3600);
  REQUIRE(m.grant.address_count == 2);
  CHECK(m.grant.addresses[0].address == ip("100.64.0.10"));
  CHECK(m.grant.addresses[0].alloc == 32);
  CHECK(m.grant.addresses[1].address == ip("2001:db8:1::10"));
  CHECK(m.grant.addresses[1].alloc == 64);
  CHECK(m.grant.addresses[1].prefix == 0);
  REQUIRE(m.grant.dns_count == 2);
  CHECK(m.grant.dns[1] == ip("2620:fe::fe"));
}

TEST_CASE("request, renew and release round-trip and echo the nonce") {
  for (auto type : {MessageType::lease_request, MessageType::renew, MessageType::release}) {
    std::uint8_t buf[kControlSize];
    REQUIRE(write_control(type, ControlMessage{kWantIp4 | kWantIp6, 0xdeadbeef}, MutableByteSpan{buf, sizeof buf}) ==
            kControlSize);
    Message m;
    REQUIRE(parse_message(ByteSpan{buf, sizeof buf}, &m) == ParseError::ok);
    CHECK(m.type == type);
    CHECK(m.control.nonce == 0xdeadbeef);
    CHECK(m.control.families == (kWantIp4 | kWantIp6));
  }
  std::uint8_t small[kControlSize - 1];
  CHECK(write_control(MessageType::renew, {}, MutableByteSpan{small, sizeof small}) == 0);
}

TEST_CASE("a denial carries its reason and text") {
  Denial d;
  d.nonce = 7;
  d.reason = DenialReason::pool_exhausted;
  const char text[] = "ip4Pool exhausted";
  d.text_size = sizeof text - 1;
  std::memcpy(d.text, text, d.text_size);
  std::uint8_t buf[kDenialFixedSize + kMaxDenialText];
  const std::size_t n = write_denial(d, MutableByteSpan{buf, sizeof buf});
  REQUIRE(n == kDenialFixedSize + d.text_size);
  Message m;
  REQUIRE(parse_message(ByteSpan{buf, n}, &m) == ParseError::ok);
  CHECK(m.denial.reason == DenialReason::pool_exhausted);
  CHECK(std::string(m.denial.text, m.denial.text_size) == "ip4Pool exhausted");
  CHECK(m.denial.nonce == 7);
  // A text longer than the limit is not written.
  d.text_size = kMaxDenialText + 1;
  CHECK(write_denial(d, MutableByteSpan{buf, sizeof buf}) == 0);
}

TEST_CASE("IP data carries one whole IPv4 or IPv6 packet after a 2-byte header") {
  for (const auto& packet : {ip4_packet("100.64.0.10"), ip6_packet("2001:db8:1::10", 8)}) {
    std::vector<std::uint8_t> frame(kIpDataHeaderSize);
    write_ip_data_header(frame.data());
    frame.insert(frame.end(), packet.begin(), packet.end());
    Message m;
    REQUIRE(parse(frame, &m) == ParseError::ok);
    CHECK(m.type == MessageType::ip_data);
    CHECK(m.packet.size == packet.size());
    CHECK(m.packet.data == frame.data() + 2);
  }
  // Length fields that disagree with the size, a bad version nibble, a short IHL.
  std::vector<std::uint8_t> frame{kVersion, 0x10};
  auto bad4 = ip4_packet("1.2.3.4");
  bad4[3] = 27;
  frame.insert(frame.end(), bad4.begin(), bad4.end());
  Message m;
  CHECK(parse(frame, &m) == ParseError::bad_packet);
  frame.resize(2);
  auto short_ihl = ip4_packet("1.2.3.4");
  short_ihl[0] = 0x44;
  frame.insert(frame.end(), short_ihl.begin(), short_ihl.end());
  CHECK(parse(frame, &m) == ParseError::bad_packet);
  frame.resize(2);
  auto bad6 = ip6_packet("2001:db8::1", 8);
  bad6.push_back(0);
  frame.insert(frame.end(), bad6.begin(), bad6.end());
  CHECK(parse(frame, &m) == ParseError::bad_packet);
  CHECK(parse({kVersion, 0x10, 0x50}, &m) == ParseError::bad_packet);
}

TEST_CASE("malformed messages are refused with their reason") {
  Message m;
  CHECK(parse({}, &m) == ParseError::truncated);
  CHECK(parse({kVersion}, &m) == ParseError::truncated);
  CHECK(parse({2, 0x01, 0, 0, 0, 0, 0, 0}, &m) == ParseError::bad_version);
  CHECK(parse({kVersion, 0x7f}, &m) == ParseError::unknown_type);
  CHECK(parse({kVersion, 0x01, 0x04, 0, 0, 0, 0, 0}, &m) == ParseError::bad_field);  // unknown family bit
  CHECK(parse({kVersion, 0x01, 0x01, 0, 0, 0, 0}, &m) == ParseError::truncated);
  CHECK(parse({kVersion, 0x01, 0x01, 0, 0, 0, 0, 0, 0}, &m) == ParseError::trailing_bytes);

  const auto good = encode_grant(sample_grant());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<std::uint8_t> shorter(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK(parse(shorter, &m) != ParseError::ok);
  }
  auto longer = good;
  longer.push_back(0);
  CHECK(parse(longer, &m) == ParseError::trailing_bytes);
  auto too_many = good;
  too_many[2] = kMaxGrantAddresses + 1;
  CHECK(parse(too_many, &m) == ParseError::bad_field);
  auto prefix_over_alloc = good;
  prefix_over_alloc[16 + 1] = 33;  // first entry: prefix 33 > alloc 32
  CHECK(parse(prefix_over_alloc, &m) == ParseError::bad_field);
  auto bad_family = good;
  bad_family[16] = 5;
  CHECK(parse(bad_family, &m) == ParseError::bad_field);
  auto unknown_reason = std::vector<std::uint8_t>{kVersion, 0x03, 9, 0, 0, 0, 0, 0};
  CHECK(parse(unknown_reason, &m) == ParseError::bad_field);
  auto text_past_end = std::vector<std::uint8_t>{kVersion, 0x03, 1, 4, 0, 0, 0, 0, 'a'};
  CHECK(parse(text_past_end, &m) == ParseError::truncated);
}

TEST_CASE("a grant that cannot be encoded is not written") {
  Grant g = sample_grant();
  g.addresses[0].alloc = 33;  // over IPv4's 32 bits
  CHECK(encode_grant(g).empty());
  g = sample_grant();
  g.addresses[0].prefix = 32;
  g.addresses[0].alloc = 24;  // the route narrower than the block
  CHECK(encode_grant(g).empty());
  g = sample_grant();
  std::uint8_t small[20];
  CHECK(write_grant(g, MutableByteSpan{small, sizeof small}) == 0);
}

TEST_CASE("blocks contain addresses up to their boundaries") {
  const IpBlock b4 = *parse_block("100.64.0.8/29");
  CHECK(contains(b4, ip("100.64.0.8")));
  CHECK(contains(b4, ip("100.64.0.15")));
  CHECK_FALSE(contains(b4, ip("100.64.0.7")));
  CHECK_FALSE(contains(b4, ip("100.64.0.16")));
  CHECK_FALSE(contains(b4, ip("::ffff:100.64.0.8")));
  const IpBlock b6 = *parse_block("2001:db8:1::/63");
  CHECK(contains(b6, ip("2001:db8:1:1:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(contains(b6, ip("2001:db8:1:2::")));
  CHECK(overlaps(*parse_block("10.0.0.0/8"), *parse_block("10.1.2.3/32")));
  CHECK_FALSE(overlaps(*parse_block("10.0.0.0/16"), *parse_block("10.1.0.0/16")));
  CHECK(format_ip(add_offset(ip("10.0.0.255"), 2)) == "10.0.1.1");
  CHECK(format_ip(network_of(*parse_block("2001:db8:1::10/64"))) == "2001:db8:1::");
  CHECK_FALSE(parse_block("10.0.0.0/33"));
  CHECK_FALSE(parse_block("10.0.0.0/"));
  CHECK_FALSE(parse_block("10.0.0.0"));
}

namespace {

AccountReport sample_account() {
  AccountReport r;
  r.state = AccountState::throttled;
  const char plan[] = "basic";
  r.plan_size = sizeof plan - 1;
  std::memcpy(r.plan, plan, r.plan_size);
  const char currency[] = "EUR";
  r.currency_size = sizeof currency - 1;
  std::memcpy(r.currency, currency, r.currency_size);
  r.period_start_unix = 1'793'491'200;  // 2026-11-01T00:00:00Z
  r.period_end_unix = 1'796'083'200;    // 2026-12-01T00:00:00Z
  r.quota_bytes = 1'000'000;
  r.billable_bytes = 1'000'112;
  r.bytes_up = 400'000;
  r.bytes_down = 700'112;
  r.unbilled_bytes = 100'000;
  r.rate_up_bps = 1'000'000;
  r.rate_down_bps = 2'000'000;
  r.throttle_bps = 128'000;
  r.price_micro_per_gb = 2'500'000;
  r.amount_micro = 2'500;
  return r;
}

std::vector<std::uint8_t> encode_account(MessageType type, const AccountMessage& a) {
  std::vector<std::uint8_t> buf(kMaxAccountSize);
  buf.resize(write_account(type, a, MutableByteSpan{buf.data(), buf.size()}));
  return buf;
}

}  // namespace

TEST_CASE("an account request carries only its nonce") {
  std::uint8_t buf[kAccountRequestSize];
  REQUIRE(write_account_request(0x0a0b0c0d, MutableByteSpan{buf, sizeof buf}) == 8);
  const std::vector<std::uint8_t> bytes(buf, buf + sizeof buf);
  CHECK(bytes == std::vector<std::uint8_t>{kVersion, 0x08, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d});
  Message m;
  REQUIRE(parse(bytes, &m) == ParseError::ok);
  CHECK(m.type == MessageType::account_request);
  CHECK(m.account_nonce == 0x0a0b0c0d);
  CHECK(write_account_request(1, MutableByteSpan{buf, sizeof buf - 1}) == 0);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK(parse(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)), &m) ==
          ParseError::truncated);
  }
  auto longer = bytes;
  longer.push_back(0);
  CHECK(parse(longer, &m) == ParseError::trailing_bytes);
  auto reserved = bytes;
  reserved[3] = 1;
  CHECK(parse(reserved, &m) == ParseError::bad_field);
}

TEST_CASE("an account report round-trips every field in network byte order") {
  AccountMessage a;
  a.nonce = 0x11223344;
  a.report = sample_account();
  const auto bytes = encode_account(MessageType::account_report, a);
  // 8 fixed + 100 account + "basic" + "EUR"
  REQUIRE(bytes.size() == 8 + 100 + 5 + 3);
  CHECK(bytes[1] == 0x09);
  CHECK(bytes[8] == 2);  // throttled
  // The quota, first of the counters, big-endian at 8 + 20.
  CHECK(bytes[8 + 20 + 5] == 0x0f);
  CHECK(bytes[8 + 20 + 6] == 0x42);
  CHECK(bytes[8 + 20 + 7] == 0x40);
  Message m;
  REQUIRE(parse(bytes, &m) == ParseError::ok);
  CHECK(m.type == MessageType::account_report);
  CHECK(m.account.status == AccountStatus::ok);
  CHECK(m.account.nonce == 0x11223344);
  const AccountReport& r = m.account.report;
  CHECK(r.state == AccountState::throttled);
  CHECK(std::string(r.plan, r.plan_size) == "basic");
  CHECK(std::string(r.currency, r.currency_size) == "EUR");
  CHECK(r.period_start_unix == 1'793'491'200);
  CHECK(r.period_end_unix == 1'796'083'200);
  CHECK(r.quota_bytes == 1'000'000);
  CHECK(r.billable_bytes == 1'000'112);
  CHECK(r.bytes_up == 400'000);
  CHECK(r.bytes_down == 700'112);
  CHECK(r.unbilled_bytes == 100'000);
  CHECK(r.rate_up_bps == 1'000'000);
  CHECK(r.rate_down_bps == 2'000'000);
  CHECK(r.throttle_bps == 128'000);
  CHECK(r.price_micro_per_gb == 2'500'000);
  CHECK(r.amount_micro == 2'500);

  // The longest names fit, and a period before 1970 is still a period.
  a.report.plan_size = kMaxAccountPlan;
  a.report.currency_size = kMaxAccountCurrency;
  a.report.period_start_unix = -86400;
  const auto longest = encode_account(MessageType::account_report, a);
  CHECK(longest.size() == kMaxAccountSize);
  REQUIRE(parse(longest, &m) == ParseError::ok);
  CHECK(m.account.report.period_start_unix == -86400);
}

TEST_CASE("a report without an account says why; a notice always carries one") {
  for (auto status : {AccountStatus::not_metered, AccountStatus::unknown_client}) {
    AccountMessage a;
    a.status = status;
    a.nonce = 9;
    a.report = sample_account();  // not sent
    const auto bytes = encode_account(MessageType::account_report, a);
    REQUIRE(bytes.size() == kAccountFixedSize);
    Message m;
    REQUIRE(parse(bytes, &m) == ParseError::ok);
    CHECK(m.account.status == status);
    CHECK(m.account.nonce == 9);
    CHECK(m.account.report.plan_size == 0);
    auto longer = bytes;
    longer.push_back(0);
    CHECK(parse(longer, &m) == ParseError::trailing_bytes);
    // Unasked, "no account" means nothing: a notice cannot say it.
    CHECK(write_account(MessageType::account_notice, a, MutableByteSpan{longer.data(), longer.size()}) == 0);
  }
  AccountMessage notice;
  notice.report = sample_account();
  notice.report.state = AccountState::blocked;
  const auto bytes = encode_account(MessageType::account_notice, notice);
  REQUIRE(bytes.size() == 8 + 100 + 5 + 3);
  Message m;
  REQUIRE(parse(bytes, &m) == ParseError::ok);
  CHECK(m.type == MessageType::account_notice);
  CHECK(m.account.report.state == AccountState::blocked);
  notice.nonce = 1;
  CHECK(encode_account(MessageType::account_notice, notice).empty());
  auto with_nonce = bytes;
  with_nonce[7] = 1;
  CHECK(parse(with_nonce, &m) == ParseError::bad_field);
  auto not_ok = bytes;
  not_ok[2] = 1;
  CHECK(parse(not_ok, &m) == ParseError::bad_field);
}

TEST_CASE("every malformed account message is refused") {
  AccountMessage a;
  a.report = sample_account();
  const auto good = encode_account(MessageType::account_report, a);
  Message m;
  // Every cut, inside the fixed parts and inside the names.
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<std::uint8_t> shorter(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK(parse(shorter, &m) == ParseError::truncated);
  }
  auto longer = good;
  longer.push_back('x');
  CHECK(parse(longer, &m) == ParseError::trailing_bytes);
  auto field = [&good](std::size_t at, std::uint8_t value) {
    auto bytes = good;
    bytes[at] = value;
    return bytes;
  };
  CHECK(parse(field(2, 3), &m) == ParseError::bad_field);       // unknown status
  CHECK(parse(field(3, 1), &m) == ParseError::bad_field);       // reserved
  CHECK(parse(field(8, 3), &m) == ParseError::bad_field);       // unknown state
  CHECK(parse(field(9, 33), &m) == ParseError::bad_field);      // plan longer than its field
  CHECK(parse(field(10, 9), &m) == ParseError::bad_field);      // currency longer than its field
  CHECK(parse(field(11, 1), &m) == ParseError::bad_field);      // reserved
  CHECK(parse(field(9, 6), &m) == ParseError::truncated);       // a name length past the end
  CHECK(parse(field(9, 4), &m) == ParseError::trailing_bytes);  // … or short of it
  auto backwards = good;
  backwards[8 + 16] = 0;  // the period's end (at 8 + 12) loses its high 32-bit byte: before its start
  CHECK(parse(backwards, &m) == ParseError::bad_field);

  // What the parser refuses, the writer does not write.
  std::uint8_t buf[kMaxAccountSize];
  const MutableByteSpan span{buf, sizeof buf};
  AccountMessage bad = a;
  bad.report.plan_size = kMaxAccountPlan + 1;
  CHECK(write_account(MessageType::account_report, bad, span) == 0);
  bad = a;
  bad.report.currency_size = kMaxAccountCurrency + 1;
  CHECK(write_account(MessageType::account_report, bad, span) == 0);
  bad = a;
  bad.report.state = static_cast<AccountState>(3);
  CHECK(write_account(MessageType::account_report, bad, span) == 0);
  bad = a;
  bad.report.period_end_unix = bad.report.period_start_unix - 1;
  CHECK(write_account(MessageType::account_report, bad, span) == 0);
  CHECK(write_account(MessageType::grant, a, span) == 0);
  CHECK(write_account(MessageType::account_report, a, MutableByteSpan{buf, good.size() - 1}) == 0);
}
