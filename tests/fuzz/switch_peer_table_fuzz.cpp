// libFuzzer target for the switch's peer table (plugins/switch/peer_table.hpp): a responder
// table under test and a real initiator table beside it. The input is a script of
// operations, so the fuzzer reaches every state (handshakes, confirmation, transport,
// cookies, timers) and mutates the frames on the way:
//   0: deliver the initiator's next frame to the responder, XOR-ing in the next input byte
//      at the position given by the byte after it (a zero mask delivers it intact)
//   1: deliver the responder's next frame to the initiator
//   2: inject a raw frame (length byte, bytes) into the responder, mac1 recomputed when
//      the frame is an initiation, so mutations reach the Noise engine
//   3: advance the clock by (next byte) × 250 ms and run both tables' timers
//   4: the initiator sends a data frame to the responder
//   5: the responder's link policy changes (next byte mod 3)
// Tables are rebuilt per input; keys are fixed, so a captured initiation stays meaningful.
#include "macs.hpp"
#include "peer_table.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

namespace {

using namespace mh;
using namespace mh::sw;

// Fixed node keys whose addresses lie in fc00::/8 (found offline with generate_node_key).
constexpr std::uint8_t kResponderPrivate[32] = {
    0xf6, 0xff, 0xcc, 0xb8, 0x72, 0x59, 0x69, 0xf1, 0x7f, 0x14, 0xbe, 0xdd, 0x11, 0x4e, 0x0f, 0xd4,
    0xd6, 0x7f, 0x80, 0x31, 0x4f, 0x97, 0x6b, 0x35, 0x34, 0xf1, 0x38, 0x8c, 0xc2, 0x6b, 0x52, 0x5c};
constexpr std::uint8_t kInitiatorPrivate[32] = {
    0x8d, 0x7d, 0x29, 0x1c, 0x39, 0x87, 0xac, 0xf4, 0x0d, 0xd8, 0x9f, 0x5b, 0x69, 0xce, 0xd1, 0xd9,
    0x84, 0xb7, 0x9e, 0xae, 0x82, 0x2e, 0x71, 0x06, 0x26, 0x34, 0x98, 0xa9, 0xcb, 0xcf, 0x3d, 0xd8};

class FuzzLink final : public Link {
 public:
  Str name() const noexcept override { return "fuzz"; }
  std::uint32_t mtu() const noexcept override { return 1500; }
  void set_receiver(LinkReceiver*) noexcept override {}
  std::size_t send(Packet* const*, std::size_t) noexcept override { return 0; }
  PacketPool* pool() noexcept override { return nullptr; }
  HopEncryption hop_encryption() const noexcept override { return HopEncryption::full; }
  DiscoveredPeerPolicy discovered_peer_policy() const noexcept override { return policy; }
  bool allows(const PublicKey& key) const noexcept override { return key.bytes[0] & 1; }
  std::size_t format_endpoint(const Endpoint&, char*, std::size_t) const noexcept override { return 0; }
  DiscoveredPeerPolicy policy = DiscoveredPeerPolicy::accept_any;
};

// Collects what a table sends, bounded so a looping script cannot grow it.
struct Queue final : Output {
  void send_frame(Link*, const Endpoint&, ByteView frame) noexcept override {
    if (frames.size() < 64) frames.emplace_back(frame.begin(), frame.end());
  }
  void on_event(const PeerEvent&) noexcept override {}
  std::deque<std::vector<std::uint8_t>> frames;
};

Endpoint endpoint(std::uint8_t b) {
  Endpoint e;
  e.kind = 1;
  e.size = 4;
  std::memset(e.bytes, b, 4);
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const noise::LocalStaticKey responder_key{kResponderPrivate};
  static const noise::LocalStaticKey initiator_key{kInitiatorPrivate};
  PeerTableConfig config;
  config.limits.max_neighbours = 4;
  config.limits.max_paths_per_neighbour = 2;
  config.handshake_load_threshold = 8;
  config.handshake_rate_buckets = 16;
  config.unix_time_offset_ns = std::int64_t{1'700'000'000} * 1'000'000'000;
  PeerTable responder(responder_key, config);
  PeerTable initiator(initiator_key, config);
  FuzzLink r_link, i_link;
  Queue to_responder, to_initiator;
  const Endpoint r_end = endpoint(1), i_end = endpoint(2);
  std::uint64_t now = 1'000'000'000;

  PeerHint hint;
  hint.endpoint = r_end;
  hint.key = responder_key.public_key();
  hint.from_beacon = true;  // no password: no Argon2id per input
  initiator.add_hint(&i_link, hint, now, to_responder);

  const MacKey mac1_key = mac1_key_for(responder_key.public_key());
  std::size_t i = 0;
  auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  while (i < size) {
    switch (next() % 6) {
      case 0: {
        if (to_responder.frames.empty()) break;
        auto frame = std::move(to_responder.frames.front());
        to_responder.frames.pop_front();
        const std::uint8_t mask = next(), at = next();
        if (!frame.empty()) frame[at % frame.size()] ^= mask;
        responder.receive(&r_link, i_end, frame, now, to_initiator);
        break;
      }
      case 1: {
        if (to_initiator.frames.empty()) break;
        auto frame = std::move(to_initiator.frames.front());
        to_initiator.frames.pop_front();
        initiator.receive(&i_link, r_end, frame, now, to_responder);
        break;
      }
      case 2: {
        const std::size_t length = next();
        std::vector<std::uint8_t> frame(data + i, data + std::min(size, i + length));
        i += frame.size();
        if (frame.size() >= kInitiationMinSize && frame.size() <= kInitiationMaxSize && frame[1] == 0x01) {
          frame[0] = kFrameVersion;
          const std::size_t mac1_at = frame.size() - 2 * kMacSize;
          const Mac mac1 = compute_mac1(mac1_key, ByteView(frame.data(), mac1_at));
          std::memcpy(frame.data() + mac1_at, mac1.bytes, kMacSize);
        }
        responder.receive(&r_link, endpoint(static_cast<std::uint8_t>(length)), frame, now, to_initiator);
        break;
      }
      case 3:
        now += std::uint64_t{next()} * 250'000'000;
        responder.tick(now, to_initiator);
        initiator.tick(now, to_responder);
        break;
      case 4:
        if (Neighbour* n = initiator.find(responder_key.public_key())) {
          const std::uint8_t payload[] = {'f', 'u', 'z', 'z'};
          initiator.send_data(*n, payload, now, to_responder);
        }
        break;
      case 5: r_link.policy = static_cast<DiscoveredPeerPolicy>(next() % 3); break;
    }
  }
  return 0;
}
