// meshhost's one Noise engine (DESIGN §4): Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b for links
// and sessions, plain Noise_IK_… only to check published vectors. See docs/protocol.md.
#pragma once

#include <meshhost/replay_window.hpp>
#include <meshhost/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mh {
class Host;
}

namespace mh::noise {

inline constexpr std::size_t kKeySize = 32;    // X25519 keys (DHLEN) and ChaChaPoly keys
inline constexpr std::size_t kHashSize = 64;   // BLAKE2b-512 (HASHLEN)
inline constexpr std::size_t kTagSize = 16;    // Poly1305
inline constexpr std::size_t kPskSize = 32;
inline constexpr std::size_t kMaxMessageSize = 65535;  // Noise spec §3

inline constexpr std::string_view kProtocolIKpsk2 = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b";
inline constexpr std::string_view kProtocolIK = "Noise_IK_25519_ChaChaPoly_BLAKE2b";

// Prologues keep the layers apart: a link handshake can never be replayed as a session one.
inline constexpr std::string_view kLinkPrologue = "meshhost link v1";        // switch, per neighbour
inline constexpr std::string_view kSessionPrologue = "meshhost session v1";  // session, end to end

// -> e, es, s, ss: ephemeral key, encrypted static key + tag, encrypted payload + tag.
inline constexpr std::size_t kInitiationOverhead = kKeySize + (kKeySize + kTagSize) + kTagSize;  // 96
// <- e, ee, se, psk: ephemeral key, encrypted payload + tag.
inline constexpr std::size_t kResponseOverhead = kKeySize + kTagSize;  // 48

constexpr std::size_t initiation_size(std::size_t payload_size) noexcept { return kInitiationOverhead + payload_size; }
constexpr std::size_t response_size(std::size_t payload_size) noexcept { return kResponseOverhead + payload_size; }

enum class Pattern : std::uint8_t {
  ik_psk2,  // Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b: what meshhost speaks, psk all zero without a password
  ik,       // Noise_IK_25519_ChaChaPoly_BLAKE2b: only for checking the published vectors
};

// A pre-shared key. All zero means "no password" (DESIGN §4), so a responder never has to
// guess which pattern arrived.
struct Psk {
  std::uint8_t bytes[kPskSize] = {};
};

// The handshake hash h after the last handshake message; both sides hold the same value.
struct HandshakeHash {
  std::uint8_t bytes[kHashSize] = {};
};

// Argon2id cost for derive_psk: libsodium 1.0.18's OPSLIMIT_INTERACTIVE and
// MEMLIMIT_INTERACTIVE, pinned here because they are part of the protocol — a library that
// changed its defaults must not change every node's psk.
inline constexpr std::uint64_t kPskArgon2OpsLimit = 2;
inline constexpr std::size_t kPskArgon2MemLimitBytes = std::size_t{64} << 20;  // 64 MiB
inline constexpr std::string_view kPskSaltLabel = "meshhost psk v1";

// psk = Argon2id(password, salt) (libsodium crypto_pwhash, ALG_ARGON2ID13, the limits
// above), salt = the first 16 bytes of BLAKE2b-512("meshhost psk v1" ||
// responder_static), so initiator and responder derive the same psk and one password gives
// a different psk towards every responder. An empty password gives the all-zero psk.
// Slow (64 MiB, about 0.3 s on a desktop core, more on small boards): call at config load,
// never per handshake.
// Writes *out; fails with internal when Argon2id cannot get its memory (then *out is zero).
Status derive_psk(std::string_view password, const PublicKey& responder_static, Psk* out) noexcept;

// The local static key as the engine sees it: the public half and X25519 with the private
// half, which stays wherever the implementation keeps it (in the host, for the node key).
class StaticKey {
 public:
  virtual PublicKey public_key() const noexcept = 0;
  // Writes X25519(private key, remote) to *out. Returns false when the result is all zero
  // (`remote` is a low-order point) or the key cannot be used; *out is then meaningless.
  virtual bool dh(const PublicKey& remote, SharedSecret* out) const noexcept = 0;

 protected:
  ~StaticKey() = default;
};

// A static key held in this object's memory: for tests, vectors and tools. Wiped on
// destruction.
class LocalStaticKey final : public StaticKey {
 public:
  // Copies the 32-byte X25519 private key (X25519 clamps it; any bytes are usable).
  explicit LocalStaticKey(std::span<const std::uint8_t, kKeySize> private_key) noexcept;
  // A fresh key from the system's random source.
  static LocalStaticKey generate() noexcept;
  LocalStaticKey(const LocalStaticKey&) noexcept = default;
  LocalStaticKey& operator=(const LocalStaticKey&) noexcept = default;
  ~LocalStaticKey();

