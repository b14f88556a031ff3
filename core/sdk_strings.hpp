// Copies of the SDK's borrowed strings as the host's own std::strings.
#pragma once

#include <meshhost/types.hpp>

#include <string>
#include <vector>

namespace mh::core {

inline std::string to_string(Str s) { return s.data ? std::string(s.data, s.size) : std::string(); }

inline std::vector<std::string> to_strings(const Str* items, std::size_t count) {
  std::vector<std::string> out;
  for (std::size_t i = 0; items && i < count; ++i) out.push_back(to_string(items[i]));
  return out;
}

}  // namespace mh::core
