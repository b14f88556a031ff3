// The Noise engine: the spec's CipherState, SymmetricState and HandshakeState (sections 5.1
// to 5.3) for IK and IKpsk2 over X25519, ChaChaPoly and BLAKE2b, all from libsodium.
#include <meshhost/noise.hpp>

#include <meshhost/host.hpp>

#include <sodium.h>

#include <cstring>
#include <initializer_list>
#include <utility>

namespace mh::noise {

namespace {

using detail::CipherState;
using detail::SymmetricState;
using ByteView = std::span<const std::uint8_t>;

constexpr std::size_t kBlake2bBlockSize = 128;  // HMAC's block length for BLAKE2b (Noise §4.3)
constexpr std::size_t kNonceSize = 12;          // 4 zero bytes + 64-bit little-endian counter
constexpr std::uint64_t kMaxNonce = ~std::uint64_t{0};  // 2^64 − 1 is reserved by Noise §5.1
constexpr std::size_t kSaltSize = 16;

static_assert(kKeySize == crypto_scalarmult_curve25519_BYTES);
static_assert(kKeySize == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
static_assert(kTagSize == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(kNonceSize == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
static_assert(kHashSize == crypto_generichash_blake2b_BYTES_MAX);
static_assert(kSaltSize == crypto_pwhash_SALTBYTES);
static_assert(kPskSize >= crypto_pwhash_BYTES_MIN);
static_assert(kPskArgon2OpsLimit >= crypto_pwhash_OPSLIMIT_MIN);
static_assert(kPskArgon2MemLimitBytes >= crypto_pwhash_MEMLIMIT_MIN);

ByteView view(std::string_view s) noexcept { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

template <class T>
void wipe(T& object) noexcept {
  sodium_memzero(&object, sizeof object);
}

// libsodium picks its fastest implementations in sodium_init(); it is idempotent and cheap
// after the first call, so the handshake paths simply call it.
bool sodium_ready() noexcept { return sodium_init() >= 0; }

// HASH(): BLAKE2b-512 over the concatenation of `parts`. `out` may alias a part: every
// part is absorbed before anything is written.
void hash(std::initializer_list<ByteView> parts, std::uint8_t* out) noexcept {
  crypto_generichash_blake2b_state state;
  crypto_generichash_blake2b_init(&state, nullptr, 0, kHashSize);
  for (ByteView part : parts) crypto_generichash_blake2b_update(&state, part.data(), part.size());
  crypto_generichash_blake2b_final(&state, out, kHashSize);
  wipe(state);
}

// HMAC-HASH (RFC 2104) with BLAKE2b-512 and its 128-byte block, as Noise §4.3 requires
// (not BLAKE2b's own keyed mode).
void hmac(ByteView key, std::initializer_list<ByteView> message, std::uint8_t* out) noexcept {
  std::uint8_t block[kBlake2bBlockSize] = {};
  if (key.size() > kBlake2bBlockSize) {
    hash({key}, block);
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
  std::uint8_t pad[kBlake2bBlockSize];
  std::uint8_t inner[kHashSize];

  for (std::size_t i = 0; i < kBlake2bBlockSize; ++i) pad[i] = block[i] ^ 0x36;
  crypto_generichash_blake2b_state state;
  crypto_generichash_blake2b_init(&state, nullptr, 0, kHashSize);
  crypto_generichash_blake2b_update(&state, pad, sizeof pad);
  for (ByteView part : message) crypto_generichash_blake2b_update(&state, part.data(), part.size());
  crypto_generichash_blake2b_final(&state, inner, kHashSize);

  for (std::size_t i = 0; i < kBlake2bBlockSize; ++i) pad[i] = block[i] ^ 0x5c;
  hash({ByteView(pad), ByteView(inner)}, out);

  wipe(state);
  wipe(block);
  wipe(pad);
  wipe(inner);
}

// HKDF(chaining_key, input_key_material, num_outputs) of Noise §4.3 with two outputs, or
// three when `out3` is not null. `out1` may alias `chaining_key`.
void hkdf(const std::uint8_t* chaining_key, ByteView input_key_material, std::uint8_t* out1, std::uint8_t* out2,
          std::uint8_t* out3) noexcept {
  static constexpr std::uint8_t kOne = 0x01, kTwo = 0x02, kThree = 0x03;
  std::uint8_t temp_key[kHashSize];
  hmac(ByteView(chaining_key, kHashSize), {input_key_material}, temp_key);
  hmac(temp_key, {ByteView(&kOne, 1)}, out1);
  hmac(temp_key, {ByteView(out1, kHashSize), ByteView(&kTwo, 1)}, out2);
  if (out3 != nullptr) hmac(temp_key, {ByteView(out2, kHashSize), ByteView(&kThree, 1)}, out3);
  wipe(temp_key);
}

void make_nonce(std::uint64_t counter, std::uint8_t* nonce) noexcept {
  std::memset(nonce, 0, 4);
  for (std::size_t i = 0; i < 8; ++i, counter >>= 8) nonce[4 + i] = static_cast<std::uint8_t>(counter);
}

// X25519 with an ephemeral private key; false for an all-zero result (low-order point).
bool x25519(const std::uint8_t* private_key, const PublicKey& remote, SharedSecret* out) noexcept {
  return crypto_scalarmult_curve25519(out->bytes, private_key, remote.bytes) == 0;
}

// --- CipherState (Noise §5.1) ---

void initialize_key(CipherState& c, const std::uint8_t* key) noexcept {
  std::memcpy(c.key, key, kKeySize);
  c.has_key = true;
  c.nonce = 0;
}

// EncryptWithAd: writes plaintext.size() (+ kTagSize with a key) bytes to `out`.
bool encrypt_with_ad(CipherState& c, ByteView ad, ByteView plaintext, std::uint8_t* out) noexcept {
  if (!c.has_key) {
    if (!plaintext.empty()) std::memmove(out, plaintext.data(), plaintext.size());
    return true;
  }
  if (c.nonce == kMaxNonce) return false;
  std::uint8_t nonce[kNonceSize];
  make_nonce(c.nonce, nonce);
  crypto_aead_chacha20poly1305_ietf_encrypt(out, nullptr, plaintext.data(), plaintext.size(), ad.data(), ad.size(),
                                            nullptr, nonce, c.key);
  ++c.nonce;
  return true;
}

// DecryptWithAd: writes ciphertext.size() (− kTagSize with a key) bytes to `out`.
bool decrypt_with_ad(CipherState& c, ByteView ad, ByteView ciphertext, std::uint8_t* out) noexcept {
  if (!c.has_key) {
    if (!ciphertext.empty()) std::memmove(out, ciphertext.data(), ciphertext.size());
    return true;
  }
  if (c.nonce == kMaxNonce || ciphertext.size() < kTagSize) return false;
  std::uint8_t nonce[kNonceSize];
  make_nonce(c.nonce, nonce);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, nullptr, nullptr, ciphertext.data(), ciphertext.size(), ad.data(),
                                                ad.size(), nonce, c.key) != 0) {
    return false;
  }
  ++c.nonce;
  return true;
}

// --- SymmetricState (Noise §5.2) ---

void initialize_symmetric(SymmetricState& s, std::string_view protocol_name) noexcept {
  if (protocol_name.size() <= kHashSize) {
    std::memset(s.hash.bytes, 0, kHashSize);
    std::memcpy(s.hash.bytes, protocol_name.data(), protocol_name.size());
  } else {
    hash({view(protocol_name)}, s.hash.bytes);
  }
  std::memcpy(s.chaining_key, s.hash.bytes, kHashSize);
  s.cipher = CipherState{};
}

void mix_hash(SymmetricState& s, ByteView data) noexcept { hash({ByteView(s.hash.bytes), data}, s.hash.bytes); }

void mix_key(SymmetricState& s, ByteView input_key_material) noexcept {
  std::uint8_t temp_k[kHashSize];
  hkdf(s.chaining_key, input_key_material, s.chaining_key, temp_k, nullptr);
  initialize_key(s.cipher, temp_k);  // truncated to kKeySize: HASHLEN is 64
  wipe(temp_k);
}

void mix_key_and_hash(SymmetricState& s, ByteView input_key_material) noexcept {
  std::uint8_t temp_h[kHashSize];
  std::uint8_t temp_k[kHashSize];
  hkdf(s.chaining_key, input_key_material, s.chaining_key, temp_h, temp_k);
  mix_hash(s, temp_h);
  initialize_key(s.cipher, temp_k);
  wipe(temp_h);
  wipe(temp_k);
}

// EncryptAndHash: `out` receives plaintext.size() + kTagSize bytes (a key is always set
// where IK encrypts) and must not overlap `plaintext`.
bool encrypt_and_hash(SymmetricState& s, ByteView plaintext, std::uint8_t* out) noexcept {
  if (!encrypt_with_ad(s.cipher, s.hash.bytes, plaintext, out)) return false;
  mix_hash(s, ByteView(out, plaintext.size() + (s.cipher.has_key ? kTagSize : 0)));
  return true;
}

// DecryptAndHash: the next h is computed before decrypting, so `out` may even be the
// ciphertext's own memory.
bool decrypt_and_hash(SymmetricState& s, ByteView ciphertext, std::uint8_t* out) noexcept {
  std::uint8_t next_hash[kHashSize];
  hash({ByteView(s.hash.bytes), ciphertext}, next_hash);
  if (!decrypt_with_ad(s.cipher, s.hash.bytes, ciphertext, out)) return false;
  std::memcpy(s.hash.bytes, next_hash, kHashSize);
  return true;
}

// The "e" token: MixHash(e.public_key), and with a psk modifier also MixKey(e.public_key).
void mix_ephemeral(SymmetricState& s, Pattern pattern, const PublicKey& ephemeral) noexcept {
  mix_hash(s, ephemeral.bytes);
  if (pattern == Pattern::ik_psk2) mix_key(s, ephemeral.bytes);
}

constexpr Status fail(StatusCode code, const char* message) noexcept { return Status::error(code, Str(message)); }

}  // namespace

// --- derive_psk ---

Status derive_psk(std::string_view password, const PublicKey& responder_static, Psk* out) noexcept {
  *out = Psk{};
  if (password.empty()) return Status::success();
  if (!sodium_ready()) return fail(StatusCode::internal, "noise: libsodium failed to initialise");
  std::uint8_t digest[kHashSize];
  hash({view(kPskSaltLabel), ByteView(responder_static.bytes)}, digest);
  const int rc = crypto_pwhash(out->bytes, kPskSize, password.data(), password.size(), digest, kPskArgon2OpsLimit,
                               kPskArgon2MemLimitBytes, crypto_pwhash_ALG_ARGON2ID13);
  wipe(digest);
  if (rc != 0) {
    *out = Psk{};
    return fail(StatusCode::internal, "noise: Argon2id failed (out of memory?)");
  }
  return Status::success();
}

// --- static keys ---

LocalStaticKey::LocalStaticKey(std::span<const std::uint8_t, kKeySize> private_key) noexcept {
  (void)sodium_ready();
  std::memcpy(private_key_, private_key.data(), kKeySize);
  crypto_scalarmult_curve25519_base(public_key_.bytes, private_key_);
}

LocalStaticKey LocalStaticKey::generate() noexcept {
  (void)sodium_ready();
  std::uint8_t private_key[kKeySize];
  randombytes_buf(private_key, sizeof private_key);
  LocalStaticKey key{std::span<const std::uint8_t, kKeySize>(private_key)};
  wipe(private_key);
  return key;
}

LocalStaticKey::~LocalStaticKey() { wipe(private_key_); }

bool LocalStaticKey::dh(const PublicKey& remote, SharedSecret* out) const noexcept {
  return crypto_scalarmult_curve25519(out->bytes, private_key_, remote.bytes) == 0;
}

PublicKey HostStaticKey::public_key() const noexcept { return host_->public_key(); }

bool HostStaticKey::dh(const PublicKey& remote, SharedSecret* out) const noexcept {
  return host_->dh(remote, out).ok();
}

// --- Transport ---

Transport::Transport(Transport&& other) noexcept { *this = std::move(other); }

Transport& Transport::operator=(Transport&& other) noexcept {
  if (this != &other) {
    std::memcpy(send_key_, other.send_key_, kKeySize);
    std::memcpy(receive_key_, other.receive_key_, kKeySize);
    send_counter_ = other.send_counter_;
    has_keys_ = other.has_keys_;
    window_ = other.window_;
    other.wipe();
  }
  return *this;
}

Transport::~Transport() { wipe(); }

void Transport::wipe() noexcept {
  sodium_memzero(send_key_, kKeySize);
  sodium_memzero(receive_key_, kKeySize);
  send_counter_ = 0;
  has_keys_ = false;
  window_.reset();
}

Status Transport::encrypt(std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out,
                          std::uint64_t* counter, std::span<const std::uint8_t> ad) noexcept {
  if (!has_keys_) return fail(StatusCode::unavailable, "noise: transport has no keys");
  if (send_counter_ >= kRejectAfterMessages) return fail(StatusCode::unavailable, "noise: transport exhausted, rekey");
  if (out.size() < plaintext.size() || out.size() - plaintext.size() < kTagSize) {
    return fail(StatusCode::invalid_argument, "noise: output buffer too small");
  }
  std::uint8_t nonce[kNonceSize];
  make_nonce(send_counter_, nonce);
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), nullptr, plaintext.data(), plaintext.size(), ad.data(),
                                            ad.size(), nullptr, nonce, send_key_);
  *counter = send_counter_++;
  return Status::success();
}

DecryptResult Transport::decrypt(std::uint64_t counter, std::span<const std::uint8_t> ciphertext,
                                 std::span<std::uint8_t> out, std::size_t* plaintext_size,
                                 std::span<const std::uint8_t> ad) noexcept {
  if (!has_keys_ || ciphertext.size() < kTagSize || counter >= kRejectAfterMessages) return DecryptResult::malformed;
  const std::size_t size = ciphertext.size() - kTagSize;
  if (out.size() < size) return DecryptResult::malformed;
  if (!window_.check(counter)) return DecryptResult::replayed;
  std::uint8_t nonce[kNonceSize];
  make_nonce(counter, nonce);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), nullptr, nullptr, ciphertext.data(), ciphertext.size(),
                                                ad.data(), ad.size(), nonce, receive_key_) != 0) {
    return DecryptResult::forged;
  }
  if (!window_.update(counter)) return DecryptResult::replayed;
  *plaintext_size = size;
  return DecryptResult::ok;
}

