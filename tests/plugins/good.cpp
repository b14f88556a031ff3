// The plugin every loader test starts from: valid, provides "<name>.service", answers
// "<name>.ping". Built twice: as `good`, and as `stripped` (then strip --strip-unneeded),
// TEST_PLUGIN_NAME choosing which.
#include "test_plugin.hpp"

#ifndef TEST_PLUGIN_NAME
#error "build with -DTEST_PLUGIN_NAME=\"good\" (or \"stripped\")"
#endif

namespace {
constexpr mh::Str kProvided[] = {TEST_PLUGIN_NAME ".service"};
constexpr mh::PluginDescriptor kDescriptor = mh_test::describe(TEST_PLUGIN_NAME, kProvided);
}  // namespace

MESHHOST_TEST_PLUGIN(kDescriptor)
