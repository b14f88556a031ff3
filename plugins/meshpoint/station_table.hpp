// The stations of one mesh point interface as meshpoint last read them: each one's latest
// figures, their smoothed cost (RadioCost), and which stations vanished since the last
// dump. Pure: a dump in, what changed out, so unit tests drive it with plain structs.
#pragma once

#include "nl80211.hpp"
#include "radio_cost.hpp"

#include <cstddef>
#include <vector>

namespace mh::meshpoint {

struct Station {
  StationInfo info;  // the latest dump's entry
  RadioCost cost;
};

class StationTable {
 public:
  // Takes one station dump: stations seen before get a new sample, new ones an entry,
  // and the MACs of those missing from it go to *vanished (cleared first) and are
  // forgotten. Throws only std::bad_alloc.
  void update(const std::vector<StationInfo>& dump, std::vector<ether::MacAddress>* vanished);
  // Forgets every station (the interface went down), listing them in *vanished.
  void clear(std::vector<ether::MacAddress>* vanished);

  const std::vector<Station>& stations() const noexcept { return stations_; }
  const Station* find(const ether::MacAddress& mac) const noexcept;

 private:
  // A mesh has tens of stations at most: a vector scanned by MAC is enough.
  std::vector<Station> stations_;
};

}  // namespace mh::meshpoint
