// The router's wire format (messages.hpp; docs/protocol.md, "Routing").
#include "messages.hpp"

#include <meshhost/byte_order.hpp>

#include <cstring>

namespace mh::router {

namespace {

bool known_type(std::uint8_t type) noexcept {
  return type == static_cast<std::uint8_t>(TlvType::update) ||
         type == static_cast<std::uint8_t>(TlvType::route_request) ||
         type == static_cast<std::uint8_t>(TlvType::seqno_request);
}

// Whether a known type's body holds its fields. Longer bodies carry trailing bytes
// reserved for later versions, which are ignored.
bool body_fits(std::uint8_t type, std::size_t length) noexcept {
  switch (static_cast<TlvType>(type)) {
    case TlvType::update:
      return length >= kUpdateBodySize;
    case TlvType::route_request:
      return length == 0 || length >= kRouteRequestAddressBodySize;
    case TlvType::seqno_request:
      return length >= kSeqnoRequestBodySize;
  }
  return true;
}

}  // namespace

PacketCheck check_packet(ByteView packet, std::size_t* known_tlvs, std::size_t* unknown_tlvs) noexcept {
  std::size_t known = 0, unknown = 0;
  if (known_tlvs != nullptr) *known_tlvs = 0;
  if (unknown_tlvs != nullptr) *unknown_tlvs = 0;
  if (packet.size() < kPacketHeaderSize) return PacketCheck::too_short;
  if (packet[0] != kRoutingVersion) return PacketCheck::bad_version;
  if (get_u16(packet.data() + 2) != packet.size() - kPacketHeaderSize) return PacketCheck::bad_length;
  ByteView rest = packet.subspan(kPacketHeaderSize);
  while (!rest.empty()) {
    if (rest.size() < kTlvHeaderSize) return PacketCheck::truncated_tlv;
    const std::uint8_t type = rest[0];
    const std::size_t length = rest[1];
    if (rest.size() - kTlvHeaderSize < length) return PacketCheck::truncated_tlv;
    if (known_type(type)) {
      if (!body_fits(type, length)) return PacketCheck::malformed_tlv;
      ++known;
    } else {
      ++unknown;
    }
    rest = rest.subspan(kTlvHeaderSize + length);
  }
  if (known_tlvs != nullptr) *known_tlvs = known;
  if (unknown_tlvs != nullptr) *unknown_tlvs = unknown;
  return PacketCheck::ok;
}

TlvReader::TlvReader(ByteView checked_packet) noexcept
    : rest_(checked_packet.size() >= kPacketHeaderSize ? checked_packet.subspan(kPacketHeaderSize) : ByteView()) {}

bool TlvReader::next(Message* out) noexcept {
  while (rest_.size() >= kTlvHeaderSize) {
    const std::uint8_t type = rest_[0];
    const std::size_t length = rest_[1];
    if (rest_.size() - kTlvHeaderSize < length) {  // not a checked packet: stop safely
      rest_ = ByteView();
      return false;
    }
    const std::uint8_t* body = rest_.data() + kTlvHeaderSize;
    rest_ = rest_.subspan(kTlvHeaderSize + length);
    if (!known_type(type) || !body_fits(type, length)) continue;
    out->type = static_cast<TlvType>(type);
    switch (out->type) {
      case TlvType::update:
        out->update.interval_cs = get_u16(body);
        out->update.seqno = get_u16(body + 2);
        out->update.metric = get_u16(body + 4);
        std::memcpy(out->update.address.bytes, body + 6, kAddressSize);
        std::memcpy(out->update.key.bytes, body + 6 + kAddressSize, kPublicKeySize);
        return true;
      case TlvType::route_request:
        out->route_request.wildcard = length == 0;
        out->route_request.address = Address{};
        if (length != 0) std::memcpy(out->route_request.address.bytes, body, kAddressSize);
        return true;
      case TlvType::seqno_request:
        out->seqno_request.seqno = get_u16(body);
        out->seqno_request.hop_count = body[2];
        std::memcpy(out->seqno_request.address.bytes, body + 4, kAddressSize);
        return true;
    }
  }
  return false;
}

std::size_t encoded_size(const Message& m) noexcept {
  switch (m.type) {
    case TlvType::update:
      return kUpdateSize;
    case TlvType::route_request:
      return m.route_request.wildcard ? kWildcardRequestSize : kRouteRequestSize;
    case TlvType::seqno_request:
      return kSeqnoRequestSize;
  }
  return 0;
}

std::size_t write_tlv(const Message& m, MutableByteView out) noexcept {
  const std::size_t size = encoded_size(m);
  if (out.size() < size || size == 0) return 0;
  std::uint8_t* p = out.data();
  p[0] = static_cast<std::uint8_t>(m.type);
  p[1] = static_cast<std::uint8_t>(size - kTlvHeaderSize);
  std::uint8_t* body = p + kTlvHeaderSize;
  switch (m.type) {
    case TlvType::update:
      put_u16(body, m.update.interval_cs);
      put_u16(body + 2, m.update.seqno);
      put_u16(body + 4, m.update.metric);
      std::memcpy(body + 6, m.update.address.bytes, kAddressSize);
      std::memcpy(body + 6 + kAddressSize, m.update.key.bytes, kPublicKeySize);
      break;
    case TlvType::route_request:
      if (!m.route_request.wildcard) std::memcpy(body, m.route_request.address.bytes, kAddressSize);
      break;
    case TlvType::seqno_request:
      put_u16(body, m.seqno_request.seqno);
      body[2] = m.seqno_request.hop_count;
      body[3] = 0;
      std::memcpy(body + 4, m.seqno_request.address.bytes, kAddressSize);
      break;
  }
  return size;
}

void write_packet_header(std::size_t body_size, MutableByteView out) noexcept {
  if (out.size() < kPacketHeaderSize) return;
  out[0] = kRoutingVersion;
  out[1] = 0;
  put_u16(out.data() + 2, static_cast<std::uint16_t>(body_size > 0xffff ? 0xffff : body_size));
}

}  // namespace mh::router
