// What every loader-test plugin shares: a plugin that follows the SDK contract in the
// fewest lines, logs "<name>: started" / "<name>: stopped" so an integration test can see
// the start and stop order, answers "<name>.ping" with {"pong":true}, provides its
// services, accepts only an empty config object, and can be told to fail start(). Each
// test plugin is one .cpp that includes this, describes itself with describe() and
// exports itself with MESHHOST_TEST_PLUGIN.
#pragma once

#include <meshhost/plugin.hpp>

#include <cstddef>
#include <exception>
#include <string>

namespace mh_test {

// The descriptor of the plugin being built; MESHHOST_TEST_PLUGIN defines it.
const mh::PluginDescriptor& this_descriptor() noexcept;

// A borrowed list of service names for a descriptor: from an array, or empty.
struct Names {
  const mh::Str* data = nullptr;
  std::size_t size = 0;

  constexpr Names() = default;
  template <std::size_t N>
  constexpr Names(const mh::Str (&names)[N]) : data(names), size(N) {}
};

enum class Behaviour { normal, fail_start };

// True when `text` is `{}`, with any whitespace: the only config a test plugin takes.
inline bool is_empty_object(mh::Str text) noexcept {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < text.size && (text.data[i] == ' ' || text.data[i] == '\t' || text.data[i] == '\n' || text.data[i] == '\r')) ++i;
  };
  skip_space();
  if (i == text.size || text.data[i] != '{') return false;
  ++i;
  skip_space();
  if (i == text.size || text.data[i] != '}') return false;
  ++i;
  skip_space();
  return i == text.size;
}

inline void validate(mh::Str config_json, mh::ErrorSink* errors) noexcept {
  if (!is_empty_object(config_json)) errors->error("", "{} (this test plugin has no settings)", config_json);
}

template <Behaviour behaviour>
class TestPlugin final : public mh::Plugin, mh::AdminHandler {
 public:
  explicit TestPlugin(mh::Host* host) noexcept : host_(host) {}

  // Registers "<name>.ping" and offers every provided service (as an empty Service).
  mh::Status init(const mh::PluginDescriptor& descriptor) noexcept {
    try {
      name_.assign(host_->plugin_name().data, host_->plugin_name().size);
      const std::string method = name_ + ".ping";
      if (const mh::Status s = host_->register_admin_method(mh::Str::of(method), this); !s.ok()) return s;
    } catch (const std::exception&) {
      return mh::Status::error(mh::StatusCode::internal, "test plugin: out of memory");
    }
    for (std::size_t i = 0; i < descriptor.provided_count; ++i) {
      if (const mh::Status s = host_->provide(descriptor.provided[i], &service_); !s.ok()) return s;
    }
    return mh::Status::success();
  }

  mh::Status start() noexcept override {
    if constexpr (behaviour == Behaviour::fail_start) {
      return fail(mh::StatusCode::unavailable, ": refusing to start (test)");
    } else {
      log(": started");
      return mh::Status::success();
    }
  }

  void stop() noexcept override { log(": stopped"); }

  mh::ReconfigureResult reconfigure(mh::Str config_json, mh::ErrorSink* errors) noexcept override {
    if (!is_empty_object(config_json)) {
      validate(config_json, errors);
      return mh::ReconfigureResult::error;
    }
    return mh::ReconfigureResult::applied;
  }

  void* query(mh::InterfaceId) noexcept override { return nullptr; }

  mh::Status call(mh::Str, mh::StringSink* result) noexcept override {
    result->append(R"({"pong":true})");
    return mh::Status::success();
  }

 private:
  struct EmptyService final : mh::Service {
    void* query(mh::InterfaceId) noexcept override { return nullptr; }
  };

  void log(const char* what) noexcept {
    try {
      host_->log(mh::LogLevel::info, mh::Str::of(name_ + what));
    } catch (const std::exception&) {
    }
  }

  mh::Status fail(mh::StatusCode code, const char* what) noexcept {
    try {
      return host_->fail(code, mh::Str::of(name_ + what));  // the host copies the text
    } catch (const std::exception&) {
      return mh::Status::error(code, "test plugin: failed");
    }
  }

  mh::Host* host_;
  std::string name_;
  EmptyService service_;
};

template <Behaviour behaviour>
mh::Status create(mh::Host* host, mh::Str config_json, mh::Plugin** out) noexcept {
  if (!is_empty_object(config_json)) {
    return mh::Status::error(mh::StatusCode::invalid_argument, "test plugin: expected {} as config");
  }
  auto* plugin = new (std::nothrow) TestPlugin<behaviour>(host);
  if (plugin == nullptr) return mh::Status::error(mh::StatusCode::internal, "test plugin: out of memory");
  if (const mh::Status s = plugin->init(this_descriptor()); !s.ok()) {
    delete plugin;
    return s;
  }
  *out = plugin;
  return mh::Status::success();
}

template <Behaviour behaviour>
void destroy(mh::Plugin* plugin) noexcept {
  delete static_cast<TestPlugin<behaviour>*>(plugin);
}

// A descriptor for a test plugin named `name` (built with the current ABI; a test that
// needs another ABI edits the copy).
template <Behaviour behaviour = Behaviour::normal>
constexpr mh::PluginDescriptor describe(mh::Str name, Names provided = {}, Names required = {}) {
  return mh::PluginDescriptor{
      .struct_size = sizeof(mh::PluginDescriptor),
      .abi_major = MESHHOST_ABI_MAJOR,
      .abi_minor = MESHHOST_ABI_MINOR,
      .name = name,
      .version = "0.0.1",
      .description = "meshhost loader test plugin",
      .kind = "test",
      .provided = provided.data,
      .provided_count = provided.size,
      .required = required.data,
      .required_count = required.size,
      .config_schema = R"({"type":"object","additionalProperties":false})",
      .stability = mh::Stability::experimental,
      .validate = validate,
      .create = create<behaviour>,
      .destroy = destroy<behaviour>,
  };
}

}  // namespace mh_test

// Exports `descriptor` as MESHHOST_PLUGIN does and tells the shared code which it is.
#define MESHHOST_TEST_PLUGIN(descriptor)                                                 \
  const ::mh::PluginDescriptor& mh_test::this_descriptor() noexcept { return descriptor; } \
  MESHHOST_PLUGIN(descriptor)
