// libFuzzer target for what the switch parses above the link: the mesh header
// (plugins/switch/mesh_header.hpp) and the control protocol's echoes and error reports
// (control.hpp), and the outer header of 0x05 frames (hop_headers.hpp). Parsers must never read out of bounds, every view must lie inside the
// input, and what parses must write back to the same bytes.
#include "control.hpp"
#include "hop_headers.hpp"
#include "mesh_header.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

using namespace mh::sw;

bool inside(ByteView view, const std::uint8_t* data, std::size_t size) {
  return view.empty() || (view.data() >= data && view.data() + view.size() <= data + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  MeshHeader header;
  if (parse_mesh_header(input, &header) == MeshHeaderError::ok) {
    std::uint8_t written[mh::kMeshHeaderSize];
    write_mesh_header(written, header);
    if (std::memcmp(written, data, mh::kMeshHeaderSize) != 0) __builtin_trap();
  }
  if (const auto echo = parse_echo(input)) {
    if (!inside(echo->data, data, size) || echo->data.size() + kEchoHeaderSize != size) __builtin_trap();
  }
  if (const auto error = parse_error(input)) {
    if (!inside(error->quote, data, size) || error->quote.size() > kErrorQuoteMax || !is_control_error(input))
      __builtin_trap();
    // An error about this input, quoted back, parses to the same header.
    std::uint8_t out[kErrorMaxSize];
    const std::size_t n = write_error(out, error->kind, error->mtu, input.subspan(kErrorFixedSize));
    const auto again = parse_error(ByteView(out, n));
    if (!again || again->mtu != error->mtu || again->original.protocol != error->original.protocol) __builtin_trap();
  }
  if (const auto frame = parse_headers_frame(input)) {
    // The encrypted part and the tag lie inside the frame.
    if (kHeadersOuterSize + frame->encrypted_size + mh::noise::kTagSize > size || frame->encrypted_size == 0)
      __builtin_trap();
    // Opening with a zero key never succeeds on junk, and never reads outside the frame.
    std::uint8_t copy[2048];
    if (size <= sizeof copy) {
      std::memcpy(copy, data, size);
      (void)headers_open(HeadersKey{}, frame->counter, MutableByteView(copy, size), frame->encrypted_size);
    }
  }
  return 0;
}
