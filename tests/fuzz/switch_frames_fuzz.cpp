// libFuzzer target for the switch's link frame parsers (plugins/switch/frames.hpp): every
// input is tried as each frame type and as an initiation payload. The parsers must never
// read out of bounds, and every view they return must lie inside the input.
#include "frames.hpp"

#include <cstddef>
#include <cstdint>

namespace {

using namespace mh::sw;

bool inside(ByteView view, const std::uint8_t* data, std::size_t size) {
  return view.empty() || (view.data() >= data && view.data() + view.size() <= data + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  if (const auto h = parse_header(input); h && size < kFrameHeaderSize) __builtin_trap();
  if (const auto v = parse_initiation(input)) {
    if (!inside(v->noise_message, data, size) || !inside(v->mac1, data, size) || !inside(v->mac2, data, size) ||
        v->mac1.size() != kMacSize || v->mac2.size() != kMacSize || v->mac2_covered.size() != size - kMacSize)
      __builtin_trap();
  }
  if (const auto v = parse_response(input)) {
    if (size != kResponseSize || !inside(v->noise_message, data, size) || !inside(v->mac2, data, size))
      __builtin_trap();
  }
  if (const auto v = parse_cookie_reply(input)) {
    if (size != kCookieReplySize || !inside(v->encrypted_cookie, data, size)) __builtin_trap();
  }
  if (const auto v = parse_transport(input)) {
    if (size < kTransportMinSize || v->ciphertext.size() + kTransportHeaderSize != size) __builtin_trap();
  }
  if (const auto p = parse_initiation_payload(input)) {
    if (p->login.size() > kMaxLoginSize || p->login.size() + kInitiationPayloadMinSize != size) __builtin_trap();
  }
  return 0;
}
