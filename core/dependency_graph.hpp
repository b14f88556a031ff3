// Resolves the provides/requires graph of the enabled plugins (DESIGN §1): start order,
// missing providers (naming the plugin that would provide one) and cycles. Pure logic.
#pragma once

#include <string>
#include <vector>

namespace mh::core {

struct PluginNode {
  std::string name;
  std::vector<std::string> provides;
  // A name ending in '?' ("linkmetric.*?") is optional: its providers, when enabled, start
  // first; when none is, that is no error.
  std::vector<std::string> requires_services;
};

struct StartPlan {
  std::vector<std::string> order;   // start order; stop is the reverse
  std::vector<std::string> errors;  // one line each; the plan is unusable unless empty
};

// True when `required` is met by a service called `provided`: equal names, or a
// wildcard "x.*" against any "x.<something>".
bool service_matches(const std::string& required, const std::string& provided);

// The marker of an optional requirement, and the name without it.
inline constexpr char kOptionalMarker = '?';
bool is_optional_requirement(const std::string& required);

// `enabled` are the plugins to start; `available` are all usable plugins found (to name
// the one that would provide a missing service). Ties in the order follow `enabled`'s order.
StartPlan plan_start_order(const std::vector<PluginNode>& enabled, const std::vector<PluginNode>& available);

}  // namespace mh::core
