// The switch's control protocol (protocol number 0x0003, docs/protocol.md "Switch: control
// messages"): echo request and reply for ping and traceroute, and the error reports a node
// sends back to a packet's source. Parsers return views into the caller's bytes; no state.
//
//   echo:  version (1) | type (1) | id (2) | sequence (2) | data (0..)
//   error: version (1) | type (1) | kind (1) | reserved (1) | mtu (4) |
//          the original mesh header (40) | up to 64 bytes of the original payload
#pragma once

#include "frames.hpp"
#include "mesh_header.hpp"

#include <cstdint>
#include <optional>

namespace mh::sw {

inline constexpr std::uint8_t kControlVersion = 1;
enum class ControlType : std::uint8_t {
  echo_request = 1,
  echo_reply = 2,
  error = 3,
};
inline constexpr std::size_t kControlHeaderSize = 2;                  // version, type
inline constexpr std::size_t kEchoHeaderSize = kControlHeaderSize + 4;  // + id, sequence = 6
inline constexpr std::size_t kErrorFixedSize = kControlHeaderSize + 2 + 4;  // + kind, reserved, mtu = 8
inline constexpr std::size_t kErrorQuoteMax = 64;  // payload bytes of the original packet quoted
inline constexpr std::size_t kErrorMinSize = kErrorFixedSize + kMeshHeaderSize;                  // 48
inline constexpr std::size_t kErrorMaxSize = kErrorMinSize + kErrorQuoteMax;                     // 112

struct EchoView {
  bool reply = false;
  std::uint16_t id = 0;
  std::uint16_t sequence = 0;
  ByteView data;
};

struct ErrorView {
  MeshError::Kind kind = MeshError::Kind::no_route;
  std::uint32_t mtu = 0;
  MeshHeader original;  // the header of the packet that was stopped
  ByteView quote;       // its first payload bytes (up to 64)
};

// nullopt for another version or type, a short message, an unknown error kind, a non-zero
// reserved byte, a quote over 64 bytes or a quoted header that does not parse.
std::optional<EchoView> parse_echo(ByteView message) noexcept;
std::optional<ErrorView> parse_error(ByteView message) noexcept;
// Whether `message` (a control payload) is an error report: the switch never reports an
// error about one.
bool is_control_error(ByteView message) noexcept;

// Writers: `out` must have room (kEchoHeaderSize, kErrorFixedSize + header + quote).
void write_echo_header(std::uint8_t* out, bool reply, std::uint16_t id, std::uint16_t sequence) noexcept;
// Writes an error about `original` (mesh header + payload of the stopped packet, at least
// the 40 header bytes); returns the size written (at most kErrorMaxSize).
std::size_t write_error(std::uint8_t* out, MeshError::Kind kind, std::uint32_t mtu, ByteView original) noexcept;

const char* to_string(MeshError::Kind kind) noexcept;

}  // namespace mh::sw
