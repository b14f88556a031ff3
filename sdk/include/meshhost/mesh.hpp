// The mesh layer the switch offers (DESIGN §1): packets addressed by fc00::/8 address,
// forwarded hop by hop through the switch's FIB and delivered locally by protocol number.
// The switch provides service "switch"; ask it for kMeshInterface. The router installs the
// FIB; session, tun, iptunnel and third-party plugins send and receive through it.
#pragma once

#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

namespace mh {

// Protocol numbers for local delivery (the registry in docs/protocol.md). 0x8000–0xffff
// belong to third-party plugins.
inline constexpr std::uint16_t kProtocolRouting = 0x0001;
inline constexpr std::uint16_t kProtocolSession = 0x0002;
inline constexpr std::uint16_t kProtocolControl = 0x0003;
inline constexpr std::uint16_t kProtocolTun = 0x0004;
inline constexpr std::uint16_t kProtocolIptunnel = 0x0005;
inline constexpr std::uint16_t kProtocolBilling = 0x0006;
inline constexpr std::uint16_t kFirstThirdPartyProtocol = 0x8000;

// The mesh header the switch puts in front of every payload (docs/protocol.md):
//   version (1) | hop limit (1) | protocol (2) | e2e offset (2) | reserved (2) |
//   source address (16) | destination address (16)
inline constexpr std::uint32_t kMeshHeaderSize = 1 + 1 + 2 + 2 + 2 + kAddressSize + kAddressSize;  // 40
inline constexpr std::uint8_t kMeshVersion = 1;
inline constexpr std::uint8_t kDefaultHopLimit = 64;
// e2e offset: the payload bytes from this offset on are end-to-end ciphertext that a
// `hopEncryption: headers` link only authenticates; kNoEndToEnd: every byte is encrypted
// on every hop (routing, handshakes, anything not already encrypted end to end).
inline constexpr std::uint16_t kNoEndToEnd = 0xffff;

// Headroom a sender leaves in front of a payload for the mesh header and every link's
// framing below it. Packets from Mesh::pool() have it.
inline constexpr std::uint32_t kMeshHeadroom = 128;
// Every link carries a payload of at least this many bytes (DESIGN §5: a 1280-byte inner
// packet plus 55 bytes for the layers above the mesh: session framing, iptunnel's header).
inline constexpr std::uint32_t kMeshMinPayload = 1335;

// A neighbour as the switch names it to other plugins: a slot and a generation, so a stale
// id never reaches a neighbour that later took the same slot. 0 is "none" / "this node".
using NeighbourId = std::uint32_t;
inline constexpr NeighbourId kNoNeighbour = 0;
// A link cost no route may use (an unresponsive neighbour).
inline constexpr std::uint32_t kInfiniteLinkCost = 0xffffffffu;

// What the switch knows of one packet it delivers.
struct MeshInfo {
  Address source;       // as written by the sender: NOT authenticated (sessions authenticate)
  Address destination;  // this node's address
  std::uint16_t protocol = 0;
  std::uint8_t hop_limit = 0;  // as received (after this hop's decrement)
  NeighbourId from = kNoNeighbour;  // the neighbour it came through (authenticated per hop)
};

// What a sender asks for one packet.
struct MeshSend {
  Address destination;
  std::uint16_t protocol = 0;
  std::uint16_t e2e_offset = kNoEndToEnd;
  std::uint8_t hop_limit = kDefaultHopLimit;  // 0 is refused
};

// Why a packet did not arrive, reported to the sending node by the node where it stopped
// (control protocol, docs/protocol.md). Nothing in it is authenticated end to end.
struct MeshError {
  enum class Kind : std::uint8_t {
    no_route = 1,            // a node on the way had no route to the destination
    hop_limit_exceeded = 2,  // the hop limit reached 0 before the destination
    too_big = 3,             // the next link could not carry it; `mtu` is the payload that fits
    unreachable_protocol = 4,  // the destination has no receiver for the protocol
  };
  Kind kind = Kind::no_route;
  Address reporter;     // the node that reported it
  Address destination;  // the original packet's destination
  std::uint16_t protocol = 0;  // the original packet's protocol
  std::uint32_t mtu = 0;       // too_big only: the largest payload the path carries
};

// Receives packets delivered to this node for one protocol, on the loop thread.
class MeshReceiver {
 public:
  // Takes ownership of packets[0..count); infos[i] describes packets[i]; each packet's data
  // is the payload (the mesh header is consumed). Both arrays are borrowed for this call.
  // A packet may belong to a link's pool, which goes away with the link: pass it on or
  // release it before returning to the loop; never queue it.
  virtual void on_mesh_receive(const MeshInfo* infos, Packet* const* packets, std::size_t count) noexcept = 0;
  // A packet this node sent with this protocol was stopped on the way (rate-limited at
  // the reporting node; a report may be lost or forged, so it is a hint).
  virtual void on_mesh_error(const MeshError& error) noexcept = 0;

