// Opening iptunnel's TUN devices: see tunnel_device.hpp.
#include "tunnel_device.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mh::iptunnel {

std::unique_ptr<TunnelDevice> TunnelDevice::open(const std::string& name, std::string* error) {
  const std::string prefix = "iptunnel device " + name + ": ";
  if (name.empty() || name.size() >= IFNAMSIZ) {
    *error = prefix + "the name must have 1 to 15 bytes";
    return nullptr;
  }
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = prefix + "cannot open /dev/net/tun: " + std::strerror(errno);
    return nullptr;
  }
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (::ioctl(fd, TUNSETIFF, &request) != 0) {
    const int e = errno;
    ::close(fd);
    *error = prefix + (e == EPERM    ? "not allowed to create a TUN device (needs root or CAP_NET_ADMIN)"
                       : e == EBUSY  ? "already in use by another process"
                       : e == EINVAL ? "the name is taken by an interface that is not a TUN device"
                                     : std::string("cannot create the TUN device: ") + std::strerror(e));
    return nullptr;
  }
  std::string actual(request.ifr_name, ::strnlen(request.ifr_name, IFNAMSIZ));
  const std::uint32_t ifindex = ::if_nametoindex(actual.c_str());
  if (ifindex == 0) {
    *error = prefix + "cannot find the device's index: " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  // No link-local address: the tunnel has no neighbours, and the kernel's router
  // solicitations and MLD reports from one would only be read back and dropped. The
  // device is ours and goes with the descriptor, so nothing is restored. Best effort:
  // without IPv6 the file is absent.
  const std::string gen_mode = "/proc/sys/net/ipv6/conf/" + actual + "/addr_gen_mode";
  if (const int conf = ::open(gen_mode.c_str(), O_WRONLY | O_CLOEXEC); conf >= 0) {
    constexpr char kNone[] = "1\n";  // IN6_ADDR_GEN_MODE_NONE
    (void)!::write(conf, kNone, sizeof kNone - 1);
    ::close(conf);
  }
  return std::unique_ptr<TunnelDevice>(new TunnelDevice(fd, std::move(actual), ifindex));
}

TunnelDevice::~TunnelDevice() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mh::iptunnel
