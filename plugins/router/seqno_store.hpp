// The node's own route seqno, kept across restarts (docs/protocol.md, "Routing",
// "Sequence-number recovery"). The file holds a reservation: a seqno no advertisement
// has passed. A start takes the one after it and reserves kSeqnoReserve more, so the
// file is written once per kSeqnoReserve raises rather than on each one, and a node
// killed at any moment restarts past every seqno it ever sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mh::router {

inline constexpr std::uint16_t kSeqnoReserve = 64;

class SeqnoStore {
 public:
  // Keeps the reservation in `<directory>/seqno` (written through `seqno.tmp` and rename).
  explicit SeqnoStore(std::string directory);

  // The seqno to start with: one past the stored reservation, or a random one when there
  // is none (or it cannot be read: *error says why). Reserves start + kSeqnoReserve.
  std::uint16_t start(std::string* error);

  // Our seqno is now `seqno`; writes a new reservation first when it passes the current
  // one. False (and *error) when that write failed: recovery then relies on seqno requests.
  bool note(std::uint16_t seqno, std::string* error);

  // The stored reservation, if a valid one is on disk.
  std::optional<std::uint16_t> read() const;

 private:
  bool write(std::uint16_t reserved, std::string* error);

  std::string path_;
  std::string temp_path_;
  std::string directory_;
  std::uint16_t reserved_ = 0;
};

}  // namespace mh::router
