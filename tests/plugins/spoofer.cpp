// A misbehaving node for the mesh scenarios: answers "spoofer.send" by sending IPv6/UDP
// packets to a node's tun through an end-to-end session, with whatever inner source
// address the test names — including another node's, which the receiving tun must drop
// (DESIGN §4: a packet from the session with key K is delivered only if its source is
// addr(K)). params {"to": "fc..", "source": "fc..", "count": n} → {"accepted": n}.
// "spoofer.iptunnel" sends iptunnel IP data (protocol 0x0005) to a key without asking for
// a lease: an IPv4 or IPv6 UDP datagram with any source and destination, for the gateway
// and client checks of DESIGN §4. params {"toKey": "….k", "source": ip, "destination": ip,
// "port": n, "count": n} → {"accepted": n}.
#include <meshhost/keys.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/plugin.hpp>
#include <meshhost/sessions.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <new>
#include <string>

namespace {

constexpr std::size_t kIpv6HeaderSize = 40;
constexpr std::size_t kUdpHeaderSize = 8;
constexpr char kPayload[] = "spoofer test datagram";

// Finds `"name": "text"` in a flat JSON object; enough for this test plugin's params.
bool string_param(mh::Str json, const char* name, std::string* out) {
  const std::string text(json.data, json.size), key = std::string("\"") + name + "\"";
  const auto at = text.find(key);
  if (at == std::string::npos) return false;
  const auto open = text.find('"', text.find(':', at + key.size()));
  const auto close = open == std::string::npos ? open : text.find('"', open + 1);
  if (close == std::string::npos) return false;
  *out = text.substr(open + 1, close - open - 1);
  return true;
}

long number_param(mh::Str json, const char* name, long fallback) {
  const std::string text(json.data, json.size), key = std::string("\"") + name + "\"";
  const auto at = text.find(key);
  if (at == std::string::npos) return fallback;
  return std::strtol(text.c_str() + text.find(':', at + key.size()) + 1, nullptr, 10);
}

class Spoofer final : public mh::Plugin, mh::AdminHandler, mh::SessionReceiver {
 public:
  explicit Spoofer(mh::Host* host) noexcept : host_(host) {}

  mh::Status init() noexcept {
    if (const mh::Status s = host_->register_admin_method("spoofer.iptunnel", &iptunnel_); !s.ok()) return s;
    return host_->register_admin_method("spoofer.send", this);
  }

  mh::Status start() noexcept override {
    mh::Service* service = host_->lookup("sessions");
    sessions_ = service == nullptr ? nullptr : static_cast<mh::Sessions*>(service->query(mh::kSessionsInterface));
    if (sessions_ == nullptr) return mh::Status::error(mh::StatusCode::unavailable, "spoofer: no sessions service");
    return mh::Status::success();
  }
  void stop() noexcept override {}
  mh::ReconfigureResult reconfigure(mh::Str, mh::ErrorSink*) noexcept override { return mh::ReconfigureResult::applied; }
  void* query(mh::InterfaceId) noexcept override { return nullptr; }

  mh::Status call(mh::Str params, mh::StringSink* result) noexcept override {
    std::string to_text, source_text;
    mh::Address to, source;
    if (!string_param(params, "to", &to_text) || !string_param(params, "source", &source_text) ||
        inet_pton(AF_INET6, to_text.c_str(), to.bytes) != 1 || inet_pton(AF_INET6, source_text.c_str(), source.bytes) != 1) {
      return mh::Status::error(mh::StatusCode::invalid_argument, "spoofer.send: expected {\"to\": addr, \"source\": addr}");
    }
    const long count = number_param(params, "count", 1);
    std::size_t accepted = 0;
    for (long i = 0; i < count && i < 1000; ++i) {
      mh::Packet* p = sessions_->pool()->acquire();
      if (p == nullptr) break;
      if (!write_datagram(p, source, to)) {
        p->release();
        break;
      }
      accepted += sessions_->send_to_address(to, mh::kProtocolTun, &p, 1);
    }
    const std::string json = "{\"accepted\":" + std::to_string(accepted) + "}";
    result->append(mh::Str::of(json));
    return mh::Status::success();
  }

  // Nothing comes back to this plugin: it registers no protocol.
  void on_session_receive(const mh::SessionPeer&, mh::Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) packets[i]->release();
  }
  void on_session_error(const mh::SessionError&) noexcept override {}

