// `meshhost --import-cjdroute FILE`: turns a cjdroute.conf into a meshhost config with the
// same identity, links, peers, passwords and ipTunnel block (docs/operations.md, "Coming
// from cjdns").
#pragma once

#include "config.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mh::core {

struct ImportedConfig {
  std::string text;                   // the meshhost config, JSON with comments
  std::vector<std::string> warnings;  // "path: what was left out and why", one per line
};

// cjdroute.conf is JSON with // and /* */ comments and trailing commas before } or ].
// Returns the text with comments and those commas replaced by spaces (every byte keeps
// its line and column, so parse errors point into the original).
std::string strip_cjdns_json_extensions(std::string_view text);

// Reads a cjdroute.conf's text. Problems that leave no usable config (not JSON, no or a
// bad privateKey, publicKey/ipv6 that do not match it) go to `errors`; features meshhost
// does not carry over become warnings and the config is still produced.
std::optional<ImportedConfig> import_cjdroute(std::string_view text, const std::string& source_name,
                                              ConfigErrors& errors);

}  // namespace mh::core
