// The own-seqno reservation file (seqno_store.hpp).
#include "seqno_store.hpp"

#include "messages.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <unistd.h>

namespace mh::router {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

SeqnoStore::SeqnoStore(std::string directory)
    : path_(directory + "/seqno"), temp_path_(directory + "/seqno.tmp"), directory_(std::move(directory)) {}

std::optional<std::uint16_t> SeqnoStore::read() const {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char text[16];
  const ssize_t n = ::read(fd, text, sizeof text);
  ::close(fd);
  if (n <= 1 || n >= static_cast<ssize_t>(sizeof text) || text[n - 1] != '\n') return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text, text + n - 1, value);
  if (ec != std::errc() || end != text + n - 1 || value > 0xffff) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::uint16_t SeqnoStore::start(std::string* error) {
  std::uint16_t seqno;
  if (const auto stored = read()) {
    seqno = static_cast<std::uint16_t>(*stored + 1);
  } else {
    // Nothing remembered: any value is as good as another; seqno requests from the mesh
    // raise it past what our neighbours still hold.
    std::random_device random;
    seqno = static_cast<std::uint16_t>(random());
  }
  write(static_cast<std::uint16_t>(seqno + kSeqnoReserve), error);
  return seqno;
}

bool SeqnoStore::note(std::uint16_t seqno, std::string* error) {
  if (!seqno_newer(seqno, reserved_)) return true;
  return write(static_cast<std::uint16_t>(seqno + kSeqnoReserve), error);
}

bool SeqnoStore::write(std::uint16_t reserved, std::string* error) {
  reserved_ = reserved;  // even if the write fails: do not retry on every raise
  const std::string text = std::to_string(reserved) + "\n";
  const int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (error) *error = errno_text("open " + temp_path_);
    return false;
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  const std::string write_error = written ? std::string() : errno_text("write " + temp_path_);
  ::close(fd);
  if (!written) {
    if (error) *error = write_error;
    return false;
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    if (error) *error = errno_text("rename " + temp_path_);
    return false;
  }
  // The rename itself must survive a power cut too.
  if (const int dir = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

}  // namespace mh::router
