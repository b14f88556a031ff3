// A neighbour and its paths: the state the peer table keeps per neighbour key and per
// (link, endpoint) path. Plain data with small helpers; PeerTable drives the transitions.
#pragma once

#include "hop_headers.hpp"
#include "link_quality.hpp"
#include "macs.hpp"

#include <meshhost/link.hpp>
#include <meshhost/link_metrics.hpp>
#include <meshhost/noise.hpp>
#include <meshhost/tai64n.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mh::sw {

// A neighbour's or path's state, as `switch.peers` shows it.
enum class PeerState : std::uint8_t {
  handshaking,   // no confirmed session yet
  established,   // a confirmed session and authenticated packets within Timers::unresponsive_ns
  unresponsive,  // had a session, nothing authenticated for Timers::unresponsive_ns
  gone,          // nothing for Timers::gone_ns: sessions dropped
};
const char* to_string(PeerState state) noexcept;

// A session's keys for 0x05 frames (hopEncryption headers): each side picks a random key
// for what it sends and hands it over inside the session (inner types 3 and 4), because
// the Noise transport keys never leave noise::Transport. 0x05 is sent only once the peer
// acknowledged the key.
struct HeadersKeys {
  HeadersKey tx;
  std::uint64_t tx_id = 0;  // 0: no key chosen yet
  std::uint64_t tx_counter = 0;
  bool tx_acked = false;
  HeadersKey rx;
  std::uint64_t rx_id = 0;  // 0: none received
  ReplayWindow rx_window;
};

// One transport session: a Noise transport plus the indexes that demultiplex it.
struct Session {
  noise::Transport transport;
  HeadersKeys headers;
  std::uint32_t local_index = 0;   // what the peer puts in its frames to us
  std::uint32_t remote_index = 0;  // what we put in our frames to the peer
  std::uint64_t created_ns = 0;
  bool initiator = false;          // we sent the initiation
  bool live() const noexcept { return transport.has_keys(); }
};

// Our initiation on a path, waiting for its response.
struct PendingInitiation {
  std::optional<noise::Handshake> handshake;
  std::uint32_t local_index = 0;
  std::uint64_t sent_ns = 0;
  Mac mac1;  // the mac1 we sent: a cookie reply's associated data
  bool active() const noexcept { return handshake.has_value(); }
};

// Which of a path's session slots a receiver index points at.
enum class SlotKind : std::uint8_t { current = 0, previous = 1, next = 2, pending = 3 };

struct Path {
  Link* link = nullptr;
  Endpoint endpoint;       // where we send: follows the latest authenticated packet
  Endpoint hint_endpoint;  // where a hint said the peer is (configured or beacon)
  bool hinted = false;     // we may initiate on this path
  bool configured = false; // hinted by configuration, not only by beacons: kept when gone
  std::uint64_t last_hint_ns = 0;
  PeerState state = PeerState::handshaking;

  Session current;   // confirmed; what we send with
  Session previous;  // the one `current` replaced: receive only, until it expires
  Session next;      // responder: answered, waiting for the initiator's first packet
  PendingInitiation pending;

  std::uint64_t created_ns = 0;
  std::uint64_t last_received_ns = 0;  // latest authenticated packet, 0 for never
  std::uint64_t next_initiation_ns = 0;
  std::uint64_t last_initiation_ns = 0;  // 0 for never
  std::uint32_t unanswered_initiations = 0;  // since the neighbour last authenticated (backoff)
  std::uint64_t last_probe_ns = 0;
  std::uint64_t probe_id = 0;          // outstanding echo id, 0 for none
  LinkQuality quality;
  // What a link metric source says of this path (LinkMetricStore): its cost is in `quality`.
  LinkMetric metric;
  bool has_metric = false;

  Cookie cookie;  // from the peer's cookie reply, for mac2
  std::uint64_t cookie_ns = 0;
  bool has_cookie = false;

  std::uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0;

  Session& slot(SlotKind kind) noexcept {
    return kind == SlotKind::current ? current : kind == SlotKind::previous ? previous : next;
  }
  bool established() const noexcept { return state == PeerState::established; }
};

struct Neighbour {
  PublicKey key;
  MacKey mac1_key;    // for messages we send it
  MacKey cookie_key;  // for cookie replies it sends us
  // From a hint: how we initiate towards it. `configured` (not just a beacon) keeps the
  // neighbour in the table when it is gone.
  bool configured = false;
  noise::Psk initiator_psk;
  std::string password;  // as hinted, to notice a change (the psk is derived once)
  std::string login;
  std::string peer_name;
  // The newest initiation timestamp accepted from this key (DESIGN §4 replay check).
  Tai64n last_timestamp;
  bool has_timestamp = false;

  std::vector<std::unique_ptr<Path>> paths;  // capacity Limits::max_paths_per_neighbour
  Path* best = nullptr;
  PeerState state = PeerState::handshaking;
  std::uint32_t published_cost = kInfiniteCost;
  // The switch's mh::NeighbourId while the neighbour is up (established); 0 otherwise.
  std::uint32_t mesh_id = 0;
};

}  // namespace mh::sw
