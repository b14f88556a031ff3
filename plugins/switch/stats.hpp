// What the peer table dropped and why, one counter per reason (admin and metrics read it).
#pragma once

#include <cstdint>

namespace mh::sw {

struct Stats {
  // Dropped frames.
  std::uint64_t short_frame = 0;          // shorter than the 2-byte header
  std::uint64_t bad_version = 0;
  std::uint64_t unknown_type = 0;         // includes beacons that reached the switch
  std::uint64_t malformed = 0;            // right type, wrong size or payload layout
  std::uint64_t bad_mac1 = 0;             // not for our key (or junk)
  std::uint64_t bad_mac2_under_load = 0;  // answered with a cookie reply instead
  std::uint64_t rate_limited = 0;         // under load, valid mac2, but over its endpoint's rate
  std::uint64_t handshake_failed = 0;     // Noise refused the initiation or response
  std::uint64_t stale_timestamp = 0;      // replayed or old initiation (TAI64N)
  std::uint64_t unknown_login = 0;        // login names no authorized password
  std::uint64_t policy_rejected = 0;      // the link's discovered-peer policy refused the key
  std::uint64_t invalid_key = 0;          // initiator key outside fc00::/8 or our own
  std::uint64_t table_full = 0;           // no room for another neighbour, path or index
  std::uint64_t collision_lost = 0;       // their initiation lost to ours (lower key wins)
  std::uint64_t unknown_index = 0;        // receiver index not ours (or no longer)
  std::uint64_t unexpected_message = 0;   // a response or cookie for no pending handshake
  std::uint64_t bad_cookie_reply = 0;     // cookie reply that did not authenticate
  std::uint64_t decrypt_failed = 0;       // transport tag did not verify
  std::uint64_t replayed_counter = 0;     // transport counter already seen or too old
  std::uint64_t session_expired = 0;      // transport on a session past reject-after
  std::uint64_t unknown_inner_type = 0;   // decrypted, but an inner type we do not know
  std::uint64_t no_session = 0;           // data to send but no established path
  std::uint64_t unconfirmed_dropped = 0;  // responder sessions never confirmed: expired or replaced (wrong password?)
  std::uint64_t headers_not_allowed = 0;  // a 0x05 frame on a link whose hopEncryption is full
  std::uint64_t no_headers_key = 0;       // a 0x05 frame for a session whose key we were not given
  // Events.
  std::uint64_t initiations_sent = 0;
  std::uint64_t responses_sent = 0;
  std::uint64_t cookie_replies_sent = 0;
  std::uint64_t cookie_replies_received = 0;
  std::uint64_t sessions_established = 0;
  std::uint64_t headers_frames_received = 0;  // 0x05 frames that authenticated
  std::uint64_t psks_derived = 0;             // Argon2id run by the table itself (on its thread)
};

}  // namespace mh::sw
