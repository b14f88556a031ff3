// A link: one way of reaching neighbours (a UDP socket, an Ethernet interface). Link
// drivers provide their links as services named "link.<driver>"; the switch finds them
// with Host::lookup_prefix("link.") and asks each for kLinkInterface.
#pragma once

#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

namespace mh {

class Link;

// Receives frames from a link, on the loop thread.
class LinkReceiver {
 public:
  // Takes ownership of every packet in packets[0..count); each packet's endpoint is the
  // sender's link-layer address. The array itself is borrowed for this call.
  virtual void on_receive(Link* link, Packet* const* packets, std::size_t count) noexcept = 0;

 protected:
  ~LinkReceiver() = default;
};

class Link {
 public:
  // Stable for the link's lifetime, e.g. "udp/0.0.0.0:11234" or "eth/eth0".
  virtual Str name() const noexcept = 0;
  // The largest frame, in bytes, that send() accepts.
  virtual std::uint32_t mtu() const noexcept = 0;
  // Where received frames go; `receiver` is borrowed (nullptr drops them).
  virtual void set_receiver(LinkReceiver* receiver) noexcept = 0;
  // Sends packets[0..count), each to its own endpoint, taking ownership of all of them.
  // Never blocks: returns how many were handed to the kernel; the rest were dropped
  // (queue full or a frame over mtu()) and released.
  virtual std::size_t send(Packet* const* packets, std::size_t count) noexcept = 0;
  // The pool receivers get packets from, and that senders should acquire frames from.
  virtual PacketPool* pool() noexcept = 0;

 protected:
  ~Link() = default;
};

inline constexpr InterfaceId kLinkInterface = interface_id("meshhost.link.v1");

}  // namespace mh
