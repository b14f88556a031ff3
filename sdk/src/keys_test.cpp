// Tests for node identity: a real cjdns identity must keep its key text and address, and
// every text form must reject what it did not write.
#include <meshhost/keys.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

// The identity in ../shared/testdata/cjdns/cjdroute.conf, written by cjdns v21.1's
// `cjdroute --genconf`.
constexpr const char* kCjdnsPrivateKeyHex = "874e75bc4b0fba04b1e44614484be551e93eeb964671200c23067977e65107c4";
constexpr const char* kCjdnsPublicKey = "lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k";
constexpr const char* kCjdnsAddress = "fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d";

bool same(const mh::PublicKey& a, const mh::PublicKey& b) { return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0; }
bool same(const mh::Address& a, const mh::Address& b) { return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0; }
bool same(const mh::PrivateKey& a, const mh::PrivateKey& b) {
  return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0;
}

// Derives the public key text and address text a private key hex determines.
struct DerivedIdentity {
  std::string public_key;
  std::string address;
};
DerivedIdentity derive(const std::string& private_key_hex) {
  const auto priv = mh::parse_private_key_hex(private_key_hex);
  REQUIRE(priv.has_value());
  const mh::KeyPair pair = mh::key_pair_of(*priv);
  return {mh::format_public_key(pair.pub), mh::format_address(pair.addr)};
}

std::string cjdns_conf_path() {
  return std::string(MESHHOST_SOURCE_DIR) + "/../shared/testdata/cjdns/cjdroute.conf";
}

bool cjdns_conf_missing() {
  if (std::filesystem::exists(cjdns_conf_path())) return false;
  std::fprintf(stderr, "keys_test: SKIPPING the cjdroute.conf test case: %s not found\n", cjdns_conf_path().c_str());
  return true;
}

}  // namespace

TEST_CASE("a cjdns identity keeps its public key and address") {
  const DerivedIdentity derived = derive(kCjdnsPrivateKeyHex);
  CHECK(derived.public_key == kCjdnsPublicKey);
  CHECK(derived.address == kCjdnsAddress);

  const auto pub = mh::parse_public_key(kCjdnsPublicKey);
  REQUIRE(pub.has_value());
  CHECK(mh::is_valid_node_key(*pub));
  const auto addr = mh::parse_address(kCjdnsAddress);
  REQUIRE(addr.has_value());
  CHECK(mh::address_matches_key(*addr, *pub));
  CHECK(same(mh::address_of(*pub), *addr));
}

// Registered as skipped (and said so on stderr) when the shared test data is absent, so
// its absence shows in the summary instead of passing silently.
TEST_CASE("the identity in cjdns's own cjdroute.conf derives its publicKey and ipv6" *
          doctest::skip(cjdns_conf_missing())) {
  std::ifstream file(cjdns_conf_path());
  REQUIRE_MESSAGE(file.good(), "cannot read " << cjdns_conf_path());
  std::stringstream text;
  text << file.rdbuf();
  // cjdroute.conf is JSON with comments.
  const auto conf = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  const std::string private_key_hex = conf.at("privateKey").get<std::string>();
  const DerivedIdentity derived = derive(private_key_hex);
  CHECK(derived.public_key == conf.at("publicKey").get<std::string>());
  CHECK(derived.address == conf.at("ipv6").get<std::string>());
}

