// The session plugin's descriptor and entry points: create, validate, destroy.
#include "session.hpp"

#include <memory>

namespace {

const mh::Str kProvided[] = {mh::Str("sessions")};
const mh::Str kRequired[] = {mh::Str("switch"), mh::Str("router")};

const char kSchema[] = R"({
  "type": "object",
  "properties": {
    "queueLength": {"type": "integer", "minimum": 0, "maximum": 4096},
    "maxSessions": {"type": "integer", "minimum": 1},
    "idleTimeoutMs": {"type": "integer", "minimum": 1},
    "handshakeRetryMs": {"type": "integer", "minimum": 1},
    "handshakeRetryMaxMs": {"type": "integer", "minimum": 1},
    "handshakeTimeoutMs": {"type": "integer", "minimum": 1},
    "keepaliveMs": {"type": "integer", "minimum": 1},
    "handshakesPerSecond": {"type": "integer", "minimum": 1}
  },
  "additionalProperties": false
})";

void validate(mh::Str config_json, mh::ErrorSink* errors) noexcept {
  try {
    (void)mh::session::parse_session_config(config_json, errors);
  } catch (const std::exception&) {
    errors->error("", "a config the session plugin can hold", "too little memory");
  }
}

mh::Status create(mh::Host* host, mh::Str config_json, mh::Plugin** out) noexcept {
  struct NullSink final : mh::ErrorSink {
    void error(mh::Str, mh::Str, mh::Str) noexcept override {}
  } ignore;
  try {
    auto config = mh::session::parse_session_config(config_json, &ignore);
    if (!config) return mh::Status::error(mh::StatusCode::invalid_argument, "session: invalid config");
    auto plugin = std::make_unique<mh::session::SessionPlugin>(host, *config);
    if (mh::Status s = plugin->init(); !s.ok()) return s;
    *out = plugin.release();
    return mh::Status::success();
  } catch (const std::exception&) {
    return mh::Status::error(mh::StatusCode::internal, "session: out of memory");
  }
}

void destroy(mh::Plugin* plugin) noexcept { delete static_cast<mh::session::SessionPlugin*>(plugin); }

const mh::PluginDescriptor kDescriptor = {
    sizeof(mh::PluginDescriptor),
    MESHHOST_ABI_MAJOR,
    MESHHOST_ABI_MINOR,
    "session",
    "0.1.0",
    "End-to-end Noise sessions between node keys over the mesh",
    "session",
    kProvided,
    1,
    kRequired,
    2,
    kSchema,
    mh::Stability::experimental,
    &validate,
    &create,
    &destroy,
};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
