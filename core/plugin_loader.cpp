// Plugin discovery and loading; the only place that calls dlopen.
#include "plugin_loader.hpp"
#include "config.hpp"
#include "sdk_strings.hpp"

// Boost 1.74's library_info.hpp uses these without including them.
#include <string>
#include <vector>
#define BOOST_DLL_USE_STD_FS
#include <boost/dll/library_info.hpp>

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

namespace mh::core {

namespace {

// The oldest descriptor layout this host understands: everything through `destroy`.
constexpr std::size_t kMinDescriptorSize = sizeof(PluginDescriptor);
// How far to look for entry symbols of other ABI majors, to name them in the error.
constexpr unsigned kOtherMajorsProbed = 16;

using EntryFn = const PluginDescriptor* (*)() noexcept;

std::string mode_text(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

bool valid_plugin_name(Str name) {
  if (name.data == nullptr || name.size == 0 || name.size > 64) return false;
  for (std::size_t i = 0; i < name.size; ++i) {
    char c = name.data[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string check_sections(const std::string& path) {
  try {
    boost::dll::library_info info(std::filesystem::path(path), /*throw_if_not_native=*/true);
    auto sections = info.sections();
    if (std::find(sections.begin(), sections.end(), MESHHOST_SECTION) == sections.end())
      return "not a meshhost plugin (no '" MESHHOST_SECTION "' ELF section)";
    return {};
  } catch (const std::exception& e) {
    return std::string("not a loadable ELF shared library (") + e.what() + ")";
  }
}

std::string check_descriptor(const PluginDescriptor* d) {
  if (d == nullptr) return "its entry point returned no descriptor";
  if (d->struct_size < kMinDescriptorSize)
    return "its descriptor is " + std::to_string(d->struct_size) + " bytes, older than ABI " +
           std::to_string(kAbiMajor) + ".0 allows";
  if (d->abi_major != kAbiMajor)
    return "its descriptor says ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
           " but it exports the ABI " + std::to_string(kAbiMajor) + " entry point";
  if (d->abi_minor > kAbiMinor)
    return "built for plugin ABI " + std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
           "; this host speaks ABI " + std::to_string(kAbiMajor) + "." + std::to_string(kAbiMinor) +
           " (upgrade meshhost)";
  if (!valid_plugin_name(d->name)) return "its name \"" + to_string(d->name) + "\" is not [a-z0-9_-]{1,64}";
  if (to_string(d->name) == kHostOwner) return "its name \"host\" is the host's own";
  if (!d->validate || !d->create || !d->destroy) return "its descriptor lacks validate, create or destroy";
  if ((d->provided_count && !d->provided) || (d->required_count && !d->required))
    return "its descriptor's service lists are null";
  return {};
}

}  // namespace

std::string PluginFile::name() const { return descriptor ? to_string(descriptor->name) : std::string(); }

std::string untrusted_path_reason(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::string("cannot stat it: ") + std::strerror(errno);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return "it is writable by other users (mode " + mode_text(st.st_mode) + ")";
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return "it is owned by uid " + std::to_string(st.st_uid) + ", neither root nor this process's user";
  return {};
}

namespace {

// The directories above a plugin (after symlinks are resolved) must not let another user
// swap it: each must be writable only by its owner, or sticky (as /tmp is), and owned by
// root or us.
std::string untrusted_ancestor_reason(const std::filesystem::path& real_file) {
  for (auto dir = real_file.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return "cannot stat " + dir.string() + ": " + std::strerror(errno);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
      return "its directory " + dir.string() + " is writable by other users (mode " + mode_text(st.st_mode) + ")";
    if (st.st_uid != 0 && st.st_uid != ::geteuid())
      return "its directory " + dir.string() + " is owned by uid " + std::to_string(st.st_uid);
    if (dir == dir.root_path()) break;
  }
  return {};
}

}  // namespace

PluginFile load_plugin_file(const std::string& path) {
  PluginFile file;
  file.path = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    file.error = "not a regular file";  // a FIFO or device would block or mislead the ELF reader
    return file;
  }
  if (auto reason = untrusted_path_reason(path); !reason.empty()) {
    file.error = "refused: " + reason;
    return file;
  }
  std::error_code ec;
  auto real = std::filesystem::canonical(path, ec);
  if (ec) {
    file.error = "cannot resolve its path: " + ec.message();
    return file;
  }
  if (auto reason = untrusted_ancestor_reason(real); !reason.empty()) {
    file.error = "refused: " + reason;
    return file;
  }
  if (auto reason = check_sections(path); !reason.empty()) {
    file.error = reason;
    return file;
  }
  // RTLD_NODELETE: a plugin is never unmapped while the process runs, so a pointer into
  // it (a descriptor, a vtable) can never dangle.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    file.error = std::string("cannot be loaded: ") + (why ? why : "dlopen failed");
    return file;
  }
  auto entry = reinterpret_cast<EntryFn>(::dlsym(handle, MESHHOST_ENTRY_SYMBOL));
  if (entry == nullptr) {
    file.error = "exports no " MESHHOST_ENTRY_SYMBOL " entry point";
    for (unsigned major = 0; major <= kAbiMajor + kOtherMajorsProbed; ++major) {
      if (major == kAbiMajor) continue;
      std::string symbol = "meshhost_plugin_v" + std::to_string(major);
      if (::dlsym(handle, symbol.c_str()) != nullptr) {
        file.error = "built for plugin ABI " + std::to_string(major) + ".x; this host speaks ABI " +
                     std::to_string(kAbiMajor) + "." + std::to_string(kAbiMinor);
        break;
      }
    }
    ::dlclose(handle);  // NODELETE keeps it mapped; this only drops our reference
    return file;
  }
  const PluginDescriptor* descriptor = entry();
  if (auto reason = check_descriptor(descriptor); !reason.empty()) {
    file.error = reason;
    return file;
  }
  file.descriptor = descriptor;
  return file;
}

std::vector<PluginFile> scan_plugin_dirs(const std::vector<PluginDir>& dirs) {
  std::vector<PluginFile> found;
  std::map<std::string, std::string> first_path_by_name;
  for (const auto& dir : dirs) {
    struct stat st {};
    if (::stat(dir.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      if (dir.must_exist) found.push_back({dir.path, nullptr, "plugin directory does not exist"});
      continue;
    }
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.path.c_str())) {
      while (dirent* entry = ::readdir(d)) {
        std::string name = entry->d_name;
        if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) names.push_back(name);
      }
      ::closedir(d);
    } else {
      found.push_back({dir.path, nullptr, std::string("cannot read the directory: ") + std::strerror(errno)});
      continue;
    }
    std::sort(names.begin(), names.end());
    const std::string dir_reason = untrusted_path_reason(dir.path);
    for (const auto& name : names) {
      std::string path = dir.path + "/" + name;
      if (!dir_reason.empty()) {
        found.push_back({path, nullptr, "refused: its directory " + dir.path + ": " + dir_reason});
        continue;
      }
      PluginFile file = load_plugin_file(path);
      if (file.usable()) {
        auto [it, inserted] = first_path_by_name.emplace(file.name(), path);
        if (!inserted) {
          file.error = "plugin \"" + file.name() + "\" is shadowed by " + it->second;
          file.descriptor = nullptr;
        }
      }
      found.push_back(std::move(file));
    }
  }
  return found;
}

}  // namespace mh::core
