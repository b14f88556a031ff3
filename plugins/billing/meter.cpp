// Classification, quota and price for billing's meter: integer arithmetic only, nothing
// allocated per packet.
#include "meter.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace mh::billing {

namespace {

using iptunnel::Family;
using iptunnel::IpAddress;
using iptunnel::IpBlock;

constexpr std::uint64_t kGb = PriceAccumulator::kBytesPerGb;  // 10^9 bytes

// Where the addresses sit in the fixed IP headers (RFC 791 §3.1, RFC 8200 §3).
constexpr std::size_t kIp4HeaderSize = 20;
constexpr std::size_t kIp4SourceOffset = 12;
constexpr std::size_t kIp4DestinationOffset = 16;
constexpr std::size_t kIp6HeaderSize = 40;
constexpr std::size_t kIp6SourceOffset = 8;
constexpr std::size_t kIp6DestinationOffset = 24;
constexpr unsigned kVersionShift = 4;  // the version is the first byte's high nibble
constexpr unsigned kVersion4 = 4;
constexpr unsigned kVersion6 = 6;

using U128 = PrefixSet::U128;
template <class T>
using Range = PrefixSet::Range<T>;

constexpr unsigned kBitsPerByte = 8;
constexpr unsigned kBitsPerWord = 64;
constexpr unsigned kIp4Bits = iptunnel::max_length(Family::ip4);
constexpr std::uint64_t kAllOnes = ~std::uint64_t{0};

// Addresses as big-endian numbers, so numeric order is address order.
std::uint32_t load4(const IpAddress& a) noexcept {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < iptunnel::kIp4Size; ++i) v = v << kBitsPerByte | a.bytes[i];
  return v;
}

U128 load6(const IpAddress& a) noexcept {
  U128 v;
  for (std::size_t i = 0; i < iptunnel::kIp6Size / 2; ++i) v.high = v.high << kBitsPerByte | a.bytes[i];
  for (std::size_t i = iptunnel::kIp6Size / 2; i < iptunnel::kIp6Size; ++i) v.low = v.low << kBitsPerByte | a.bytes[i];
  return v;
}

// The host bits of a /length block, as a mask (shifts by the full width are undefined).
std::uint64_t host_mask(unsigned length, unsigned width) noexcept {
  return length >= width ? 0 : kAllOnes >> (kBitsPerWord - width + length);
}

Range<std::uint32_t> range4(const IpBlock& b) noexcept {
  const auto host = static_cast<std::uint32_t>(host_mask(b.length, kIp4Bits));
  const std::uint32_t first = load4(b.address) & ~host;
  return {first, first | host};
}

Range<U128> range6(const IpBlock& b) noexcept {
  const U128 a = load6(b.address);
  const std::uint64_t high_host = host_mask(b.length, kBitsPerWord);
  const std::uint64_t low_host = b.length <= kBitsPerWord ? kAllOnes : host_mask(b.length - kBitsPerWord, kBitsPerWord);
  return {{a.high & ~high_host, a.low & ~low_host}, {a.high | high_host, a.low | low_host}};
}

bool adjoins(std::uint32_t last, std::uint32_t next_first) noexcept { return last == UINT32_MAX || next_first <= last + 1; }
bool adjoins(const U128& last, const U128& next_first) noexcept {
  if (last.high == kAllOnes && last.low == kAllOnes) return true;
  const U128 after = last.low == kAllOnes ? U128{last.high + 1, 0} : U128{last.high, last.low + 1};
  return next_first <= after;
}

// Sorted by first address, then merged: what is left is disjoint and not adjoining, so the
// last range starting at or before an address is the only one that can hold it.
template <class T>
std::vector<Range<T>> merge(std::vector<Range<T>> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const Range<T>& a, const Range<T>& b) { return a.first < b.first; });
  std::vector<Range<T>> kept;
  for (const Range<T>& r : ranges) {
    if (!kept.empty() && adjoins(kept.back().last, r.first)) {
      kept.back().last = std::max(kept.back().last, r.last);
    } else {
      kept.push_back(r);
    }
  }
  return kept;
}

template <class T>
bool in_ranges(const std::vector<Range<T>>& ranges, const T& a) noexcept {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), a, [](const T& v, const Range<T>& r) { return v < r.first; });
  return it != ranges.begin() && a <= std::prev(it)->last;
}

