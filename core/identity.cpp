// Loading and using the node key; the only place the private key is read or held.
#include "identity.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace mh::core {

Identity::Identity(const PrivateKey& key)
    : private_key_(key), public_key_(public_key_of(key)), address_(address_of(public_key_)) {}

bool Identity::dh(const PublicKey& remote, SharedSecret* out) const {
  return compute_shared_secret(private_key_, remote, out);
}

namespace {

std::string trim(std::string text) {
  const char* space = " \t\r\n";
  auto begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return {};
  auto end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

std::string mode_text(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

}  // namespace

std::optional<PrivateKey> load_private_key(const HostConfig& config, ConfigErrors& errors) {
  std::string hex;
  std::string path = "privateKey";
  if (config.private_key_hex) {
    hex = *config.private_key_hex;
  } else if (config.private_key_file) {
    path = "privateKeyFile";
    const std::string& file = *config.private_key_file;
    // Check and read the same open file, so it cannot be swapped in between.
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      errors.add(path, "a readable key file", "\"" + file + "\": " + std::strerror(errno));
      return std::nullopt;
    }
    struct stat st {};
    std::string problem;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      problem = "\"" + file + "\", which is not a regular file";
    else if ((st.st_mode & 077) != 0)
      problem = "\"" + file + "\" with mode " + mode_text(st.st_mode);
    else if (st.st_uid != 0 && st.st_uid != ::geteuid())
      problem = "\"" + file + "\" owned by uid " + std::to_string(st.st_uid);
    if (!problem.empty()) {
      ::close(fd);
      errors.add(path, "a key file with mode 0600 (readable by its owner only), owned by root or this user", problem);
      return std::nullopt;
    }
    char buffer[256];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    ::close(fd);
    if (n < 0) {
      errors.add(path, "a readable key file", "\"" + file + "\": " + std::strerror(errno));
      return std::nullopt;
    }
    hex = trim(std::string(buffer, static_cast<std::size_t>(n)));
    sodium_memzero(buffer, sizeof buffer);
  } else {
    return std::nullopt;  // parse_config already reported the missing key
  }

  auto key = parse_private_key_hex(hex);
  sodium_memzero(hex.data(), hex.size());
  if (!key) {
    // Never echo key material, even malformed.
    errors.add(path, "64 hexadecimal characters", std::to_string(hex.size()) + " characters that are not a key");
    return std::nullopt;
  }
  PublicKey public_key = public_key_of(*key);
  Address address = address_of(public_key);
  if (address.bytes[0] != 0xfc) {
    errors.add(path, "a key whose address is in fc00::/8", "one whose address is " + format_address(address));
    return std::nullopt;
  }
  if (config.public_key) {
    auto given = parse_public_key(*config.public_key);
    if (!given || std::memcmp(given->bytes, public_key.bytes, kPublicKeySize) != 0)
      errors.add("publicKey", "the private key's public key " + format_public_key(public_key),
                 "\"" + *config.public_key + "\"");
  }
  if (config.ipv6) {
    auto given = parse_address(*config.ipv6);
    if (!given || std::memcmp(given->bytes, address.bytes, kAddressSize) != 0)
      errors.add("ipv6", "the private key's address " + format_address(address), "\"" + *config.ipv6 + "\"");
  }
  return key;
}

}  // namespace mh::core
