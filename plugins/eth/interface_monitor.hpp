// Follows the kernel's network interfaces through rtnetlink (libnl-route-3's cache
// manager) on the SDK loop: every interface once at start, then each one that appears,
// changes (up/down, MTU, name) or vanishes. Shared by `eth` and `meshpoint`.
#pragma once

#include "ether_frame.hpp"

#include <meshhost/loop.hpp>

#include <cstdint>
#include <string>

struct nl_cache_mngr;
struct nl_cache;
struct nl_object;

namespace mh::ether {

// One interface as the kernel last described it.
struct InterfaceInfo {
  std::uint32_t ifindex = 0;
  std::string name;
  std::uint32_t mtu = 0;
  MacAddress mac;
  bool up = false;        // IFF_UP: the administrator enabled it
  bool running = false;   // IFF_RUNNING: operationally up (carrier)
  bool loopback = false;  // IFF_LOOPBACK
  bool ethernet = false;  // ARPHRD_ETHER: speaks Ethernet frames (veth, bridges, Wi-Fi, mesh points)

  bool usable() const noexcept { return up && running; }
};

class InterfaceMonitor final : FdHandler {
 public:
  // Told on the loop thread. Called from start() and from the loop; a listener may do
  // anything but destroy the monitor from inside these calls.
  class Listener {
   public:
    // `info` is new or changed (any field).
    virtual void on_interface(const InterfaceInfo& info) noexcept = 0;
    // The interface with `ifindex` is gone.
    virtual void on_interface_gone(std::uint32_t ifindex) noexcept = 0;

   protected:
    ~Listener() = default;
  };

  // `loop` and `listener` are borrowed and must outlive the monitor.
  InterfaceMonitor(Loop* loop, Listener* listener) noexcept : loop_(loop), listener_(listener) {}
  ~InterfaceMonitor();
  InterfaceMonitor(const InterfaceMonitor&) = delete;
  InterfaceMonitor& operator=(const InterfaceMonitor&) = delete;

  // Subscribes to link changes, reads every interface (telling the listener about each)
  // and watches the netlink socket on the loop. Returns "" or why it could not.
  std::string start();
  // Stops watching; the listener hears nothing more. Safe to call twice.
  void stop() noexcept;

 private:
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  static void on_change(nl_cache* cache, nl_object* object, int action, void* self) noexcept;
  void report(nl_object* object, int action) noexcept;

  Loop* loop_;
  Listener* listener_;
  nl_cache_mngr* manager_ = nullptr;
  nl_cache* links_ = nullptr;  // owned by manager_
  FdWatch* watch_ = nullptr;
};

}  // namespace mh::ether