TEST_CASE("generated keys are node keys and survive their text forms") {
  for (int i = 0; i < 20; ++i) {
    const mh::KeyPair pair = mh::generate_node_key();
    CHECK(pair.addr.bytes[0] == 0xfc);
    CHECK(mh::is_valid_node_key(pair.pub));
    CHECK(same(mh::public_key_of(pair.priv), pair.pub));
    CHECK(mh::address_matches_key(pair.addr, pair.pub));

    const std::string key_text = mh::format_public_key(pair.pub);
    CHECK(key_text.size() == mh::kPublicKeyTextSize);
    const auto pub = mh::parse_public_key(key_text);
    REQUIRE(pub.has_value());
    CHECK(same(*pub, pair.pub));

    const std::string addr_text = mh::format_address(pair.addr);
    CHECK(addr_text.size() == 39);
    CHECK(addr_text.rfind("fc", 0) == 0);
    const auto addr = mh::parse_address(addr_text);
    REQUIRE(addr.has_value());
    CHECK(same(*addr, pair.addr));

    const auto priv = mh::parse_private_key_hex(mh::format_private_key_hex(pair.priv));
    REQUIRE(priv.has_value());
    CHECK(same(*priv, pair.priv));
  }
}

TEST_CASE("two generated keys agree on a shared secret; a low-order point is refused") {
  const mh::KeyPair a = mh::generate_node_key();
  const mh::KeyPair b = mh::generate_node_key();
  mh::SharedSecret ab, ba;
  REQUIRE(mh::compute_shared_secret(a.priv, b.pub, &ab));
  REQUIRE(mh::compute_shared_secret(b.priv, a.pub, &ba));
  CHECK(std::memcmp(ab.bytes, ba.bytes, sizeof ab.bytes) == 0);

  mh::PublicKey zero;  // the identity point: every product is zero
  mh::SharedSecret out;
  std::memset(out.bytes, 0xaa, sizeof out.bytes);
  CHECK_FALSE(mh::compute_shared_secret(a.priv, zero, &out));
  const mh::SharedSecret all_zero;
  CHECK(std::memcmp(out.bytes, all_zero.bytes, sizeof out.bytes) == 0);
}

TEST_CASE("a key whose address is outside fc00::/8 is not a node key") {
  // Search deterministically from a fixed private key until the address misses 0xfc
  // (255 keys in 256 do).
  mh::PrivateKey priv;
  mh::KeyPair pair;
  for (std::uint8_t i = 0;; ++i) {
    priv.bytes[0] = i;
    pair = mh::key_pair_of(priv);
    if (pair.addr.bytes[0] != 0xfc) break;
  }
  CHECK_FALSE(mh::is_valid_node_key(pair.pub));
  // It is still well-formed text; rejecting it is the caller's node-key check.
  const auto parsed = mh::parse_public_key(mh::format_public_key(pair.pub));
  REQUIRE(parsed.has_value());
  CHECK_FALSE(mh::is_valid_node_key(*parsed));
}

TEST_CASE("address_matches_key notices a single changed bit") {
  const auto pub = mh::parse_public_key(kCjdnsPublicKey);
  const auto addr = mh::parse_address(kCjdnsAddress);
  REQUIRE(pub.has_value());
  REQUIRE(addr.has_value());
  mh::Address other = *addr;
  other.bytes[15] ^= 0x01;
  CHECK_FALSE(mh::address_matches_key(other, *pub));
  mh::PublicKey other_key = *pub;
  other_key.bytes[31] ^= 0x80;
  CHECK_FALSE(mh::address_matches_key(*addr, other_key));
}

TEST_CASE("private key hex: exactly 64 hex digits") {
  const std::string good = kCjdnsPrivateKeyHex;
  CHECK(mh::parse_private_key_hex(good).has_value());

  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto from_upper = mh::parse_private_key_hex(upper);
  REQUIRE(from_upper.has_value());
  CHECK(same(*from_upper, *mh::parse_private_key_hex(good)));
  CHECK(mh::format_private_key_hex(*from_upper) == good);

  CHECK_FALSE(mh::parse_private_key_hex("").has_value());
  CHECK_FALSE(mh::parse_private_key_hex(good.substr(1)).has_value());
  CHECK_FALSE(mh::parse_private_key_hex(good + "0").has_value());
  CHECK_FALSE(mh::parse_private_key_hex(" " + good.substr(1)).has_value());
  CHECK_FALSE(mh::parse_private_key_hex(good.substr(0, 63) + "g").has_value());
  CHECK_FALSE(mh::parse_private_key_hex("0x" + good.substr(2)).has_value());
  std::string with_nul = good;
  with_nul[10] = '\0';
  CHECK_FALSE(mh::parse_private_key_hex(with_nul).has_value());
}

