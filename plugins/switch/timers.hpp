// Every timer of the switch's peer table, with its default, in one place. docs/protocol.md
// lists the same rows ("Switch: link frames and the handshake", timers).
#pragma once

#include <cstdint>

namespace mh::sw {

inline constexpr std::uint64_t kNsPerMs = 1'000'000;
inline constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

struct Timers {
  // Echo request (doubles as keepalive) on each established path when this long has passed
  // since the last one. Under 25 s so NAT mappings stay open.
  std::uint64_t keepalive_ns = 10 * kNsPerSecond;
  // A new initiation when no response came this long after the last one (WireGuard's REKEY_TIMEOUT).
  std::uint64_t handshake_retry_ns = 5 * kNsPerSecond;
  // A path without a session that is not answered backs off: the retry doubles after each
  // unanswered initiation up to this (12 retries by default). A path that had a session
  // (unresponsive) keeps the plain retry, so a peer that comes back is found as fast as
  // before; anything authenticated from the neighbour, a hint and a new path start over.
  std::uint64_t handshake_retry_max_ns = 60 * kNsPerSecond;
  // A path with a session but nothing authenticated for this long starts a fresh handshake
  // (keepalive + retry: the peer may have restarted).
  std::uint64_t silence_rehandshake_ns = 15 * kNsPerSecond;
  // Established → unresponsive: nothing authenticated for this long (3 missed keepalives).
  std::uint64_t unresponsive_ns = 30 * kNsPerSecond;
  // Unresponsive → gone: nothing authenticated for this long; the path's sessions are
  // dropped (a discovered path is forgotten, a configured one keeps handshaking).
  std::uint64_t gone_ns = 120 * kNsPerSecond;
  // The initiator of a session starts a new handshake when it is this old (REKEY_AFTER_TIME).
  std::uint64_t rekey_after_ns = 120 * kNsPerSecond;
  // The responder of a session (if it knows how to initiate) rekeys at this age, should the
  // initiator not have: reject_after − keepalive − handshake_retry.
  std::uint64_t responder_rekey_after_ns = 165 * kNsPerSecond;
  // No packet is sent or accepted on a session this old (REJECT_AFTER_TIME).
  std::uint64_t reject_after_ns = 180 * kNsPerSecond;
  // A responder's session that the initiator has not confirmed by then is dropped.
  std::uint64_t unconfirmed_ns = 30 * kNsPerSecond;
  // A cookie secret's lifetime; an initiator uses a received cookie for this long minus
  // handshake_retry (WireGuard's COOKIE_REFRESH_TIME).
  std::uint64_t cookie_secret_ns = 120 * kNsPerSecond;
};

// Why a set of timers cannot work (a config error to report), or nullptr. The order the
// state machine relies on: keepalive < silence re-handshake < unresponsive < gone, a retry
// shorter than the silence, and rekey < responder rekey < reject.
constexpr const char* check_timers(const Timers& t) noexcept {
  if (t.keepalive_ns == 0 || t.handshake_retry_ns == 0) return "keepalive and handshake retry must be positive";
  if (t.keepalive_ns >= t.silence_rehandshake_ns) return "keepalive must be shorter than the silence re-handshake";
  if (t.handshake_retry_ns >= t.silence_rehandshake_ns) return "handshake retry must be shorter than the silence re-handshake";
  if (t.handshake_retry_max_ns < t.handshake_retry_ns) return "the longest handshake retry must not be shorter than the retry";
  if (t.silence_rehandshake_ns >= t.unresponsive_ns) return "silence re-handshake must be shorter than unresponsive";
  if (t.unresponsive_ns >= t.gone_ns) return "unresponsive must be shorter than gone";
  if (t.rekey_after_ns > t.responder_rekey_after_ns || t.responder_rekey_after_ns >= t.reject_after_ns)
    return "rekey after <= responder rekey after < reject after is required";
  if (t.cookie_secret_ns <= t.handshake_retry_ns) return "the cookie secret must outlive a handshake retry";
  return nullptr;
}
static_assert(check_timers(Timers{}) == nullptr, "the defaults must be consistent");

}  // namespace mh::sw
