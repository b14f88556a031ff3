// One bound UDP socket as an mh::Link: batched, non-blocking receive (recvmmsg) and send
// (sendmmsg), LAN beacons out of it, and its counters. The plugin owns the links and
// decides what a heard beacon means (UdpLinkEvents).
#pragma once

#include "beacon.hpp"
#include "link_driver_config.hpp"
#include "udp_endpoint.hpp"

#include <meshhost/host.hpp>
#include <meshhost/link.hpp>
#include <meshhost/packet_pool.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

namespace mh::udp {

class UdpLink;

// Why a frame was dropped; each has a counter (udp_drops_total{reason}).
enum class DropReason : std::uint8_t {
  bad_frame,        // empty, another version, or a malformed beacon
  pool_exhausted,   // no packet free to receive into (or to build a beacon in)
  send_queue_full,  // the socket's send buffer is full (EAGAIN, ENOBUFS)
  oversize,         // a frame over the link MTU, sent or received
  bad_endpoint,     // a send to an endpoint of another driver or address family
  send_error,       // the kernel refused one datagram (no route, …)
  no_receiver,      // a frame arrived before the switch set a receiver
  beacon_ignored,   // a beacon heard while beacons are off
  beacon_flood,     // a beacon over the link's rate of peer hints (BeaconRateLimit)
  count_,
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::count_);
const char* drop_reason_name(DropReason reason) noexcept;

// What the plugin hears from a link's receive path, on the loop thread.
class UdpLinkEvents {
 public:
  // A well-formed beacon from `from`, not yet checked against the beacon mode or our key.
  virtual void on_beacon(UdpLink* link, const Endpoint& from, const link_common::Beacon& beacon) noexcept = 0;

 protected:
  ~UdpLinkEvents() = default;
};

struct LinkStats {
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t beacons_sent = 0;
  std::uint64_t beacons_received = 0;
  std::array<std::uint64_t, kDropReasonCount> drops{};
};

// Caps the peer hints a link's beacons produce, so that a LAN host inventing keys cannot
// make the switch handshake without bound: a token bucket of kBurst hints refilled at
// kPerSecond, room for a few hundred neighbours beaconing every 5 s. Pure; time is passed in.
class BeaconRateLimit {
 public:
  static constexpr std::uint32_t kBurst = 256;
  static constexpr std::uint32_t kPerSecond = 100;

  // Whether one more hint may go out at `now_ns` (monotonic); takes a token if so.
  bool take(std::uint64_t now_ns) noexcept {
    constexpr std::uint64_t kNsPerToken = 1'000'000'000 / kPerSecond;
    if (last_ns_ == 0) last_ns_ = now_ns;
    if (now_ns > last_ns_) {
      const std::uint64_t earned = (now_ns - last_ns_) / kNsPerToken;
      if (earned > 0) {
        tokens_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(kBurst, tokens_ + earned));
        last_ns_ += earned * kNsPerToken;
      }
    }
    if (tokens_ == 0) return false;
    --tokens_;
    return true;
  }

 private:
  std::uint32_t tokens_ = kBurst;
  std::uint64_t last_ns_ = 0;
};

class UdpLink final : public Link, public FdHandler {
 public:
  static constexpr std::uint32_t kBatchSize = 32;  // datagrams per recvmmsg / sendmmsg
  static constexpr std::uint32_t kBufferSize = FixedPacketPool::kDefaultBufferSize;  // 2048
  static constexpr std::uint32_t kHeadroom = FixedPacketPool::kDefaultHeadroom;      // 256
  // The largest frame: what a buffer holds after the headroom (2048 − 256 = 1792), room
  // for a 1280-byte inner packet and every layer's overhead. The kernel fragments the
  // outer datagram where a path's MTU is smaller (DESIGN §5).
  static constexpr std::uint32_t kMtu = kBufferSize - kHeadroom;
  // 1024 × 2 KiB = 2 MiB per link: a full receive batch plus what the switch holds.
  static constexpr std::uint32_t kPoolPackets = 1024;
  static constexpr int kSocketBufferBytes = 4 << 20;  // asked for; the kernel may cap it
  static constexpr std::size_t kMaxBeaconTargets = 64;  // interfaces beaconed per interval

  // `config` and `events` are borrowed and outlive the link. Nothing opens until open().
  // `fwmark` (0: none) is set on the socket with SO_MARK.
  UdpLink(Host* host, const Endpoint& bind, const link_common::LinkDriverConfig* config, std::uint32_t fwmark,
          UdpLinkEvents* events);
  ~UdpLink();
  UdpLink(const UdpLink&) = delete;
  UdpLink& operator=(const UdpLink&) = delete;

