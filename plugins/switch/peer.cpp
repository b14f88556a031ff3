// Names of peer states, for admin output and logs.
#include "peer.hpp"

namespace mh::sw {

const char* to_string(PeerState state) noexcept {
  switch (state) {
    case PeerState::handshaking: return "handshaking";
    case PeerState::established: return "established";
    case PeerState::unresponsive: return "unresponsive";
    case PeerState::gone: return "gone";
  }
  return "unknown";
}

}  // namespace mh::sw
