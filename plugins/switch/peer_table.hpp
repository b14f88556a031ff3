// The switch's authenticated peer table: handshakes, sessions, keepalives, link quality and
// neighbour states. Pure protocol logic (STYLE.md): no sockets, no clocks. The caller feeds
// it frames, hints and ticks with the current monotonic time; it answers through Output
// (frames to send, events) and next_wake_ns() says when to call tick() again.
//
//   table.add_hint(link, hint, now, out);          // a configured peer or a heard beacon
//   auto d = table.receive(link, from, frame, now, out);  // every frame a link delivers
//   if (d) deliver(d->from, d->payload);           // data for the switch, decrypted in place
//   Link* l = table.seal(neighbour, packet, now);  // encrypt a switch frame in place
//   timer.arm(table.tick(now, out) - now);         // timers: keepalive, rekey, expiry
//
// One Noise session per (neighbour key, path); a path is a (link, endpoint) and its
// endpoint follows the latest authenticated packet. Every entry point runs on one thread.
#pragma once

#include "cookie.hpp"
#include "link_metric_store.hpp"
#include "peer.hpp"
#include "rate_limiter.hpp"
#include "stats.hpp"
#include "timers.hpp"

#include <meshhost/link.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/packet.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mh::sw {

// One entry of authorizedPasswords with its psk already derived (Argon2id is slow).
struct AuthorizedPassword {
  std::string login;  // "" for none
  noise::Psk psk;
};
// Derives the psk for `password` towards us (`local` is our public key): slow, call at
// config time. nullopt when Argon2id fails or `login` is longer than kMaxLoginSize.
std::optional<AuthorizedPassword> make_authorized_password(std::string_view password, std::string_view login,
                                                           const PublicKey& local);

struct Limits {
  std::uint32_t max_neighbours = 256;
  std::uint32_t max_paths_per_neighbour = 4;
};

struct PeerTableConfig {
  // Which psk a responder uses: the entry whose login the initiation names; an initiation
  // without a login gets the one entry without a login if there is exactly one, otherwise
  // the all-zero psk. A login that names no entry is refused.
  std::vector<AuthorizedPassword> authorized_passwords;
  Timers timers;
  Limits limits;
  // Initiations (that passed mac1) per second above which initiations need a valid mac2.
  std::uint32_t handshake_load_threshold = 200;
  // Under load, DH per second (after a burst) for one endpoint whose mac2 is valid.
  std::uint32_t handshake_rate_per_endpoint = HandshakeRateLimiter::kDefaultPerSecond;
  std::uint32_t handshake_burst_per_endpoint = HandshakeRateLimiter::kDefaultBurst;
  std::uint32_t handshake_rate_buckets = HandshakeRateLimiter::kDefaultBuckets;  // endpoints tracked at once
  // Wall clock = monotonic now_ns + this (Unix ns), for the TAI64N in our initiations.
  std::int64_t unix_time_offset_ns = 0;
};

struct PeerEvent {
  enum class Kind : std::uint8_t {
    established,   // the neighbour has an established path (again)
    unresponsive,  // no established path left, some unresponsive
    gone,          // every path gone; a discovered neighbour is forgotten after this
    best_path_changed,
    cost_changed,  // the best path's published cost moved (hysteresis applied)
  };
  Kind kind = Kind::established;
  PublicKey key;
  Link* link = nullptr;  // the best path's, when there is one
  Endpoint endpoint;
  std::uint32_t cost = kInfiniteCost;
};
const char* to_string(PeerEvent::Kind kind) noexcept;

// Where the table's answers go. Called synchronously from the entry points.
class Output {
 public:
  // Sends `frame` (borrowed for this call) on `link` to `to`.
  virtual void send_frame(Link* link, const Endpoint& to, ByteView frame) noexcept = 0;
  virtual void on_event(const PeerEvent& event) noexcept = 0;

 protected:
  ~Output() = default;
};

// A decrypted data frame for the switch: `payload` points into the received frame (for a
// Packet: consume(payload.data() − packet.data()), then set length = payload.size()).
struct Delivery {
  Neighbour* from;
  Path* path;
  MutableByteView payload;
};