  // Creates, configures and binds the socket, names the link after the bound address
  // (port 0 becomes the kernel's choice), registers its metrics and watches it. On
  // failure returns the failing call and errno's text (errno itself in *error_number).
  Status open(int* error_number) noexcept;
  // Unwatches and closes the socket and returns the spare receive packets to the pool.
  void close() noexcept;

  // Sends a beacon for `self` with `flags` out of every interface that is up (only the one
  // holding the bound address, for a specific bind): to IPv4 255.255.255.255 (the
  // interface chosen with IP_PKTINFO) or IPv6 ff02::1 scoped to the interface, on the
  // bound port; in one sendmmsg, from a stack buffer. Returns how many went out.
  std::size_t send_beacons(const PublicKey& self, std::uint8_t flags) noexcept;

  void count_drop(DropReason reason, std::uint64_t n = 1) noexcept;
  void count_beacon_received() noexcept;

  Family family() const noexcept { return family_; }
  const Endpoint& bound() const noexcept { return bound_; }
  const std::string& name_text() const noexcept { return name_; }
  const LinkStats& stats() const noexcept { return stats_; }
  LinkReceiver* receiver() const noexcept { return receiver_; }
  BeaconRateLimit& beacon_rate_limit() noexcept { return beacon_rate_limit_; }
  int fd() const noexcept { return fd_; }

  // ---- mh::Link ----
  Str name() const noexcept override { return Str::of(name_); }
  std::uint32_t mtu() const noexcept override { return kMtu; }
  void set_receiver(LinkReceiver* receiver) noexcept override { receiver_ = receiver; }
  std::size_t send(Packet* const* packets, std::size_t count) noexcept override;
  PacketPool* pool() noexcept override { return &pool_; }
  HopEncryption hop_encryption() const noexcept override { return config_->hop_encryption; }
  DiscoveredPeerPolicy discovered_peer_policy() const noexcept override { return config_->discovered_peer_policy; }
  bool allows(const PublicKey& key) const noexcept override { return config_->allows(key); }
  std::size_t format_endpoint(const Endpoint& endpoint, char* out, std::size_t capacity) const noexcept override;

  // ---- mh::FdHandler: one recvmmsg batch per wake-up ----
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;

 private:
  struct Metrics {
    Counter* frames_in = nullptr;
    Counter* bytes_in = nullptr;
    Counter* frames_out = nullptr;
    Counter* bytes_out = nullptr;
    Counter* beacons_sent = nullptr;
    Counter* beacons_received = nullptr;
    std::array<Counter*, kDropReasonCount> drops{};
  };

  void register_metrics() noexcept;
  void receive_batch() noexcept;
  void drain_without_packets() noexcept;
  void drop_packet(Packet* packet, DropReason reason) noexcept;
  static void add(Counter* counter, std::uint64_t n) noexcept {
    if (counter != nullptr && n != 0) counter->add(n);
  }

  Host* host_;
  Endpoint bind_;   // as configured
  Endpoint bound_;  // after bind(): the real port
  Family family_;
  const link_common::LinkDriverConfig* config_;
  std::uint32_t fwmark_;
  UdpLinkEvents* events_;
  std::string name_;
  int fd_ = -1;
  FdWatch* watch_ = nullptr;
  LinkReceiver* receiver_ = nullptr;
  FixedPacketPool pool_;
  LinkStats stats_;
  Metrics metrics_;
  BeaconRateLimit beacon_rate_limit_;

  // Receive batch: packets kept between wake-ups so a wake-up acquires only what the
  // previous one handed up.
  std::array<Packet*, kBatchSize> rx_packets_{};
  std::array<mmsghdr, kBatchSize> rx_msgs_{};
  std::array<iovec, kBatchSize> rx_iov_{};
  std::array<sockaddr_storage, kBatchSize> rx_addrs_{};
  std::array<Packet*, kBatchSize> rx_up_{};
  std::array<std::uint8_t, kBufferSize> rx_scratch_{};  // drains the socket when the pool is empty

  // Send batch.
  std::array<Packet*, kBatchSize> tx_packets_{};
  std::array<mmsghdr, kBatchSize> tx_msgs_{};
  std::array<iovec, kBatchSize> tx_iov_{};
  std::array<sockaddr_storage, kBatchSize> tx_addrs_{};
};

}  // namespace mh::udp