// --- Handshake (Noise §5.3) ---

Handshake::Handshake(Role role, Pattern pattern, const StaticKey& local, std::string_view prologue) noexcept
    : role_(role), pattern_(pattern), local_(&local) {
  (void)sodium_ready();
  initialize_symmetric(symmetric_, pattern == Pattern::ik_psk2 ? kProtocolIKpsk2 : kProtocolIK);
  mix_hash(symmetric_, view(prologue));
}

Handshake Handshake::initiator(const StaticKey& local, const PublicKey& remote_static, std::string_view prologue,
                               const Psk& psk, Pattern pattern) noexcept {
  Handshake handshake(Role::initiator, pattern, local, prologue);
  handshake.remote_static_ = remote_static;
  handshake.psk_ = psk;
  mix_hash(handshake.symmetric_, remote_static.bytes);  // pre-message "<- s"
  return handshake;
}

Handshake Handshake::responder(const StaticKey& local, std::string_view prologue, Pattern pattern) noexcept {
  Handshake handshake(Role::responder, pattern, local, prologue);
  mix_hash(handshake.symmetric_, local.public_key().bytes);  // pre-message "<- s"
  return handshake;
}

Handshake::~Handshake() {
  wipe_secrets();
  wipe(symmetric_.hash);
}

void Handshake::wipe_secrets() noexcept {
  wipe(ephemeral_private_);
  wipe(symmetric_.chaining_key);
  wipe(symmetric_.cipher);
  wipe(psk_);
}