TEST_CASE("public key text: 52 cjdns base32 characters and .k") {
  const std::string good = kCjdnsPublicKey;
  REQUIRE(mh::parse_public_key(good).has_value());

  CHECK_FALSE(mh::parse_public_key("").has_value());
  CHECK_FALSE(mh::parse_public_key(good.substr(0, 52)).has_value());        // no suffix
  CHECK_FALSE(mh::parse_public_key(good.substr(0, 52) + ".K").has_value()); // cjdns wants ".k"
  CHECK_FALSE(mh::parse_public_key(good.substr(0, 52) + "_k").has_value());
  CHECK_FALSE(mh::parse_public_key(good + " ").has_value());
  CHECK_FALSE(mh::parse_public_key("0" + good).has_value());                // 53 characters
  CHECK_FALSE(mh::parse_public_key(good.substr(1)).has_value());            // 51 characters
  for (const char bad : {'a', 'e', 'i', 'o', 'A', '!', '.', '\0'}) {
    std::string text = good;
    text[7] = bad;
    CHECK_FALSE(mh::parse_public_key(text).has_value());
  }
  // The last character carries the key's top bit only; '0' and '1' are the canonical
  // choices, anything above sets bits beyond 256 and names no key.
  std::string text = good;
  text[51] = '2';
  CHECK_FALSE(mh::parse_public_key(text).has_value());
  text[51] = 'z';
  CHECK_FALSE(mh::parse_public_key(text).has_value());
  // The example placeholders in cjdroute.conf are not keys.
  CHECK_FALSE(mh::parse_public_key("f64hfl7c4uxt6krmhPutTheRealAddressOfANodeHere7kfm5m0.k").has_value());
}

TEST_CASE("addresses print as cjdns does and parse from any IPv6 form") {
  const auto addr = mh::parse_address("fc00::1");
  REQUIRE(addr.has_value());
  CHECK(mh::format_address(*addr) == "fc00:0000:0000:0000:0000:0000:0000:0001");
  const auto upper = mh::parse_address("FC2D:19EF:5C07:AFF7:6912:6E74:171F:A45D");
  REQUIRE(upper.has_value());
  CHECK(mh::format_address(*upper) == kCjdnsAddress);
  CHECK(mh::parse_address("::ffff:192.0.2.1").has_value());

  CHECK_FALSE(mh::parse_address("").has_value());
  CHECK_FALSE(mh::parse_address("192.0.2.1").has_value());
  CHECK_FALSE(mh::parse_address("[fc00::1]").has_value());
  CHECK_FALSE(mh::parse_address("fc00::1/8").has_value());
  CHECK_FALSE(mh::parse_address("fc00::1%eth0").has_value());
  CHECK_FALSE(mh::parse_address("fc00:::1").has_value());
  CHECK_FALSE(mh::parse_address("fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d:1").has_value());
  CHECK_FALSE(mh::parse_address(std::string("fc00::1\0junk", 12)).has_value());
  CHECK_FALSE(mh::parse_address(std::string(200, 'f')).has_value());
}

TEST_CASE("to_hex writes two lowercase digits per byte") {
  const std::uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  CHECK(mh::to_hex(mh::ByteSpan{bytes, sizeof bytes}) == "000fa0ff");
  CHECK(mh::to_hex(mh::ByteSpan{}) == "");
}

TEST_CASE("wipe zeroes a private key") {
  mh::PrivateKey priv = mh::generate_node_key().priv;
  mh::wipe(priv);
  const mh::PrivateKey zero;
  CHECK(same(priv, zero));
}
