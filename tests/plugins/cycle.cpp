// Half of a dependency cycle, built twice: cycle_a (provides "cycle.a", requires
// "cycle.b") and cycle_b (the other way round), chosen by CYCLE_SELF / CYCLE_OTHER.
// The host must refuse the pair and name the cycle.
#include "test_plugin.hpp"

#if !defined(CYCLE_SELF) || !defined(CYCLE_OTHER)
#error "build with -DCYCLE_SELF=\"a\" -DCYCLE_OTHER=\"b\" (or the other way round)"
#endif

namespace {
constexpr mh::Str kProvided[] = {"cycle." CYCLE_SELF};
constexpr mh::Str kRequired[] = {"cycle." CYCLE_OTHER};
constexpr mh::PluginDescriptor kDescriptor = mh_test::describe("cycle_" CYCLE_SELF, kProvided, kRequired);
}  // namespace

MESHHOST_TEST_PLUGIN(kDescriptor)