void Handshake::set_ephemeral_for_testing(std::span<const std::uint8_t, kKeySize> private_key) noexcept {
  std::memcpy(ephemeral_private_, private_key.data(), kKeySize);
  ephemeral_injected_ = true;
}

bool Handshake::make_ephemeral() noexcept {
  if (!sodium_ready()) return false;
  if (!ephemeral_injected_) randombytes_buf(ephemeral_private_, kKeySize);
  crypto_scalarmult_curve25519_base(ephemeral_public_.bytes, ephemeral_private_);
  return true;
}

Status Handshake::set_psk(const Psk& psk) noexcept {
  const bool unused = role_ == Role::initiator ? (state_ == State::idle || state_ == State::initiation_sent)
                                               : (state_ == State::idle || state_ == State::initiation_consumed);
  if (!unused) return fail(StatusCode::invalid_argument, "noise: set_psk after the psk was used");
  psk_ = psk;
  return Status::success();
}

Status Handshake::create_initiation(std::span<const std::uint8_t> payload, std::span<std::uint8_t> out,
                                    std::size_t* written) noexcept {
  if (role_ != Role::initiator || state_ != State::idle) {
    return fail(StatusCode::invalid_argument, "noise: create_initiation in the wrong state");
  }
  if (payload.size() > kMaxMessageSize - kInitiationOverhead) {
    return fail(StatusCode::invalid_argument, "noise: initiation payload too large");
  }
  const std::size_t size = initiation_size(payload.size());
  if (out.size() < size) return fail(StatusCode::invalid_argument, "noise: output buffer too small");
  if (!make_ephemeral()) return fail(StatusCode::unavailable, "noise: libsodium failed to initialise");

  SymmetricState s = symmetric_;  // committed only on success
  SharedSecret shared;
  std::uint8_t* at = out.data();
  Status result = Status::success();
  const PublicKey local_public = local_->public_key();

  // e
  std::memcpy(at, ephemeral_public_.bytes, kKeySize);
  mix_ephemeral(s, pattern_, ephemeral_public_);
  at += kKeySize;
  // es
  if (!x25519(ephemeral_private_, remote_static_, &shared)) {
    result = fail(StatusCode::invalid_argument, "noise: remote static key is a low-order point");
  } else {
    mix_key(s, shared.bytes);
    // s
    encrypt_and_hash(s, local_public.bytes, at);
    at += kKeySize + kTagSize;
    // ss
    if (!local_->dh(remote_static_, &shared)) {
      result = fail(StatusCode::unavailable, "noise: local static key refused dh");
    } else {
      mix_key(s, shared.bytes);
      // payload
      encrypt_and_hash(s, payload, at);
      symmetric_ = s;
      state_ = State::initiation_sent;
      *written = size;
    }
  }
  wipe(s);
  wipe(shared);
  return result;
}

