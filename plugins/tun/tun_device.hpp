// The kernel side of tun: a TUN device (IFF_TUN | IFF_NO_PI: every read and write is one
// bare IPv6 packet) carrying the node's address with prefix length 8, so the kernel routes
// fc00::/8 into it. Configured through rtnetlink (libnl-route-3), never by running `ip`.
// Closing the descriptor removes the device and with it the address and the route.
#pragma once

#include <meshhost/types.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace mh::tun {

class TunDevice {
 public:
  // Creates (or attaches to a persistent) TUN device `name`, non-blocking, with `mtu`,
  // `address`/8 without duplicate address detection (IFA_F_NODAD), and sets it up.
  // nullptr with one line in *error naming the device and the cause otherwise.
  static std::unique_ptr<TunDevice> open(const std::string& name, std::uint32_t mtu, const Address& address,
                                         std::string* error);

  ~TunDevice();
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  // The device's descriptor: non-blocking; read() returns one packet, write() takes one.
  int fd() const noexcept { return fd_; }
  const std::string& name() const noexcept { return name_; }
  std::uint32_t ifindex() const noexcept { return ifindex_; }
  std::uint32_t mtu() const noexcept { return mtu_; }

 private:
  TunDevice(int fd, std::string name, std::uint32_t ifindex, std::uint32_t mtu)
      : fd_(fd), name_(std::move(name)), ifindex_(ifindex), mtu_(mtu) {}

  int fd_;
  std::string name_;
  std::uint32_t ifindex_;
  std::uint32_t mtu_;
};

}  // namespace mh::tun
