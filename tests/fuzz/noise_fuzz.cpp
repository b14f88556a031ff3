// libFuzzer target for the Noise engine: every input is tried as a handshake initiation, as
// a handshake response and as a transport packet (8-byte little-endian counter, ciphertext).
// Built with -DMESHHOST_NOISE_FUZZ_WRITE_SEEDS (and no -fsanitize=fuzzer) it instead writes
// valid seeds for those three into the directory named by argv[1] (tests/fuzz/corpus/noise).
#include <meshhost/noise.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

using namespace mh::noise;

// Fixed keys on both sides, ephemerals included, so the seeds made with them pass the
// cryptography and the fuzzer reaches create_response, split and transport decryption.
constexpr std::uint8_t kInitiatorStatic[kKeySize] = {
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01,
    0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0, 0x02};
constexpr std::uint8_t kResponderStatic[kKeySize] = {
    0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90,
    0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0x03};
constexpr std::uint8_t kInitiatorEphemeral[kKeySize] = {
    0x31, 0x41, 0x59, 0x26, 0x53, 0x58, 0x97, 0x93, 0x23, 0x84, 0x62, 0x64, 0x33, 0x83, 0x27, 0x95,
    0x02, 0x88, 0x41, 0x97, 0x16, 0x93, 0x99, 0x37, 0x51, 0x05, 0x82, 0x09, 0x74, 0x94, 0x45, 0x92};
constexpr std::uint8_t kResponderEphemeral[kKeySize] = {
    0x27, 0x18, 0x28, 0x18, 0x28, 0x45, 0x90, 0x45, 0x23, 0x53, 0x60, 0x28, 0x74, 0x71, 0x35, 0x26,
    0x62, 0x49, 0x77, 0x57, 0x24, 0x70, 0x93, 0x69, 0x99, 0x59, 0x57, 0x49, 0x66, 0x96, 0x76, 0x27};
constexpr std::size_t kCounterSize = 8;
constexpr std::size_t kTimestampSize = 12;  // the initiation payload meshhost sends

// The handshakes every input starts from: a responder waiting for an initiation, an
// initiator waiting for a response, and a responder whose keys decrypt transport packets.
struct Fixture {
  LocalStaticKey initiator_key{kInitiatorStatic};
  LocalStaticKey responder_key{kResponderStatic};
  Handshake fresh_responder = Handshake::responder(responder_key, kLinkPrologue);
  Handshake waiting_initiator = Handshake::initiator(initiator_key, responder_key.public_key(), kLinkPrologue, Psk{});
  Handshake established_responder = Handshake::responder(responder_key, kLinkPrologue);
  Handshake established_initiator = waiting_initiator;
  std::uint8_t initiation[initiation_size(kTimestampSize)] = {};
  std::uint8_t response[response_size(0)] = {};
  bool ok = false;

  Fixture() {
    fresh_responder.set_ephemeral_for_testing(kResponderEphemeral);
    established_responder.set_ephemeral_for_testing(kResponderEphemeral);
    waiting_initiator.set_ephemeral_for_testing(kInitiatorEphemeral);
    const std::uint8_t timestamp[kTimestampSize] = {0x40, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0, 0, 0, 0};
    std::uint8_t payload[kTimestampSize];
    std::size_t written = 0, payload_size = 0;
    ok = waiting_initiator.create_initiation(timestamp, initiation, &written).ok() &&
         established_responder.consume_initiation(initiation, payload, &payload_size).ok() &&
         established_responder.create_response({}, response, &written).ok();
    established_initiator = waiting_initiator;
    ok = ok && established_initiator.consume_response(response, payload, &payload_size).ok();
  }
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

}  // namespace

#ifndef MESHHOST_NOISE_FUZZ_WRITE_SEEDS

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fixture();
  if (!f.ok) __builtin_trap();
  const std::span<const std::uint8_t> input(data, size);
  static std::uint8_t out[kMaxMessageSize];
  std::size_t out_size = 0;

  // As an initiation: a responder must refuse junk, and handle what passes to the end.
  Handshake responder = f.fresh_responder;
  if (responder.consume_initiation(input, out, &out_size).ok()) {
    std::uint8_t response[response_size(0)];
    std::size_t written = 0;
    Transport transport;
    if (!responder.create_response({}, response, &written).ok() || !responder.split(&transport).ok()) {
      __builtin_trap();
    }
  }

  // As a response to the initiator waiting for one.
  Handshake initiator = f.waiting_initiator;
  if (initiator.consume_response(input, out, &out_size).ok()) {
    Transport transport;
    if (!initiator.split(&transport).ok()) __builtin_trap();
  }

  // As a transport packet to a fresh transport (a new window each time keeps runs repeatable).
  if (size >= kCounterSize) {
    std::uint64_t counter = 0;
    for (std::size_t i = 0; i < kCounterSize; ++i) counter |= std::uint64_t{data[i]} << (8 * i);
    Handshake established = f.established_responder;
    Transport transport;
    if (!established.split(&transport).ok()) __builtin_trap();
    const DecryptResult result = transport.decrypt(counter, input.subspan(kCounterSize), out, &out_size);
    if (result == DecryptResult::ok && out_size != size - kCounterSize - kTagSize) __builtin_trap();
  }
  return 0;
}

#else  // MESHHOST_NOISE_FUZZ_WRITE_SEEDS

#include <cstdio>
#include <string>

namespace {
bool write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const bool ok = std::fwrite(data, 1, size, file) == size;
  return std::fclose(file) == 0 && ok;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  Fixture& f = fixture();
  if (!f.ok) return 1;
  const std::string dir = argv[1];
  // A transport packet from the initiator: counter 0, then "ping" encrypted.
  Handshake initiator = f.established_initiator;
  Transport transport;
  std::uint8_t packet[kCounterSize + 4 + kTagSize] = {};
  const std::uint8_t ping[4] = {'p', 'i', 'n', 'g'};
  std::uint64_t counter = 0;
  if (!initiator.split(&transport).ok()) return 1;
  if (!transport.encrypt(ping, {packet + kCounterSize, 4 + kTagSize}, &counter).ok()) return 1;
  const std::uint8_t junk[] = {0x00, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90};
  const bool ok = write_file(dir + "/initiation_valid", f.initiation, sizeof f.initiation) &&
                  write_file(dir + "/response_valid", f.response, sizeof f.response) &&
                  write_file(dir + "/transport_valid", packet, sizeof packet) &&
                  write_file(dir + "/short_junk", junk, sizeof junk);
  return ok ? 0 : 1;
}

#endif
