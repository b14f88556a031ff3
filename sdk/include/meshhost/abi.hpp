// The plugin ABI version (DESIGN §2). The major is part of the entry symbol's name; the
// minor grows when a compatible addition lands (a new interface, a descriptor field at the end).
#pragma once

#include <cstdint>

#define MESHHOST_ABI_MAJOR 1
#define MESHHOST_ABI_MINOR 0
#define MESHHOST_ENTRY_SYMBOL "meshhost_plugin_v1"
// The ELF section every plugin carries; the loader checks for it before loading anything.
#define MESHHOST_SECTION "meshhost"

namespace mh {
inline constexpr std::uint32_t kAbiMajor = MESHHOST_ABI_MAJOR;
inline constexpr std::uint32_t kAbiMinor = MESHHOST_ABI_MINOR;
}  // namespace mh
