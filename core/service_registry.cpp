// The service registry's map; ownership of each service stays with its plugin.
#include "service_registry.hpp"

namespace mh::core {

bool ServiceRegistry::provide(const std::string& name, const std::string& owner, Service* service) {
  if (service == nullptr || name.empty()) return false;
  return services_.emplace(name, Entry{owner, service}).second;
}

Service* ServiceRegistry::lookup(const std::string& name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.service;
}

std::vector<std::pair<const std::string*, Service*>> ServiceRegistry::lookup_prefix(
    const std::string& prefix) const {
  std::vector<std::pair<const std::string*, Service*>> found;
  for (auto it = services_.lower_bound(prefix); it != services_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it)
    found.emplace_back(&it->first, it->second.service);
  return found;
}

void ServiceRegistry::remove_owner(const std::string& owner) {
  for (auto it = services_.begin(); it != services_.end();) it = it->second.owner == owner ? services_.erase(it) : std::next(it);
}

}  // namespace mh::core
