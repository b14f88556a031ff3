// An ordinary shared library with no `meshhost` section. The loader must refuse it
// without loading it: if it ever runs this library's constructor, the line below shows
// in the host's stderr, which the loader test checks for.
#include <unistd.h>

namespace {
__attribute__((constructor)) void announce_load() {
  constexpr char kLine[] = "not_a_plugin: loaded (the loader must never dlopen this library)\n";
  (void)!::write(2, kLine, sizeof kLine - 1);
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int not_a_plugin_answer() { return 42; }
