// The session layer's protocol core (DESIGN §4): one end-to-end Noise session per remote
// node key, with handshakes, key confirmation, rekey, a replay window, queues for packets
// that wait for a handshake, and expiry. No clocks and no sockets (STYLE.md): the caller
// feeds it frames, packets to send and the current monotonic time; it answers through
// Output, and next_wake_ns() says when to call tick() again.
//
//   table.send(key, protocol, packets, count, now, out);   // seals or queues, may initiate
//   auto d = table.receive(frame, now, out);               // handshakes answered via out
//   if (d) deliver(d->from->peer, d->protocol, d->data);   // decrypted in place
//   timer.arm(table.tick(now, out) - now);                 // retries, keepalives, expiry
//
// Every entry point runs on one thread.
#pragma once

#include "session_frames.hpp"

#include <meshhost/mesh.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/packet.hpp>
#include <meshhost/sessions.hpp>
#include <meshhost/tai64n.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace mh::session {

inline constexpr std::uint64_t kNsPerMs = 1'000'000;
inline constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

// Every timer of the session layer with its default; docs/protocol.md lists the same rows.
struct Timers {
  // First retry of an unanswered initiation; each retry doubles it up to the maximum.
  std::uint64_t handshake_retry_ns = 1 * kNsPerSecond;
  std::uint64_t handshake_retry_max_ns = 8 * kNsPerSecond;
  // A handshake that has not completed this long after it started is given up: the queued
  // packets are dropped and their receivers hear SessionError::unreachable. A responder's
  // session that the initiator has not confirmed by then is dropped too.
  std::uint64_t handshake_timeout_ns = 20 * kNsPerSecond;
  // A side that received data and sent nothing back for this long sends a keepalive, so
  // the sender learns the session still works (WireGuard's passive keepalive).
  std::uint64_t keepalive_ns = 10 * kNsPerSecond;
  // A side that sent data and heard nothing authenticated for this long starts a new
  // handshake (the remote may have restarted): keepalive + 5 s.
  std::uint64_t silence_rehandshake_ns = 15 * kNsPerSecond;
  // The initiator of a session starts a fresh handshake when it sends on a session this
  // old (REKEY_AFTER_TIME); the responder does at responder_rekey_after_ns, should the
  // initiator not have.
  std::uint64_t rekey_after_ns = 120 * kNsPerSecond;
  std::uint64_t responder_rekey_after_ns = 150 * kNsPerSecond;
  // No packet is sent or accepted on a session this old (REJECT_AFTER_TIME).
  std::uint64_t reject_after_ns = 180 * kNsPerSecond;
  // A remote with no data either way for this long is forgotten: sessions wiped, its
  // entry freed (and its last initiation timestamp with it).
  std::uint64_t idle_timeout_ns = 180 * kNsPerSecond;
};

// Why a set of timers cannot work (a config error), or nullptr.
constexpr const char* check_timers(const Timers& t) noexcept {
  if (t.handshake_retry_ns == 0 || t.keepalive_ns == 0) return "handshake retry and keepalive must be positive";
  if (t.handshake_retry_ns > t.handshake_retry_max_ns) return "the first handshake retry must not exceed the longest";
  if (t.handshake_retry_max_ns >= t.handshake_timeout_ns) return "the handshake timeout must exceed the longest retry";
  if (t.keepalive_ns >= t.silence_rehandshake_ns) return "keepalive must be shorter than the silence re-handshake";
  if (t.rekey_after_ns > t.responder_rekey_after_ns || t.responder_rekey_after_ns >= t.reject_after_ns)
    return "rekey after <= responder rekey after < reject after is required";
  if (t.idle_timeout_ns <= t.keepalive_ns) return "the idle timeout must exceed the keepalive";
  return nullptr;
}
static_assert(check_timers(Timers{}) == nullptr, "the defaults must be consistent");

struct Limits {
  std::uint32_t max_sessions = 4096;   // remote keys with any state at once
  std::uint32_t queue_length = 32;     // packets waiting for a handshake, per remote
  // Initiations a responder spends Diffie-Hellman work on, per second, after a burst; those
  // arriving through any one neighbour get a quarter of it.
  std::uint32_t handshakes_per_second = 200;
  std::uint32_t handshake_burst = 200;
};

