// The config profiles `meshhost --genconf` prints: the files in configs/, compiled in so
// an installed host needs no source tree and the two can never disagree.
#pragma once

#include <string_view>
#include <vector>

namespace mh::core {

struct Profile {
  std::string_view name;
  std::string_view text;  // configs/<name>.json, verbatim
};

const std::vector<Profile>& profiles();

}  // namespace mh::core
