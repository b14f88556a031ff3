// Bringing meshpoint's interface up and down through rtnetlink: see interface_control.hpp.
#include "interface_control.hpp"

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>

#include <net/if.h>

#include <memory>

namespace mh::meshpoint {

namespace {

struct SocketFree {
  void operator()(nl_sock* s) const noexcept { nl_socket_free(s); }
};
struct LinkPut {
  void operator()(rtnl_link* l) const noexcept { rtnl_link_put(l); }
};
using Socket = std::unique_ptr<nl_sock, SocketFree>;
using LinkObject = std::unique_ptr<rtnl_link, LinkPut>;

// A connected rtnetlink socket and the interface as the kernel has it now; "" or why not.
std::string read_link(const std::string& name, std::uint32_t ifindex, const char* operation, Socket* sock,
                      LinkObject* link) {
  const std::string where = name + ": " + operation + ": ";
  sock->reset(nl_socket_alloc());
  if (!*sock) return where + "out of memory";
  if (int err = nl_connect(sock->get(), NETLINK_ROUTE); err < 0) {
    return where + "cannot open an rtnetlink socket: " + nl_geterror(err);
  }
  rtnl_link* found = nullptr;
  if (int err = rtnl_link_get_kernel(sock->get(), static_cast<int>(ifindex), nullptr, &found); err < 0) {
    return where + nl_geterror(err);
  }
  link->reset(found);
  return {};
}

}  // namespace

std::string interface_is_up(const std::string& name, std::uint32_t ifindex, bool* up) {
  Socket sock;
  LinkObject link;
  if (std::string error = read_link(name, ifindex, "reading its state", &sock, &link); !error.empty()) return error;
  *up = (rtnl_link_get_flags(link.get()) & IFF_UP) != 0;
  return {};
}

std::string set_interface_up(const std::string& name, std::uint32_t ifindex, bool up) {
  const char* operation = up ? "bringing it up" : "taking it down";
  Socket sock;
  LinkObject link;
  if (std::string error = read_link(name, ifindex, operation, &sock, &link); !error.empty()) return error;
  const LinkObject change(rtnl_link_alloc());
  if (!change) return name + ": " + operation + ": out of memory";
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  if (int err = rtnl_link_change(sock.get(), link.get(), change.get(), 0); err < 0) {
    return name + ": " + operation + ": " + nl_geterror(err);
  }
  return {};
}

}  // namespace mh::meshpoint
