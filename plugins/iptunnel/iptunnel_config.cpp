// Reading the iptunnel config object (cjdns's ipTunnel names, DESIGN §6).
#include "iptunnel_config.hpp"

#include "iptunnel_messages.hpp"

#include <link_driver_config.hpp>
#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

namespace mh::iptunnel {

namespace {

using nlohmann::json;
using link_common::describe_found;

void report(ErrorSink* errors, const std::string& path, const std::string& expected, const std::string& found) {
  errors->error(Str::of(path), Str::of(expected), Str::of(found));
}

template <std::size_t N>
bool is_one_of(const std::string& key, const char* const (&keys)[N]) {
  for (const char* k : keys) {
    if (key == k) return true;
  }
  return false;
}

bool same_key(const PublicKey& a, const PublicKey& b) { return std::memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0; }

std::optional<PublicKey> read_key(const json& value, const std::string& path, ErrorSink* errors) {
  if (value.is_string()) {
    auto key = parse_public_key(value.get<std::string>());
    if (key && is_valid_node_key(*key)) return key;
  }
  report(errors, path, "a node's public key (52 base32 characters and \".k\", address in fc00::/8)",
         describe_found(value));
  return std::nullopt;
}

// An integer in [lo, hi] at object[key], or `fallback` when absent; false (reported) if bad.
bool read_uint(const json& object, const std::string& key, const std::string& path, std::uint64_t lo, std::uint64_t hi,
               std::uint64_t* out, ErrorSink* errors) {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < lo || it->get<std::uint64_t>() > hi) {
    report(errors, path, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi), describe_found(*it));
    return false;
  }
  *out = it->get<std::uint64_t>();
  return true;
}

// ip4Address/ip4Prefix/ip4Alloc (or ip6…) of one allowedConnections entry.
bool read_family(const json& entry, Family family, const std::string& path, std::vector<PinnedAddress>* out,
                 ErrorSink* errors) {
  const std::string tag = family == Family::ip4 ? "ip4" : "ip6";
  const std::string family_name = family == Family::ip4 ? "an IPv4 address" : "an IPv6 address";
  const std::uint8_t full = max_length(family);
  auto address = entry.find(tag + "Address");
  if (address == entry.end()) {
    for (const char* suffix : {"Prefix", "Alloc"}) {
      if (entry.contains(tag + suffix)) {
        report(errors, path + "." + tag + suffix, tag + suffix + " only together with " + tag + "Address",
               "no " + tag + "Address");
        return false;
      }
    }
    return true;
  }
  std::optional<IpAddress> ip;
  if (address->is_string()) ip = parse_ip(address->get<std::string>(), family);
  if (!ip) {
    report(errors, path + "." + tag + "Address", family_name, describe_found(*address));
    return false;
  }
  std::uint64_t prefix = 0;
  std::uint64_t alloc = full;
  bool valid = read_uint(entry, tag + "Prefix", path + "." + tag + "Prefix", 0, full, &prefix, errors);
  valid = read_uint(entry, tag + "Alloc", path + "." + tag + "Alloc", 1, full, &alloc, errors) && valid;
  if (!valid) return false;
  if (prefix > alloc) {
    report(errors, path + "." + tag + "Prefix",
           "a route no narrower than the block (" + tag + "Prefix ≤ " + tag + "Alloc = " + std::to_string(alloc) + ")",
           std::to_string(prefix));
    return false;
  }
  out->push_back(PinnedAddress{IpBlock{*ip, static_cast<std::uint8_t>(alloc)}, static_cast<std::uint8_t>(prefix)});
  return true;
}

