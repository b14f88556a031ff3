// Link metrics by path, bounded per source.
#include "link_metric_store.hpp"

#include <algorithm>
#include <cstring>

namespace mh::sw {

bool same_endpoint(const Endpoint& a, const Endpoint& b) noexcept {
  return a.kind == b.kind && a.size == b.size &&
         std::memcmp(a.bytes, b.bytes, std::min<std::size_t>(a.size, Endpoint::kMaxSize)) == 0;
}

std::optional<LinkMetricStore::PathKey> LinkMetricStore::set(std::uint32_t source, std::string_view link,
                                                             const Endpoint& endpoint, const LinkMetric& metric) {
  for (Entry& e : entries_) {
    if (e.source == source && e.link == link && same_endpoint(e.endpoint, endpoint)) {
      e.metric = metric;
      e.sequence = next_sequence_++;
      return std::nullopt;
    }
  }
  // Everything that can throw comes before anything changes.
  Entry fresh{source, std::string(link), endpoint, metric, 0};
  entries_.reserve(entries_.size() + 1);
  std::optional<PathKey> dropped;
  if (count(source) >= kMaxPerSource) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->source == source && (oldest == entries_.end() || it->sequence < oldest->sequence)) oldest = it;
    dropped = PathKey{std::move(oldest->link), oldest->endpoint};
    entries_.erase(oldest);
  }
  fresh.sequence = next_sequence_++;
  entries_.push_back(std::move(fresh));
  return dropped;
}

bool LinkMetricStore::forget(std::uint32_t source, std::string_view link, const Endpoint& endpoint) noexcept {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.source == source && e.link == link && same_endpoint(e.endpoint, endpoint);
  });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

std::optional<LinkMetricStore::PathKey> LinkMetricStore::forget_one(std::uint32_t source) noexcept {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.source == source; });
  if (it == entries_.end()) return std::nullopt;
  PathKey key{std::move(it->link), it->endpoint};
  entries_.erase(it);
  return key;
}

const LinkMetricStore::Entry* LinkMetricStore::find(std::string_view link, const Endpoint& endpoint) const noexcept {
  const Entry* newest = nullptr;
  for (const Entry& e : entries_)
    if (e.link == link && same_endpoint(e.endpoint, endpoint) && (newest == nullptr || e.sequence > newest->sequence))
      newest = &e;
  return newest;
}

std::size_t LinkMetricStore::count(std::uint32_t source) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.source == source; }));
}

}  // namespace mh::sw
