// The loader against real libraries built for each case (tests/plugins): good, stripped,
// another ABI major, a newer minor, not a plugin, untrusted permissions.
#include "plugin_loader.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace mh::core;
namespace fs = std::filesystem;

namespace {

const std::string kPlugins = MESHHOST_TEST_PLUGIN_DIR;

struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/meshhost-loader-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

std::vector<PluginFile> scan(const std::string& case_name) { return scan_plugin_dirs({{kPlugins + "/" + case_name, true}}); }

}  // namespace

TEST_CASE("a good plugin loads and describes itself") {
  auto found = scan("good");
  REQUIRE(found.size() == 1);
  REQUIRE_MESSAGE(found[0].usable(), found[0].error);
  const auto& d = *found[0].descriptor;
  CHECK(found[0].name() == "good");
  CHECK(d.abi_major == mh::kAbiMajor);
  CHECK(d.provided_count == 1);
}

TEST_CASE("a stripped plugin still loads: the section check does not need .symtab") {
  auto found = scan("stripped");
  REQUIRE(found.size() == 1);
  CHECK_MESSAGE(found[0].usable(), found[0].error);
}

TEST_CASE("a plugin for another ABI major is refused, naming both versions") {
  auto found = scan("abi2");
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0].usable());
  CHECK(found[0].error == "built for plugin ABI 2.x; this host speaks ABI 1.0");
}

TEST_CASE("a plugin needing a newer minor is refused, naming both versions") {
  auto found = scan("newer_minor");
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0].usable());
  CHECK(found[0].error == "built for plugin ABI 1.1; this host speaks ABI 1.0 (upgrade meshhost)");
}

TEST_CASE("a shared library that is not a plugin is listed with the reason") {
  auto found = scan("not_a_plugin");
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0].usable());
  CHECK(found[0].error == "not a meshhost plugin (no 'meshhost' ELF section)");
}

TEST_CASE("a file that is not ELF at all never crashes the scan") {
  TempDir dir;
  std::ofstream(dir.path + "/garbage.so") << "this is not a shared library";
  ::chmod((dir.path + "/garbage.so").c_str(), 0644);
  auto found = scan_plugin_dirs({{dir.path, true}});
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0].usable());
  CHECK(found[0].error.find("not a loadable ELF shared library") == 0);
}

TEST_CASE("a plugin in a world-writable directory, or itself writable by others, is refused") {
  TempDir dir;
  const std::string copy = dir.path + "/good.so";
  fs::copy_file(kPlugins + "/good/good.so", copy);
  ::chmod(copy.c_str(), 0755);

  ::chmod(dir.path.c_str(), 0777);
  auto in_open_dir = scan_plugin_dirs({{dir.path, true}});
  REQUIRE(in_open_dir.size() == 1);
  CHECK_FALSE(in_open_dir[0].usable());
  CHECK(in_open_dir[0].error ==
        "refused: its directory " + dir.path + ": it is writable by other users (mode 0777)");

  ::chmod(dir.path.c_str(), 0755);
  ::chmod(copy.c_str(), 0666);
  auto open_file = scan_plugin_dirs({{dir.path, true}});
  REQUIRE(open_file.size() == 1);
  CHECK(open_file[0].error == "refused: it is writable by other users (mode 0666)");

  ::chmod(copy.c_str(), 0755);
  auto fine = scan_plugin_dirs({{dir.path, true}});
  REQUIRE(fine.size() == 1);
  CHECK_MESSAGE(fine[0].usable(), fine[0].error);
}

TEST_CASE("a FIFO named like a plugin is reported, not opened (it would block)") {
  TempDir dir;
  REQUIRE(::mkfifo((dir.path + "/blocking.so").c_str(), 0644) == 0);
  auto found = scan_plugin_dirs({{dir.path, true}});
  REQUIRE(found.size() == 1);
  CHECK(found[0].error == "not a regular file");
}

TEST_CASE("a symlink to a plugin in a directory others can write is refused") {
  TempDir open_dir, plugin_dir;
  const std::string target = open_dir.path + "/good.so";
  fs::copy_file(kPlugins + "/good/good.so", target);
  ::chmod(target.c_str(), 0755);
  ::chmod(open_dir.path.c_str(), 0777);  // not sticky: anyone could replace good.so
  fs::create_symlink(target, plugin_dir.path + "/good.so");
  auto found = scan_plugin_dirs({{plugin_dir.path, true}});
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0].usable());
  CHECK(found[0].error == "refused: its directory " + fs::canonical(open_dir.path).string() +
                              " is writable by other users (mode 0777)");
}

TEST_CASE("a missing directory is reported unless it is the optional built-in one") {
  CHECK(scan_plugin_dirs({{"/nonexistent/meshhost", false}}).empty());
  auto found = scan_plugin_dirs({{"/nonexistent/meshhost", true}});
  REQUIRE(found.size() == 1);
  CHECK(found[0].error == "plugin directory does not exist");
}

TEST_CASE("the same plugin name twice: the first directory wins") {
  auto found = scan_plugin_dirs({{kPlugins + "/good", true}, {kPlugins + "/good", true}});
  REQUIRE(found.size() == 2);
  CHECK(found[0].usable());
  CHECK_FALSE(found[1].usable());
  CHECK(found[1].error.find("is shadowed by") != std::string::npos);
}
