// What the host offers a plugin (DESIGN §2): logging, the loop, identity, admin methods,
// metrics, services and the state directory. Each plugin gets its own Host object; it is
// valid from create() until destroy() returns and is only called on the loop thread.
#pragma once

#include <meshhost/loop.hpp>
#include <meshhost/types.hpp>

namespace mh {

// Receives text (JSON, usually) from the callee; the sink copies what it is given.
class StringSink {
 public:
  virtual void append(Str text) noexcept = 0;

 protected:
  ~StringSink() = default;
};

// An admin method (JSON-RPC 2.0 over the admin socket). Called on the loop thread with the
// request's `params` as JSON text ("null" when absent); appends the JSON result to
// `result` and returns success, or returns an error whose message the caller sees.
// Must not block.
class AdminHandler {
 public:
  virtual Status call(Str params_json, StringSink* result) noexcept = 0;

 protected:
  ~AdminHandler() = default;
};

// A metric label: name="value" in Prometheus text.
struct Label {
  Str name;
  Str value;
};

// A monotonically increasing counter, owned by the host; valid while the plugin exists.
// Updating it is cheap enough for the data path (no allocation, no lock on the loop thread).
class Counter {
 public:
  virtual void add(std::uint64_t delta) noexcept = 0;

 protected:
  ~Counter() = default;
};

// A value that goes up and down, owned by the host; valid while the plugin exists.
class Gauge {
 public:
  virtual void set(double value) noexcept = 0;

 protected:
  ~Gauge() = default;
};

// An object a plugin offers others under a well-known service name. Callers ask it for
// the interface they were built against; nullptr means it does not implement that one.
class Service {
 public:
  virtual void* query(InterfaceId id) noexcept = 0;

 protected:
  ~Service() = default;
};

class Host {
 public:
  // This plugin's name, as enabled in the config.
  virtual Str plugin_name() const noexcept = 0;

  virtual void log(LogLevel level, Str message) noexcept = 0;

  virtual Loop* loop() noexcept = 0;

  // Copies `message` into host-owned storage and returns a Status carrying it: the way to
  // return an error whose text was built in a temporary.
  virtual Status fail(StatusCode code, Str message) noexcept = 0;

  // The node's identity. The private key never leaves the host; dh() computes
  // X25519(node private key, remote) and fails with invalid_argument when the result is
  // all zero (a low-order remote point).
  virtual PublicKey public_key() const noexcept = 0;
  virtual Address address() const noexcept = 0;
  virtual Status dh(const PublicKey& remote, SharedSecret* out) noexcept = 0;

  // A directory for this plugin's durable state (<stateDir>/<plugin>), created mode 0700.
  virtual Str state_dir() const noexcept = 0;

  // Registers an admin method. `name` must start with "<plugin name>."; `handler` is
  // borrowed until the plugin is destroyed. Fails with already_exists on a duplicate.
  virtual Status register_admin_method(Str name, AdminHandler* handler) noexcept = 0;

  // Registers a metric and returns the host-owned object (nullptr only if `name` is not a
  // valid Prometheus metric name). Registering the same name and labels twice returns the
  // same object.
  virtual Counter* counter(Str name, Str help, const Label* labels, std::size_t label_count) noexcept = 0;
  virtual Gauge* gauge(Str name, Str help, const Label* labels, std::size_t label_count) noexcept = 0;

  // Offers `service` under `name` (one of the names in the descriptor's `provided` list,
  // or any name a link driver matches with "link.*"); call from create() or start().
  // `service` is borrowed until the plugin is destroyed.
  virtual Status provide(Str name, Service* service) noexcept = 0;

  // Finds a service another plugin provides; nullptr if none. Call from start() or later:
  // every provider of a required service has started by then.
  virtual Service* lookup(Str name) noexcept = 0;

  // Finds every service whose name starts with `prefix` (e.g. "link."), writing up to
  // `capacity` of them to `out` and their names to `names` (when not null); returns how
  // many exist, which may exceed `capacity`.
  virtual std::size_t lookup_prefix(Str prefix, Service** out, Str* names, std::size_t capacity) noexcept = 0;

 protected:
  ~Host() = default;
};

}  // namespace mh
