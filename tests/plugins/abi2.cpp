// A plugin from a future ABI major: it carries the `meshhost` section but exports
// meshhost_plugin_v2 rather than v1, so a v1 host must refuse it and name both versions.
// Written by hand, as MESHHOST_PLUGIN would only ever export this build's major.
#include "test_plugin.hpp"

namespace {
constexpr mh::PluginDescriptor kDescriptor = [] {
  mh::PluginDescriptor d = mh_test::describe("abi2");
  d.abi_major = 2;
  d.abi_minor = 0;
  return d;
}();
}  // namespace

const mh::PluginDescriptor& mh_test::this_descriptor() noexcept { return kDescriptor; }

extern "C" __attribute__((section(MESHHOST_SECTION), used, visibility("hidden")))
const char meshhost_plugin_marker[] = "meshhost plugin";

extern "C" __attribute__((visibility("default"))) const mh::PluginDescriptor* meshhost_plugin_v2() noexcept {
  return &kDescriptor;
}