  PublicKey public_key() const noexcept override { return public_key_; }
  bool dh(const PublicKey& remote, SharedSecret* out) const noexcept override;

 private:
  std::uint8_t private_key_[kKeySize] = {};
  PublicKey public_key_;
};

// The node's key as the host keeps it (Host::public_key, Host::dh): the private key never
// leaves the host. `host` is borrowed and must outlive this object.
class HostStaticKey final : public StaticKey {
 public:
  explicit HostStaticKey(Host* host) noexcept : host_(host) {}
  PublicKey public_key() const noexcept override;
  bool dh(const PublicKey& remote, SharedSecret* out) const noexcept override;

 private:
  Host* host_;
};

// Why a transport packet was dropped; each is worth its own counter.
enum class DecryptResult : std::uint8_t {
  ok,
  malformed,  // shorter than a tag, `out` too small, counter past kRejectAfterMessages, no keys
  replayed,   // counter already accepted, or older than the replay window
  forged,     // the tag did not verify: wrong key, tampered, or junk
};

// The two CipherStates after a handshake: ChaChaPoly with Noise's nonce (4 zero bytes then
// the 64-bit counter, little-endian), counters sent beside each packet so the receiver can
// accept them out of order through a ReplayWindow. Never uses Noise Rekey(): a transport
// is replaced by a new handshake (DESIGN §4). Encrypt and decrypt allocate nothing.
// Move-only: a copy would reuse nonces.
class Transport {
 public:
  // WireGuard's limits: start a new handshake after kRekeyAfterMessages sent; never use a
  // counter at or beyond kRejectAfterMessages.
  static constexpr std::uint64_t kRekeyAfterMessages = std::uint64_t{1} << 60;
  // 2^64 − 2^13 − 1
  static constexpr std::uint64_t kRejectAfterMessages = ~std::uint64_t{0} - (std::uint64_t{1} << 13);

  // Holds no keys: encrypt and decrypt fail until a Handshake::split() fills it.
  Transport() noexcept = default;
  Transport(Transport&& other) noexcept;
  Transport& operator=(Transport&& other) noexcept;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  ~Transport();  // wipes the keys

  bool has_keys() const noexcept { return has_keys_; }

  // Encrypts `plaintext` under the next send counter into `out`, which needs
  // plaintext.size() + kTagSize bytes and may be the same memory as `plaintext` (in place)
  // but must not otherwise overlap it. `ad` is authenticated, not encrypted. Writes the
  // counter used to *counter (the caller sends it with the packet). Fails with
  // invalid_argument when `out` is too small, unavailable when there are no keys or the
  // counter reached kRejectAfterMessages; nothing is consumed then.
  Status encrypt(std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out, std::uint64_t* counter,
                 std::span<const std::uint8_t> ad = {}) noexcept;

  // Decrypts `ciphertext` sent under `counter` into `out`, which needs ciphertext.size() −
  // kTagSize bytes (same in-place rule as encrypt), and writes that size to
  // *plaintext_size. `ad` must be what the sender authenticated. The replay window only
  // moves when the packet authenticates. On any failure `out` holds nothing meaningful
  // (libsodium zeroes it after a bad tag: an in-place packet is destroyed).
  DecryptResult decrypt(std::uint64_t counter, std::span<const std::uint8_t> ciphertext, std::span<std::uint8_t> out,
                        std::size_t* plaintext_size, std::span<const std::uint8_t> ad = {}) noexcept;

  // Messages encrypted so far, which is also the next send counter.
  std::uint64_t send_counter() const noexcept { return send_counter_; }
  const ReplayWindow& replay_window() const noexcept { return window_; }

 private:
  friend class Handshake;
  void wipe() noexcept;

  std::uint8_t send_key_[kKeySize] = {};
  std::uint8_t receive_key_[kKeySize] = {};
  std::uint64_t send_counter_ = 0;
  bool has_keys_ = false;
  ReplayWindow window_;
};

namespace detail {
// Noise spec §5.1, with k's "empty" flag spelled out.
struct CipherState {
  std::uint8_t key[kKeySize] = {};
  bool has_key = false;
  std::uint64_t nonce = 0;
};
// Noise spec §5.2.
struct SymmetricState {
  std::uint8_t chaining_key[kHashSize] = {};
  HandshakeHash hash;
  CipherState cipher;
};
}  // namespace detail

// One IK handshake, as the Noise spec's HandshakeState. Initiator: create_initiation →
// consume_response → split. Responder: consume_initiation → (set_psk) → create_response →
// split. A message that fails changes nothing, so junk or a forged response cannot break a
// handshake in progress. Allocates nothing. Wiped on destruction.
//
// Status codes: invalid_argument for a call in the wrong state, a buffer too small, a
// message of the wrong size or a low-order public key; permission_denied when a message
// does not authenticate (wrong key or psk, tampering); unavailable when the local static
// key's dh() fails.
class Handshake {
 public:
  enum class Role : std::uint8_t { initiator, responder };
  enum class State : std::uint8_t {
    idle,                 // nothing sent or received yet
    initiation_sent,      // initiator: waiting for the response
    initiation_consumed,  // responder: the initiator's key and payload are known
    established,          // both: split() hands out the transport keys
    split,                // keys handed out; handshake_hash() stays readable
  };