// The product's high part in micro-units and its fraction in 10^-9 micro-units, splitting
// both factors at 10^9 so no partial product overflows: with bytes = q·G + s and
// price = a·G + b, bytes × price / G = q·a·G + q·b + s·a + s·b / G.
struct Split {
  std::uint64_t whole;
  std::uint64_t fraction;  // s·b, below 10^18
};
Split multiply(std::uint64_t bytes, std::uint64_t per_gb_micros) noexcept {
  const std::uint64_t q = bytes / kGb, s = bytes % kGb;
  const std::uint64_t a = per_gb_micros / kGb, b = per_gb_micros % kGb;
  return {q * a * kGb + q * b + s * a, s * b};
}

// Upstream is always the client's own doing; downstream only on a flow it opened.
bool unsolicited(const TrafficInfo& info) noexcept {
  return info.direction == TrafficDirection::downstream && !info.client_opened;
}

}  // namespace

// ---- free prefixes ----

PrefixSet::PrefixSet(std::span<const IpBlock> blocks) {
  std::vector<Range<std::uint32_t>> ip4;
  std::vector<Range<U128>> ip6;
  for (const IpBlock& b : blocks) {
    if (b.address.family == Family::ip4) {
      ip4.push_back(range4(b));
    } else {
      ip6.push_back(range6(b));
    }
  }
  ip4_ = merge(std::move(ip4));
  ip6_ = merge(std::move(ip6));
}

bool PrefixSet::contains(const IpAddress& address) const noexcept {
  return address.family == Family::ip4 ? in_ranges(ip4_, load4(address)) : in_ranges(ip6_, load6(address));
}

bool remote_address(ByteSpan ip_packet, TrafficDirection direction, IpAddress* out) noexcept {
  if (ip_packet.size == 0) return false;
  const bool upstream = direction == TrafficDirection::upstream;
  const unsigned version = ip_packet.data[0] >> kVersionShift;
  if (version == kVersion4 && ip_packet.size >= kIp4HeaderSize) {
    out->family = Family::ip4;
    std::memset(out->bytes, 0, sizeof out->bytes);
    std::memcpy(out->bytes, ip_packet.data + (upstream ? kIp4DestinationOffset : kIp4SourceOffset), iptunnel::kIp4Size);
    return true;
  }
  if (version == kVersion6 && ip_packet.size >= kIp6HeaderSize) {
    out->family = Family::ip6;
    std::memcpy(out->bytes, ip_packet.data + (upstream ? kIp6DestinationOffset : kIp6SourceOffset), iptunnel::kIp6Size);
    return true;
  }
  return false;
}

TrafficClass classify(const TrafficInfo& info, const IpAddress& remote, const PrefixSet& free) noexcept {
  if (unsolicited(info)) return TrafficClass::unsolicited;
  if (free.contains(remote)) return TrafficClass::free_prefix;
  return TrafficClass::billable;
}

// ---- quota ----

QuotaTracker::QuotaTracker(std::uint64_t quota_bytes, std::uint64_t used_bytes) noexcept
    : quota_bytes_(quota_bytes), used_bytes_(used_bytes) {}

QuotaState QuotaTracker::admit(std::uint32_t bytes) noexcept {
  if (over_) return QuotaState::over;
  if (quota_bytes_ == kUnlimited) return QuotaState::under;
  // As a difference, so usage restored near 2^64 cannot wrap into "fits".
  if (used_bytes_ <= quota_bytes_ && bytes <= quota_bytes_ - used_bytes_) return QuotaState::under;
  over_ = true;
  return QuotaState::crossed_now;
}

void QuotaTracker::resume_over() noexcept {
  if (quota_bytes_ != kUnlimited) over_ = true;
}

void QuotaTracker::add(std::uint64_t bytes) noexcept {
  used_bytes_ = bytes > UINT64_MAX - used_bytes_ ? UINT64_MAX : used_bytes_ + bytes;
}

void QuotaTracker::set_quota(std::uint64_t quota_bytes) noexcept {
  // Only a larger quota lifts "over": with "block" the usage stays just under the quota it
  // crossed, so "used < quota" alone would lift a block at every reload of the same plan.
  if (over_ && quota_bytes > quota_bytes_ && used_bytes_ < quota_bytes) over_ = false;
  quota_bytes_ = quota_bytes;
}

