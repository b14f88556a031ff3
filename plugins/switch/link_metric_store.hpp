// What link metric sources (<meshhost/link_metrics.hpp>) said of each path, by link name and
// endpoint, kept whether or not the peer table knows the path yet — so a metric reported
// before its neighbour handshakes applies when the path appears. Pure data.
#pragma once

#include <meshhost/link_metrics.hpp>
#include <meshhost/packet.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mh::sw {

// Byte-equal endpoints: same kind, size and bytes.
bool same_endpoint(const Endpoint& a, const Endpoint& b) noexcept;

class LinkMetricStore {
 public:
  // Paths one source may name at once; past it the source's least recently reported path
  // is forgotten (a radio has far fewer stations).
  static constexpr std::size_t kMaxPerSource = 256;

  struct Entry {
    std::uint32_t source = 0;
    std::string link;  // Link::name()
    Endpoint endpoint;
    LinkMetric metric;
    std::uint64_t sequence = 0;  // when it was last reported: higher is newer
  };
  struct PathKey {
    std::string link;
    Endpoint endpoint;
  };

  // `source` says `metric` of the path. Returns the path forgotten to make room, if any.
  // Throws std::bad_alloc.
  std::optional<PathKey> set(std::uint32_t source, std::string_view link, const Endpoint& endpoint,
                             const LinkMetric& metric);
  // False when `source` had said nothing of the path.
  bool forget(std::uint32_t source, std::string_view link, const Endpoint& endpoint) noexcept;
  // Forgets one path `source` named and returns it; nullopt when it named none (call until
  // then to forget all it said).
  std::optional<PathKey> forget_one(std::uint32_t source) noexcept;

  // The metric that applies to the path: the most recently reported one when several
  // sources name it; nullptr when none does.
  const Entry* find(std::string_view link, const Endpoint& endpoint) const noexcept;

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t count(std::uint32_t source) const noexcept;

 private:
  std::vector<Entry> entries_;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace mh::sw
