// libFuzzer target for the session layer's frame parsers (plugins/session/session_frames.hpp)
// and the session table's receive path behind them. Every input is tried as each frame
// type, as a decrypted plaintext and a control body; the parsers must never read out of
// bounds and every view they return must lie inside the input. Then the input goes to a
// session table as a received frame — with mac1 recomputed when it is sized as a
// handshake, so mutations reach the Noise engine — which must drop it without crashing.
#include "session_frames.hpp"
#include "session_table.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using namespace mh;
using namespace mh::session;

// A fixed node key whose address lies in fc00::/8 (the switch peer-table fuzzer's).
constexpr std::uint8_t kPrivate[32] = {
    0xf6, 0xff, 0xcc, 0xb8, 0x72, 0x59, 0x69, 0xf1, 0x7f, 0x14, 0xbe, 0xdd, 0x11, 0x4e, 0x0f, 0xd4,
    0xd6, 0x7f, 0x80, 0x31, 0x4f, 0x97, 0x6b, 0x35, 0x34, 0xf1, 0x38, 0x8c, 0xc2, 0x6b, 0x52, 0x5c};

bool inside(ByteView view, const std::uint8_t* data, std::size_t size) {
  return view.empty() || (view.data() >= data && view.data() + view.size() <= data + size);
}

struct Sink final : Output {
  void send_frame(const Address&, ByteView, std::uint16_t) noexcept override {}
  void send_packets(const Address&, Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) packets[i]->release();
  }
  void on_error(const SessionError&) noexcept override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  if (const auto h = parse_header(input); h && size < kFrameHeaderSize) __builtin_trap();
  if (const auto v = parse_initiation(input)) {
    if (size != kInitiationSize || !inside(v->noise_message, data, size) || !inside(v->mac1, data, size) ||
        v->noise_message.size() != kInitiationNoiseSize || v->mac1_covered.size() != size - kMacSize)
      __builtin_trap();
  }
  if (const auto v = parse_response(input)) {
    if (size != kResponseSize || !inside(v->noise_message, data, size) || !inside(v->mac1, data, size))
      __builtin_trap();
  }
  if (const auto v = parse_transport(input)) {
    if (size < kTransportMinSize || v->ciphertext.size() + kTransportHeaderSize != size ||
        !inside(v->ciphertext, data, size))
      __builtin_trap();
  }
  std::vector<std::uint8_t> copy(data, data + size);
  if (const auto p = parse_plaintext(MutableByteView(copy.data(), copy.size()))) {
    if (p->keepalive != copy.empty() || (!p->keepalive && p->data.size() + kInnerProtocolSize != size))
      __builtin_trap();
  }
  if (const auto protocol = parse_no_receiver(input); protocol && size != kNoReceiverSize - kInnerProtocolSize)
    __builtin_trap();

  // The table behind the parsers, one per process: state carries over between inputs as
  // it would between frames, and stays bounded by the table's own limits.
  static const noise::LocalStaticKey key{std::span<const std::uint8_t, 32>(kPrivate, 32)};
  static SessionTable* table = [] {
    SessionTableConfig config;
    config.limits.max_sessions = 16;
    return new SessionTable(key, config);
  }();
  static std::uint64_t now_ns = 1'000'000'000;
  now_ns += 10'000'000;
  constexpr std::size_t mac1_at_initiation = kInitiationSize - kMacSize;
  constexpr std::size_t mac1_at_response = kResponseSize - kMacSize;
  if (size == kInitiationSize)
    compute_mac1(mac1_key_for(key.public_key()), ByteView(copy.data(), mac1_at_initiation), copy.data() + mac1_at_initiation);
  if (size == kResponseSize)
    compute_mac1(mac1_key_for(key.public_key()), ByteView(copy.data(), mac1_at_response), copy.data() + mac1_at_response);
  Sink sink;
  (void)table->receive(MutableByteView(copy.data(), copy.size()), now_ns, sink);
  table->tick(now_ns, sink);
  return 0;
}
