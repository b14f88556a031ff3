// Start order, missing providers and cycles in the provides/requires graph.
#include "dependency_graph.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using mh::core::plan_start_order;
using mh::core::PluginNode;

namespace {
std::size_t position(const std::vector<std::string>& order, const std::string& name) {
  return static_cast<std::size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}
}  // namespace

TEST_CASE("providers start before the plugins that require them") {
  std::vector<PluginNode> nodes = {
      {"tun", {"tun"}, {"sessions"}},
      {"session", {"sessions"}, {"switch", "router"}},
      {"router", {"router"}, {"switch"}},
      {"switch", {"switch"}, {"link.*"}},
      {"udp", {"link.udp"}, {}},
      {"eth", {"link.eth"}, {}},
  };
  auto plan = plan_start_order(nodes, nodes);
  REQUIRE(plan.errors.empty());
  REQUIRE(plan.order.size() == nodes.size());
  const auto& o = plan.order;
  CHECK(position(o, "udp") < position(o, "switch"));
  CHECK(position(o, "eth") < position(o, "switch"));
  CHECK(position(o, "switch") < position(o, "router"));
  CHECK(position(o, "router") < position(o, "session"));
  CHECK(position(o, "session") < position(o, "tun"));
}

TEST_CASE("a missing provider names the plugin that would provide it") {
  std::vector<PluginNode> enabled = {{"switch", {"switch"}, {"link.*"}}};
  std::vector<PluginNode> available = {{"switch", {"switch"}, {"link.*"}}, {"udp", {"link.udp"}, {}},
                                       {"eth", {"link.eth"}, {}}};
  auto plan = plan_start_order(enabled, available);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0] ==
        R"(plugin "switch" requires service "link.*", which no enabled plugin provides; enable "udp" or "eth" to provide it)");
}

TEST_CASE("a requirement nobody can meet says so") {
  std::vector<PluginNode> enabled = {{"needs_missing", {}, {"nobody.provides"}}};
  auto plan = plan_start_order(enabled, enabled);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0].find("no plugin found provides it") != std::string::npos);
}

TEST_CASE("a cycle is an error naming its members") {
  std::vector<PluginNode> enabled = {{"cycle_a", {"cycle.a"}, {"cycle.b"}}, {"cycle_b", {"cycle.b"}, {"cycle.a"}}};
  auto plan = plan_start_order(enabled, enabled);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0] == "dependency cycle: cycle_a -> cycle_b -> cycle_a");
}

TEST_CASE("one exact service from two plugins is ambiguous") {
  std::vector<PluginNode> enabled = {{"router", {"router"}, {}}, {"router2", {"router"}, {}}};
  auto plan = plan_start_order(enabled, enabled);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0].find("provided by both") != std::string::npos);
}

TEST_CASE("wildcards match a family, not its prefix") {
  using mh::core::service_matches;
  CHECK(service_matches("link.*", "link.udp"));
  CHECK_FALSE(service_matches("link.*", "link."));
  CHECK_FALSE(service_matches("link.*", "linkage"));
  CHECK(service_matches("router", "router"));
  CHECK_FALSE(service_matches("router", "router2"));
}

TEST_CASE("an optional requirement orders its providers first and is no error without one") {
  using mh::core::is_optional_requirement;
  CHECK(is_optional_requirement("linkmetric.*?"));
  CHECK_FALSE(is_optional_requirement("link.*"));
  CHECK_FALSE(is_optional_requirement(""));

  // A plugin that provides only a metric source still starts before the switch, whichever
  // order the config lists them in.
  std::vector<PluginNode> enabled = {
      {"switch", {"switch"}, {"link.*", "linkmetric.*?"}},
      {"router", {"router"}, {"switch"}},
      {"eth", {"link.eth"}, {}},
      {"fake_link_metric", {"linkmetric.fake"}, {}},
      {"meshpoint", {"link.meshpoint", "linkmetric.meshpoint"}, {}},
  };
  auto plan = plan_start_order(enabled, enabled);
  REQUIRE(plan.errors.empty());
  const auto& o = plan.order;
  CHECK(position(o, "fake_link_metric") < position(o, "switch"));
  CHECK(position(o, "meshpoint") < position(o, "switch"));
  CHECK(position(o, "eth") < position(o, "switch"));
  CHECK(position(o, "switch") < position(o, "router"));

  // None enabled: the switch starts as before, and nobody is told to enable anything.
  std::vector<PluginNode> without = {{"switch", {"switch"}, {"link.*", "linkmetric.*?"}}, {"eth", {"link.eth"}, {}}};
  plan = plan_start_order(without, enabled);
  REQUIRE(plan.errors.empty());
  CHECK(plan.order == std::vector<std::string>{"eth", "switch"});

  // Optional is only about the missing case: a required name keeps its error, and an
  // optional edge still counts in a cycle.
  std::vector<PluginNode> cycle = {{"a", {"a.x"}, {"b.*?"}}, {"b", {"b.x"}, {"a.x"}}};
  plan = plan_start_order(cycle, cycle);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0].find("dependency cycle") != std::string::npos);
  std::vector<PluginNode> exact = {{"a", {"a"}, {"exact.name?", "other.name"}}};
  plan = plan_start_order(exact, exact);
  REQUIRE(plan.errors.size() == 1);
  CHECK(plan.errors[0].find("\"other.name\"") != std::string::npos);
}
