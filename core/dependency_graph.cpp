// Topological ordering of enabled plugins by the services they provide and require.
#include "dependency_graph.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace mh::core {

bool service_matches(const std::string& required, const std::string& provided) {
  if (required.size() >= 2 && required.compare(required.size() - 2, 2, ".*") == 0) {
    const std::string prefix = required.substr(0, required.size() - 1);  // keeps the dot
    return provided.size() > prefix.size() && provided.compare(0, prefix.size(), prefix) == 0;
  }
  return required == provided;
}

bool is_optional_requirement(const std::string& required) {
  return !required.empty() && required.back() == kOptionalMarker;
}

StartPlan plan_start_order(const std::vector<PluginNode>& enabled, const std::vector<PluginNode>& available) {
  StartPlan plan;
  const std::size_t n = enabled.size();

  // An exact service provided twice is ambiguous; wildcard families ("link.*") may have many.
  std::map<std::string, std::string> provider_of;
  for (const auto& node : enabled) {
    for (const auto& service : node.provides) {
      auto [it, inserted] = provider_of.emplace(service, node.name);
      if (!inserted)
        plan.errors.push_back("service \"" + service + "\" is provided by both \"" + it->second + "\" and \"" +
                              node.name + "\"; enable only one of them");
    }
  }

  // edges[i] = plugins that i needs started first.
  std::vector<std::vector<std::size_t>> needs(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& named : enabled[i].requires_services) {
      const bool optional = is_optional_requirement(named);
      const std::string required = optional ? named.substr(0, named.size() - 1) : named;
      bool met = false;
      for (std::size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        for (const auto& provided : enabled[j].provides) {
          if (service_matches(required, provided)) {
            needs[i].push_back(j);
            met = true;
            break;
          }
        }
      }
      if (met || optional) continue;
      std::vector<std::string> candidates;
      for (const auto& other : available)
        for (const auto& provided : other.provides)
          if (service_matches(required, provided) && other.name != enabled[i].name) {
            candidates.push_back(other.name);
            break;
          }
      std::string line = "plugin \"" + enabled[i].name + "\" requires service \"" + required +
                         "\", which no enabled plugin provides; ";
      if (candidates.empty()) {
        line += "no plugin found provides it";
      } else {
        line += "enable ";
        for (std::size_t k = 0; k < candidates.size(); ++k)
          line += (k ? (k + 1 == candidates.size() ? " or " : ", ") : "") + ("\"" + candidates[k] + "\"");
        line += " to provide it";
      }
      plan.errors.push_back(line);
    }
  }

  // Depth-first topological sort; a grey node met again closes a cycle.
  enum class Mark { white, grey, black };
  std::vector<Mark> mark(n, Mark::white);
  std::vector<std::size_t> stack;
  std::set<std::set<std::size_t>> cycles_reported;
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    mark[i] = Mark::grey;
    stack.push_back(i);
    for (std::size_t j : needs[i]) {
      if (mark[j] == Mark::grey) {
        auto start = std::find(stack.begin(), stack.end(), j);
        std::set<std::size_t> members(start, stack.end());
        if (cycles_reported.insert(members).second) {
          std::string line = "dependency cycle: ";
          for (auto it = start; it != stack.end(); ++it) line += enabled[*it].name + " -> ";
          line += enabled[j].name;
          plan.errors.push_back(line);
        }
      } else if (mark[j] == Mark::white) {
        visit(j);
      }
    }
    stack.pop_back();
    mark[i] = Mark::black;
    plan.order.push_back(enabled[i].name);
  };
  for (std::size_t i = 0; i < n; ++i)
    if (mark[i] == Mark::white) visit(i);
  return plan;
}

}  // namespace mh::core