Status Handshake::consume_initiation(std::span<const std::uint8_t> message, std::span<std::uint8_t> payload_out,
                                     std::size_t* payload_size) noexcept {
  if (role_ != Role::responder || state_ != State::idle) {
    return fail(StatusCode::invalid_argument, "noise: consume_initiation in the wrong state");
  }
  if (message.size() < kInitiationOverhead || message.size() > kMaxMessageSize) {
    return fail(StatusCode::invalid_argument, "noise: initiation has the wrong size");
  }
  const std::size_t size = message.size() - kInitiationOverhead;
  if (payload_out.size() < size) return fail(StatusCode::invalid_argument, "noise: payload buffer too small");

  SymmetricState s = symmetric_;
  SharedSecret shared;
  PublicKey remote_ephemeral;
  PublicKey remote_static;
  const std::uint8_t* at = message.data();
  Status result = fail(StatusCode::permission_denied, "noise: initiation does not authenticate");

  // e
  std::memcpy(remote_ephemeral.bytes, at, kKeySize);
  mix_ephemeral(s, pattern_, remote_ephemeral);
  at += kKeySize;
  // es
  if (!local_->dh(remote_ephemeral, &shared)) {
    result = fail(StatusCode::invalid_argument, "noise: initiation's ephemeral key rejected");
  } else {
    mix_key(s, shared.bytes);
    // s
    if (decrypt_and_hash(s, ByteView(at, kKeySize + kTagSize), remote_static.bytes)) {
      at += kKeySize + kTagSize;
      // ss
      if (!local_->dh(remote_static, &shared)) {
        result = fail(StatusCode::invalid_argument, "noise: initiation's static key rejected");
      } else {
        mix_key(s, shared.bytes);
        // payload
        if (decrypt_and_hash(s, ByteView(at, size + kTagSize), payload_out.data())) {
          symmetric_ = s;
          remote_ephemeral_ = remote_ephemeral;
          remote_static_ = remote_static;
          state_ = State::initiation_consumed;
          *payload_size = size;
          result = Status::success();
        }
      }
    }
  }
  wipe(s);
  wipe(shared);
  return result;
}

