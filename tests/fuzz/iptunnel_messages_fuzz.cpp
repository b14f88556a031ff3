// libFuzzer target for iptunnel's wire format (plugins/iptunnel/iptunnel_messages.hpp):
// every input is parsed as a session payload on protocol 0x0005. Nothing may read out of
// bounds, and every control message that parses must be written back byte for byte (the
// encoding is canonical), and IP data must borrow exactly the bytes after its header.
#include "iptunnel_messages.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

using namespace mh::iptunnel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Message m;
  if (parse_message(mh::ByteSpan{data, size}, &m) != ParseError::ok) return 0;
  std::uint8_t out[kMaxControlSize];
  const mh::MutableByteSpan span{out, sizeof out};
  std::size_t n = 0;
  switch (m.type) {
    case MessageType::lease_request:
    case MessageType::renew:
    case MessageType::release:
    case MessageType::probe:
    case MessageType::probe_reply:
      n = write_control(m.type, m.control, span);
      break;
    case MessageType::grant:
      n = write_grant(m.grant, span);
      break;
    case MessageType::denial:
      n = write_denial(m.denial, span);
      break;
    case MessageType::account_request:
      n = write_account_request(m.account_nonce, span);
      break;
    case MessageType::account_report:
    case MessageType::account_notice:
      n = write_account(m.type, m.account, span);
      break;
    case MessageType::ip_data: {
      if (m.packet.data != data + kIpDataHeaderSize || m.packet.size != size - kIpDataHeaderSize) __builtin_trap();
      IpAddress source;
      if (!packet_source(m.packet, &source)) __builtin_trap();
      return 0;
    }
  }
  if (n != size || std::memcmp(out, data, size) != 0) __builtin_trap();
  return 0;
}
