// Provides "order.a" and logs "order_a: started" / "order_a: stopped", so a test sees it
// start before the plugins that require it and stop after them.
#include "test_plugin.hpp"

namespace {
constexpr mh::Str kProvided[] = {"order.a"};
constexpr mh::PluginDescriptor kDescriptor = mh_test::describe("order_a", kProvided);
}  // namespace

MESHHOST_TEST_PLUGIN(kDescriptor)
