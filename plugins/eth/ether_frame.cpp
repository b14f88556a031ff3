// The pure parts of meshhost on Ethernet: see ether_frame.hpp.
#include "ether_frame.hpp"

#include <cstring>

namespace mh::ether {

std::optional<std::string> mtu_refusal(std::string_view interface_name, std::uint32_t interface_mtu) {
  if (interface_mtu >= kMinInterfaceMtu) return std::nullopt;
  std::string message(interface_name);
  message += ": MTU " + std::to_string(interface_mtu) + " is too small for meshhost, which needs at least " +
             std::to_string(kMinInterfaceMtu) + " (" + std::to_string(kInnerPacketBytes) + " bytes of inner packet + " +
             std::to_string(kMeshhostOverheadBytes) + " bytes of meshhost overhead + the " +
             std::to_string(kHeaderSize) + "-byte eth header); interface not used";
  return message;
}

std::size_t format_mac(const MacAddress& mac, char* out, std::size_t capacity) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  if (out == nullptr || capacity < kMacTextSize) return 0;
  char* at = out;
  for (std::size_t i = 0; i < kMacSize; ++i) {
    if (i != 0) *at++ = ':';
    *at++ = kHex[mac.bytes[i] >> 4];
    *at++ = kHex[mac.bytes[i] & 0x0f];
  }
  return kMacTextSize;
}

std::string format_mac(const MacAddress& mac) {
  std::string text(kMacTextSize, '\0');
  format_mac(mac, text.data(), text.size());
  return text;
}

Endpoint make_endpoint(const MacAddress& mac, std::uint32_t ifindex) noexcept {
  Endpoint endpoint;
  endpoint.kind = kEndpointKind;
  endpoint.size = kEndpointSize;
  std::memcpy(endpoint.bytes + kEndpointMacOffset, mac.bytes, kMacSize);
  endpoint.bytes[kEndpointIfindexOffset + 0] = static_cast<std::uint8_t>(ifindex >> 24);
  endpoint.bytes[kEndpointIfindexOffset + 1] = static_cast<std::uint8_t>(ifindex >> 16);
  endpoint.bytes[kEndpointIfindexOffset + 2] = static_cast<std::uint8_t>(ifindex >> 8);
  endpoint.bytes[kEndpointIfindexOffset + 3] = static_cast<std::uint8_t>(ifindex);
  return endpoint;
}

bool parse_endpoint(const Endpoint& endpoint, MacAddress* mac, std::uint32_t* ifindex) noexcept {
  if (endpoint.kind != kEndpointKind || endpoint.size != kEndpointSize) return false;
  if (mac != nullptr) std::memcpy(mac->bytes, endpoint.bytes + kEndpointMacOffset, kMacSize);
  if (ifindex != nullptr) {
    const std::uint8_t* b = endpoint.bytes + kEndpointIfindexOffset;
    *ifindex = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  }
  return true;
}

}  // namespace mh::ether