class PeerTable {
 public:
  // `local` is borrowed and must outlive the table.
  PeerTable(const noise::StaticKey& local, PeerTableConfig config);
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;
  ~PeerTable();

  // A neighbour to handshake with on `link` (LinkObserver::on_peer_hint). A configured hint
  // (not from a beacon) keeps the neighbour for good and sets its password and login; the
  // psk is derived here once per password (Argon2id: slow). Out of memory: counted as
  // table_full, the hint is ignored.
  void add_hint(Link* link, const PeerHint& hint, std::uint64_t now_ns, Output& out) noexcept;
  // Whether add_hint(link, hint) would run Argon2id: a beacon's hint with a password for a
  // key that is unknown, or known, not configured and with another password. The switch
  // derives those off the loop thread and calls the overload below with the result.
  bool needs_psk(const PeerHint& hint) const noexcept;
  // add_hint with `psk` = noise::derive_psk(hint.password, hint.key) computed beforehand:
  // used instead of deriving wherever add_hint would derive.
  void add_hint(Link* link, const PeerHint& hint, const noise::Psk& psk, std::uint64_t now_ns, Output& out) noexcept;
  // `link` is going away: its paths are dropped (LinkObserver::on_link_down).
  void remove_link(Link* link, std::uint64_t now_ns, Output& out) noexcept;

  // One frame from `link`, sent by `from`. Handshakes are answered through `out`; a data
  // frame is decrypted in place and returned. Everything else (and every bad frame, counted
  // in stats()) returns nullopt.
  std::optional<Delivery> receive(Link* link, const Endpoint& from, MutableByteView frame, std::uint64_t now_ns,
                                  Output& out) noexcept;

  // Encrypts packet's data (a switch frame) in place for `to`'s best path: needs
  // kHeadersOuterSize + kInnerTypeSize bytes of headroom and noise::kTagSize of
  // tailroom. Sets packet.endpoint and returns the link to send it on; nullptr (packet
  // unchanged, counted as no_session) when there is no established path or no room.
  // With `authenticate_from` < packet.length, on a `hopEncryption: headers` path whose
  // peer has our 0x05 key, the bytes from that offset on are only authenticated (0x05);
  // otherwise everything is encrypted (0x04).
  static constexpr std::size_t kEncryptAll = ~std::size_t{0};
  Link* seal(Neighbour& to, Packet& packet, std::uint64_t now_ns, std::size_t authenticate_from = kEncryptAll) noexcept;
  // The same for a payload copied into a frame and handed to `out` (control traffic, tests).
  bool send_data(Neighbour& to, ByteView payload, std::uint64_t now_ns, Output& out) noexcept;

  // Runs the timers due at now_ns; returns when to call again (absolute, monotonic ns).
  std::uint64_t tick(std::uint64_t now_ns, Output& out) noexcept;
  // The earliest deadline known after the last call into the table.
  std::uint64_t next_wake_ns() const noexcept { return next_wake_ns_; }

  // SIGHUP: new authorizedPasswords apply to later initiations; sessions stay.
  void set_authorized_passwords(std::vector<AuthorizedPassword> passwords) noexcept {
    config_.authorized_passwords = std::move(passwords);
  }

  // Link metrics (<meshhost/link_metrics.hpp>): `source` (the switch numbers its sources)
  // says `metric` of the path to `endpoint` on the link named `link_name`. The path's cost
  // becomes its RTT/loss cost plus the metric's, through the usual hysteresis; a path not
  // known yet gets it when it appears. A source names at most
  // LinkMetricStore::kMaxPerSource paths; past that its least recently reported is forgotten.
  void set_link_metric(std::uint32_t source, std::string_view link_name, const Endpoint& endpoint,
                       const LinkMetric& metric, Output& out) noexcept;
  // The path's cost is its RTT/loss cost again (at once, no hysteresis), or another
  // source's metric's when one names it too.
  void forget_link_metric(std::uint32_t source, std::string_view link_name, const Endpoint& endpoint,
                          Output& out) noexcept;
  void forget_metric_source(std::uint32_t source, Output& out) noexcept;
  const LinkMetricStore& link_metrics() const noexcept { return metrics_; }

