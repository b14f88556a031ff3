// Interfaces through rtnetlink: see interface_monitor.hpp.
#include "interface_monitor.hpp"

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/socket.h>

#include <cstring>

namespace mh::ether {

InterfaceMonitor::~InterfaceMonitor() { stop(); }

std::string InterfaceMonitor::start() {
  stop();
  // No NL_AUTO_PROVIDE: that makes the cache libnl's process-wide one, and with two
  // monitors (eth and meshpoint, or two tests) the replaced cache is never freed.
  int err = nl_cache_mngr_alloc(nullptr, NETLINK_ROUTE, 0, &manager_);
  if (err < 0) {
    manager_ = nullptr;
    return std::string("rtnetlink: cannot open a socket: ") + nl_geterror(err);
  }
  // Subscribes before the dump, so no change between the two is missed.
  err = nl_cache_mngr_add(manager_, "route/link", &InterfaceMonitor::on_change, this, &links_);
  if (err < 0) {
    stop();
    return std::string("rtnetlink: cannot read the interfaces: ") + nl_geterror(err);
  }
  const Status watched = loop_->watch_fd(nl_cache_mngr_get_fd(manager_), kFdReadable, this, &watch_);
  if (!watched.ok()) {
    stop();
    return "rtnetlink: cannot watch the socket: " + std::string(watched.message.data, watched.message.size);
  }
  nl_cache_foreach(
      links_, [](nl_object* object, void* self) { static_cast<InterfaceMonitor*>(self)->report(object, NL_ACT_NEW); },
      this);
  return {};
}

void InterfaceMonitor::stop() noexcept {
  if (watch_ != nullptr) watch_->release();
  watch_ = nullptr;
  if (manager_ != nullptr) nl_cache_mngr_free(manager_);  // frees links_ too
  manager_ = nullptr;
  links_ = nullptr;
}

void InterfaceMonitor::on_fd_ready(int, std::uint32_t) noexcept {
  // Reads until the socket is empty, calling on_change for each change.
  if (nl_cache_mngr_data_ready(manager_) >= 0) return;
  // An overrun (ENOBUFS) or a bad message lost changes: dump the interfaces again and
  // let the cache report what differs (new, changed, gone) through on_change.
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return;
  if (nl_connect(sock, NETLINK_ROUTE) == 0) {
    (void)nl_cache_resync(sock, links_, &InterfaceMonitor::on_change, this);
  }
  nl_socket_free(sock);
}

void InterfaceMonitor::on_change(nl_cache*, nl_object* object, int action, void* self) noexcept {
  static_cast<InterfaceMonitor*>(self)->report(object, action);
}

void InterfaceMonitor::report(nl_object* object, int action) noexcept {
  auto* link = reinterpret_cast<rtnl_link*>(object);
  // Bridge ports also come as AF_BRIDGE messages about the same ifindex; only the
  // AF_UNSPEC view describes the interface itself.
  if (rtnl_link_get_family(link) != AF_UNSPEC) return;
  const int ifindex = rtnl_link_get_ifindex(link);
  if (ifindex <= 0) return;
  if (action == NL_ACT_DEL) {
    listener_->on_interface_gone(static_cast<std::uint32_t>(ifindex));
    return;
  }
  try {
    InterfaceInfo info;
    info.ifindex = static_cast<std::uint32_t>(ifindex);
    const char* name = rtnl_link_get_name(link);
    info.name = name != nullptr ? name : "";
    info.mtu = rtnl_link_get_mtu(link);
    const unsigned flags = rtnl_link_get_flags(link);
    info.up = (flags & IFF_UP) != 0;
    info.running = (flags & IFF_RUNNING) != 0;
    info.loopback = (flags & IFF_LOOPBACK) != 0;
    info.ethernet = rtnl_link_get_arptype(link) == ARPHRD_ETHER;
    if (nl_addr* addr = rtnl_link_get_addr(link); addr != nullptr && nl_addr_get_len(addr) == kMacSize) {
      std::memcpy(info.mac.bytes, nl_addr_get_binary_addr(addr), kMacSize);
    }
    listener_->on_interface(info);
  } catch (...) {
    // Only the name's copy can fail (out of memory); the next change reports it again.
  }
}

}  // namespace mh::ether
