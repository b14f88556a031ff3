// Finding and loading plugin libraries safely (DESIGN §2): permission checks, the
// `meshhost` ELF section, RTLD_LOCAL | RTLD_NODELETE, the versioned entry symbol and the
// descriptor's ABI version. A library that fails any check is reported, never loaded
// further, and never crashes the scan.
#pragma once

#include <meshhost/plugin.hpp>

#include <string>
#include <vector>

namespace mh::core {

struct PluginFile {
  std::string path;
  // Set when the library loaded and its descriptor passed every check; the library stays
  // mapped for the life of the process.
  const PluginDescriptor* descriptor = nullptr;
  std::string error;  // why it cannot be used, when descriptor is null

  bool usable() const { return descriptor != nullptr; }
  std::string name() const;  // the descriptor's name, or "" when unusable
};

// Loads one library and checks it: a regular file, neither it nor any directory above it
// (symlinks resolved) writable by other users unless sticky, owned by root or us. Never throws.
PluginFile load_plugin_file(const std::string& path);

// Scans directories in order for "*.so" files and loads each. A directory that does not
// exist is skipped when `must_exist` is false for it (the built-in default). Where two
// files carry the same plugin name, the first wins and the later one is reported as
// shadowed.
struct PluginDir {
  std::string path;
  bool must_exist = true;
};
std::vector<PluginFile> scan_plugin_dirs(const std::vector<PluginDir>& dirs);

// Why a file or directory must not be trusted with code: writable by group or others,
// or owned by a user other than root or us. Empty when it is fine.
std::string untrusted_path_reason(const std::string& path);

}  // namespace mh::core