bool read_allowed(const json& list, IptunnelConfig* config, ErrorSink* errors) {
  if (!list.is_array()) {
    report(errors, "allowedConnections", "an array of {\"publicKey\": \"….k\", \"ip4Address\": …}", describe_found(list));
    return false;
  }
  static const char* const kKeys[] = {"publicKey", "ip4Address", "ip4Prefix", "ip4Alloc", "ip6Address",
                                      "ip6Prefix", "ip6Alloc", "plan"};
  bool valid = true;
  // Where each pinned block came from, for overlap messages.
  struct Source {
    std::size_t connection;
    std::string path;
  };
  std::vector<std::pair<IpBlock, Source>> blocks;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = "allowedConnections[" + std::to_string(i) + "]";
    const json& entry = list[i];
    if (!entry.is_object() || !entry.contains("publicKey")) {
      report(errors, path, "an object with \"publicKey\"", describe_found(entry));
      valid = false;
      continue;
    }
    bool entry_valid = true;
    for (const auto& [key, value] : entry.items()) {
      if (!is_one_of(key, kKeys)) {
        report(errors, path + "." + key,
               "publicKey, ip4Address, ip4Prefix, ip4Alloc, ip6Address, ip6Prefix, ip6Alloc or plan", "an unknown key");
        entry_valid = false;
      }
    }
    auto key = read_key(entry["publicKey"], path + ".publicKey", errors);
    std::vector<PinnedAddress> addresses;
    entry_valid = read_family(entry, Family::ip4, path, &addresses, errors) && entry_valid;
    entry_valid = read_family(entry, Family::ip6, path, &addresses, errors) && entry_valid;
    std::string plan;
    if (auto it = entry.find("plan"); it != entry.end()) {
      if (!it->is_string()) {
        report(errors, path + ".plan", "a plan name", describe_found(*it));
        entry_valid = false;
      } else {
        plan = it->get<std::string>();
      }
    }
    if (!key || !entry_valid) {
      valid = false;
      continue;
    }
    // Entries with one key merge: several addresses per key.
    auto existing = std::find_if(config->allowed.begin(), config->allowed.end(),
                                 [&](const AllowedConnection& c) { return same_key(c.key, *key); });
    if (existing == config->allowed.end()) {
      config->allowed.push_back(AllowedConnection{*key, {}, plan});
      existing = config->allowed.end() - 1;
    } else if (!plan.empty() && !existing->plan.empty() && plan != existing->plan) {
      report(errors, path + ".plan", "the same plan as this key's earlier entry (\"" + existing->plan + "\")",
             describe_found(entry["plan"]));
      valid = false;
      continue;
    } else if (existing->plan.empty()) {
      existing->plan = plan;
    }
    const auto connection = static_cast<std::size_t>(existing - config->allowed.begin());
    for (const PinnedAddress& a : addresses) {
      const std::string tag = a.alloc.address.family == Family::ip4 ? "ip4" : "ip6";
      for (const auto& [other, source] : blocks) {
        if (overlaps(other, a.alloc)) {
          report(errors, path + "." + tag + "Alloc",
                 "a block apart from " + source.path + " (" + format_block(other) + ")",
                 format_block(a.alloc) + (source.connection == connection ? ", the same key twice" : ", another key's block"));
          valid = false;
        }
      }
      blocks.push_back({a.alloc, Source{connection, path + "." + tag + "Alloc"}});
      existing->addresses.push_back(a);
    }
    std::size_t count = existing->addresses.size();
    if (count > kMaxGrantAddresses) {
      report(errors, path, "at most " + std::to_string(kMaxGrantAddresses) + " addresses per key",
             std::to_string(count));
      valid = false;
    }
  }
  return valid;
}

// An interface name at object[key] (1 to 15 bytes, no '/' or whitespace), when present.
bool read_interface_name(const json& object, const std::string& key, std::string* out, ErrorSink* errors,
                         const std::string& path_prefix = "") {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (it->is_string()) {
    const std::string name = it->get<std::string>();
    // The kernel refuses '/', ':' and whitespace; nftables cannot quote '"', and a trailing
    // '*' would make iifname a wildcard.
    const bool plain = std::none_of(name.begin(), name.end(), [](char c) {
      return c == '/' || c == ':' || c == '"' || c == '*' || c == '\\' || static_cast<unsigned char>(c) <= ' ' ||
             c == 0x7f;
    });
    if (!name.empty() && name.size() <= 15 && plain && name != "." && name != "..") {
      *out = name;
      return true;
    }
  }
  report(errors, path_prefix + key, "an interface name of 1 to 15 bytes", describe_found(*it));
  return false;
}

bool read_bool(const json& object, const std::string& key, bool* out, ErrorSink* errors,
               const std::string& path_prefix = "") {
  auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_boolean()) {
    report(errors, path_prefix + key, "true or false", describe_found(*it));
    return false;
  }
  *out = it->get<bool>();
  return true;
}

bool read_pool(const json& root, const char* key, Family family, std::optional<IpBlock>* out, ErrorSink* errors) {
  auto it = root.find(key);
  if (it == root.end()) return true;
  // Room for the network address, the gateway's own and at least one client (IPv4: and broadcast).
  const std::uint8_t longest = family == Family::ip4 ? 30 : 126;
  std::optional<IpBlock> block;
  if (it->is_string()) block = parse_block(it->get<std::string>());
  if (!block || block->address.family != family || block->length > longest || block->length == 0) {
    report(errors, key,
           std::string(family == Family::ip4 ? "an IPv4 block like \"100.64.0.0/24\"" : "an IPv6 block like \"2001:db8:1::/64\"") +
               ", length 1 to " + std::to_string(longest),
           describe_found(*it));
    return false;
  }
  block->address = network_of(*block);
  *out = block;
  return true;
}

}  // namespace

