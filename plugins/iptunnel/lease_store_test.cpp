// The file-backed lease store: what is saved is loaded back, saving replaces the file
// whole, and a damaged line costs only that lease.
#include "lease_store.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

using namespace mh;
using namespace mh::iptunnel;

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/iptunnel_lease_store_XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

}  // namespace

TEST_CASE("saved leases load back, and a missing file is an empty set") {
  TempDir dir;
  FileLeaseStore store(dir.path + "/iptunnel-leases");
  CHECK(store.load().empty());
  const PublicKey a = generate_node_key().pub;
  const PublicKey b = generate_node_key().pub;
  REQUIRE(store.save({{a, *parse_ip("100.64.0.2")}, {b, *parse_ip("2001:db8::2")}}));
  FileLeaseStore reopened(dir.path + "/iptunnel-leases");
  const auto leases = reopened.load();
  REQUIRE(leases.size() == 2);
  CHECK(format_public_key(leases[0].key) == format_public_key(a));
  CHECK(leases[0].address == *parse_ip("100.64.0.2"));
  CHECK(leases[1].address == *parse_ip("2001:db8::2"));
  // No temporary file is left behind.
  CHECK_FALSE(std::filesystem::exists(dir.path + "/iptunnel-leases.tmp"));
  // Saving replaces the set whole.
  REQUIRE(store.save({{b, *parse_ip("100.64.0.3")}}));
  REQUIRE(reopened.load().size() == 1);
}

TEST_CASE("damaged lines are skipped, the rest load") {
  TempDir dir;
  const std::string path = dir.path + "/leases";
  const PublicKey a = generate_node_key().pub;
  {
    std::ofstream out(path);
    out << "garbage\n" << format_public_key(a) << " 100.64.0.9\n" << format_public_key(a) << " not-an-ip\n"
        << format_public_key(a) << " 100.64.0.9 extra\n";
  }
  FileLeaseStore store(path);
  const auto leases = store.load();
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].address == *parse_ip("100.64.0.9"));
}

TEST_CASE("a store in a directory that does not exist fails to save and says so") {
  FileLeaseStore store("/nonexistent-iptunnel-dir/leases");
  CHECK_FALSE(store.save({}));
  CHECK(store.load().empty());
}
