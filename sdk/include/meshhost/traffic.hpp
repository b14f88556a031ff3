// Traffic hooks (DESIGN §6, §7): how billing, or any plugin, sees and steers each packet an
// iptunnel gateway carries between its clients and the Internet — to meter, shape or drop it.
#pragma once

#include <meshhost/packet.hpp>
#include <meshhost/types.hpp>

namespace mh {

enum class TrafficDirection : std::uint8_t {
  upstream = 0,    // client → Internet, after the anti-spoof check, before the kernel sees it
  downstream = 1,  // Internet → client, after the unsolicited-IPv6 filter, before the session
};

enum class TrafficVerdict : std::uint8_t {
  pass = 0,    // the packet goes on to the next hook, then out; it stays iptunnel's
  drop = 1,    // iptunnel releases it and counts it as dropped by a hook
  queued = 2,  // the hook now owns the packet: it resumes or releases it later
};

// What iptunnel knows of one packet. Borrowed for the call; a hook that queues the packet
// copies it, to hand back to resume().
struct TrafficInfo {
  TrafficDirection direction = TrafficDirection::upstream;
  // The client's key: the lease holder's authenticated session key, never read from a header.
  PublicKey client;
  // Bytes of the inner IP packet (DESIGN §7 bills these): packet->length at the call.
  std::uint32_t ip_length = 0;
  // Downstream: the packet belongs to a flow the client opened, by iptunnel's flow table
  // (a reply, or an ICMP error about a packet the client sent); false for traffic the
  // client did not solicit, which only reaches hooks when the gateway lets it in (IPv4,
  // or IPv6 configured open). Upstream: always true, the client sent it.
  bool client_opened = false;
};

// A plugin's per-packet hook. Called on the loop thread, once per packet in each
// direction, on the data path: it must not block, allocate or make syscalls, and must
// return quickly. It may call TrafficHooks::resume() for packets it queued earlier (a
// shaper releasing its queue), but not add_hook() or remove_hook().
class TrafficHook {
 public:
  // `packet`'s data is the inner IP packet (IPv4 or IPv6), `info.ip_length` bytes.
  // - pass: the packet stays iptunnel's; read it, but do not change, keep or release it.
  // - drop: iptunnel releases the packet; the hook must not touch it again.
  // - queued: the hook owns the packet until it hands it to resume() or release()s it. It
  //   may use packet->tag meanwhile; it must hand back the same inner IP packet (data,
  //   offset and length unchanged).
  // Any other value is treated as drop.
  virtual TrafficVerdict on_traffic(const TrafficInfo& info, Packet* packet) noexcept = 0;

 protected:
  ~TrafficHook() = default;
};

// Offered by the iptunnel plugin under service name "iptunnel" (ask it for
// kTrafficHooksInterface). Hooks see the gateway's traffic only: packets between a client
// that holds a lease and the Internet. Every call on the loop thread.
//
// Queued packets belong to pools that live as long as the iptunnel plugin. A hook's plugin
// requires "iptunnel", so it stops first: before its stop() returns it must resume or
// release every packet it holds, then remove its hook.
//
// Those pools are shared: upstream packets a hook sees are copies from one pool of 1024
// for all clients, downstream ones come from the sessions' pool the whole node sends from
// (2048). A hook that queues must bound what it holds — per client and in all, well under
// those numbers — or one shaped client starves every other client and the node's own
// traffic (when a pool is empty, packets are dropped and counted `no_buffers`).
class TrafficHooks {
 public:
  // Starts calling `hook` (borrowed until remove_hook) for every packet. Hooks run in the
  // order they were added; the first verdict other than pass ends the walk. Fails with
  // invalid_argument for nullptr and already_exists when `hook` is added already; any
  // other failure means iptunnel can hold no more hooks.
  virtual Status add_hook(TrafficHook* hook) noexcept = 0;

  // Stops calling `hook`; it is not called again once this returns. Nothing happens to
  // the packets it holds: resume or release them first, since resume() needs the hook to
  // be added. A hook not added is ignored.
  virtual void remove_hook(TrafficHook* hook) noexcept = 0;

  // Continues the data path of `packet`, which `after` (a hook still added) queued: the
  // hooks added after it, then the kernel (upstream) or the client's session (downstream).
  // `info` is the one `after` received with the packet. Takes ownership; never blocks.
  // The packet is released and counted as dropped when `after` is not added, or when the
  // client's lease ended meanwhile.
  virtual void resume(TrafficHook* after, const TrafficInfo& info, Packet* packet) noexcept = 0;

  // The plan `client`'s allowedConnections entry names ("" for none, or for a key that is
  // not pinned). Borrowed: valid until the next reconfigure of iptunnel; copy it to keep it.
  // Not for the data path: it searches the pinned keys.
  virtual Str plan_of(const PublicKey& client) noexcept = 0;

 protected:
  ~TrafficHooks() = default;
};

inline constexpr InterfaceId kTrafficHooksInterface = interface_id("meshhost.iptunnel.traffic.v1");

}  // namespace mh
