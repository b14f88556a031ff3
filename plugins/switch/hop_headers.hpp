// Frame 0x05, `hopEncryption: headers` (DESIGN §4, docs/protocol.md "0x05 transport"): on a
// fast trusted link, a data frame whose payload ends in end-to-end ciphertext keeps a
// cleartext outer header, encrypts the inner type, the mesh header and the payload up to
// the e2e offset, and only authenticates the rest:
//
//   version | 0x05 | receiver index (4) | counter (8) | encrypted length (2) |
//   encrypted part (inner type, mesh header, payload head) | e2e bytes | tag (16)
//
// The AEAD is RFC 8439 ChaCha20-Poly1305 with associated data = outer header || e2e bytes,
// computed in place in one ChaCha20 pass over the encrypted part and one Poly1305 pass over
// the whole frame: nothing is copied.
#pragma once

#include "frames.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mh::sw {

inline constexpr std::size_t kLengthSize = 2;
inline constexpr std::size_t kHeadersOuterSize = kTransportHeaderSize + kLengthSize;  // 16
inline constexpr std::size_t kHeadersOverhead = kHeadersOuterSize + kInnerTypeSize + noise::kTagSize;  // 33
inline constexpr std::size_t kHeadersMinSize = kHeadersOverhead;
inline constexpr std::size_t kHeadersKeySize = 32;
inline constexpr std::size_t kHeadersKeyIdSize = 8;
// The key message (inner types 3 and 4): key id, then (3 only) the key.
inline constexpr std::size_t kHeadersKeyBodySize = kHeadersKeyIdSize + kHeadersKeySize;  // 40

struct HeadersKey {
  std::uint8_t bytes[kHeadersKeySize] = {};
};

struct HeadersView {
  std::uint32_t receiver_index;
  std::uint64_t counter;
  std::size_t encrypted_size;  // inner type + what follows it up to the e2e bytes, at least 1
};

// Checks version, type and that the encrypted length fits: nullopt otherwise.
std::optional<HeadersView> parse_headers_frame(ByteView frame) noexcept;

// `frame` holds the outer header (16 bytes, written), the plaintext (encrypted_size bytes,
// then the e2e bytes) and 16 bytes for the tag at its end. Encrypts in place and writes the
// tag.
void headers_seal(const HeadersKey& key, std::uint64_t counter, MutableByteView frame,
                  std::size_t encrypted_size) noexcept;
// The reverse: true (and the encrypted part decrypted in place) when the tag verifies;
// false leaves the frame unchanged.
bool headers_open(const HeadersKey& key, std::uint64_t counter, MutableByteView frame,
                  std::size_t encrypted_size) noexcept;

}  // namespace mh::sw