std::optional<IptunnelConfig> parse_iptunnel_config(Str config_json, ErrorSink* errors) {
  const json root = link_common::parse_config_json(config_json);
  if (root.is_discarded()) {
    report(errors, "", "a JSON object", "text that is not JSON");
    return std::nullopt;
  }
  IptunnelConfig config;
  if (root.is_null()) return config;
  if (!root.is_object()) {
    report(errors, "", "an object", describe_found(root));
    return std::nullopt;
  }
  bool valid = true;
  static const char* const kKeys[] = {"allowedConnections", "outgoingConnections", "ip4Pool", "ip6Pool",
                                      "leaseSeconds", "mtu", "dnsServers", "gatewayTun", "nat", "clientIsolation",
                                      "blockSmtp", "ipv6InboundOpen", "ipv4InboundOpen", "clientTun", "fwmark", "routingTable",
                                      "rulePriority", "timers"};
  for (const auto& [key, value] : root.items()) {
    if (!is_one_of(key, kKeys)) {
      report(errors, key,
             "allowedConnections, outgoingConnections, ip4Pool, ip6Pool, leaseSeconds, mtu, dnsServers, "
             "gatewayTun, nat, clientIsolation, blockSmtp, ipv6InboundOpen, ipv4InboundOpen, clientTun, fwmark, "
             "routingTable, "
             "rulePriority or timers",
             "an unknown key");
      valid = false;
    }
  }
  config.gateway_role = root.contains("allowedConnections") || root.contains("ip4Pool") || root.contains("ip6Pool") ||
                        root.contains("nat");
  valid = read_interface_name(root, "gatewayTun", &config.gateway_tun, errors) && valid;
  valid = read_interface_name(root, "clientTun", &config.client_tun, errors) && valid;
  valid = read_bool(root, "clientIsolation", &config.client_isolation, errors) && valid;
  valid = read_bool(root, "blockSmtp", &config.block_smtp, errors) && valid;
  valid = read_bool(root, "ipv6InboundOpen", &config.ipv6_inbound_open, errors) && valid;
  valid = read_bool(root, "ipv4InboundOpen", &config.ipv4_inbound_open, errors) && valid;
  if (auto it = root.find("nat"); it != root.end()) {
    if (!it->is_object()) {
      report(errors, "nat", "an object like {\"uplink\": \"eth0\"}", describe_found(*it));
      valid = false;
    } else {
      for (const auto& [key, value] : it->items()) {
        if (key != "uplink" && key != "ndpProxy") {
          report(errors, "nat." + key, "uplink or ndpProxy", "an unknown key");
          valid = false;
        }
      }
      valid = read_interface_name(*it, "uplink", &config.nat.uplink, errors, "nat.") && valid;
      valid = read_bool(*it, "ndpProxy", &config.nat.ndp_proxy, errors, "nat.") && valid;
    }
  }
  std::uint64_t number = config.fwmark;
  valid = read_uint(root, "fwmark", "fwmark", 1, 0xffffffffu, &number, errors) && valid;
  config.fwmark = static_cast<std::uint32_t>(number);
  // 253–255 are the kernel's default, main and local tables; 0 means none.
  number = config.routing_table;
  if (!read_uint(root, "routingTable", "routingTable", 1, 0xffffffffu, &number, errors)) {
    valid = false;
  } else if (number >= 253 && number <= 255) {
    report(errors, "routingTable", "a table of meshhost's own (not 253 default, 254 main or 255 local)",
           std::to_string(number));
    valid = false;
  }
  config.routing_table = static_cast<std::uint32_t>(number);
  number = config.rule_priority;
  valid = read_uint(root, "rulePriority", "rulePriority", 1, 32000, &number, errors) && valid;
  config.rule_priority = static_cast<std::uint32_t>(number);
  if (auto it = root.find("timers"); it != root.end()) {
    if (!it->is_object()) {
      report(errors, "timers", "an object of …Ms values", describe_found(*it));
      valid = false;
    } else {
      struct Timer {
        const char* key;
        std::uint64_t* ns;
      };
      const Timer timers[] = {{"requestRetryMs", &config.timers.request_retry_ns},
                              {"probeIntervalMs", &config.timers.probe_interval_ns},
                              {"gatewayDeadMs", &config.timers.gateway_dead_ns},
                              {"deniedRetryMs", &config.timers.denied_retry_ns}};
      for (const auto& item : it->items()) {
        const std::string& key = item.key();
        if (std::none_of(std::begin(timers), std::end(timers), [&key](const Timer& t) { return key == t.key; })) {
          report(errors, "timers." + key, "requestRetryMs, probeIntervalMs, gatewayDeadMs or deniedRetryMs", "an unknown key");
          valid = false;
        }
      }
      for (const Timer& t : timers) {
        std::uint64_t ms = *t.ns / 1'000'000;
        if (read_uint(*it, t.key, std::string("timers.") + t.key, 10, 3'600'000, &ms, errors)) {
          *t.ns = ms * 1'000'000;
        } else {
          valid = false;
        }
      }
      if (config.timers.gateway_dead_ns <= config.timers.probe_interval_ns) {
        report(errors, "timers.gatewayDeadMs", "more than probeIntervalMs (" +
               std::to_string(config.timers.probe_interval_ns / 1'000'000) + ")",
               std::to_string(config.timers.gateway_dead_ns / 1'000'000));
        valid = false;
      }
    }
  }
  if (auto it = root.find("allowedConnections"); it != root.end()) valid = read_allowed(*it, &config, errors) && valid;
  valid = read_pool(root, "ip4Pool", Family::ip4, &config.ip4_pool, errors) && valid;
  valid = read_pool(root, "ip6Pool", Family::ip6, &config.ip6_pool, errors) && valid;
  std::uint64_t lease = config.lease_seconds;
  valid = read_uint(root, "leaseSeconds", "leaseSeconds", kMinLeaseSeconds, kMaxLeaseSeconds, &lease, errors) && valid;
  config.lease_seconds = static_cast<std::uint32_t>(lease);
  std::uint64_t mtu = config.mtu;
  valid = read_uint(root, "mtu", "mtu", kMinMtu, kMaxMtu, &mtu, errors) && valid;
  config.mtu = static_cast<std::uint16_t>(mtu);
  if (auto it = root.find("dnsServers"); it != root.end()) {
    if (!it->is_array() || it->size() > kMaxDnsServers) {
      report(errors, "dnsServers", "an array of at most " + std::to_string(kMaxDnsServers) + " IP addresses",
             describe_found(*it));
      valid = false;
    } else {
      for (std::size_t i = 0; i < it->size(); ++i) {
        const json& value = (*it)[i];
        std::optional<IpAddress> ip;
        if (value.is_string()) ip = parse_ip(value.get<std::string>());
        if (!ip) {
          report(errors, "dnsServers[" + std::to_string(i) + "]", "an IPv4 or IPv6 address", describe_found(value));
          valid = false;
        } else {
          config.dns_servers.push_back(*ip);
        }
      }
    }
  }
  if (auto it = root.find("outgoingConnections"); it != root.end()) {
    if (!it->is_array()) {
      report(errors, "outgoingConnections", "an array of gateway keys", describe_found(*it));
      valid = false;
    } else {
      for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string path = "outgoingConnections[" + std::to_string(i) + "]";
        const json& entry = (*it)[i];
        // cjdns writes a bare key; an object adds the gateway's priority.
        OutgoingConnection gateway;
        std::optional<PublicKey> key;
        if (entry.is_object()) {
          bool entry_valid = true;
          for (const auto& [name, value] : entry.items()) {
            if (name != "publicKey" && name != "priority") {
              report(errors, path + "." + name, "publicKey or priority", "an unknown key");
              entry_valid = false;
            }
          }
          std::uint64_t priority = gateway.priority;
          entry_valid = read_uint(entry, "priority", path + ".priority", 0, 65535, &priority, errors) && entry_valid;
          gateway.priority = static_cast<std::uint32_t>(priority);
          if (entry.contains("publicKey")) {
            key = read_key(entry["publicKey"], path + ".publicKey", errors);
          } else {
            report(errors, path, "an object with \"publicKey\"", "none");
          }
          if (!entry_valid) key.reset();
        } else {
          key = read_key(entry, path, errors);
        }
        if (!key) {
          valid = false;
        } else if (std::any_of(config.outgoing.begin(), config.outgoing.end(),
                               [&](const OutgoingConnection& g) { return same_key(g.key, *key); })) {
          report(errors, path, "each gateway once", "a repeated key");
          valid = false;
        } else {
          gateway.key = *key;
          config.outgoing.push_back(gateway);
        }
      }
    }
  }
  // The pools' first host address is the gateway's own on its TUN: no client may hold it.
  for (const auto& pool : {config.ip4_pool, config.ip6_pool}) {
    if (!pool) continue;
    const IpAddress own = add_offset(network_of(*pool), 1);
    for (std::size_t i = 0; i < config.allowed.size(); ++i) {
      for (const PinnedAddress& p : config.allowed[i].addresses) {
        if (contains(p.alloc, own)) {
          report(errors, "allowedConnections", "blocks apart from the gateway's own tunnel address " + format_ip(own) +
                                                   " (the first of " + format_block(*pool) + ")",
                 format_block(p.alloc) + " for " + format_public_key(config.allowed[i].key));
          valid = false;
        }
      }
    }
  }
  if (!valid) return std::nullopt;
  return config;
}

}  // namespace mh::iptunnel