  Neighbour* find(const PublicKey& key) noexcept;
  const Neighbour* find(const PublicKey& key) const noexcept;
  const std::vector<std::unique_ptr<Neighbour>>& neighbours() const noexcept { return neighbours_; }
  const Stats& stats() const noexcept { return stats_; }
  PublicKey local_key() const noexcept { return local_public_; }

 private:
  struct Slot {
    std::uint32_t index = 0;
    Neighbour* neighbour = nullptr;
    Path* path = nullptr;
    SlotKind kind = SlotKind::current;
  };

  void on_initiation(Link* link, const Endpoint& from, ByteView frame, std::uint64_t now_ns, Output& out) noexcept;
  void on_response(Link* link, const Endpoint& from, ByteView frame, std::uint64_t now_ns, Output& out) noexcept;
  void on_cookie_reply(ByteView frame) noexcept;
  std::optional<Delivery> on_transport(Link* link, const Endpoint& from, MutableByteView frame, std::uint64_t now_ns,
                                       Output& out) noexcept;
  std::optional<Delivery> on_transport_headers(Link* link, const Endpoint& from, MutableByteView frame,
                                               std::uint64_t now_ns, Output& out) noexcept;
  void send_headers_key(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept;
  void hint(Link* link, const PeerHint& hint, const noise::Psk* psk, std::uint64_t now_ns, Output& out) noexcept;

  void send_initiation(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept;
  bool send_inner(Neighbour& n, Path& p, InnerType type, ByteView body, std::uint64_t now_ns, Output& out) noexcept;
  void send_probe(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept;
  void path_heard(Neighbour& n, Path& p, const Endpoint& from, std::uint64_t now_ns, Output& out) noexcept;
  std::uint64_t service_path(Neighbour& n, Path& p, std::uint64_t now_ns, Output& out) noexcept;
  void update_neighbour(Neighbour& n, Output& out) noexcept;
  Tai64n next_timestamp(std::uint64_t now_ns) noexcept;

  Neighbour* add_neighbour(const PublicKey& key) noexcept;
  Path* find_path(Neighbour& n, Link* link, const Endpoint& endpoint) noexcept;
  Path* add_path(Neighbour& n, Link* link, const Endpoint& endpoint, std::uint64_t now_ns) noexcept;
  void remove_path(Neighbour& n, std::size_t i) noexcept;
  void drop_sessions(Path& p) noexcept;
  // Takes the store's metric for `p` (or none) into its cost; `exact` skips the hysteresis.
  void apply_metric(Path& p, bool exact) noexcept;
  // apply_metric on every path the key names, then their neighbours' states.
  void apply_metrics(std::string_view link_name, const Endpoint& endpoint, bool exact, Output& out) noexcept;

  std::optional<std::uint32_t> allocate_index(Neighbour* n, Path* p, SlotKind kind) noexcept;
  Slot* lookup(std::uint32_t index) noexcept;
  void free_index(std::uint32_t index) noexcept;
  void rebind(std::uint32_t index, SlotKind kind) noexcept;
  void clear_session(Session& s) noexcept;
  void wake_at(std::uint64_t at_ns) noexcept;
  // When the next initiation on `p` may follow the one just sent (backoff while unanswered).
  std::uint64_t retry_interval(const Path& p) const noexcept;
  // The neighbour showed up: every path's retry starts again from handshake_retry.
  void reset_backoff(Neighbour& n) noexcept;

  const noise::StaticKey& local_;
  PublicKey local_public_;
  PeerTableConfig config_;
  CookieChecker cookies_;
  LoadMeter load_;
  HandshakeRateLimiter rate_limiter_;
  Stats stats_;
  std::vector<std::unique_ptr<Neighbour>> neighbours_;
  LinkMetricStore metrics_;
  std::vector<Slot> slots_;  // a power of two; index & mask is the slot
  std::uint32_t slot_mask_ = 0;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t last_stamp_unix_ns_ = 0;
  std::uint64_t next_probe_id_ = 1;
  std::uint64_t next_wake_ns_ = ~std::uint64_t{0};
};

}  // namespace mh::sw