 protected:
  ~MeshReceiver() = default;
};

// Told about the switch's neighbours (established, with a cost), on the loop thread.
class NeighbourObserver {
 public:
  // `id` has an established path now (again), at `cost` (10 for an ideal link, see
  // docs/protocol.md; higher is worse).
  virtual void on_neighbour_up(NeighbourId id, const PublicKey& key, std::uint32_t cost) noexcept = 0;
  // The neighbour's published cost moved (hysteresis already applied).
  virtual void on_neighbour_cost(NeighbourId id, std::uint32_t cost) noexcept = 0;
  // No established path left (unresponsive or gone): routes through it are dead. After
  // this the id may be reused only with a new generation.
  virtual void on_neighbour_down(NeighbourId id) noexcept = 0;

 protected:
  ~NeighbourObserver() = default;
};

class Mesh {
 public:
  // Delivers packets for `protocol` addressed to this node to `receiver` (borrowed until
  // unregister_protocol). One receiver per protocol: a second fails with already_exists.
  virtual Status register_protocol(std::uint16_t protocol, MeshReceiver* receiver) noexcept = 0;
  virtual void unregister_protocol(std::uint16_t protocol) noexcept = 0;

  // Sends packets[i] (its data is the payload; at least kMeshHeadroom bytes of headroom)
  // as sends[i] says, through the FIB; a packet to this node's own address is delivered
  // locally on a later turn of the loop. Takes ownership of every packet; never blocks.
  // Returns how many were handed on; the rest were dropped (no route: also reported to
  // the protocol's receiver as MeshError::no_route, on a later turn) and released.
  virtual std::size_t send(const MeshSend* sends, Packet* const* packets, std::size_t count) noexcept = 0;

  // Sends one packet to a neighbour directly, bypassing the FIB (routing messages):
  // the destination is the neighbour's address and the hop limit 1. Takes ownership;
  // false (packet released) if the neighbour has no established path.
  virtual bool send_to_neighbour(NeighbourId neighbour, std::uint16_t protocol, Packet* packet) noexcept = 0;

  // Starts telling `observer` (borrowed until set_neighbour_observer(nullptr)) about
  // neighbours, replaying the established ones before it returns. One observer.
  virtual void set_neighbour_observer(NeighbourObserver* observer) noexcept = 0;

  // The FIB: packets to `destination` leave through `next_hop` (a neighbour id from the
  // observer). Replaces an existing entry. Fails with invalid_argument for a stale id or
  // this node's own address, with again when the FIB is full.
  virtual Status set_route(const Address& destination, NeighbourId next_hop) noexcept = 0;
  virtual void remove_route(const Address& destination) noexcept = 0;

  // Where senders get packets (kMeshHeadroom of headroom, room for kMeshMinPayload).
  // Packets received from the mesh may come from other pools; release each through its own.
  virtual PacketPool* pool() noexcept = 0;
  // The largest payload send() accepts to `destination` now: the next hop's link MTU less
  // the framing (at least kMeshMinPayload on any link); kMeshMinPayload without a route.
  virtual std::uint32_t max_payload(const Address& destination) noexcept = 0;

 protected:
  ~Mesh() = default;
};

inline constexpr InterfaceId kMeshInterface = interface_id("meshhost.mesh.v1");

}  // namespace mh
