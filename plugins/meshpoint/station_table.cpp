// The stations of a mesh point interface: see station_table.hpp.
#include "station_table.hpp"

#include <algorithm>

namespace mh::meshpoint {

void StationTable::update(const std::vector<StationInfo>& dump, std::vector<ether::MacAddress>* vanished) {
  vanished->clear();
  std::vector<Station> next;
  next.reserve(dump.size());
  for (const StationInfo& info : dump) {
    // A dump lists each station once; a repeat (which the kernel does not send) is ignored.
    if (std::any_of(next.begin(), next.end(), [&](const Station& s) { return s.info.mac == info.mac; })) continue;
    const auto known = std::find_if(stations_.begin(), stations_.end(), [&](const Station& s) { return s.info.mac == info.mac; });
    Station station = known != stations_.end() ? *known : Station{};
    station.info = info;
    station.cost.on_sample(info.figures);
    next.push_back(station);
  }
  for (const Station& old : stations_) {
    if (std::none_of(next.begin(), next.end(), [&](const Station& s) { return s.info.mac == old.info.mac; })) {
      vanished->push_back(old.info.mac);
    }
  }
  stations_ = std::move(next);
}

void StationTable::clear(std::vector<ether::MacAddress>* vanished) {
  vanished->clear();
  for (const Station& station : stations_) vanished->push_back(station.info.mac);
  stations_.clear();
}

const Station* StationTable::find(const ether::MacAddress& mac) const noexcept {
  const auto it = std::find_if(stations_.begin(), stations_.end(), [&](const Station& s) { return s.info.mac == mac; });
  return it == stations_.end() ? nullptr : &*it;
}

}  // namespace mh::meshpoint