Status Handshake::create_response(std::span<const std::uint8_t> payload, std::span<std::uint8_t> out,
                                  std::size_t* written) noexcept {
  if (role_ != Role::responder || state_ != State::initiation_consumed) {
    return fail(StatusCode::invalid_argument, "noise: create_response in the wrong state");
  }
  if (payload.size() > kMaxMessageSize - kResponseOverhead) {
    return fail(StatusCode::invalid_argument, "noise: response payload too large");
  }
  const std::size_t size = response_size(payload.size());
  if (out.size() < size) return fail(StatusCode::invalid_argument, "noise: output buffer too small");
  if (!make_ephemeral()) return fail(StatusCode::unavailable, "noise: libsodium failed to initialise");

  SymmetricState s = symmetric_;
  SharedSecret shared;
  std::uint8_t* at = out.data();
  Status result = fail(StatusCode::invalid_argument, "noise: initiator's key is a low-order point");

  // e
  std::memcpy(at, ephemeral_public_.bytes, kKeySize);
  mix_ephemeral(s, pattern_, ephemeral_public_);
  at += kKeySize;
  // ee, se
  if (x25519(ephemeral_private_, remote_ephemeral_, &shared)) {
    mix_key(s, shared.bytes);
    if (x25519(ephemeral_private_, remote_static_, &shared)) {
      mix_key(s, shared.bytes);
      // psk
      if (pattern_ == Pattern::ik_psk2) mix_key_and_hash(s, psk_.bytes);
      // payload
      encrypt_and_hash(s, payload, at);
      symmetric_ = s;
      state_ = State::established;
      *written = size;
      result = Status::success();
    }
  }
  wipe(s);
  wipe(shared);
  return result;
}

