// Services plugins offer each other by well-known name (DESIGN §2). Plugins never reach
// for each other by symbol; they meet here.
#pragma once

#include <meshhost/host.hpp>

#include <map>
#include <string>
#include <vector>

namespace mh::core {

class ServiceRegistry {
 public:
  // False when another plugin already provides `name`.
  bool provide(const std::string& name, const std::string& owner, Service* service);
  Service* lookup(const std::string& name) const;
  // Every (name, service) whose name starts with `prefix`, sorted by name. The names point
  // into the registry and stay valid while their service is registered.
  std::vector<std::pair<const std::string*, Service*>> lookup_prefix(const std::string& prefix) const;
  void remove_owner(const std::string& owner);

 private:
  struct Entry {
    std::string owner;
    Service* service;
  };
  std::map<std::string, Entry> services_;
};

}  // namespace mh::core
