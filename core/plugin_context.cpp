// One plugin's view of the host. Every entry point is noexcept: whatever the host throws
// inside becomes a Status or a null result, never an exception across the boundary.
#include "plugin_context.hpp"
#include "sdk_strings.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace mh::core {

namespace {

std::vector<std::pair<std::string, std::string>> to_labels(const Label* labels, std::size_t count) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; labels && i < count; ++i) out.emplace_back(to_string(labels[i].name), to_string(labels[i].value));
  return out;
}

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Collects what a plugin's admin handler appends.
class StringCollector final : public StringSink {
 public:
  void append(Str text) noexcept override {
    try {
      text_.append(text.data, text.size);
    } catch (...) {
      overflowed_ = true;
    }
  }
  const std::string& text() const { return text_; }
  bool overflowed() const { return overflowed_; }

 private:
  std::string text_;
  bool overflowed_ = false;
};

}  // namespace

PluginContext::PluginContext(std::string name, std::vector<std::string> provided, std::string state_dir,
                             HostServices services)
    : name_(std::move(name)),
      provided_(std::move(provided)),
      state_dir_(std::move(state_dir)),
      services_(std::move(services)),
      logger_(services_.logger->clone(name_)),
      kept_(std::make_shared<KeptStrings>()) {}

PluginContext::~PluginContext() = default;

void PluginContext::prepare_state_dir() {
  std::error_code ec;
  std::filesystem::create_directories(state_dir_, ec);
  if (ec) throw std::runtime_error("cannot create state directory " + state_dir_ + ": " + ec.message());
  if (::chmod(state_dir_.c_str(), 0700) != 0)
    throw std::runtime_error("cannot set mode 0700 on " + state_dir_ + ": " + std::strerror(errno));
}

void PluginContext::withdraw() {
  services_.admin.remove_owner(name_);
  services_.metrics.remove_owner(name_);
  services_.services.remove_owner(name_);
}

Str PluginContext::keep(std::string text) noexcept {
  try {
    kept_->strings.push_back(std::move(text));  // deque: earlier elements never move
    if (!kept_->clear_posted) {
      // The Status contract keeps a message valid until the caller returns to the loop;
      // the next turn of the loop frees them all.
      kept_->clear_posted = true;
      services_.loop.post([weak = std::weak_ptr<KeptStrings>(kept_)] {
        if (auto kept = weak.lock()) {
          kept->strings.clear();
          kept->clear_posted = false;
        }
      });
    }
    return Str::of(kept_->strings.back());
  } catch (...) {
    return Str("(out of memory)");
  }
}

Str PluginContext::plugin_name() const noexcept { return Str::of(name_); }

void PluginContext::log(LogLevel level, Str message) noexcept {
  try {
    logger_->log(to_spdlog(level), "{}", std::string_view(message.data ? message.data : "", message.size));
  } catch (...) {
  }
}

Loop* PluginContext::loop() noexcept { return &services_.loop; }

Status PluginContext::fail(StatusCode code, Str message) noexcept {
  if (code == StatusCode::ok) code = StatusCode::internal;  // fail() always means failure
  return Status::error(code, keep(to_string(message)));
}

void PluginContext::set_log_level(spdlog::level::level_enum level) { logger_->set_level(level); }

PublicKey PluginContext::public_key() const noexcept { return services_.identity.public_key(); }
Address PluginContext::address() const noexcept { return services_.identity.address(); }

Status PluginContext::dh(const PublicKey& remote, SharedSecret* out) noexcept {
  if (out == nullptr) return Status::error(StatusCode::invalid_argument, "dh: null output");
  if (!services_.identity.dh(remote, out))
    return Status::error(StatusCode::invalid_argument, "dh: the remote key is a low-order point");
  return Status::success();
}

Str PluginContext::state_dir() const noexcept { return Str::of(state_dir_); }

Status PluginContext::register_admin_method(Str name_str, AdminHandler* handler) noexcept {
  try {
    std::string name = to_string(name_str);
    if (handler == nullptr) return Status::error(StatusCode::invalid_argument, "register_admin_method: null handler");
    if (name.size() <= name_.size() + 1 || name.compare(0, name_.size() + 1, name_ + ".") != 0)
      return fail(StatusCode::invalid_argument, Str::of("admin method \"" + name + "\" must start with \"" + name_ + ".\""));
    bool added = services_.admin.add_method(name, name_, [handler, name](const nlohmann::json& params) {
      StringCollector result;
      const std::string params_text = params.dump();
      Status status = handler->call(Str::of(params_text), &result);
      if (!status.ok())
        throw AdminError{kRpcServerError, status.message.size ? to_string(status.message) : "error " + std::to_string(int(status.code))};
      if (result.overflowed()) throw AdminError{kRpcServerError, name + ": result too large"};
      if (result.text().empty()) return nlohmann::json();
      try {
        return nlohmann::json::parse(result.text());
      } catch (const nlohmann::json::exception&) {
        throw AdminError{kRpcServerError, name + " returned a result that is not JSON"};
      }
    });
    if (!added) return fail(StatusCode::already_exists, Str::of("admin method \"" + name + "\" is already registered"));
    return Status::success();
  } catch (...) {
    return Status::error(StatusCode::internal, "register_admin_method: out of memory");
  }
}

Counter* PluginContext::counter(Str name, Str help, const Label* labels, std::size_t label_count) noexcept {
  try {
    return services_.metrics.counter(name_, to_string(name), to_string(help), to_labels(labels, label_count));
  } catch (...) {
    return nullptr;
  }
}

Gauge* PluginContext::gauge(Str name, Str help, const Label* labels, std::size_t label_count) noexcept {
  try {
    return services_.metrics.gauge(name_, to_string(name), to_string(help), to_labels(labels, label_count));
  } catch (...) {
    return nullptr;
  }
}

Status PluginContext::provide(Str name_str, Service* service) noexcept {
  try {
    std::string name = to_string(name_str);
    if (service == nullptr) return Status::error(StatusCode::invalid_argument, "provide: null service");
    bool declared = false;
    for (const auto& declared_name : provided_)
      if (declared_name == name || (declared_name.rfind("link.", 0) == 0 && name.rfind("link.", 0) == 0))
        declared = true;
    if (!declared)
      return fail(StatusCode::invalid_argument,
                  Str::of("service \"" + name + "\" is not in plugin " + name_ + "'s descriptor"));
    if (!services_.services.provide(name, name_, service))
      return fail(StatusCode::already_exists, Str::of("service \"" + name + "\" is already provided"));
    return Status::success();
  } catch (...) {
    return Status::error(StatusCode::internal, "provide: out of memory");
  }
}

Service* PluginContext::lookup(Str name) noexcept {
  try {
    return services_.services.lookup(to_string(name));
  } catch (...) {
    return nullptr;
  }
}

std::size_t PluginContext::lookup_prefix(Str prefix, Service** out, Str* names, std::size_t capacity) noexcept {
  try {
    auto found = services_.services.lookup_prefix(to_string(prefix));
    for (std::size_t i = 0; i < found.size() && i < capacity; ++i) {
      if (out) out[i] = found[i].second;
      if (names) names[i] = Str::of(*found[i].first);
    }
    return found.size();
  } catch (...) {
    return 0;
  }
}

}  // namespace mh::core
