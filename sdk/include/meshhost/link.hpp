// Links: the ways a node reaches its neighbours (a UDP socket, an Ethernet interface).
// A link driver plugin provides a LinkDriver as service "link.<driver>"; the switch finds
// every driver with Host::lookup_prefix("link."), asks each for kLinkDriverInterface and
// observes its links and the peers it knows of (configured, or heard in beacons).
#pragma once

#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

namespace mh {

class Link;

// How the switch protects frames on a link (DESIGN §4): `full` encrypts every frame;
// `headers` (fast trusted links) encrypts the link, mesh and session headers and only
// authenticates an end-to-end payload that is already encrypted.
enum class HopEncryption : std::uint8_t { full = 0, headers = 1 };

// Who may become a neighbour without being configured (heard in a beacon, or sending an
// initiation out of the blue), per driver: any valid key; only an initiator that used one
// of the switch's authorizedPasswords; or only keys on the driver's allow-list.
enum class DiscoveredPeerPolicy : std::uint8_t { accept_any = 0, require_password = 1, allow_list = 2 };

// A neighbour a driver knows of: configured (connectTo) or heard in a beacon. Every Str is
// borrowed for the call; the switch copies what it keeps.
struct PeerHint {
  Endpoint endpoint;
  PublicKey key;
  Str password;   // "" for none: the all-zero psk
  Str login;      // "" for none
  Str peer_name;  // for people: shown by `meshctl peers`
  bool from_beacon = false;
};

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

  virtual HopEncryption hop_encryption() const noexcept = 0;
  virtual DiscoveredPeerPolicy discovered_peer_policy() const noexcept = 0;
  // With DiscoveredPeerPolicy::allow_list: whether `key` is on it (false otherwise too).
  virtual bool allows(const PublicKey& key) const noexcept = 0;
  // Writes a printable form of `endpoint` ("192.0.2.1:11234", "02:00:00:00:00:01") into
  // out[0..capacity) without a terminator; returns its length (0 if it does not fit).
  virtual std::size_t format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) const noexcept = 0;

 protected:
  ~Link() = default;
};

// Told about a driver's links and peers; implemented by the switch. Called on the loop thread.
class LinkObserver {
 public:
  // `link` is usable from now on (also called, from set_observer, for every link already up).
  virtual void on_link_up(Link* link) noexcept = 0;
  // `link` is going away (an interface vanished, the driver stops): after this returns the
  // pointer is dead and no frame from it arrives. The link's pool goes with it, so the
  // observer releases every packet it holds from that pool before returning.
  virtual void on_link_down(Link* link) noexcept = 0;
  // A neighbour to handshake with: each configured peer once per link (from set_observer),
  // and a beacon's sender each time its beacon is heard.
  virtual void on_peer_hint(Link* link, const PeerHint& hint) noexcept = 0;

 protected:
  ~LinkObserver() = default;
};

// What a link driver's service offers.
class LinkDriver {
 public:
  // "udp", "eth", …: the part after "link." in the service name.
  virtual Str driver_name() const noexcept = 0;
  // Starts telling `observer` (borrowed until set_observer(nullptr)) about links and peers,
  // replaying what is already known before it returns.
  virtual void set_observer(LinkObserver* observer) noexcept = 0;

 protected:
  ~LinkDriver() = default;
};

inline constexpr InterfaceId kLinkDriverInterface = interface_id("meshhost.link_driver.v1");

// Every meshhost frame on a link starts with these two bytes (docs/protocol.md has the
// registry of types). Link drivers consume beacons; everything else goes up to the switch.
inline constexpr std::uint8_t kFrameVersion = 1;
enum class FrameType : std::uint8_t {
  handshake_initiation = 0x01,
  handshake_response = 0x02,
  cookie_reply = 0x03,
  transport = 0x04,          // hopEncryption full
  transport_headers = 0x05,  // hopEncryption headers
  beacon = 0x10,             // consumed by link drivers
};

}  // namespace mh
