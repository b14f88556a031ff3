// Loading the node key from the config or a key file, and the checks on it.
#include "identity.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

using namespace mh::core;

namespace {

// The test identity from cjdns's published cjdroute.conf (shared/testdata/cjdns).
constexpr const char* kPrivateKey = "874e75bc4b0fba04b1e44614484be551e93eeb964671200c23067977e65107c4";
constexpr const char* kPublicKey = "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k";
constexpr const char* kAddress = "fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d";

struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/meshhost-identity-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

}  // namespace

TEST_CASE("a cjdns private key gives the cjdns public key and address") {
  HostConfig config;
  config.private_key_hex = kPrivateKey;
  config.public_key = kPublicKey;
  config.ipv6 = kAddress;
  ConfigErrors errors;
  auto key = load_private_key(config, errors);
  REQUIRE(key);
  CHECK(errors.empty());
  Identity identity(*key);
  CHECK(mh::format_public_key(identity.public_key()) == kPublicKey);
  CHECK(mh::format_address(identity.address()) == kAddress);
}

TEST_CASE("a publicKey or ipv6 that does not match the private key is reported") {
  HostConfig config;
  config.private_key_hex = kPrivateKey;
  config.public_key = "0000000000000000000000000000000000000000000000000000.k";
  config.ipv6 = "fc00::1";
  ConfigErrors errors;
  load_private_key(config, errors);
  REQUIRE(errors.all().size() == 2);
  CHECK(errors.all()[0].path == "publicKey");
  CHECK(errors.all()[1].path == "ipv6");
}

TEST_CASE("a key file must be mode 0600") {
  TempDir dir;
  const std::string file = dir.path + "/node.key";
  std::ofstream(file) << kPrivateKey << "\n";
  HostConfig config;
  config.private_key_file = file;

  ::chmod(file.c_str(), 0644);
  ConfigErrors loose;
  CHECK_FALSE(load_private_key(config, loose));
  REQUIRE(loose.all().size() == 1);
  CHECK(loose.all()[0].line() ==
        "privateKeyFile: expected a key file with mode 0600 (readable by its owner only), owned by root or this user, "
        "got \"" + file + "\" with mode 0644");

  ::chmod(file.c_str(), 0600);
  ConfigErrors errors;
  auto key = load_private_key(config, errors);
  REQUIRE(key);
  CHECK(errors.empty());
}

TEST_CASE("a key file that is a directory is named as such") {
  TempDir dir;
  HostConfig config;
  config.private_key_file = dir.path;
  ::chmod(dir.path.c_str(), 0700);
  ConfigErrors errors;
  CHECK_FALSE(load_private_key(config, errors));
  REQUIRE(errors.all().size() == 1);
  CHECK(errors.all()[0].found == "\"" + dir.path + "\", which is not a regular file");
}

TEST_CASE("a malformed key is reported without echoing it") {
  HostConfig config;
  config.private_key_hex = "874e75bc4b0fba04-not-hex";
  ConfigErrors errors;
  CHECK_FALSE(load_private_key(config, errors));
  REQUIRE(errors.all().size() == 1);
  CHECK(errors.all()[0].line().find("874e") == std::string::npos);
}

TEST_CASE("dh agrees from both sides and refuses a low-order point") {
  auto a = mh::generate_node_key();
  auto b = mh::generate_node_key();
  Identity ia(a.priv), ib(b.priv);
  mh::SharedSecret ab, ba;
  REQUIRE(ia.dh(b.pub, &ab));
  REQUIRE(ib.dh(a.pub, &ba));
  CHECK(std::memcmp(ab.bytes, ba.bytes, sizeof ab.bytes) == 0);
  mh::PublicKey zero{};
  mh::SharedSecret out;
  CHECK_FALSE(ia.dh(zero, &out));
}
