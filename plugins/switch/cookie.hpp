// Cookies for handshakes under load (WireGuard whitepaper §5.4.7): a responder that is busy
// answers an initiation without a valid mac2 with a cookie reply instead of doing a DH; the
// initiator puts mac2 (keyed by that cookie) on its next initiation.
#pragma once

#include "macs.hpp"

#include <meshhost/packet.hpp>

namespace mh::sw {

// The responder side: the rotating secret, cookies for endpoints, mac checks and replies.
class CookieChecker {
 public:
  // `rotate_after_ns`: a fresh secret this long after the last one (WireGuard: 120 s).
  CookieChecker(const PublicKey& local, std::uint64_t rotate_after_ns) noexcept;

  // mac1 on a message to us.
  bool check_mac1(ByteView covered, ByteView mac1) const noexcept;
  // mac2 on a message from `from`: keyed by the cookie we would give that endpoint now.
  bool check_mac2(const Endpoint& from, ByteView covered, ByteView mac2, std::uint64_t now_ns) noexcept;
  // Writes a cookie reply (kCookieReplySize bytes) to `receiver_index` for an initiation
  // that came from `from` and carried `initiation_mac1`.
  void write_reply(std::uint32_t receiver_index, ByteView initiation_mac1, const Endpoint& from,
                   std::uint64_t now_ns, std::uint8_t* out) noexcept;

  // BLAKE2b-128 keyed by the current secret over the endpoint's kind, size and bytes.
  Cookie cookie_for(const Endpoint& from, std::uint64_t now_ns) noexcept;

 private:
  void rotate_if_due(std::uint64_t now_ns) noexcept;

  MacKey mac1_key_;
  MacKey cookie_key_;
  std::uint8_t secret_[32] = {};
  std::uint64_t secret_born_ns_ = 0;
  bool has_secret_ = false;
  std::uint64_t rotate_after_ns_;
};

// The initiator side: opens a cookie reply from the peer whose cookie key is `cookie_key`
// (cookie_key_for(peer)) to an initiation that carried `sent_mac1`. False if it does not
// authenticate.
bool open_cookie_reply(const MacKey& cookie_key, const CookieReplyView& reply, ByteView sent_mac1,
                       Cookie* out) noexcept;

// "Under load": more than `threshold` initiations processed within one second, and for one
// second after. Counts only what passed mac1.
class LoadMeter {
 public:
  explicit LoadMeter(std::uint32_t threshold_per_second) noexcept : threshold_(threshold_per_second) {}
  // Records one initiation at `now_ns`; returns whether the responder is now under load.
  bool record(std::uint64_t now_ns) noexcept;
  bool under_load(std::uint64_t now_ns) const noexcept { return now_ns < under_load_until_ns_; }

 private:
  std::uint32_t threshold_;
  std::uint64_t window_start_ns_ = 0;
  std::uint32_t in_window_ = 0;
  std::uint64_t under_load_until_ns_ = 0;
};

}  // namespace mh::sw
