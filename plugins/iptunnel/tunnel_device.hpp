// iptunnel's own TUN devices (DESIGN §6: not the fc00 `tun`): IFF_TUN | IFF_NO_PI, so every
// read and write is one bare IPv4 or IPv6 packet. Addresses, MTU and routes are set through
// NetConfig; closing the descriptor removes the device and everything on it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace mh::iptunnel {

class TunnelDevice {
 public:
  // Creates TUN device `name`, non-blocking. nullptr with one line in *error naming the
  // device and the cause otherwise.
  static std::unique_ptr<TunnelDevice> open(const std::string& name, std::string* error);
  ~TunnelDevice();
  TunnelDevice(const TunnelDevice&) = delete;
  TunnelDevice& operator=(const TunnelDevice&) = delete;

  int fd() const noexcept { return fd_; }
  const std::string& name() const noexcept { return name_; }
  std::uint32_t ifindex() const noexcept { return ifindex_; }

 private:
  TunnelDevice(int fd, std::string name, std::uint32_t ifindex) : fd_(fd), name_(std::move(name)), ifindex_(ifindex) {}
  int fd_;
  std::string name_;
  std::uint32_t ifindex_;
};

}  // namespace mh::iptunnel
