// session.list: the session table as `meshctl sessions` shows it.
#include "session.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

namespace mh::session {

// params: none. result: [{address, publicKey, state, role, ageSeconds, idleSeconds,
// packetsIn, packetsOut, bytesIn, bytesOut, queued}], one per remote key. ageSeconds is the
// age of the session in use (of the entry while still handshaking); idleSeconds the time
// since data last went either way.
Status SessionPlugin::call(Str, StringSink* result) noexcept {
  try {
    const std::uint64_t now = host_->loop()->now_ns();
    auto seconds = [&](std::uint64_t then) { return now > then ? static_cast<double>(now - then) / 1e9 : 0.0; };
    nlohmann::json sessions = nlohmann::json::array();
    for (const auto& r : table_->remotes()) {
      const bool established = r->current.live();
      // The role of the session in use; while handshaking, whether we initiated.
      const bool initiator = established ? r->current.initiator : r->attempting || !r->next.live();
      sessions.push_back({{"address", format_address(r->peer.address)},
                          {"publicKey", format_public_key(r->peer.key)},
                          {"state", established ? "established" : "handshaking"},
                          {"role", initiator ? "initiator" : "responder"},
                          {"ageSeconds", seconds(established ? r->current.created_ns : r->created_ns)},
                          {"idleSeconds", seconds(r->last_data_ns)},
                          {"packetsIn", r->packets_in},
                          {"packetsOut", r->packets_out},
                          {"bytesIn", r->bytes_in},
                          {"bytesOut", r->bytes_out},
                          {"queued", r->queued}});
    }
    const std::string text = sessions.dump();
    result->append(Str::of(text));
    return Status::success();
  } catch (const std::exception&) {
    return host_->fail(StatusCode::internal, "session.list: out of memory");
  }
}

}  // namespace mh::session
