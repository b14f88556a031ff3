// hello: the smallest plugin that uses every part of the SDK contract a plugin author meets
// first — config validation, an admin method, metrics, a loop timer and logging. It builds
// out of tree against the installed SDK only; docs/plugin-guide.md walks through it.
#include <meshhost/keys.hpp>
#include <meshhost/plugin.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <utility>

namespace {

using nlohmann::json;

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint64_t kUptimeTickNs = kNsPerSecond;  // hello_uptime_seconds moves once a second
constexpr const char* kDefaultGreeting = "Hello";
constexpr const char* kDefaultName = "world";

// The plugin's config once validated. Everything inside the plugin may use std:: types;
// only SDK types cross the boundary.
struct Config {
  std::string greeting = kDefaultGreeting;
};

// Parses JSON text without exceptions: a plugin entry point must not throw, and
// nlohmann's no-throw parse keeps the error path free of them. Comments are allowed,
// like in the host's config file.
json parse_json(mh::Str text) {
  const char* begin = text.data == nullptr ? "" : text.data;
  return json::parse(begin, begin + text.size, /*cb=*/nullptr, /*allow_exceptions=*/false,
                     /*ignore_comments=*/true);
}

// Checks a config object and reports every problem to `errors` with its path, what was
// expected and what was found. Returns the config when there was none.
std::optional<Config> parse_config(mh::Str text, mh::ErrorSink* errors) {
  const json doc = parse_json(text);
  if (doc.is_discarded()) {
    errors->error("", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  if (!doc.is_object()) {
    errors->error("", "an object", mh::Str(doc.type_name()));
    return std::nullopt;
  }
  Config config;
  bool valid = true;
  for (const auto& [key, value] : doc.items()) {
    if (key == "greeting") {
      if (value.is_string()) {
        config.greeting = value.get<std::string>();
      } else {
        errors->error("greeting", "a string", mh::Str(value.type_name()));
        valid = false;
      }
    } else {
      errors->error(mh::Str::of(key), "no such setting (hello knows \"greeting\")", "an unknown key");
      valid = false;
    }
  }
  if (!valid) return std::nullopt;
  return config;
}

// An ErrorSink that keeps the first problem as one line, for create()'s Status (the host
// adds which plugin it came from).
class FirstError final : public mh::ErrorSink {
 public:
  void error(mh::Str path, mh::Str expected, mh::Str found) noexcept override {
    if (!line_.empty()) return;
    try {
      line_.append(path.data, path.size).append(path.size ? ": " : "").append("expected ");
      line_.append(expected.data, expected.size).append(", got ").append(found.data, found.size);
    } catch (...) {
      line_ = "invalid config";
    }
  }
  const std::string& line() const noexcept { return line_; }

 private:
  std::string line_;
};

// One object plays every role the host calls: the plugin itself, the handler of
// `hello.greet`, and the handler of its own uptime timer.
class Hello final : public mh::Plugin, mh::AdminHandler, mh::TimerHandler {
 public:
  Hello(mh::Host* host, Config config) noexcept : host_(host), config_(std::move(config)) {}

  // Registers what lives as long as the plugin: the admin method and the metrics. The
  // host keeps both until destroy(), so nothing is unregistered.
  mh::Status init() noexcept {
    greetings_ = host_->counter("hello_greetings_total", "Greetings hello.greet has given", nullptr, 0);
    uptime_ = host_->gauge("hello_uptime_seconds", "Seconds since the hello plugin started", nullptr, 0);
    if (greetings_ == nullptr || uptime_ == nullptr) {
      return mh::Status::error(mh::StatusCode::internal, "the host refused a metric name");
    }
    return host_->register_admin_method("hello.greet", this);
  }

  mh::Status start() noexcept override {
    mh::Loop* loop = host_->loop();
    if (const mh::Status s = loop->create_timer(this, &timer_); !s.ok()) return s;
    started_ns_ = loop->now_ns();
    uptime_->set(0);
    timer_->arm(kUptimeTickNs);
    try {
      // The host prefixes the plugin's name to every line it logs.
      log(mh::LogLevel::info,
          "started, greeting \"" + config_.greeting + "\", address " + mh::format_address(host_->address()));
    } catch (const std::exception&) {
      // Only an allocation can fail here; a missing log line is not worth refusing to start.
    }
    return mh::Status::success();
  }

  void stop() noexcept override {
    timer_->release();  // cancels it too: on_timer() is not called after this
    timer_ = nullptr;
    try {
      log(mh::LogLevel::info, "stopped after " + std::to_string(count_) + " greetings");
    } catch (const std::exception&) {
    }
  }

  // Only the greeting is configurable, and it can change at any time.
  mh::ReconfigureResult reconfigure(mh::Str config_json, mh::ErrorSink* errors) noexcept override {
    try {
      std::optional<Config> config = parse_config(config_json, errors);
      if (!config) return mh::ReconfigureResult::error;
      config_ = std::move(*config);
      log(mh::LogLevel::info, "greeting is now \"" + config_.greeting + "\"");
      return mh::ReconfigureResult::applied;
    } catch (const std::exception&) {
      errors->error("", "a config hello can hold", "too little memory to hold it");
      return mh::ReconfigureResult::error;
    }
  }

  void* query(mh::InterfaceId) noexcept override { return nullptr; }

  // hello.greet: params {"name": "..."} (optional) → {"greeting", "address", "count"}.
  mh::Status call(mh::Str params_json, mh::StringSink* result) noexcept override {
    try {
      const json params = parse_json(params_json);
      std::string name = kDefaultName;
      if (!params.is_null() && !params.is_object()) {
        return mh::Status::error(mh::StatusCode::invalid_argument,
                                 "hello.greet: params: expected an object like {\"name\": \"...\"}");
      }
      if (const auto it = params.find("name"); it != params.end()) {
        if (!it->is_string()) {
          const std::string message =
              "hello.greet: params.name: expected a string, got " + std::string(it->type_name());
          return host_->fail(mh::StatusCode::invalid_argument, mh::Str::of(message));
        }
        name = it->get<std::string>();
      }
      ++count_;
      greetings_->add(1);
      const json reply = {
          {"greeting", config_.greeting + ", " + name},
          {"address", mh::format_address(host_->address())},
          {"count", count_},
      };
      const std::string text = reply.dump();
      result->append(mh::Str::of(text));  // the sink copies it before we return
      return mh::Status::success();
    } catch (const std::exception& e) {
      return host_->fail(mh::StatusCode::internal, mh::Str(e.what()));
    }
  }

  void on_timer() noexcept override {
    uptime_->set(static_cast<double>(host_->loop()->now_ns() - started_ns_) / kNsPerSecond);
    timer_->arm(kUptimeTickNs);  // timers are one-shot: arm again for periodic work
  }

 private:
  void log(mh::LogLevel level, const std::string& message) noexcept { host_->log(level, mh::Str::of(message)); }

  mh::Host* host_;
  Config config_;
  mh::Counter* greetings_ = nullptr;  // owned by the host
  mh::Gauge* uptime_ = nullptr;       // owned by the host
  mh::Timer* timer_ = nullptr;        // ours while started; freed with release()
  std::uint64_t started_ns_ = 0;
  std::uint64_t count_ = 0;
};

// ---- the descriptor's functions: C-compatible, noexcept, no exceptions escape ----

void validate(mh::Str config_json, mh::ErrorSink* errors) noexcept {
  try {
    (void)parse_config(config_json, errors);
  } catch (const std::exception&) {
    errors->error("", "a config hello can hold", "too little memory to check it");
  }
}

mh::Status create(mh::Host* host, mh::Str config_json, mh::Plugin** out) noexcept {
  try {
    FirstError error;
    std::optional<Config> config = parse_config(config_json, &error);
    if (!config) return host->fail(mh::StatusCode::invalid_argument, mh::Str::of(error.line()));
    Hello* hello = new Hello(host, std::move(*config));
    if (const mh::Status s = hello->init(); !s.ok()) {
      delete hello;
      return s;
    }
    *out = hello;
    return mh::Status::success();
  } catch (const std::bad_alloc&) {
    return mh::Status::error(mh::StatusCode::internal, "out of memory");
  } catch (const std::exception& e) {
    return host->fail(mh::StatusCode::internal, mh::Str(e.what()));
  }
}

// The plugin was allocated here, so it is freed here (DESIGN §2: freed by its allocator).
void destroy(mh::Plugin* plugin) noexcept { delete static_cast<Hello*>(plugin); }

constexpr const char* kConfigSchema = R"({
  "type": "object",
  "properties": {
    "greeting": {"type": "string", "default": "Hello", "description": "What hello.greet says before the name"}
  },
  "additionalProperties": false
})";

const mh::PluginDescriptor kDescriptor = {
    .struct_size = sizeof(mh::PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = "hello",
    .version = "1.0.0",
    .description = "Example plugin: greets over the admin socket and counts it",
    .kind = "example",
    .provided = nullptr,
    .provided_count = 0,
    .required = nullptr,
    .required_count = 0,
    .config_schema = kConfigSchema,
    .stability = mh::Stability::stable,
    .validate = validate,
    .create = create,
    .destroy = destroy,
};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