void QuotaTracker::reset() noexcept {
  used_bytes_ = 0;
  over_ = false;
}

std::uint64_t QuotaTracker::left_bytes() const noexcept {
  if (over_ || used_bytes_ >= quota_bytes_) return 0;
  return quota_bytes_ - used_bytes_;
}

// ---- price ----

std::uint64_t amount_micros(std::uint64_t billable_bytes, std::uint64_t per_gb_micros) noexcept {
  const Split p = multiply(billable_bytes, per_gb_micros);
  return p.whole + p.fraction / kGb;
}

void PriceAccumulator::add(std::uint64_t billable_bytes) noexcept {
  const Split p = multiply(billable_bytes, per_gb_micros_);
  // remainder_ < 10^9 and the fraction < 10^18: the sum fits, and carries whole micros.
  const std::uint64_t fraction = remainder_ + p.fraction;
  micros_ += p.whole + fraction / kGb;
  remainder_ = fraction % kGb;
}

void PriceAccumulator::restore(std::uint64_t micros, std::uint64_t billable_bytes) noexcept {
  micros_ = micros;
  remainder_ = multiply(billable_bytes, per_gb_micros_).fraction % kGb;
}

// ---- the meter ----

Meter::Meter(const MeterPlan& plan, const PrefixSet& free_prefixes, const MeterUsage& resumed,
             bool resumed_over) noexcept
    : plan_(plan),
      free_(&free_prefixes),
      quota_(plan.quota_bytes, resumed.billable_bytes),
      price_(plan.per_gb_micros),
      usage_(resumed) {
  price_.restore(resumed.amount_micros, resumed.billable_bytes);
  if (resumed_over) quota_.resume_over();
}

MeterDecision Meter::decide(const TrafficInfo& info, ByteSpan ip_packet) noexcept {
  MeterDecision d;
  IpAddress remote;
  if (remote_address(ip_packet, info.direction, &remote)) {
    d.traffic = classify(info, remote, *free_);
  } else if (unsolicited(info)) {
    d.traffic = TrafficClass::unsolicited;
  }
  if (d.traffic != TrafficClass::billable) return d;  // what is not billed is not held to the quota
  d.quota = quota_.admit(info.ip_length);
  if (d.quota == QuotaState::under) return d;
  if (plan_.over_quota == QuotaAction::block) {
    d.action = Enforcement::block;
    usage_.blocked_packets++;
  } else {
    d.action = Enforcement::throttle;
  }
  return d;
}

MeterDecision Meter::decide_passed(const TrafficInfo& info, const IpAddress* remote) noexcept {
  MeterDecision d;
  if (remote != nullptr) {
    d.traffic = classify(info, *remote, *free_);
  } else if (unsolicited(info)) {
    d.traffic = TrafficClass::unsolicited;
  }
  if (d.traffic == TrafficClass::billable) d.quota = quota_.admit(info.ip_length);
  return d;
}

void Meter::commit(const MeterDecision& decision, const TrafficInfo& info) noexcept {
  DirectionUsage& dir = info.direction == TrafficDirection::upstream ? usage_.upstream : usage_.downstream;
  dir.packets++;
  dir.bytes += info.ip_length;
  switch (decision.traffic) {
    case TrafficClass::billable:
      usage_.billable_bytes += info.ip_length;
      quota_.add(info.ip_length);
      price_.add(info.ip_length);
      usage_.amount_micros = price_.micros();
      break;
    case TrafficClass::free_prefix: usage_.free_bytes += info.ip_length; break;
    case TrafficClass::unsolicited:
      usage_.unsolicited_packets++;
      usage_.unsolicited_bytes += info.ip_length;
      break;
  }
}

void Meter::set_plan(const MeterPlan& plan, const PrefixSet& free_prefixes) noexcept {
  plan_ = plan;
  free_ = &free_prefixes;
  quota_.set_quota(plan.quota_bytes);
  price_.set_price(plan.per_gb_micros);
}

void Meter::reset_period() noexcept {
  usage_ = {};
  quota_.reset();
  price_.reset();
}

}  // namespace mh::billing