// The wall clock the TAI64N stamps in initiations come from (Unix ns). The plugin passes
// CLOCK_REALTIME; tests pass a fake.
class WallClock {
 public:
  virtual std::int64_t unix_ns() const noexcept = 0;

 protected:
  ~WallClock() = default;
};

struct SessionTableConfig {
  Timers timers;
  Limits limits;
  // nullptr: the monotonic now_ns + unix_time_offset_ns.
  const WallClock* wall_clock = nullptr;
  std::int64_t unix_time_offset_ns = 0;
};

// What the table counted, one field per reason (metrics and tests read it).
struct Stats {
  // Dropped frames and packets.
  std::uint64_t bad_message = 0;        // short, unknown version or type, wrong size or layout
  std::uint64_t bad_mac1 = 0;           // handshake not for our key (or junk): no DH spent
  std::uint64_t rate_limited = 0;       // initiation over the responder's handshake rate
  std::uint64_t handshake_failed = 0;   // Noise refused the initiation or response
  std::uint64_t stale_timestamp = 0;    // initiation not newer than the last accepted from its key
  std::uint64_t invalid_key = 0;        // a key outside fc00::/8, or our own
  std::uint64_t table_full = 0;         // no room for another remote or index
  std::uint64_t collision_lost = 0;     // their initiation lost to ours (lower key wins)
  std::uint64_t unexpected_response = 0;  // a response for no handshake of ours
  std::uint64_t unknown_index = 0;      // transport for no session of ours (or no longer)
  std::uint64_t expired = 0;            // transport on a session past reject-after
  std::uint64_t decrypt_failed = 0;     // tag did not verify: tampered, forged, wrong key
  std::uint64_t replayed = 0;           // counter already accepted or older than the window
  std::uint64_t queue_full = 0;         // queued packets dropped, oldest first, beyond queueLength
  std::uint64_t unreachable = 0;        // queued packets dropped when a handshake gave up
  std::uint64_t bad_packet = 0;         // a packet to send without the headroom or tailroom asked for
  std::uint64_t unconfirmed_dropped = 0;  // responder sessions never confirmed
  std::uint64_t no_route = 0;           // plugin: no key for the address
  std::uint64_t no_receiver = 0;        // plugin: decrypted for a protocol nobody registered
  std::uint64_t send_failed = 0;        // plugin: the mesh refused a packet or had none to give
  // Traffic.
  std::uint64_t packets_sealed = 0;     // payloads encrypted and handed to the mesh
  std::uint64_t packets_opened = 0;     // payloads decrypted for a receiver
  // Handshake results.
  std::uint64_t initiations_sent = 0;
  std::uint64_t responses_sent = 0;
  std::uint64_t established = 0;        // sessions confirmed (each side counts its own)
  std::uint64_t timed_out = 0;          // handshakes given up after handshake_timeout_ns
};

// One transport session: a Noise transport plus the indexes that demultiplex it.
struct Keys {
  noise::Transport transport;
  std::uint32_t local_index = 0;   // what the remote puts in its frames to us
  std::uint32_t remote_index = 0;  // what we put in our frames to the remote
  std::uint64_t created_ns = 0;
  bool initiator = false;
  bool live() const noexcept { return transport.has_keys(); }
};

// Which of a remote's key slots a receiver index names.
enum class SlotKind : std::uint8_t { current = 0, previous = 1, next = 2, pending = 3 };

struct Queued {
  Packet* packet = nullptr;
  std::uint16_t protocol = 0;
};

// Everything the table keeps about one remote node key.
struct Remote {
  SessionPeer peer;  // the key and its address, hashed once when the entry is made
  MacKey mac1_key;   // for handshakes we send it

  Keys current;   // confirmed; what we send with
  Keys previous;  // the one `current` replaced: receive only, until reject-after
  Keys next;      // responder: answered, waiting for the initiator's first transport packet

  // Our outstanding initiation.
  std::optional<noise::Handshake> handshake;
  std::uint32_t pending_index = 0;
  std::uint64_t pending_sent_ns = 0;
  // A handshake attempt: we want a (new) session since attempt_started_ns; retries back off.
  bool attempting = false;
  std::uint64_t attempt_started_ns = 0;
  std::uint64_t next_attempt_ns = 0;
  std::uint64_t retry_ns = 0;