Status Handshake::consume_response(std::span<const std::uint8_t> message, std::span<std::uint8_t> payload_out,
                                   std::size_t* payload_size) noexcept {
  if (role_ != Role::initiator || state_ != State::initiation_sent) {
    return fail(StatusCode::invalid_argument, "noise: consume_response in the wrong state");
  }
  if (message.size() < kResponseOverhead || message.size() > kMaxMessageSize) {
    return fail(StatusCode::invalid_argument, "noise: response has the wrong size");
  }
  const std::size_t size = message.size() - kResponseOverhead;
  if (payload_out.size() < size) return fail(StatusCode::invalid_argument, "noise: payload buffer too small");

  SymmetricState s = symmetric_;
  SharedSecret shared;
  PublicKey remote_ephemeral;
  const std::uint8_t* at = message.data();
  Status result = fail(StatusCode::invalid_argument, "noise: response's ephemeral key rejected");

  // e
  std::memcpy(remote_ephemeral.bytes, at, kKeySize);
  mix_ephemeral(s, pattern_, remote_ephemeral);
  at += kKeySize;
  // ee, se
  if (x25519(ephemeral_private_, remote_ephemeral, &shared)) {
    mix_key(s, shared.bytes);
    if (local_->dh(remote_ephemeral, &shared)) {
      mix_key(s, shared.bytes);
      // psk
      if (pattern_ == Pattern::ik_psk2) mix_key_and_hash(s, psk_.bytes);
      // payload
      if (decrypt_and_hash(s, ByteView(at, size + kTagSize), payload_out.data())) {
        symmetric_ = s;
        remote_ephemeral_ = remote_ephemeral;
        state_ = State::established;
        *payload_size = size;
        result = Status::success();
      } else {
        result = fail(StatusCode::permission_denied, "noise: response does not authenticate");
      }
    }
  }
  wipe(s);
  wipe(shared);
  return result;
}

Status Handshake::split(Transport* out) noexcept {
  if (state_ != State::established) {
    return fail(StatusCode::invalid_argument, "noise: split before the handshake ended");
  }
  std::uint8_t temp_k1[kHashSize];
  std::uint8_t temp_k2[kHashSize];
  hkdf(symmetric_.chaining_key, ByteView(), temp_k1, temp_k2, nullptr);
  out->wipe();
  const bool initiator = role_ == Role::initiator;
  std::memcpy(out->send_key_, initiator ? temp_k1 : temp_k2, kKeySize);
  std::memcpy(out->receive_key_, initiator ? temp_k2 : temp_k1, kKeySize);
  out->has_keys_ = true;
  wipe(temp_k1);
  wipe(temp_k2);
  wipe_secrets();
  state_ = State::split;
  return Status::success();
}

}  // namespace mh::noise
