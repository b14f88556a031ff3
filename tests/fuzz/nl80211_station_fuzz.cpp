// Fuzz target for meshpoint's nl80211 parsers (plugins/meshpoint/nl80211.hpp), which read
// every message of a station dump, interface answer and wiphy dump the kernel sends. The
// input is one netlink message; like libnl's receive path (nlmsg_ok) the harness refuses
// one whose nlmsg_len claims more than the input holds, and the parsers must then read
// nothing outside nlmsg_len (the message ends at a guard page). What they accept must be
// consistent: flags only for the figures present, names non-empty.
#include "nl80211.hpp"

#include <linux/netlink.h>
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

constexpr std::size_t kArenaSize = 1 << 16;  // longer inputs are skipped

// kArenaSize accessible bytes followed by one PROT_NONE page; returns the guard's start.
std::uint8_t* arena() {
  static std::uint8_t* guard = [] {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* map = ::mmap(nullptr, kArenaSize + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(map != MAP_FAILED);
    auto* bytes = static_cast<std::uint8_t*>(map);
    check(::mprotect(bytes + kArenaSize, page, PROT_NONE) == 0);
    return bytes + kArenaSize;
  }();
  return guard;
}

constexpr std::uint32_t kAllFigures = mh::kRadioSignal | mh::kRadioTxBitrate | mh::kRadioExpectedThroughput |
                                      mh::kRadioAirtimeMetric | mh::kRadioInactiveTime;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mh::meshpoint;
  if (size < sizeof(nlmsghdr)) return 0;
  std::uint32_t length = 0;
  std::memcpy(&length, data, sizeof length);  // nlmsg_len
  if (length < sizeof(nlmsghdr) || length > size) return 0;

  // The message ends where an inaccessible page begins, so a read past it by anyone
  // (libnl's attribute walk is not instrumented) faults at once. Netlink messages start
  // 4-byte aligned; for a length that is not a multiple of 4 the up to 3 bytes of slack
  // are poisoned for ASan instead.
  if (length > kArenaSize) return 0;
  std::uint8_t* const guard = arena();
  const std::size_t padded = (length + 3) & ~std::size_t{3};
  std::uint8_t* const start = guard - padded;
  std::memcpy(start, data, length);
  ASAN_POISON_MEMORY_REGION(start + length, padded - length);
  const auto* message = reinterpret_cast<const nlmsghdr*>(start);

  StationInfo station;
  if (parse_station(message, &station)) {
    check((station.figures.present & ~kAllFigures) == 0);
    if ((station.figures.present & mh::kRadioTxBitrate) != 0) check(station.figures.tx_bitrate_kbps != 0);
    if ((station.figures.present & mh::kRadioSignal) == 0) check(station.figures.signal_dbm == 0);
    check(station.figures.signal_dbm >= -128 && station.figures.signal_dbm <= 127);
  }
  std::uint32_t iftype = 0;
  std::uint32_t wiphy = 0;
  (void)parse_interface(message, &iftype, &wiphy);
  std::string name;
  if (parse_wiphy(message, &wiphy, &name)) {
    check(!name.empty());
    check(name.size() < length);
    check(name.find('\0') == std::string::npos);
  }
  ASAN_UNPOISON_MEMORY_REGION(start + length, padded - length);
  return 0;
}
