// The udp link driver plugin (DESIGN §1): one mh::Link per bound socket, configured peers
// (connectTo) and LAN beacons told to the switch through mh::LinkObserver, the admin
// method `udp.links` (udp_admin.cpp). The descriptor is in udp.cpp.
#pragma once

#include "udp_config.hpp"
#include "udp_link.hpp"

#include <meshhost/host.hpp>
#include <meshhost/link.hpp>
#include <meshhost/loop.hpp>
#include <meshhost/plugin.hpp>

#include <memory>
#include <vector>

namespace mh::udp {

class UdpPlugin final : public Plugin, public TimerHandler, public AdminHandler, public UdpLinkEvents {
 public:
  UdpPlugin(Host* host, UdpConfig config) noexcept;
  ~UdpPlugin();

  // Provides "link.<plugin name>" and registers `<plugin name>.links`. Called by create().
  Status init() noexcept;

  // ---- mh::Plugin ----
  Status start() noexcept override;
  void stop() noexcept override;
  ReconfigureResult reconfigure(Str config_json, ErrorSink* errors) noexcept override;
  void* query(InterfaceId) noexcept override { return nullptr; }

  // ---- udp.links (udp_admin.cpp) ----
  Status call(Str params_json, StringSink* result) noexcept override;

  // ---- beacons ----
  void on_timer() noexcept override;
  void on_beacon(UdpLink* link, const Endpoint& from, const link_common::Beacon& beacon) noexcept override;

 private:
  // The service "link.udp": the LinkDriver the switch asks for. Separate from the plugin
  // so Plugin::query and Service::query stay two different questions.
  class Driver final : public Service, public LinkDriver {
   public:
    explicit Driver(UdpPlugin* plugin) noexcept : plugin_(plugin) {}
    void* query(InterfaceId id) noexcept override {
      return id == kLinkDriverInterface ? static_cast<LinkDriver*>(this) : nullptr;
    }
    Str driver_name() const noexcept override { return "udp"; }
    void set_observer(LinkObserver* observer) noexcept override { plugin_->set_observer(observer); }

   private:
    UdpPlugin* plugin_;
  };

  void set_observer(LinkObserver* observer) noexcept;
  // Tells `observer_` about every link and, on each link of its family, every connectTo peer.
  void announce() noexcept;
  void log(LogLevel level, const std::string& message) noexcept;

  Host* host_;
  UdpConfig config_;
  Driver driver_{this};
  std::vector<std::unique_ptr<UdpLink>> links_;  // open while started
  LinkObserver* observer_ = nullptr;             // borrowed
  Timer* beacon_timer_ = nullptr;
  bool started_ = false;
};

}  // namespace mh::udp
