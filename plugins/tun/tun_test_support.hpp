// Test code only: a fake Sessions (the service tun requires) that records what is sent and
// delivers what a test hands it, and IPv6/UDP packets built with a checksum computed here,
// independently of ipv6.cpp.
#pragma once

#include <meshhost/host.hpp>
#include <meshhost/mesh.hpp>
#include <meshhost/packet_pool.hpp>
#include <meshhost/sessions.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <cstring>
#include <string>
#include <vector>

namespace mh::tun::fakes {

using Bytes = std::vector<std::uint8_t>;

inline Address address_with(std::uint8_t first, std::uint8_t last) {
  Address a;
  a.bytes[0] = first;
  a.bytes[1] = 0x12;
  a.bytes[15] = last;
  return a;
}

// The Internet checksum as RFC 1071 describes it, over an explicit pseudo-header buffer.
inline std::uint16_t reference_checksum(const Address& source, const Address& destination, std::uint8_t next_header,
                                        const Bytes& message) {
  Bytes all(40 + message.size() + 1, 0);  // pseudo-header, message, a pad byte
  std::copy(source.bytes, source.bytes + 16, all.begin());
  std::copy(destination.bytes, destination.bytes + 16, all.begin() + 16);
  const std::uint32_t length = static_cast<std::uint32_t>(message.size());
  for (std::size_t i = 0; i < 4; ++i) all[32 + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
  all[39] = next_header;
  std::copy(message.begin(), message.end(), all.begin() + 40);
  if (all.size() % 2 != 0) all.pop_back();  // the pad byte was needed only for an odd message
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < all.size(); i += 2) sum += (std::uint64_t{all[i]} << 8) | all[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

// An IPv6 packet carrying UDP from source:sport to destination:dport, checksummed.
inline Bytes udp6(const Address& source, const Address& destination, std::uint16_t sport, std::uint16_t dport,
                  const Bytes& payload, std::uint8_t hop_limit = 64) {
  const std::size_t udp_size = 8 + payload.size();
  Bytes udp(udp_size, 0);
  const std::uint16_t header[4] = {sport, dport, static_cast<std::uint16_t>(udp_size), 0};
  for (std::size_t i = 0; i < 4; ++i) {
    udp[2 * i] = static_cast<std::uint8_t>(header[i] >> 8);
    udp[2 * i + 1] = static_cast<std::uint8_t>(header[i]);
  }
  std::copy(payload.begin(), payload.end(), udp.begin() + 8);
  std::uint16_t sum = reference_checksum(source, destination, 17, udp);
  if (sum == 0) sum = 0xffff;
  udp[6] = static_cast<std::uint8_t>(sum >> 8);
  udp[7] = static_cast<std::uint8_t>(sum);
  Bytes packet(40 + udp_size, 0);
  packet[0] = 0x60;
  packet[4] = static_cast<std::uint8_t>(udp_size >> 8);
  packet[5] = static_cast<std::uint8_t>(udp_size);
  packet[6] = 17;
  packet[7] = hop_limit;
  std::copy(source.bytes, source.bytes + 16, packet.begin() + 8);
  std::copy(destination.bytes, destination.bytes + 16, packet.begin() + 24);
  std::copy(udp.begin(), udp.end(), packet.begin() + 40);
  return packet;
}

// A UDP packet whose whole IPv6 size is `size` (at least 48).
inline Bytes udp6_of_size(const Address& source, const Address& destination, std::size_t size) {
  return udp6(source, destination, 1000, 2000, Bytes(size - 48, 0xab));
}

class FakeSessions final : public Sessions, public Service {
 public:
  struct Sent {
    Address destination;
    std::uint16_t protocol = 0;
    std::vector<Bytes> packets;
    std::uint32_t min_headroom = 0;
  };

  explicit FakeSessions(std::uint32_t pool_packets = 256)
      : pool_(pool_packets, FixedPacketPool::kDefaultBufferSize, kSessionHeadroom) {}

  // ---- Service ----
  void* query(InterfaceId id) noexcept override {
    return id == kSessionsInterface ? static_cast<Sessions*>(this) : nullptr;
  }

  // ---- Sessions ----
  Status register_protocol(std::uint16_t protocol, SessionReceiver* receiver) noexcept override {
    if (protocol != kProtocolTun) return Status::error(StatusCode::invalid_argument, "fake: tun only");
    if (receiver_ != nullptr) return Status::error(StatusCode::already_exists, "fake: taken");
    receiver_ = receiver;
    return Status::success();
  }
  void unregister_protocol(std::uint16_t protocol) noexcept override {
    if (protocol == kProtocolTun) receiver_ = nullptr;
  }
  std::size_t send_to_key(const PublicKey&, std::uint16_t, Packet* const* packets, std::size_t count) noexcept override {
    for (std::size_t i = 0; i < count; ++i) packets[i]->release();
    return 0;
  }
  std::size_t send_to_address(const Address& address, std::uint16_t protocol, Packet* const* packets,
                              std::size_t count) noexcept override {
    if (refuse_with) {
      for (std::size_t i = 0; i < count; ++i) packets[i]->release();
      if (receiver_ != nullptr) {
        SessionError error;
        error.kind = *refuse_with;
        error.destination = address;
        error.protocol = protocol;
        receiver_->on_session_error(error);
      }
      return 0;
    }
    Sent sent;
    sent.destination = address;
    sent.protocol = protocol;
    sent.min_headroom = UINT32_MAX;
    for (std::size_t i = 0; i < count; ++i) {
      sent.packets.emplace_back(packets[i]->data(), packets[i]->data() + packets[i]->length);
      sent.min_headroom = std::min(sent.min_headroom, packets[i]->headroom());
      packets[i]->release();
    }
    this->sent.push_back(std::move(sent));
    return count;
  }
  PacketPool* pool() noexcept override { return &pool_; }
  std::uint32_t max_payload(const Address&) noexcept override { return max_payload_bytes; }

  // ---- test controls ----

  // Hands `packets` to the receiver as if they came from the session with `from`.
  void deliver(const SessionPeer& from, const std::vector<Bytes>& packets) {
    std::vector<Packet*> out;
    for (const Bytes& bytes : packets) {
      Packet* p = pool_.acquire();
      std::memcpy(p->append(static_cast<std::uint32_t>(bytes.size())), bytes.data(), bytes.size());
      out.push_back(p);
    }
    receiver_->on_session_receive(from, out.data(), out.size());
  }
  void report(SessionError error) { receiver_->on_session_error(error); }

  SessionReceiver* receiver() const noexcept { return receiver_; }
  FixedPacketPool& fixed_pool() noexcept { return pool_; }

  std::vector<Sent> sent;
  std::uint32_t max_payload_bytes = 1280;
  std::optional<SessionError::Kind> refuse_with;  // set: every send fails with it

 private:
  FixedPacketPool pool_;
  SessionReceiver* receiver_ = nullptr;
};

}  // namespace mh::tun::fakes
