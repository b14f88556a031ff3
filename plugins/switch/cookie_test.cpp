// mac1 binds a message to its receiver's key; cookies bind mac2 to an endpoint and a secret
// that rotates; the load meter trips above its threshold.
#include "cookie.hpp"
#include "timers.hpp"

#include <meshhost/keys.hpp>

#include <doctest/doctest.h>

#include <cstring>

using namespace mh::sw;

namespace {
mh::Endpoint endpoint(std::uint8_t b) {
  mh::Endpoint e;
  e.size = 4;
  e.kind = 1;
  std::memset(e.bytes, b, 4);
  return e;
}
}  // namespace

TEST_CASE("mac1 verifies only under the receiver's key") {
  const auto a = mh::generate_node_key();
  const auto b = mh::generate_node_key();
  const std::uint8_t message[] = {1, 2, 3, 4, 5};
  CookieChecker checker(a.pub, 120 * kNsPerSecond);
  const Mac good = compute_mac1(mac1_key_for(a.pub), message);
  const Mac wrong = compute_mac1(mac1_key_for(b.pub), message);
  CHECK(checker.check_mac1(message, ByteView(good.bytes, kMacSize)));
  CHECK_FALSE(checker.check_mac1(message, ByteView(wrong.bytes, kMacSize)));
}

TEST_CASE("a cookie reply opens with the initiation's mac1 and gives a working mac2") {
  const auto responder = mh::generate_node_key();
  CookieChecker checker(responder.pub, 120 * kNsPerSecond);
  const std::uint8_t initiation[] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  const Mac mac1 = compute_mac1(mac1_key_for(responder.pub), initiation);
  std::uint8_t reply[kCookieReplySize];
  const std::uint64_t now = 1000;
  checker.write_reply(42, ByteView(mac1.bytes, kMacSize), endpoint(1), now, reply);
  const auto view = parse_cookie_reply(reply);
  REQUIRE(view);
  CHECK(view->receiver_index == 42);

  Cookie cookie;
  REQUIRE(open_cookie_reply(cookie_key_for(responder.pub), *view, ByteView(mac1.bytes, kMacSize), &cookie));
  Mac other_mac1 = mac1;
  other_mac1.bytes[0] ^= 1;
  Cookie ignored;
  CHECK_FALSE(open_cookie_reply(cookie_key_for(responder.pub), *view, ByteView(other_mac1.bytes, kMacSize), &ignored));

  const Mac mac2 = compute_mac2(cookie, initiation);
  CHECK(checker.check_mac2(endpoint(1), initiation, ByteView(mac2.bytes, kMacSize), now + kNsPerSecond));
  CHECK_FALSE(checker.check_mac2(endpoint(2), initiation, ByteView(mac2.bytes, kMacSize), now + kNsPerSecond));
  // After the secret rotates the old cookie no longer works.
  CHECK_FALSE(checker.check_mac2(endpoint(1), initiation, ByteView(mac2.bytes, kMacSize), now + 121 * kNsPerSecond));
}

TEST_CASE("the load meter trips above its threshold and recovers a second later") {
  LoadMeter meter(3);
  const std::uint64_t t0 = 5 * kNsPerSecond;
  CHECK_FALSE(meter.record(t0));
  CHECK_FALSE(meter.record(t0 + 1));
  CHECK_FALSE(meter.record(t0 + 2));
  CHECK(meter.record(t0 + 3));
  CHECK(meter.under_load(t0 + kNsPerSecond / 2));
  CHECK_FALSE(meter.under_load(t0 + 3 + kNsPerSecond));
}
