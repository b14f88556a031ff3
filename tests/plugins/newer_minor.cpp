// A plugin built against a newer ABI minor than the host's: same major, so the entry
// symbol resolves, but the host must refuse it and name both minors.
#include "test_plugin.hpp"

namespace {
constexpr mh::PluginDescriptor kDescriptor = [] {
  mh::PluginDescriptor d = mh_test::describe("newer_minor");
  d.abi_minor = MESHHOST_ABI_MINOR + 1;
  return d;
}();
}  // namespace

MESHHOST_TEST_PLUGIN(kDescriptor)