  Tai64n last_timestamp;  // the newest initiation accepted from this key
  bool has_timestamp = false;

  std::vector<Queued> queue;  // a ring of Limits::queue_length, allocated with the entry
  std::uint32_t queue_head = 0;
  std::uint32_t queued = 0;

  std::uint64_t created_ns = 0;
  std::uint64_t last_data_ns = 0;           // data sent or received: idle expiry
  std::uint64_t last_received_ns = 0;       // anything authenticated
  std::uint64_t last_sent_ns = 0;           // anything sent on a session
  std::uint64_t owe_keepalive_since_ns = 0; // data received since we last sent anything; 0 none
  std::uint64_t unanswered_since_ns = 0;    // data sent since the last authenticated packet; 0 none
  std::uint64_t last_no_receiver_ns = 0;

  std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0;

  Keys& slot(SlotKind kind) noexcept {
    return kind == SlotKind::current ? current : kind == SlotKind::previous ? previous : next;
  }
  bool established() const noexcept { return current.live(); }
};

// Where the table's answers go. Called synchronously from the entry points.
class Output {
 public:
  // A handshake or keepalive frame (borrowed for this call) to `to`; `e2e_offset` as
  // MeshSend::e2e_offset (kNoEndToEnd for handshakes).
  virtual void send_frame(const Address& to, ByteView frame, std::uint16_t e2e_offset) noexcept = 0;
  // Sealed transport packets to `to`: ownership passes; each has kTransportHeaderSize of
  // cleartext header before its end-to-end ciphertext.
  virtual void send_packets(const Address& to, Packet* const* packets, std::size_t count) noexcept = 0;
  // Packets for error.protocol could not be delivered: its receiver should hear it.
  virtual void on_error(const SessionError& error) noexcept = 0;

 protected:
  ~Output() = default;
};

// A decrypted payload: `data` points into the received frame.
struct Delivery {
  Remote* from;
  std::uint16_t protocol;
  MutableByteView data;
};

class SessionTable {
 public:
  // Headroom and tailroom send() needs on every packet (above the mesh's own).
  static constexpr std::uint32_t kSendHeadroom = kTransportHeaderSize + kInnerProtocolSize;
  static constexpr std::uint32_t kSendTailroom = noise::kTagSize;

  // `local` is borrowed and must outlive the table.
  SessionTable(const noise::StaticKey& local, SessionTableConfig config);
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;
  // Releases every queued packet.
  ~SessionTable();

  // Sends packets[0..count) (payload data; kSendHeadroom + `extra_headroom` of headroom and
  // kSendTailroom of tailroom) to `key` for `protocol`. Takes ownership of every packet.
  // With a usable session they are sealed in place and handed to out.send_packets; without
  // one they are queued (the oldest dropped beyond queue_length) and a handshake starts.
  // Returns how many were accepted; the rest were released (and out.on_error told why).
  std::size_t send(const PublicKey& key, std::uint16_t protocol, Packet* const* packets, std::size_t count,
                   std::uint64_t now_ns, Output& out, std::uint32_t extra_headroom = 0) noexcept;

  // One session frame (a mesh payload) that arrived through neighbour `via` (MeshInfo::from,
  // authenticated per hop; kNoNeighbour when unknown). Handshakes are answered through
  // `out`; a data payload is decrypted in place and returned. Everything else (and every
  // bad frame, counted in stats()) returns nullopt.
  std::optional<Delivery> receive(MutableByteView frame, std::uint64_t now_ns, Output& out,
                                  NeighbourId via = kNoNeighbour) noexcept;

  // Tells `from` that `protocol` has no receiver here (at most once a second per remote).
  void report_no_receiver(Remote& from, std::uint16_t protocol, std::uint64_t now_ns, Output& out) noexcept;

  // Runs the timers due at now_ns; returns when to call again (absolute, monotonic ns).
  std::uint64_t tick(std::uint64_t now_ns, Output& out) noexcept;
  // The earliest deadline known after the last call into the table.
  std::uint64_t next_wake_ns() const noexcept { return next_wake_ns_; }

  // Releases every queued packet (their pools may be going away) without an error.
  void drop_queues() noexcept;

