// The descriptor's validate/create/destroy for a plugin whose config parses into an
// optional (`Parse(Str, ErrorSink*) -> std::optional<Config>`) and whose class is made
// from (Host*, Config) and then init(): C-compatible, noexcept, no exception escapes.
#pragma once

#include "link_driver_config.hpp"

#include <meshhost/plugin.hpp>

#include <exception>
#include <memory>
#include <new>
#include <string>

namespace mh::link_common {

// `Name` is the plugin's name for the out-of-memory message ("a config udp can hold").
template <class PluginClass, auto Parse, const char* Name>
struct PluginEntry {
  static void validate(Str config_json, ErrorSink* errors) noexcept {
    try {
      (void)Parse(config_json, errors);
    } catch (const std::exception&) {
      errors->error("", Str::of("a config " + std::string(Name) + " can hold"), "too little memory to check it");
    }
  }

  static Status create(Host* host, Str config_json, Plugin** out) noexcept {
    try {
      FirstErrorLine error;
      auto config = Parse(config_json, &error);
      if (!config) return host->fail(StatusCode::invalid_argument, Str::of(error.line()));
      auto plugin = std::make_unique<PluginClass>(host, std::move(*config));
      if (const Status s = plugin->init(); !s.ok()) return s;
      *out = plugin.release();
      return Status::success();
    } catch (const std::bad_alloc&) {
      return Status::error(StatusCode::internal, "out of memory");
    } catch (const std::exception& e) {
      return host->fail(StatusCode::internal, Str(e.what()));
    }
  }

  static void destroy(Plugin* plugin) noexcept { delete static_cast<PluginClass*>(plugin); }
};

}  // namespace mh::link_common
