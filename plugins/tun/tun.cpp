// The tun plugin: see tun.hpp. Start looks up the sessions, checks the MTU against what
// they carry, opens the device and starts the forwarder; stop closes the device, which
// takes the address and the fc00::/8 route with it.
#include "tun.hpp"

#include <link_driver_config.hpp>
#include <plugin_entry.hpp>

#include <meshhost/keys.hpp>

#include <exception>
#include <new>
#include <string>

namespace mh::tun {

TunPlugin::~TunPlugin() { stop(); }

Status TunPlugin::init() noexcept { return host_->register_admin_method("tun.status", this); }

Status TunPlugin::start() noexcept {
  try {
    Service* service = host_->lookup("sessions");
    auto* sessions = service != nullptr ? static_cast<Sessions*>(service->query(kSessionsInterface)) : nullptr;
    if (sessions == nullptr) {
      return Status::error(StatusCode::unavailable,
                           "no service \"sessions\" offering meshhost.sessions.v1: enable the session plugin");
    }
    // Sessions carry at least 1280 to anyone; the device must not promise more than they
    // carry to a node they know nothing about yet.
    const std::uint32_t carried = sessions->max_payload(Address{});
    PacketPool* pool = sessions->pool();
    const std::uint32_t room = pool->buffer_size() > pool->headroom() ? pool->buffer_size() - pool->headroom() : 0;
    if (config_.mtu > carried || config_.mtu > room) {
      return host_->fail(StatusCode::invalid_argument,
                         Str::of("mtu " + std::to_string(config_.mtu) + " is more than the sessions carry (" +
                                 std::to_string(carried < room ? carried : room) + ")"));
    }

    std::string error;
    device_ = TunDevice::open(config_.name, config_.mtu, host_->address(), &error);
    if (!device_) return host_->fail(StatusCode::io_error, Str::of(error));
    forwarder_ = std::make_unique<TunForwarder>(host_, sessions, hold());
    if (Status s = forwarder_->start(device_->fd()); !s.ok()) {
      forwarder_.reset();
      device_.reset();
      return s;
    }
    const std::string line = device_->name() + " up: " + format_address(host_->address()) + "/8, MTU " +
                             std::to_string(device_->mtu()) + ", ifindex " + std::to_string(device_->ifindex());
    host_->log(LogLevel::info, Str::of(line));
    return Status::success();
  } catch (const std::bad_alloc&) {
    forwarder_.reset();
    device_.reset();
    return Status::error(StatusCode::internal, "out of memory");
  }
}

void TunPlugin::stop() noexcept {
  if (forwarder_) {
    forwarder_->stop();
    last_stats_ = forwarder_->stats();
  }
  forwarder_.reset();
  device_.reset();  // closing the descriptor removes the device, its address and route
}

ReconfigureResult TunPlugin::reconfigure(Str config_json, ErrorSink* errors) noexcept {
  try {
    std::optional<TunConfig> config = parse_tun_config(config_json, errors);
    if (!config) return ReconfigureResult::error;
    // The device is made once: a new name or MTU takes a restart.
    if (config->name != config_.name || config->mtu != config_.mtu) return ReconfigureResult::restart_required;
    config_ = std::move(*config);
    if (forwarder_) forwarder_->set_hold(hold());
    return ReconfigureResult::applied;
  } catch (const std::exception&) {
    errors->error("", "a config tun can hold", "too little memory to hold it");
    return ReconfigureResult::error;
  }
}

namespace {

// ---- the descriptor's functions: C-compatible, noexcept, no exceptions escape ----

constexpr char kName[] = "tun";
using Entry = link_common::PluginEntry<TunPlugin, parse_tun_config, kName>;

constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 15, "default": "meshhost0",
             "description": "the TUN interface's name"},
    "mtu": {"type": "integer", "minimum": 1280, "maximum": 65535, "default": 1280,
            "description": "the interface's MTU; refused at start above what sessions carry to any node"},
    "timers": {
      "type": "object",
      "properties": {
        "unreachableMs": {"type": "integer", "minimum": 1, "maximum": 86400000, "default": 3000,
                          "description": "how long packets to a node that failed are answered with ICMPv6 Destination Unreachable"},
        "pathMtuMs": {"type": "integer", "minimum": 1, "maximum": 86400000, "default": 600000,
                      "description": "how long a path MTU learnt from a too-big hint holds"}
      },
      "additionalProperties": false
    }
  },
  "additionalProperties": false
})json";

const Str kProvided[] = {"tun"};
const Str kRequired[] = {"sessions"};

const PluginDescriptor kDescriptor = {
    .struct_size = sizeof(PluginDescriptor),
    .abi_major = MESHHOST_ABI_MAJOR,
    .abi_minor = MESHHOST_ABI_MINOR,
    .name = kName,
    .version = "0.1.0",
    .description = "The node's fc00::/8 address on a TUN device, carried by end-to-end sessions",
    .kind = "tun",
    .provided = kProvided,
    .provided_count = 1,
    .required = kRequired,
    .required_count = 1,
    .config_schema = kConfigSchema,
    .stability = Stability::experimental,
    .validate = Entry::validate,
    .create = Entry::create,
    .destroy = Entry::destroy,
};

}  // namespace
}  // namespace mh::tun

MESHHOST_PLUGIN(mh::tun::kDescriptor)