  Remote* find(const PublicKey& key) const noexcept;
  Remote* find(const Address& address) const noexcept;
  const std::vector<std::unique_ptr<Remote>>& remotes() const noexcept { return remotes_; }
  const Stats& stats() const noexcept { return stats_; }
  Stats& mutable_stats() noexcept { return stats_; }  // the plugin counts its own drops here
  std::size_t established_count() const noexcept;
  const SessionTableConfig& config() const noexcept { return config_; }

 private:
  struct Slot {
    std::uint32_t index = 0;
    Remote* remote = nullptr;
    SlotKind kind = SlotKind::current;
  };
  struct KeyLess {
    bool operator()(const PublicKey& a, const PublicKey& b) const noexcept {
      return std::memcmp(a.bytes, b.bytes, kPublicKeySize) < 0;
    }
  };
  struct AddressLess {
    bool operator()(const Address& a, const Address& b) const noexcept {
      return std::memcmp(a.bytes, b.bytes, kAddressSize) < 0;
    }
  };

  void on_initiation(ByteView frame, std::uint64_t now_ns, Output& out, NeighbourId via) noexcept;
  void on_response(ByteView frame, std::uint64_t now_ns, Output& out) noexcept;
  std::optional<Delivery> on_transport(MutableByteView frame, std::uint64_t now_ns, Output& out) noexcept;

  bool usable(const Keys& keys, std::uint64_t now_ns) const noexcept;
  bool seal(Remote& r, Packet& packet, std::uint16_t protocol) noexcept;
  bool send_control(Remote& r, ByteView plaintext, std::uint64_t now_ns, Output& out) noexcept;
  void enqueue(Remote& r, Packet* packet, std::uint16_t protocol) noexcept;
  void flush_queue(Remote& r, std::uint64_t now_ns, Output& out) noexcept;
  void fail_queue(Remote& r, Output& out) noexcept;
  void start_handshake(Remote& r, std::uint64_t now_ns, Output& out) noexcept;
  void send_initiation(Remote& r, std::uint64_t now_ns, Output& out) noexcept;
  void install(Remote& r, Keys&& keys) noexcept;  // keys become current; current becomes previous
  void session_ready(Remote& r, std::uint64_t now_ns, Output& out) noexcept;
  std::uint64_t service(Remote& r, std::uint64_t now_ns, Output& out) noexcept;
  bool handshake_allowed(std::uint64_t now_ns, NeighbourId via) noexcept;
  Tai64n next_timestamp(std::uint64_t now_ns) noexcept;

  Remote* add_remote(const PublicKey& key, std::uint64_t now_ns) noexcept;
  bool evict_one() noexcept;
  void remove_remote(std::size_t i) noexcept;

  std::optional<std::uint32_t> allocate_index(Remote* r, SlotKind kind) noexcept;
  Slot* lookup(std::uint32_t index) noexcept;
  void free_index(std::uint32_t index) noexcept;
  void rebind(std::uint32_t index, SlotKind kind) noexcept;
  void clear_keys(Keys& keys) noexcept;
  void clear_handshake(Remote& r) noexcept;
  void wake_at(std::uint64_t at_ns) noexcept;

  const noise::StaticKey& local_;
  PublicKey local_public_;
  MacKey local_mac1_key_;  // what initiations and responses to us carry
  SessionTableConfig config_;
  Stats stats_;
  std::vector<std::unique_ptr<Remote>> remotes_;
  std::map<PublicKey, Remote*, KeyLess> by_key_;
  std::map<Address, Remote*, AddressLess> by_address_;
  std::vector<Slot> slots_;  // a power of two; index & mask is the slot
  std::uint32_t slot_mask_ = 0;
  std::vector<std::uint32_t> free_slots_;
  // The responder's handshake budget: token buckets kept as time, one for the node and one
  // per neighbour the initiations came through (a quarter of the node's each), so a flood
  // arriving through one neighbour leaves the rest of the budget to the others.
  struct Bucket {
    NeighbourId owner = kNoNeighbour;
    std::uint64_t credit_ns = 0;
    std::uint64_t at_ns = 0;
  };
  static constexpr std::size_t kNeighbourBuckets = 256;  // indexed by the id's low bits
  Bucket node_bucket_;
  std::vector<Bucket> neighbour_buckets_;
  std::uint64_t last_stamp_unix_ns_ = 0;
  std::uint64_t next_wake_ns_ = ~std::uint64_t{0};
};

}  // namespace mh::session
