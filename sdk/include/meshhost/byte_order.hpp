// Network byte order (big-endian) loads and stores for wire formats (docs/protocol.md:
// "multi-byte integers are in network byte order"). Support library, header-only; never
// crosses the plugin boundary.
#pragma once

#include <cstdint>

namespace mh {

inline std::uint16_t get_u16(const std::uint8_t* at) noexcept {
  return static_cast<std::uint16_t>((static_cast<unsigned>(at[0]) << 8) | at[1]);
}
inline std::uint32_t get_u32(const std::uint8_t* at) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | at[i];
  return v;
}
inline std::uint64_t get_u64(const std::uint8_t* at) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | at[i];
  return v;
}
inline void put_u16(std::uint8_t* at, std::uint16_t value) noexcept {
  at[0] = static_cast<std::uint8_t>(value >> 8);
  at[1] = static_cast<std::uint8_t>(value);
}
inline void put_u32(std::uint8_t* at, std::uint32_t value) noexcept {
  for (int i = 3; i >= 0; --i, value >>= 8) at[i] = static_cast<std::uint8_t>(value);
}
inline void put_u64(std::uint8_t* at, std::uint64_t value) noexcept {
  for (int i = 7; i >= 0; --i, value >>= 8) at[i] = static_cast<std::uint8_t>(value);
}

}  // namespace mh
