// Requires a service no plugin provides: the host must refuse the config and say which
// service is missing.
#include "test_plugin.hpp"

namespace {
constexpr mh::Str kRequired[] = {"nobody.provides"};
constexpr mh::PluginDescriptor kDescriptor = mh_test::describe("needs_missing", {}, kRequired);
}  // namespace

MESHHOST_TEST_PLUGIN(kDescriptor)
