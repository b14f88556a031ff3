// Control messages: parsers check the size before each read and never allocate.
#include "control.hpp"

#include <algorithm>
#include <cstring>

namespace mh::sw {

namespace {
bool header_is(ByteView m, ControlType type) noexcept {
  return m.size() >= kControlHeaderSize && m[0] == kControlVersion && m[1] == static_cast<std::uint8_t>(type);
}
}  // namespace

std::optional<EchoView> parse_echo(ByteView message) noexcept {
  const bool request = header_is(message, ControlType::echo_request);
  if ((!request && !header_is(message, ControlType::echo_reply)) || message.size() < kEchoHeaderSize)
    return std::nullopt;
  EchoView v;
  v.reply = !request;
  v.id = get_u16(message.data() + kControlHeaderSize);
  v.sequence = get_u16(message.data() + kControlHeaderSize + 2);
  v.data = message.subspan(kEchoHeaderSize);
  return v;
}

bool is_control_error(ByteView message) noexcept {
  return message.size() >= kControlHeaderSize && message[1] == static_cast<std::uint8_t>(ControlType::error);
}

std::optional<ErrorView> parse_error(ByteView message) noexcept {
  if (!header_is(message, ControlType::error) || message.size() < kErrorMinSize || message.size() > kErrorMaxSize)
    return std::nullopt;
  const std::uint8_t kind = message[kControlHeaderSize];
  if (kind < static_cast<std::uint8_t>(MeshError::Kind::no_route) ||
      kind > static_cast<std::uint8_t>(MeshError::Kind::unreachable_protocol) || message[kControlHeaderSize + 1] != 0)
    return std::nullopt;
  ErrorView v;
  v.kind = static_cast<MeshError::Kind>(kind);
  v.mtu = get_u32(message.data() + kControlHeaderSize + 2);
  if (parse_mesh_header(message.subspan(kErrorFixedSize), &v.original) != MeshHeaderError::ok) return std::nullopt;
  v.quote = message.subspan(kErrorMinSize);
  return v;
}

void write_echo_header(std::uint8_t* out, bool reply, std::uint16_t id, std::uint16_t sequence) noexcept {
  out[0] = kControlVersion;
  out[1] = static_cast<std::uint8_t>(reply ? ControlType::echo_reply : ControlType::echo_request);
  put_u16(out + kControlHeaderSize, id);
  put_u16(out + kControlHeaderSize + 2, sequence);
}

std::size_t write_error(std::uint8_t* out, MeshError::Kind kind, std::uint32_t mtu, ByteView original) noexcept {
  const std::size_t quoted = std::min(original.size(), kMeshHeaderSize + kErrorQuoteMax);
  out[0] = kControlVersion;
  out[1] = static_cast<std::uint8_t>(ControlType::error);
  out[2] = static_cast<std::uint8_t>(kind);
  out[3] = 0;
  put_u32(out + 4, mtu);
  std::memcpy(out + kErrorFixedSize, original.data(), quoted);
  return kErrorFixedSize + quoted;
}

const char* to_string(MeshError::Kind kind) noexcept {
  switch (kind) {
    case MeshError::Kind::no_route: return "no_route";
    case MeshError::Kind::hop_limit_exceeded: return "hop_limit_exceeded";
    case MeshError::Kind::too_big: return "too_big";
    case MeshError::Kind::unreachable_protocol: return "unreachable_protocol";
  }
  return "unknown";
}

}  // namespace mh::sw
