// The tun plugin (DESIGN §1): the node's fc00::/8 address on a TUN device, carrying IPv6
// between the kernel and end-to-end sessions. TunDevice is the kernel side, TunForwarder
// the data path; this class wires them to the host (config, admin `tun.status`).
#pragma once

#include "tun_config.hpp"
#include "tun_device.hpp"
#include "tun_forwarder.hpp"

#include <meshhost/plugin.hpp>
#include <meshhost/sessions.hpp>

#include <memory>

namespace mh::tun {

class TunPlugin final : public Plugin, public AdminHandler {
 public:
  TunPlugin(Host* host, TunConfig config) noexcept : host_(host), config_(std::move(config)) {}
  ~TunPlugin();

  // Registers `tun.status`.
  Status init() noexcept;

  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId) noexcept override { return nullptr; }

  // tun.status (tun_admin.cpp).
  Status call(Str params_json, StringSink* result) noexcept override;

 private:
  DestinationTable::Hold hold() const noexcept { return {config_.unreachable_ns, config_.path_mtu_ns}; }

  Host* host_;
  TunConfig config_;
  std::unique_ptr<TunDevice> device_;
  std::unique_ptr<TunForwarder> forwarder_;
  TunStats last_stats_;  // kept across a stop for tun.status
};

}  // namespace mh::tun