  // An initiator towards `remote_static` (IK's pre-message "<- s"). `local` is borrowed and
  // must outlive the handshake; `prologue` is hashed at once and not kept.
  static Handshake initiator(const StaticKey& local, const PublicKey& remote_static, std::string_view prologue,
                             const Psk& psk, Pattern pattern = Pattern::ik_psk2) noexcept;
  // A responder for `local`, whose public key initiators must already know. Its psk is all
  // zero until set_psk().
  static Handshake responder(const StaticKey& local, std::string_view prologue,
                             Pattern pattern = Pattern::ik_psk2) noexcept;

  Handshake(const Handshake&) noexcept = default;
  Handshake& operator=(const Handshake&) noexcept = default;
  ~Handshake();

  // Initiator, idle → initiation_sent. "-> e, es, s, ss" then the encrypted `payload`:
  // writes initiation_size(payload.size()) bytes to `out` and that count to *written.
  Status create_initiation(std::span<const std::uint8_t> payload, std::span<std::uint8_t> out,
                           std::size_t* written) noexcept;

  // Responder, idle → initiation_consumed. Reads an initiation, learns remote_static() and
  // writes the payload (message.size() − kInitiationOverhead bytes) to `payload_out` and
  // its size to *payload_size. The payload is authenticated but may be a replay: the
  // caller checks its timestamp.
  Status consume_initiation(std::span<const std::uint8_t> message, std::span<std::uint8_t> payload_out,
                            std::size_t* payload_size) noexcept;

  // Chooses the psk mixed in by psk2, e.g. by the login name in the initiation payload.
  // Allowed until the psk is used: the responder until create_response, the initiator
  // until consume_response; invalid_argument afterwards. Ignored by Pattern::ik.
  Status set_psk(const Psk& psk) noexcept;

  // Responder, initiation_consumed → established. "<- e, ee, se, psk" then the encrypted
  // `payload`: writes response_size(payload.size()) bytes to `out` and that count to *written.
  Status create_response(std::span<const std::uint8_t> payload, std::span<std::uint8_t> out,
                         std::size_t* written) noexcept;

  // Initiator, initiation_sent → established. Reads the response and writes its payload
  // (message.size() − kResponseOverhead bytes) to `payload_out`, its size to *payload_size.
  Status consume_response(std::span<const std::uint8_t> message, std::span<std::uint8_t> payload_out,
                          std::size_t* payload_size) noexcept;

  // established → split. Fills *out with the transport keys (the initiator sends with the
  // first, the responder with the second) and wipes the handshake's secrets.
  Status split(Transport* out) noexcept;

  Role role() const noexcept { return role_; }
  State state() const noexcept { return state_; }
  // The peer's static key: given to an initiator; a responder's from initiation_consumed on.
  const PublicKey& remote_static() const noexcept { return remote_static_; }
  // The handshake hash; the final value from established on (a channel binding).
  const HandshakeHash& handshake_hash() const noexcept { return symmetric_.hash; }

  // Tests only: the next create_* uses this X25519 private key as its ephemeral instead of
  // a random one (the published vectors fix both sides' ephemerals).
  void set_ephemeral_for_testing(std::span<const std::uint8_t, kKeySize> private_key) noexcept;

 private:
  Handshake(Role role, Pattern pattern, const StaticKey& local, std::string_view prologue) noexcept;
  bool make_ephemeral() noexcept;
  void wipe_secrets() noexcept;

  Role role_;
  Pattern pattern_;
  State state_ = State::idle;
  const StaticKey* local_;
  PublicKey remote_static_;
  PublicKey remote_ephemeral_;
  PublicKey ephemeral_public_;
  std::uint8_t ephemeral_private_[kKeySize] = {};
  bool ephemeral_injected_ = false;
  Psk psk_;
  detail::SymmetricState symmetric_;
};

}  // namespace mh::noise
