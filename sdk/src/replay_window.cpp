// The replay window (RFC 6479): a ring of 64-bit words indexed by counter / 64, where
// sliding forward clears whole words instead of shifting the bitmap.
#include <meshhost/replay_window.hpp>

namespace mh {

namespace {

constexpr std::uint64_t kWordShift = 6;  // log2(ReplayWindow::kWordBits)
constexpr std::uint64_t kBitMask = ReplayWindow::kWordBits - 1;
constexpr std::uint64_t kRingMask = ReplayWindow::kWords - 1;
static_assert((std::uint64_t{1} << kWordShift) == ReplayWindow::kWordBits);
static_assert((ReplayWindow::kWords & kRingMask) == 0, "kWords must be a power of two");

}  // namespace

bool ReplayWindow::too_old(std::uint64_t counter) const noexcept {
  return counter < highest_ && highest_ - counter > kWindowSize;
}

bool ReplayWindow::check(std::uint64_t counter) const noexcept {
  if (counter > highest_) return true;
  if (too_old(counter)) return false;
  const std::uint64_t word = (counter >> kWordShift) & kRingMask;
  const std::uint64_t bit = std::uint64_t{1} << (counter & kBitMask);
  return (words_[word] & bit) == 0;
}

bool ReplayWindow::update(std::uint64_t counter) noexcept {
  if (counter > highest_) {
    // Clear the words the window slides over; a jump past the whole ring clears them all.
    const std::uint64_t current = highest_ >> kWordShift;
    const std::uint64_t target = counter >> kWordShift;
    std::uint64_t to_clear = target - current;
    if (to_clear > kWords) to_clear = kWords;
    for (std::uint64_t i = 1; i <= to_clear; ++i) words_[(current + i) & kRingMask] = 0;
    highest_ = counter;
  } else if (too_old(counter)) {
    return false;
  }
  const std::uint64_t word = (counter >> kWordShift) & kRingMask;
  const std::uint64_t bit = std::uint64_t{1} << (counter & kBitMask);
  if ((words_[word] & bit) != 0) return false;
  words_[word] |= bit;
  return true;
}

void ReplayWindow::reset() noexcept {
  highest_ = 0;
  for (auto& w : words_) w = 0;
}

}  // namespace mh
