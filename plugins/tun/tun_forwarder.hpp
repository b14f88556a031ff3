// tun's data path: IPv6 packets between the kernel's TUN descriptor and end-to-end
// sessions (protocol kProtocolTun). Out: a bounded batch of reads per wake-up into packets
// from the sessions' pool, checked (IPv6, from this node, to another fc00::/8 node) and
// handed to Sessions::send_to_address in runs of consecutive packets to one destination.
// In: packets from a session are written to the kernel only when their source is the
// session's authenticated address and their destination is this node (DESIGN §4).
// Packets the mesh cannot carry are answered with ICMPv6 errors written to the kernel.
#pragma once

#include "destination_table.hpp"

#include <meshhost/host.hpp>
#include <meshhost/sessions.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace mh::tun {

enum class DropReason : std::uint8_t {
  // from the kernel (out)
  bad_packet,      // not one whole IPv6 packet (either direction)
  not_mesh,        // destination outside fc00::/8 (multicast, link-local, …)
  wrong_source,    // source is not this node's address
  to_self,         // destination is this node (the kernel keeps those; never expected)
  too_big,         // larger than the path carries: answered with Packet Too Big
  unreachable,     // a destination that failed moments ago: answered with Destination Unreachable
  no_buffers,      // the sessions' pool was empty: read and discarded
  send_failed,     // the sessions layer refused it (it says why through on_session_error)
  // from sessions (in)
  spoofed_source,     // inner source is not the session's authenticated address
  wrong_destination,  // inner destination is not this node
  tun_full,           // the kernel's queue was full (EAGAIN)
  write_failed,       // any other write error
  count_,
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::count_);
const char* drop_reason_name(DropReason reason) noexcept;

struct TunStats {
  std::uint64_t packets_in = 0;  // written to the kernel (from sessions)
  std::uint64_t bytes_in = 0;
  std::uint64_t packets_out = 0;  // read from the kernel and accepted by sessions
  std::uint64_t bytes_out = 0;
  std::uint64_t icmp_errors = 0;  // ICMPv6 errors written to the kernel
  std::array<std::uint64_t, kDropReasonCount> dropped{};
};

class TunForwarder final : FdHandler, SessionReceiver {
 public:
  // Reads per wake-up; the loop calls again while the descriptor stays readable.
  static constexpr std::size_t kReadBatch = 64;

  // `host` and `sessions` are borrowed and must outlive the forwarder. Registers the
  // metrics (meshhost_tun_*) at once.
  TunForwarder(Host* host, Sessions* sessions, DestinationTable::Hold hold) noexcept;
  ~TunForwarder();
  TunForwarder(const TunForwarder&) = delete;
  TunForwarder& operator=(const TunForwarder&) = delete;

  // Starts reading `fd` (borrowed: non-blocking, one packet per read and per write, as a
  // TUN device with IFF_NO_PI) and takes kProtocolTun from sessions.
  Status start(int fd) noexcept;
  // Stops both; safe to call twice.
  void stop() noexcept;

  void set_hold(DestinationTable::Hold hold) noexcept { table_.set_hold(hold); }

  const TunStats& stats() const noexcept { return stats_; }
  // Destinations with an unreachable mark or a lowered path MTU now.
  std::size_t troubled_destinations() const noexcept;

 private:
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  void on_session_receive(const SessionPeer& from, Packet* const* packets, std::size_t count) noexcept override;
  void on_session_error(const SessionError& error) noexcept override;

  // One packet read from the kernel: joins the current run or is answered and dropped.
  void take(Packet* packet) noexcept;
  // Sends the current run to its destination.
  void flush() noexcept;
  // Writes an ICMPv6 error about `invoking` (already built into icmp_ by `size`).
  void write_icmp(std::size_t size) noexcept;
  // Writes one packet to the kernel; false (counted) when it could not.
  bool write_to_kernel(ByteSpan packet) noexcept;
  void drop(DropReason reason) noexcept;
  // A read failed with something other than "empty": stops watching the device, says so.
  void stop_reading(int error) noexcept;

  Host* host_;
  Sessions* sessions_;
  Address self_;
  int fd_ = -1;
  FdWatch* watch_ = nullptr;
  bool registered_ = false;
  DestinationTable table_;

  // The run being built: consecutive packets to one destination, and what holds for it.
  Address run_destination_;
  bool run_open_ = false;
  bool run_unreachable_ = false;
  std::uint8_t run_unreachable_code_ = 0;
  std::uint32_t run_limit_ = 0;  // the largest packet the path to it carries
  std::array<Packet*, kReadBatch> run_{};
  std::array<std::uint32_t, kReadBatch> run_lengths_{};
  std::size_t run_count_ = 0;

  // Where a packet goes when the pool is empty (read to keep the queue moving, then
  // dropped), and where ICMPv6 errors are built.
  std::array<std::uint8_t, 65536> scratch_{};
  std::array<std::uint8_t, kIcmpv6ErrorMaxSize> icmp_{};

  TunStats stats_;
  Counter* packets_in_ = nullptr;
  Counter* packets_out_ = nullptr;
  Counter* bytes_in_ = nullptr;
  Counter* bytes_out_ = nullptr;
  std::array<Counter*, kDropReasonCount> dropped_{};
};

}  // namespace mh::tun
