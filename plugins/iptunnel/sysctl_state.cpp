// Sysctls as files under /proc/sys, and the state file of their originals: see sysctl_state.hpp.
#include "sysctl_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace mh::iptunnel {

namespace {

constexpr std::size_t kMaxValueBytes = 4096;  // one page: the most a sysctl read returns at once
constexpr const char* kStateHeader =
    "# meshhost iptunnel: sysctls as they were before meshhost changed them; restored at its stop\n";

// Runs of whitespace as one space, none at the ends: how the kernel parses a value back.
std::string normalized(const std::string& text) {
  std::string out;
  bool gap = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      gap = !out.empty();
      continue;
    }
    if (gap) out += ' ';
    gap = false;
    out += c;
  }
  return out;
}

// "net.ipv4.ip_forward" or "net/ipv4/ip_forward" as the path below proc_sys; "" when a part
// is empty, "." or ".." (nothing outside proc_sys is ever written).
std::string relative_path(const std::string& name) {
  std::string path = name;
  if (path.find('/') == std::string::npos) std::replace(path.begin(), path.end(), '.', '/');
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.find_first_of(" \t\n") != std::string::npos) return {};
    start = end + 1;
  }
  return path;
}

// 0 or the errno.
int read_value(const std::string& path, std::string* value) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buffer[kMaxValueBytes];
  ssize_t n;
  do {
    n = ::read(fd, buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  const int e = errno;
  ::close(fd);
  if (n < 0) return e;
  value->assign(buffer, static_cast<std::size_t>(n));
  return 0;
}

// One write(): the kernel parses a sysctl per write call. 0 or the errno.
int write_value(const std::string& path, const std::string& value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return errno;
  const std::string line = value + "\n";
  ssize_t n;
  do {
    n = ::write(fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : (static_cast<std::size_t>(n) != line.size() ? EIO : 0);
  if (::close(fd) != 0 && e == 0) e = errno;
  return e;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

SysctlState::SysctlState(std::string proc_sys, std::string state_file)
    : proc_sys_(std::move(proc_sys)), state_file_(std::move(state_file)) {
  std::ifstream in(state_file_);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    const std::string name = relative_path(line.substr(0, space));
    if (name.empty()) continue;
    const bool seen = std::any_of(originals_.begin(), originals_.end(),
                                  [&name](const auto& original) { return original.first == name; });
    if (!seen) originals_.emplace_back(name, space == std::string::npos ? std::string() : normalized(line.substr(space + 1)));
  }
  adopted_ = originals_.size();
}

std::string SysctlState::path_of(const std::string& relative) const { return proc_sys_ + "/" + relative; }

bool SysctlState::save(std::string* error) const {
  if (originals_.empty()) {
    if (::unlink(state_file_.c_str()) != 0 && errno != ENOENT) {
      *error = "cannot remove " + state_file_ + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }
  std::string text = kStateHeader;
  for (const auto& original : originals_) text += original.first + " " + original.second + "\n";
  const std::string tmp = state_file_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot create " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::size_t done = 0;
  int e = 0;
  while (done < text.size() && e == 0) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) e = n < 0 ? errno : EIO;
    else done += static_cast<std::size_t>(n);
  }
  if (e == 0 && ::fsync(fd) != 0) e = errno;
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e == 0 && ::rename(tmp.c_str(), state_file_.c_str()) != 0) e = errno;
  if (e != 0) {
    ::unlink(tmp.c_str());
    *error = "cannot write " + state_file_ + ": " + std::strerror(e);
    return false;
  }
  // The rename itself must survive a power cut, or the record is lost with it.
  const int dir = ::open(directory_of(state_file_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

bool SysctlState::set(const std::string& name, const std::string& value, std::string* error) {
  const std::string relative = relative_path(name);
  if (relative.empty()) {
    *error = "sysctl \"" + name + "\": not a sysctl name";
    return false;
  }
  const std::string path = path_of(relative);
  std::string current;
  if (int e = read_value(path, &current); e != 0) {
    *error = "sysctl " + name + ": cannot read " + path + ": " + std::strerror(e);
    return false;
  }
  const std::string wanted = normalized(value);
  if (normalized(current) == wanted) return true;

  const bool recorded = std::any_of(originals_.begin(), originals_.end(),
                                    [&relative](const auto& original) { return original.first == relative; });
  if (!recorded) {
    originals_.emplace_back(relative, normalized(current));
    if (std::string why; !save(&why)) {
      originals_.pop_back();
      *error = "sysctl " + name + ": not changed, its original value cannot be recorded: " + why;
      return false;
    }
  }
  if (int e = write_value(path, wanted); e != 0) {
    if (!recorded) {
      // Unchanged after all: nothing of ours to restore.
      originals_.pop_back();
      std::string ignored;
      save(&ignored);
    }
    *error = "sysctl " + name + ": cannot set \"" + wanted + "\": " + std::strerror(e);
    return false;
  }
  return true;
}

std::string SysctlState::value_before(const std::string& name) const {
  const std::string relative = relative_path(name);
  if (relative.empty()) return {};
  for (const auto& original : originals_) {
    if (original.first == relative) return original.second;
  }
  std::string current;
  return read_value(path_of(relative), &current) == 0 ? normalized(current) : std::string();
}

std::vector<std::string> SysctlState::restore_all() {
  std::vector<std::string> problems;
  std::vector<std::pair<std::string, std::string>> failed;
  for (auto it = originals_.rbegin(); it != originals_.rend(); ++it) {
    const std::string path = path_of(it->first);
    std::string current;
    const int read_error = read_value(path, &current);
    if (read_error == ENOENT) continue;
    if (read_error == 0 && normalized(current) == it->second) continue;
    if (int e = write_value(path, it->second); e != 0) {
      problems.push_back("sysctl " + it->first + ": cannot restore \"" + it->second + "\": " + std::strerror(e));
      failed.insert(failed.begin(), *it);
    }
  }
  originals_ = std::move(failed);
  if (std::string why; !save(&why)) problems.push_back("sysctl state: " + why);
  return problems;
}

}  // namespace mh::iptunnel