 private:
  // An IPv6/UDP datagram from source to destination, port 9 (discard) on both sides.
  // False when the packet has no room for it.
  static bool write_datagram(mh::Packet* p, const mh::Address& source, const mh::Address& destination) {
    const std::size_t payload = sizeof kPayload - 1;
    const std::size_t udp_length = kUdpHeaderSize + payload;
    std::uint8_t* at = p->append(static_cast<std::uint32_t>(kIpv6HeaderSize + udp_length));
    if (at == nullptr) return false;
    std::memset(at, 0, kIpv6HeaderSize + kUdpHeaderSize);
    at[0] = 0x60;
    at[4] = static_cast<std::uint8_t>(udp_length >> 8);
    at[5] = static_cast<std::uint8_t>(udp_length);
    at[6] = 17;  // UDP
    at[7] = 64;  // hop limit
    std::memcpy(at + 8, source.bytes, 16);
    std::memcpy(at + 24, destination.bytes, 16);
    std::uint8_t* udp = at + kIpv6HeaderSize;
    udp[1] = 9;
    udp[3] = 9;
    udp[4] = static_cast<std::uint8_t>(udp_length >> 8);
    udp[5] = static_cast<std::uint8_t>(udp_length);
    std::memcpy(udp + kUdpHeaderSize, kPayload, payload);
    // The UDP checksum over the pseudo-header (RFC 8200 §8.1), so only the source check
    // can be why a receiver drops it.
    std::uint32_t sum = 17 + udp_length;
    for (std::size_t i = 8; i < 40; i += 2) sum += (at[i] << 8) | at[i + 1];
    for (std::size_t i = 0; i < udp_length; i += 2) sum += (udp[i] << 8) | (i + 1 < udp_length ? udp[i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    std::uint16_t checksum = static_cast<std::uint16_t>(~sum);
    if (checksum == 0) checksum = 0xffff;
    udp[6] = static_cast<std::uint8_t>(checksum >> 8);
    udp[7] = static_cast<std::uint8_t>(checksum);
    return true;
  }

  // spoofer.iptunnel
  struct Iptunnel final : mh::AdminHandler {
    explicit Iptunnel(Spoofer* s) : self(s) {}
    mh::Status call(mh::Str params, mh::StringSink* result) noexcept override { return self->send_iptunnel(params, result); }
    Spoofer* self;
  };

  mh::Status send_iptunnel(mh::Str params, mh::StringSink* result) noexcept {
    std::string key_text, source_text, destination_text;
    if (!string_param(params, "toKey", &key_text) || !string_param(params, "source", &source_text) ||
        !string_param(params, "destination", &destination_text)) {
      return mh::Status::error(mh::StatusCode::invalid_argument,
                               "spoofer.iptunnel: expected {\"toKey\": key, \"source\": ip, \"destination\": ip}");
    }
    const auto key = mh::parse_public_key(key_text);
    const bool ip6 = source_text.find(':') != std::string::npos;
    std::uint8_t source[16] = {}, destination[16] = {};
    if (!key || inet_pton(ip6 ? AF_INET6 : AF_INET, source_text.c_str(), source) != 1 ||
        inet_pton(ip6 ? AF_INET6 : AF_INET, destination_text.c_str(), destination) != 1) {
      return mh::Status::error(mh::StatusCode::invalid_argument, "spoofer.iptunnel: bad key or address");
    }
    const auto port = static_cast<std::uint16_t>(number_param(params, "port", 9));
    const long count = number_param(params, "count", 1);
    std::size_t accepted = 0;
    for (long i = 0; i < count && i < 1000; ++i) {
      mh::Packet* p = sessions_->pool()->acquire();
      if (p == nullptr) break;
      std::uint8_t* header = p->append(2);
      header[0] = 1;     // iptunnel version
      header[1] = 0x10;  // IP data
      if (!(ip6 ? write_ip6_udp(p, source, destination, port) : write_ip4_udp(p, source, destination, port))) {
        p->release();
        break;
      }
      accepted += sessions_->send_to_key(*key, mh::kProtocolIptunnel, &p, 1);
    }
    const std::string json = "{\"accepted\":" + std::to_string(accepted) + "}";
    result->append(mh::Str::of(json));
    return mh::Status::success();
  }

  static std::uint16_t fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
  }

  // An IPv4/UDP datagram (header checksum set, UDP checksum 0: allowed over IPv4).
  static bool write_ip4_udp(mh::Packet* p, const std::uint8_t* source, const std::uint8_t* destination,
                            std::uint16_t port) {
    constexpr std::size_t kIp4Header = 20;
    const std::size_t payload = sizeof kPayload - 1;
    const std::size_t total = kIp4Header + kUdpHeaderSize + payload;
    std::uint8_t* at = p->append(static_cast<std::uint32_t>(total));
    if (at == nullptr) return false;
    std::memset(at, 0, kIp4Header + kUdpHeaderSize);
    at[0] = 0x45;
    at[2] = static_cast<std::uint8_t>(total >> 8);
    at[3] = static_cast<std::uint8_t>(total);
    at[8] = 64;  // TTL
    at[9] = 17;  // UDP
    std::memcpy(at + 12, source, 4);
    std::memcpy(at + 16, destination, 4);
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < kIp4Header; i += 2) sum += (at[i] << 8) | at[i + 1];
    const std::uint16_t checksum = fold(sum);
    at[10] = static_cast<std::uint8_t>(checksum >> 8);
    at[11] = static_cast<std::uint8_t>(checksum);
    std::uint8_t* udp = at + kIp4Header;
    udp[0] = static_cast<std::uint8_t>(port >> 8);
    udp[1] = static_cast<std::uint8_t>(port);
    udp[2] = static_cast<std::uint8_t>(port >> 8);
    udp[3] = static_cast<std::uint8_t>(port);
    udp[4] = static_cast<std::uint8_t>((kUdpHeaderSize + payload) >> 8);
    udp[5] = static_cast<std::uint8_t>(kUdpHeaderSize + payload);
    std::memcpy(udp + kUdpHeaderSize, kPayload, payload);
    return true;
  }

