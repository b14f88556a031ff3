// The TUN device and its rtnetlink setup: see tun_device.hpp.
#include "tun_device.hpp"

#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include <fcntl.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mh::tun {

namespace {

constexpr int kMeshPrefixLength = 8;  // fc00::/8: the kernel's route to every node

// Why TUNSETIFF failed, in words an operator acts on.
std::string tunsetiff_error(int error) {
  switch (error) {
    case EPERM:
      return "not allowed to create a TUN device (needs root or CAP_NET_ADMIN)";
    case EBUSY:
      return "the TUN device is already in use by another process";
    case EINVAL:
      return "the name is taken by an interface that is not a TUN device";
    default:
      return std::string("cannot create the TUN device: ") + std::strerror(error);
  }
}

// libnl objects freed however setup ends.
struct NetlinkSetup {
  nl_sock* sock = nullptr;
  rtnl_link* link = nullptr;
  rtnl_link* change = nullptr;
  rtnl_addr* addr = nullptr;
  nl_addr* local = nullptr;
  ~NetlinkSetup() {
    if (local != nullptr) nl_addr_put(local);
    if (addr != nullptr) rtnl_addr_put(addr);
    if (change != nullptr) rtnl_link_put(change);
    if (link != nullptr) rtnl_link_put(link);
    if (sock != nullptr) nl_socket_free(sock);
  }
};

// MTU, link up, then the address (an IPv6 address on a device that is up gets its prefix
// route at once). "" or what failed.
std::string configure(std::uint32_t ifindex, std::uint32_t mtu, const Address& address) {
  NetlinkSetup nl;
  nl.sock = nl_socket_alloc();
  if (nl.sock == nullptr) return "rtnetlink: out of memory";
  if (int err = nl_connect(nl.sock, NETLINK_ROUTE); err < 0) {
    return std::string("rtnetlink: cannot open a socket: ") + nl_geterror(err);
  }
  if (int err = rtnl_link_get_kernel(nl.sock, static_cast<int>(ifindex), nullptr, &nl.link); err < 0) {
    return std::string("cannot read the device back through rtnetlink: ") + nl_geterror(err);
  }
  nl.change = rtnl_link_alloc();
  if (nl.change == nullptr) return "rtnetlink: out of memory";
  rtnl_link_set_mtu(nl.change, mtu);
  rtnl_link_set_flags(nl.change, IFF_UP);
  if (int err = rtnl_link_change(nl.sock, nl.link, nl.change, 0); err < 0) {
    return "cannot set MTU " + std::to_string(mtu) + " and bring the device up: " + nl_geterror(err);
  }

  nl.addr = rtnl_addr_alloc();
  nl.local = nl_addr_build(AF_INET6, address.bytes, kAddressSize);
  if (nl.addr == nullptr || nl.local == nullptr) return "rtnetlink: out of memory";
  nl_addr_set_prefixlen(nl.local, kMeshPrefixLength);
  rtnl_addr_set_ifindex(nl.addr, static_cast<int>(ifindex));
  rtnl_addr_set_family(nl.addr, AF_INET6);
  if (int err = rtnl_addr_set_local(nl.addr, nl.local); err < 0) {
    return std::string("rtnetlink: ") + nl_geterror(err);
  }
  rtnl_addr_set_prefixlen(nl.addr, kMeshPrefixLength);
  rtnl_addr_set_flags(nl.addr, IFA_F_NODAD);
  // A persistent device we attached to may still hold the address: that is fine.
  if (int err = rtnl_addr_add(nl.sock, nl.addr, 0); err < 0 && err != -NLE_EXIST) {
    return std::string("cannot add the node's address (is IPv6 disabled?): ") + nl_geterror(err);
  }
  return {};
}

}  // namespace

std::unique_ptr<TunDevice> TunDevice::open(const std::string& name, std::uint32_t mtu, const Address& address,
                                           std::string* error) {
  const std::string prefix = "tun device " + name + ": ";
  if (name.empty() || name.size() >= IFNAMSIZ) {
    *error = prefix + "the name must have 1 to 15 bytes";
    return nullptr;
  }
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    *error = prefix + (e == ENOENT ? std::string("/dev/net/tun does not exist (load the tun module, or give the "
                                                 "container the device)")
                                   : std::string("cannot open /dev/net/tun: ") + std::strerror(e));
    return nullptr;
  }
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (::ioctl(fd, TUNSETIFF, &request) != 0) {
    const int e = errno;
    ::close(fd);
    *error = prefix + tunsetiff_error(e);
    return nullptr;
  }
  std::string actual(request.ifr_name, ::strnlen(request.ifr_name, IFNAMSIZ));
  std::unique_ptr<TunDevice> device(new TunDevice(fd, std::move(actual), 0, mtu));
  device->ifindex_ = ::if_nametoindex(device->name_.c_str());  // this namespace's, whatever /sys shows
  if (device->ifindex_ == 0) {
    *error = prefix + "cannot find the device's index: " + std::strerror(errno);
    return nullptr;
  }
  if (std::string why = configure(device->ifindex_, mtu, address); !why.empty()) {
    *error = prefix + why;
    return nullptr;
  }
  return device;
}

TunDevice::~TunDevice() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mh::tun
