// The two rtnetlink changes meshpoint makes to its interface — up before joining the
// mesh, down again at stop if it was down before — through libnl-route-3, as tun and
// iptunnel configure theirs (they keep their own, richer helpers: tun sets an MTU and an
// address in the same request, iptunnel batches its changes).
#pragma once

#include <cstdint>
#include <string>

namespace mh::meshpoint {

// Whether the interface is administratively up (IFF_UP); "" or the error naming it.
std::string interface_is_up(const std::string& name, std::uint32_t ifindex, bool* up);
// Sets IFF_UP (or clears it); "" or "<name>: bringing it up: <libnl's reason>".
std::string set_interface_up(const std::string& name, std::uint32_t ifindex, bool up);

}  // namespace mh::meshpoint