  static bool write_ip6_udp(mh::Packet* p, const std::uint8_t* source, const std::uint8_t* destination,
                            std::uint16_t port) {
    mh::Address s, d;
    std::memcpy(s.bytes, source, 16);
    std::memcpy(d.bytes, destination, 16);
    if (!write_datagram(p, s, d)) return false;
    std::uint8_t* udp = p->data() + p->length - (sizeof kPayload - 1) - kUdpHeaderSize;
    // Ports other than 9: the checksum changes by the difference (RFC 1624).
    if (port != 9) {
      std::uint32_t sum = static_cast<std::uint16_t>(~((udp[6] << 8) | udp[7]));
      sum += 2u * (0xffffu - 9u) + 2u * port;
      std::uint16_t checksum = fold(sum);
      if (checksum == 0) checksum = 0xffff;
      udp[0] = udp[2] = static_cast<std::uint8_t>(port >> 8);
      udp[1] = udp[3] = static_cast<std::uint8_t>(port);
      udp[6] = static_cast<std::uint8_t>(checksum >> 8);
      udp[7] = static_cast<std::uint8_t>(checksum);
    }
    return true;
  }

  mh::Host* host_;
  mh::Sessions* sessions_ = nullptr;
  Iptunnel iptunnel_{this};
};

void validate(mh::Str, mh::ErrorSink*) noexcept {}

mh::Status create(mh::Host* host, mh::Str, mh::Plugin** out) noexcept {
  auto* plugin = new (std::nothrow) Spoofer(host);
  if (plugin == nullptr) return mh::Status::error(mh::StatusCode::internal, "spoofer: out of memory");
  if (const mh::Status s = plugin->init(); !s.ok()) {
    delete plugin;
    return s;
  }
  *out = plugin;
  return mh::Status::success();
}

void destroy(mh::Plugin* plugin) noexcept { delete static_cast<Spoofer*>(plugin); }

constexpr mh::Str kRequired[] = {"sessions"};
constexpr mh::PluginDescriptor kDescriptor = {
    sizeof(mh::PluginDescriptor), MESHHOST_ABI_MAJOR, MESHHOST_ABI_MINOR, "spoofer", "0.1.0",
    "test only: sends IPv6 with any inner source through a session", "test", nullptr, 0, kRequired, 1, "{}",
    mh::Stability::experimental, validate, create, destroy};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
