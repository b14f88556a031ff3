// The file-backed lease store: a small text file replaced atomically.
#include "lease_store.hpp"

#include <meshhost/keys.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace mh::iptunnel {

namespace {

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::vector<StoredLease> FileLeaseStore::load() {
  std::vector<StoredLease> out;
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key_text, address_text, extra;
    if (!(fields >> key_text >> address_text) || (fields >> extra)) continue;
    auto key = parse_public_key(key_text);
    auto address = parse_ip(address_text);
    if (!key || !address) continue;
    out.push_back(StoredLease{*key, *address});
  }
  return out;
}

bool FileLeaseStore::save(const std::vector<StoredLease>& leases) {
  std::string text;
  for (const StoredLease& lease : leases) text += format_public_key(lease.key) + " " + format_ip(lease.address) + "\n";
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool written = write_all(fd, text) && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !written || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself is durable only once the directory is synced.
  const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

}  // namespace mh::iptunnel
