// A plugin whose start() fails with "start_fails: refusing to start (test)". It requires
// "order.a", so order_a has started before it and must be stopped after it fails.
#include "test_plugin.hpp"

namespace {
constexpr mh::Str kRequired[] = {"order.a"};
constexpr mh::PluginDescriptor kDescriptor =
    mh_test::describe<mh_test::Behaviour::fail_start>("start_fails", {}, kRequired);
}  // namespace

MESHHOST_TEST_PLUGIN(kDescriptor)
