// The sliding window that rejects replayed transport packets (DESIGN §4), a bitmap of
// 64-bit words used as a ring as in RFC 6479 and wireguard-go's replay filter.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mh {

// Remembers which of the last kWindowSize counters below the highest one were accepted.
// Counters start at 0. Checking is split from updating so that only a packet that
// authenticated moves the window: a forged packet with a huge counter cannot push the
// window forward and make every genuine packet look too old.
//
//   if (!window.check(counter)) drop();          // before decrypting
//   if (!decrypt(...)) drop();
//   if (!window.update(counter)) drop();         // after, re-validates
//
// Not thread-safe; one window per receiving direction of a transport.
class ReplayWindow {
 public:
  static constexpr std::size_t kWordBits = 64;
  // A power of two so the ring index is a mask. One word is always partly ahead of the
  // highest counter, so the guaranteed window is one word less than the bitmap.
  static constexpr std::size_t kWords = 64;
  static constexpr std::uint64_t kWindowSize = (kWords - 1) * kWordBits;  // 4032 packets

  // A window that has seen nothing: every counter from 0 up is acceptable.
  constexpr ReplayWindow() noexcept = default;

  // True if `counter` has not been accepted and is not older than the window allows.
  // Changes nothing.
  bool check(std::uint64_t counter) const noexcept;

  // Marks `counter` as accepted and slides the window forward when it is the newest.
  // Returns false, and changes nothing, if `counter` was already accepted or is too old —
  // which happens when another packet moved the window between check() and update().
  bool update(std::uint64_t counter) noexcept;

  // check() and update() together, for callers that have already authenticated.
  bool check_and_update(std::uint64_t counter) noexcept { return check(counter) && update(counter); }

  // Forgets everything (a new key starts its counters at 0 again).
  void reset() noexcept;

  // The highest counter accepted so far (0 before any).
  std::uint64_t highest() const noexcept { return highest_; }

 private:
  bool too_old(std::uint64_t counter) const noexcept;

  std::uint64_t highest_ = 0;
  std::uint64_t words_[kWords] = {};
};

static_assert(ReplayWindow::kWindowSize >= 2048, "DESIGN §4: a window of at least 2048 packets");

}  // namespace mh
