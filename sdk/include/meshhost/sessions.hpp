// End-to-end sessions (service "sessions", kSessionsInterface): packets between node keys,
// encrypted end to end with Noise (DESIGN §4, prologue `meshhost session v1`) and carried
// by the mesh. A receiver learns the sender's key from the session that authenticated the
// packet, never from a header.
#pragma once

#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

namespace mh {

// The authenticated remote end of a session: `address` is derived from `key` (cached by
// the session layer, so receivers never hash per packet).
struct SessionPeer {
  PublicKey key;
  Address address;
};

// Why packets to a node could not be sent or did not arrive (a hint: from the mesh's
// error messages or the session layer itself).
struct SessionError {
  enum class Kind : std::uint8_t {
    no_route = 1,     // no route to the node (or its key is unknown)
    unreachable = 2,  // the handshake did not complete in time
    too_big = 3,      // `mtu` is the largest payload the path carries now
    no_receiver = 4,  // the remote node has no receiver for the protocol
  };
  Kind kind = Kind::no_route;
  Address destination;
  std::uint16_t protocol = 0;
  std::uint32_t mtu = 0;
};

// Receives the packets of one protocol from every session, on the loop thread.
class SessionReceiver {
 public:
  // Takes ownership of packets[0..count), all from `from` (borrowed for this call); each
  // packet's data is the plaintext payload. As with MeshReceiver, pass each packet on or
  // release it before returning to the loop; never queue it.
  virtual void on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept = 0;
  // Packets this node sent with this protocol could not be delivered (see SessionError).
  virtual void on_session_error(const SessionError& error) noexcept = 0;

 protected:
  ~SessionReceiver() = default;
};

class Sessions {
 public:
  // Delivers decrypted packets for `protocol` to `receiver` (borrowed until
  // unregister_protocol). One receiver per protocol: a second fails with already_exists.
  virtual Status register_protocol(std::uint16_t protocol, SessionReceiver* receiver) noexcept = 0;
  virtual void unregister_protocol(std::uint16_t protocol) noexcept = 0;

  // Sends packets[0..count) (data = payload, at least kSessionHeadroom of headroom) to the
  // node with `key` / with `address` (its key from the router's directory), for `protocol`
  // at the other end. Takes ownership of every packet; never blocks. Without an
  // established session it starts a handshake and queues a bounded number of packets
  // meanwhile. Returns how many were accepted (sent or queued); the rest were dropped and
  // released, and the receiver of `protocol` hears why through on_session_error.
  virtual std::size_t send_to_key(const PublicKey& key, std::uint16_t protocol, Packet* const* packets,
                                  std::size_t count) noexcept = 0;
  virtual std::size_t send_to_address(const Address& address, std::uint16_t protocol, Packet* const* packets,
                                      std::size_t count) noexcept = 0;

  // Where senders get packets: kSessionHeadroom of headroom and room for max_payload().
  virtual PacketPool* pool() noexcept = 0;
  // The largest payload send accepts towards `address` now (1280 or more on any path).
  virtual std::uint32_t max_payload(const Address& address) noexcept = 0;

 protected:
  ~Sessions() = default;
};

// Headroom a session sender leaves: the session header plus the mesh and link framing.
inline constexpr std::uint32_t kSessionHeadroom = 192;
inline constexpr InterfaceId kSessionsInterface = interface_id("meshhost.sessions.v1");

}  // namespace mh
