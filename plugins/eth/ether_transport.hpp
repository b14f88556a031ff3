// One Ethernet interface as an mh::Link: an AF_PACKET socket bound to the interface and
// the meshhost EtherType, batched receive (recvmmsg) into a FixedPacketPool and batched
// send (sendmmsg), beacons to the broadcast MAC, per-link counters. `eth` makes one per
// interface it uses; `meshpoint` makes one on the mesh point interface it brings up.
#pragma once

#include "ether_frame.hpp"
#include "interface_monitor.hpp"
#include "link_driver_config.hpp"

#include <meshhost/host.hpp>
#include <meshhost/link.hpp>
#include <meshhost/packet_pool.hpp>

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mh::ether {

// Why a frame was dropped; each is a value of the `reason` label of <driver>_drops_total
// (the names udp uses where the reason is the same).
enum class DropReason : std::uint8_t {
  bad_frame,       // received: no valid eth header, or a beacon that does not parse
  truncated,       // received: larger than a packet buffer
  beacon_ignored,  // received: a beacon while beacon.mode is off
  pool_exhausted,  // received or beacon: no packet buffer free
  no_receiver,     // received: nobody has called set_receiver
  receive_error,   // the socket reported an error
  bad_endpoint,    // sent: the endpoint is not an eth endpoint
  oversize,        // sent: empty or over mtu()
  no_headroom,     // sent: no room in front of the frame for the eth header
  send_queue_full,  // sent: the socket's queue is full (never blocks)
  send_error,      // sent: the kernel refused the frame (e.g. the interface went down)
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::send_error) + 1;
const char* drop_reason_name(DropReason reason) noexcept;

struct EtherLinkStats {
  std::uint64_t frames_received = 0;  // meshhost frames handed to the receiver (beacons not included)
  std::uint64_t bytes_received = 0;   // their bytes, eth header and padding not included
  std::uint64_t frames_sent = 0;      // frames the kernel took (beacons not included)
  std::uint64_t bytes_sent = 0;
  std::uint64_t beacons_sent = 0;
  std::uint64_t beacons_received = 0;  // valid beacons from other keys: each one a peer hint
  std::array<std::uint64_t, kDropReasonCount> dropped = {};
};

// A node whose beacons this link hears, for operators (eth.links).
struct HeardNode {
  PublicKey key;
  MacAddress mac;
  std::uint64_t last_heard_ns = 0;  // Loop::now_ns()
  std::uint64_t beacons = 0;
};

struct EtherLinkOptions {
  // Names the link "<driver>/<interface>" and its metrics "<driver>_…".
  std::string driver = "eth";
  InterfaceInfo interface;
  // Beacons, discovered-peer policy, hop encryption. Borrowed: must outlive the link.
  const link_common::LinkDriverConfig* config = nullptr;
  std::uint32_t pool_packets = 512;
};

class EtherTransport final : public Link, FdHandler, TimerHandler {
 public:
  // Opens and binds the socket and registers the link's metrics; nullptr with *error set
  // (naming the interface) when the socket cannot be opened. Refuses an interface whose
  // MTU is under kMinInterfaceMtu with mtu_refusal()'s message. `host` is borrowed and
  // must outlive the link. Throws only std::bad_alloc.
  static std::unique_ptr<EtherTransport> open(Host* host, EtherLinkOptions options, std::string* error);

  // Closes the socket. Every packet of pool() must be back (packets_in_use() == 0).
  ~EtherTransport();
  EtherTransport(const EtherTransport&) = delete;
  EtherTransport& operator=(const EtherTransport&) = delete;

  // Where a received beacon's peer hint goes (borrowed; nullptr: nowhere).
  void set_observer(LinkObserver* observer) noexcept { observer_ = observer; }
  // Sends a beacon now and every beacon interval, if the config's beacon mode is `send`.
  void start_beacons() noexcept;
  // Stops receiving, sending beacons and sending: the link is going away, but packets
  // from its pool may still be out (a retired link waits for them).
  void close() noexcept;

  const EtherLinkStats& stats() const noexcept { return stats_; }
  // The nodes heard most recently, at most kHeardCapacity (the least recent is forgotten).
  static constexpr std::size_t kHeardCapacity = 16;
  const HeardNode* heard() const noexcept { return heard_.data(); }
  std::size_t heard_count() const noexcept { return heard_count_; }
  const InterfaceInfo& interface() const noexcept { return options_.interface; }
  std::uint32_t packets_in_use() const noexcept { return pool_.in_use(); }

  // ---- mh::Link ----
  Str name() const noexcept override { return Str::of(name_); }
  std::uint32_t mtu() const noexcept override { return mtu_; }
  void set_receiver(LinkReceiver* receiver) noexcept override { receiver_ = receiver; }
  std::size_t send(Packet* const* packets, std::size_t count) noexcept override;
  PacketPool* pool() noexcept override { return &pool_; }
  HopEncryption hop_encryption() const noexcept override { return options_.config->hop_encryption; }
  DiscoveredPeerPolicy discovered_peer_policy() const noexcept override {
    return options_.config->discovered_peer_policy;
  }
  bool allows(const PublicKey& key) const noexcept override { return options_.config->allows(key); }
  // The MAC address: "02:00:00:00:00:01".
  std::size_t format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) const noexcept override;

 private:
  static constexpr std::size_t kBatch = 32;             // frames per recvmmsg / sendmmsg
  static constexpr int kMaxBatchesPerWake = 8;          // then back to the loop (level-triggered)

  EtherTransport(Host* host, EtherLinkOptions options);

  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  void on_timer() noexcept override;
  // Reads one batch; true when it was full (more may be waiting).
  bool receive_batch() noexcept;
  void drain_without_buffers() noexcept;
  void on_beacon(ByteSpan frame, const MacAddress& source) noexcept;
  void remember(const PublicKey& key, const MacAddress& mac) noexcept;
  // Sends up to kBatch packets, taking ownership; returns how many the kernel took.
  std::size_t transmit(Packet* const* packets, std::size_t count, bool beacons) noexcept;
  void drop(DropReason reason, std::uint64_t count = 1) noexcept {
    stats_.dropped[static_cast<std::size_t>(reason)] += count;
  }
  // Adds what changed since the last call to the host's counters (once per batch, not per frame).
  void publish() noexcept;
  void register_metrics();

  Host* host_;
  EtherLinkOptions options_;
  std::string name_;
  std::uint32_t mtu_;
  PublicKey own_key_;
  FixedPacketPool pool_;
  int fd_ = -1;
  FdWatch* watch_ = nullptr;
  Timer* beacon_timer_ = nullptr;
  LinkReceiver* receiver_ = nullptr;
  LinkObserver* observer_ = nullptr;
  sockaddr_ll send_template_ = {};

  EtherLinkStats stats_;
  std::array<HeardNode, kHeardCapacity> heard_ = {};
  std::size_t heard_count_ = 0;
  EtherLinkStats published_;
  struct Counters {
    Counter* frames_received = nullptr;
    Counter* bytes_received = nullptr;
    Counter* frames_sent = nullptr;
    Counter* bytes_sent = nullptr;
    Counter* beacons_sent = nullptr;
    Counter* beacons_received = nullptr;
    std::array<Counter*, kDropReasonCount> dropped = {};
  } counters_;

  // Batch state, kept here so the data path never allocates.
  std::array<mmsghdr, kBatch> recv_msgs_ = {};
  std::array<iovec, kBatch> recv_iov_ = {};
  std::array<sockaddr_ll, kBatch> recv_addr_ = {};
  std::array<Packet*, kBatch> recv_packets_ = {};
  std::array<Packet*, kBatch> up_ = {};
  std::array<mmsghdr, kBatch> send_msgs_ = {};
  std::array<iovec, kBatch> send_iov_ = {};
  std::array<sockaddr_ll, kBatch> send_addr_ = {};
  std::array<Packet*, kBatch> sending_ = {};
};

}  // namespace mh::ether
