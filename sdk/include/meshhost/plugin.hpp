// The plugin contract (DESIGN §2): the descriptor a plugin exports, the plugin object the
// host drives, and the macro that exports them.
#pragma once

#include <meshhost/abi.hpp>
#include <meshhost/host.hpp>
#include <meshhost/types.hpp>

namespace mh {

// Receives configuration problems. `path` is relative to the plugin's own config object
// in JSON-pointer-like dotted form ("bind[1]", "" for the object itself); the host
// prefixes "plugins.<name>". `expected` and `found` are short phrases for one line:
// `plugins.udp.bind[1]: expected "host:port", got "1.2.3.4"`.
class ErrorSink {
 public:
  virtual void error(Str path, Str expected, Str found) noexcept = 0;

 protected:
  ~ErrorSink() = default;
};

enum class ReconfigureResult : std::int32_t {
  applied = 0,           // the new config is in force
  restart_required = 1,  // valid, but only a restart applies it; the old config stays
  error = 2,             // invalid; problems went to the ErrorSink, the old config stays
};

// A running plugin, created by PluginDescriptor::create and freed by
// PluginDescriptor::destroy (never deleted by the host).
class Plugin {
 public:
  // Opens sockets, devices and timers, and looks up the services it requires. On failure
  // the host stops every plugin already started, in reverse, and exits with the message.
  virtual Status start() noexcept = 0;
  // Releases what start() acquired. Called once, only after a successful start().
  virtual void stop() noexcept = 0;
  // Applies a changed config (SIGHUP) without dropping what does not have to drop.
  virtual ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept = 0;
  // Further interfaces a later ABI minor adds; nullptr for ids it does not know.
  virtual void* query(InterfaceId id) noexcept = 0;

 protected:
  ~Plugin() = default;
};

enum class Stability : std::int32_t { stable = 0, experimental = 1 };

// What a plugin library exports. Fields are only ever appended; `struct_size` tells the
// host which fields this plugin knows.
struct PluginDescriptor {
  std::uint32_t struct_size;
  std::uint32_t abi_major;  // MESHHOST_ABI_MAJOR the plugin was built with
  std::uint32_t abi_minor;  // must not exceed the host's minor
  Str name;                 // [a-z0-9_-]+, the key under "plugins" in the config
  Str version;
  Str description;  // one line
  Str kind;         // "link", "switch", "router", "session", "tun", "gateway", "example", …
  const Str* provided;  // service names this plugin provides
  std::size_t provided_count;
  const Str* required;  // service names it needs; "link.*" is met by any link driver
  std::size_t required_count;
  Str config_schema;  // JSON Schema text describing the plugin's config object
  Stability stability;
  // Checks a config object (JSON text) with no side effects; reports each problem.
  void (*validate)(Str config_json, ErrorSink* errors) noexcept;
  // Creates the plugin for a config that validated. `host` outlives the plugin.
  Status (*create)(Host* host, Str config_json, Plugin** out) noexcept;
  // Frees a plugin made by create (after stop(), if it started).
  void (*destroy)(Plugin* plugin) noexcept;
};

}  // namespace mh

// The entry point every plugin exports, unmangled, with the ABI major in its name.
extern "C" const ::mh::PluginDescriptor* meshhost_plugin_v1() noexcept;

// Exports `descriptor` (a `const mh::PluginDescriptor` with static storage) and marks the
// library with the `meshhost` ELF section the loader checks for. Use once per plugin.
#define MESHHOST_PLUGIN(descriptor)                                                           \
  extern "C" __attribute__((section(MESHHOST_SECTION), used, visibility("hidden")))          \
  const char meshhost_plugin_marker[] = "meshhost plugin";                                    \
  extern "C" __attribute__((visibility("default"))) const ::mh::PluginDescriptor*             \
  meshhost_plugin_v1() noexcept {                                                             \
    return &(descriptor);                                                                     \
  }
