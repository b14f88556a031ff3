// Importing a cjdroute.conf: see import_cjdns.hpp.
#include "import_cjdns.hpp"

#include <meshhost/keys.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

namespace mh::core {

using nlohmann::json;

std::string strip_cjdns_json_extensions(std::string_view text) {
  std::string out(text);
  enum class State { code, string, line_comment, block_comment } state = State::code;
  std::size_t pending_comma = std::string::npos;  // a ',' seen with only blanks after it so far
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    switch (state) {
      case State::string:
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          state = State::code;
        }
        break;
      case State::line_comment:
        if (c == '\n') {
          state = State::code;
        } else {
          out[i] = ' ';
        }
        break;
      case State::block_comment:
        if (c == '*' && i + 1 < out.size() && out[i + 1] == '/') {
          out[i] = out[i + 1] = ' ';
          ++i;
          state = State::code;
        } else if (c != '\n') {
          out[i] = ' ';
        }
        break;
      case State::code:
        if (c == '/' && i + 1 < out.size() && (out[i + 1] == '/' || out[i + 1] == '*')) {
          state = out[i + 1] == '/' ? State::line_comment : State::block_comment;
          out[i] = out[i + 1] = ' ';
          ++i;
        } else if (c == ',') {
          pending_comma = i;
        } else if (c == '}' || c == ']') {
          if (pending_comma != std::string::npos) out[pending_comma] = ' ';
          pending_comma = std::string::npos;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
          pending_comma = std::string::npos;
          if (c == '"') state = State::string;
        }
        break;
    }
  }
  return out;
}

namespace {

// Indents every line of `value` after the first by `indent`, for writing inside the
// commented text below.
std::string dump(const json& value, const std::string& indent) {
  std::string text = value.dump(2, ' ', false, json::error_handler_t::replace);
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

std::string quoted(const std::string& key) { return json(key).dump(-1, ' ', false, json::error_handler_t::replace); }

// cjdns beacons carry a password; meshhost's do not (docs/operations.md, udp).
constexpr const char* kBeaconNote =
    "    // Beacons: a node heard on the LAN is initiated to with beacon.password (and login),\n"
    "    // which must be one of that node's authorizedPasswords; cjdns sent its own in the beacon.\n";

class Importer {
 public:
  Importer(const json& root, ConfigErrors& errors) : root_(root), errors_(errors) {}

  std::optional<ImportedConfig> run(const std::string& source_name);

 private:
  void warn(const std::string& path, const std::string& message) { warnings_.push_back(path + ": " + message); }
  bool identity();
  void top_level_keys();
  void interfaces();
  void udp_interface(const json& entry, const std::string& path);
  void eth_interface(const json& entry, const std::string& path);
  void beacon(const json& entry, const std::string& path, json& plugin);
  void authorized_passwords();
  void router();

  const json& root_;
  ConfigErrors& errors_;
  std::vector<std::string> warnings_;

  std::string private_key_;
  std::string public_key_;
  std::string ipv6_;
  json udp_ = json::object();
  bool have_udp_ = false;
  json eth_ = json::object();
  bool have_eth_ = false;
  json passwords_ = json::array();
  json tun_ = json::object();
  json iptunnel_ = json::object();
};

// iptunnel's default "fwmark": a client's udp sockets carry it.
constexpr std::uint32_t kIptunnelFwmark = 27976;

bool Importer::identity() {
  auto it = root_.find("privateKey");
  if (it == root_.end()) {
    errors_.add("privateKey", "the node's private key (64 hex characters)", "nothing");
    return false;
  }
  if (!it->is_string()) {
    errors_.add("privateKey", "a string of 64 hexadecimal characters", describe_json(*it));
    return false;
  }
  const std::string& hex = it->get_ref<const std::string&>();
  auto key = parse_private_key_hex(hex);
  if (!key) {
    errors_.add("privateKey", "64 hexadecimal characters",
                std::to_string(hex.size()) + " characters that are not a key");
    return false;
  }
  const KeyPair pair = key_pair_of(*key);
  private_key_ = format_private_key_hex(pair.priv);
  public_key_ = format_public_key(pair.pub);
  ipv6_ = format_address(pair.addr);
  bool valid = true;
  if (!is_valid_node_key(pair.pub)) {
    errors_.add("privateKey", "a key whose address is in fc00::/8", "one whose address is " + ipv6_);
    valid = false;
  }
  if (auto pub = root_.find("publicKey"); pub != root_.end()) {
    if (!pub->is_string() || pub->get_ref<const std::string&>() != public_key_) {
      errors_.add("publicKey", "\"" + public_key_ + "\" (derived from privateKey)", describe_json(*pub));
      valid = false;
    }
  }
  if (auto addr = root_.find("ipv6"); addr != root_.end()) {
    const auto parsed = addr->is_string() ? parse_address(addr->get_ref<const std::string&>()) : std::nullopt;
    if (!parsed || format_address(*parsed) != ipv6_) {
      errors_.add("ipv6", "\"" + ipv6_ + "\" (derived from privateKey)", describe_json(*addr));
      valid = false;
    }
  }
  return valid;
}

void Importer::top_level_keys() {
  for (const auto& [key, value] : root_.items()) {
    if (key == "privateKey" || key == "publicKey" || key == "ipv6" || key == "authorizedPasswords" ||
        key == "interfaces" || key == "router")
      continue;
    // cjdroute's process settings, and keys cjdns itself ignores (its way of commenting out).
    if (key == "noBackground" || key == "pipe" || key == "version" || key.rfind("_", 0) == 0) continue;
    if (key == "admin") {
      warn(key, "cjdns's admin API (bind, password) is not imported; meshctl talks to meshhost over the Unix socket admin.socket");
    } else if (key == "security") {
      warn(key, "setuser, chroot, nofiles, noforks and seccomp are not imported; confine meshhost with its service manager (e.g. systemd's sandboxing)");
    } else if (key == "logging") {
      if (!value.is_object() || !value.empty())
        warn(key, "cjdns's logging settings are not imported; meshhost logs to stderr at logLevel");
    } else if (key == "dns") {
      warn(key, "cjdns's DNS settings are not imported; meshhost has no DNS resolver");
    } else {
      warn(key, "a cjdns setting meshhost has no equivalent for; not imported");
    }
  }
}

void Importer::beacon(const json& entry, const std::string& path, json& plugin) {
  auto it = entry.find("beacon");
  if (it == entry.end()) return;
  static const char* const kModes[] = {"off", "accept", "send"};
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 2) {
    warn(path + ".beacon", "expected 0, 1 or 2, got " + describe_json(*it) + "; beacons not imported");
    return;
  }
  const std::string mode = kModes[it->get<std::uint64_t>()];
  if (auto have = plugin.find("beacon"); have != plugin.end()) {
    if ((*have)["mode"] != mode)
      warn(path + ".beacon", "a different beacon mode than an earlier interface's; meshhost has one per plugin, kept " +
                                 (*have)["mode"].dump());
    return;
  }
  plugin["beacon"] = {{"mode", mode}};
}

void Importer::udp_interface(const json& entry, const std::string& path) {
  if (!entry.is_object()) {
    warn(path, "expected an object, got " + describe_json(entry) + "; not imported");
    return;
  }
  have_udp_ = true;
  for (const auto& [key, value] : entry.items()) {
    const std::string item_path = path + "." + key;
    if (key == "bind") {
      if (!value.is_string()) {
        warn(item_path, "expected \"host:port\", got " + describe_json(value) + "; not imported");
        continue;
      }
      auto& binds = udp_["bind"];
      if (binds.is_null()) binds = json::array();
      if (std::find(binds.begin(), binds.end(), value) == binds.end()) binds.push_back(value);
    } else if (key == "connectTo") {
      if (!value.is_object()) {
        warn(item_path, "expected an object of \"host:port\": {…}, got " + describe_json(value) + "; not imported");
        continue;
      }
      auto& peers = udp_["connectTo"];
      if (peers.is_null()) peers = json::object();
      for (const auto& [address, peer] : value.items()) {
        const std::string peer_path = item_path + "[" + quoted(address) + "]";
        if (peers.contains(address)) {
          warn(peer_path, "listed under an earlier interface too; the first entry is kept");
          continue;
        }
        if (!peer.is_object()) {
          warn(peer_path, "expected an object, got " + describe_json(peer) + "; not imported");
          continue;
        }
        json out = json::object();
        for (const auto& [field, field_value] : peer.items()) {
          if (field == "publicKey" || field == "password" || field == "login" || field == "peerName") {
            out[field] = field_value;
          } else if (field == "contact" || field == "location" || field == "gpg") {
            // Informational fields of cjdns peering lists: nothing uses them.
          } else {
            warn(peer_path + "." + field, "not a setting of the udp plugin; not imported");
          }
        }
        peers[address] = std::move(out);
      }
    } else if (key == "beacon") {
      beacon(entry, path, udp_);
    } else if (key == "beaconDevices") {
      if (value != json::array({"all"}))
        warn(item_path, "the udp plugin sends beacons on every interface with a bound address; not imported");
    } else if (key == "beaconPort") {
      warn(item_path, "the udp plugin sends and hears beacons on its bind ports; not imported");
    } else {
      warn(item_path, "not a setting of the udp plugin; not imported");
    }
  }
}

void Importer::eth_interface(const json& entry, const std::string& path) {
  if (!entry.is_object()) {
    warn(path, "expected an object, got " + describe_json(entry) + "; not imported");
    return;
  }
  for (const auto& [key, value] : entry.items()) {
    const std::string item_path = path + "." + key;
    if (key == "bind") {
      if (!value.is_string()) {
        warn(item_path, "expected an interface name or \"all\", got " + describe_json(value) + "; not imported");
        continue;
      }
      have_eth_ = true;
      auto& interfaces = eth_["interfaces"];
      if (value == "all" || interfaces == "all") {
        interfaces = "all";
      } else {
        if (interfaces.is_null()) interfaces = json::array();
        if (std::find(interfaces.begin(), interfaces.end(), value) == interfaces.end()) interfaces.push_back(value);
      }
    } else if (key == "connectTo") {
      if (!value.is_object() || !value.empty())
        warn(item_path, "connecting to neighbours by MAC address is not supported by the eth plugin (it finds them by beacons); not imported");
    } else if (key == "beacon") {
      beacon(entry, path, eth_);
    } else {
      warn(item_path, "not a setting of the eth plugin; not imported");
    }
  }
}

void Importer::interfaces() {
  auto it = root_.find("interfaces");
  if (it == root_.end()) return;
  if (!it->is_object()) {
    warn("interfaces", "expected an object, got " + describe_json(*it) + "; no links imported");
    return;
  }
  for (const auto& [type, list] : it->items()) {
    const std::string path = "interfaces." + type;
    if (type.rfind("_", 0) == 0) continue;  // "_disabled_ETHInterface": cjdns ignores it too
    if (type != "UDPInterface" && type != "ETHInterface") {
      warn(path, "an interface type meshhost has no link driver for; not imported");
      continue;
    }
    if (!list.is_array()) {
      warn(path, "expected an array, got " + describe_json(list) + "; not imported");
      continue;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string entry_path = path + "[" + std::to_string(i) + "]";
      if (type == "UDPInterface") {
        udp_interface(list[i], entry_path);
      } else {
        eth_interface(list[i], entry_path);
      }
    }
  }
}

void Importer::authorized_passwords() {
  auto it = root_.find("authorizedPasswords");
  if (it == root_.end()) return;
  if (!it->is_array()) {
    warn("authorizedPasswords", "expected an array, got " + describe_json(*it) + "; not imported");
    return;
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const std::string path = "authorizedPasswords[" + std::to_string(i) + "]";
    const json& entry = (*it)[i];
    if (!entry.is_object() || !entry.contains("password") || !entry["password"].is_string() ||
        entry["password"].get_ref<const std::string&>().empty()) {
      warn(path, "expected {\"password\": \"a non-empty string\", …}, got " + describe_json(entry) + "; not imported");
      continue;
    }
    json out = {{"password", entry["password"]}};
    // Older cjdns calls the login "user"; newer ones accept "login" too.
    for (const char* key : {"login", "user"}) {
      if (auto login = entry.find(key); login != entry.end() && !out.contains("login")) out["login"] = *login;
    }
    for (const auto& [key, value] : entry.items()) {
      if (key == "password" || key == "login" || key == "user") continue;
      if (key == "ipv6") {
        warn(path + ".ipv6", "restricting a password to one peer's address is not supported by the switch plugin; the password is imported without it");
      } else {
        warn(path + "." + key, "not a setting of the switch plugin's authorizedPasswords; not imported");
      }
    }
    passwords_.push_back(std::move(out));
  }
}

void Importer::router() {
  auto it = root_.find("router");
  if (it == root_.end()) return;
  if (!it->is_object()) {
    warn("router", "expected an object, got " + describe_json(*it) + "; not imported");
    return;
  }
  for (const auto& [key, value] : it->items()) {
    const std::string path = "router." + key;
    if (key.rfind("_", 0) == 0) continue;
    if (key == "interface") {
      if (!value.is_object()) {
        warn(path, "expected an object, got " + describe_json(value) + "; a default TUN device is used");
        continue;
      }
      if (auto type = value.find("type"); type != value.end() && *type != "TUNInterface")
        warn(path + ".type", "only a TUN device is supported (the tun plugin), got " + describe_json(*type));
      if (auto name = value.find("tunDevice"); name != value.end()) {
        if (name->is_string() && !name->get_ref<const std::string&>().empty()) {
          tun_["name"] = *name;
        } else {
          warn(path + ".tunDevice", "expected an interface name, got " + describe_json(*name) + "; not imported");
        }
      }
      for (const auto& [field, field_value] : value.items()) {
        (void)field_value;
        if (field != "type" && field != "tunDevice")
          warn(path + "." + field, "not a setting of the tun plugin; not imported");
      }
    } else if (key == "ipTunnel") {
      if (!value.is_object()) {
        warn(path, "expected an object, got " + describe_json(value) + "; not imported");
        continue;
      }
      for (const auto& [field, list] : value.items()) {
        if (field != "allowedConnections" && field != "outgoingConnections") {
          warn(path + "." + field, "not imported");
          continue;
        }
        if (!list.is_array()) {
          warn(path + "." + field, "expected an array, got " + describe_json(list) + "; not imported");
          continue;
        }
        if (!list.empty()) iptunnel_[field] = list;
      }
    } else if (key == "supernodes") {
      if (!value.is_array() || !value.empty())
        warn(path, "meshhost's router needs no supernodes; not imported");
    } else {
      warn(path, "not a setting meshhost's router has; not imported");
    }
  }
}

std::optional<ImportedConfig> Importer::run(const std::string& source_name) {
  if (!identity()) return std::nullopt;
  top_level_keys();
  interfaces();
  authorized_passwords();
  router();

  std::string t;
  t += "// meshhost configuration imported from " + source_name + " by `meshhost --import-cjdroute`.\n";
  t += "// JSON with comments. Check it with `meshhost --check-config FILE`; run it with\n";
  t += "// `meshhost --config FILE`. See docs/operations.md, \"Coming from cjdns\".\n";
  t += "{\n";
  t += "  // The node's identity, the same as the cjdns node's: the same key and fc00::/8 address.\n";
  t += "  // This file holds the private key: keep its mode 0600.\n";
  t += "  \"privateKey\": \"" + private_key_ + "\",\n";
  t += "  // Derived from the private key; checked at start.\n";
  t += "  \"publicKey\": \"" + public_key_ + "\",\n";
  t += "  \"ipv6\": \"" + ipv6_ + "\",\n";
  t += "\n";
  t += "  \"plugins\": {\n";
  if (have_udp_ && iptunnel_.contains("outgoingConnections")) {
    // iptunnel's policy routing lets the mesh's own datagrams past its default route by this mark.
    udp_["fwmark"] = kIptunnelFwmark;
  }
  if (have_udp_) {
    t += "    // Peers over UDP: cjdroute.conf's interfaces.UDPInterface, every bind and connectTo.\n";
    if (udp_.contains("beacon")) t += kBeaconNote;
    t += "    \"udp\": " + dump(udp_, "    ") + ",\n";
  }
  if (have_eth_) {
    t += "    // Raw Ethernet: cjdroute.conf's interfaces.ETHInterface. Neighbours are found by beacons;\n";
    t += "    // to accept them without a password see \"discoveredPeers\" in docs/operations.md.\n";
    if (eth_.contains("beacon")) t += kBeaconNote;
    t += "    \"eth\": " + dump(eth_, "    ") + ",\n";
  }
  t += "    // Neighbours that connect to this node with one of these passwords (and its login) are\n";
  t += "    // accepted: cjdroute.conf's authorizedPasswords.\n";
  t += "    \"switch\": " + dump(json{{"authorizedPasswords", passwords_}}, "    ") + ",\n";
  t += "    // Routes to every node of the mesh over the neighbours.\n";
  t += "    \"router\": {},\n";
  t += "    // End-to-end encrypted sessions between node keys, over the routes.\n";
  t += "    \"session\": {},\n";
  t += "    // The node's fc00::/8 address on a TUN device, as cjdroute's router.interface.\n";
  t += "    \"tun\": " + dump(tun_, "    ") + (iptunnel_.empty() ? "\n" : ",\n");
  if (!iptunnel_.empty()) {
    json block = json::object();
    for (const auto& [field, list] : iptunnel_.items()) block[field] = list;
    t += "    // cjdroute.conf's router.ipTunnel, with cjdns's keys as they are. cjdns left NAT to the\n";
    t += "    // operator; meshhost masquerades clients' IPv4 once \"nat\": {\"uplink\": \"<interface>\"}\n";
    t += "    // is added (docs/operations.md, \"Making a node an ISP\").\n";
    t += "    \"iptunnel\": " + dump(block, "    ") + "\n";
  }
  t += "  }\n";
  t += "}\n";
  return ImportedConfig{std::move(t), std::move(warnings_)};
}

}  // namespace

std::optional<ImportedConfig> import_cjdroute(std::string_view text, const std::string& source_name,
                                              ConfigErrors& errors) {
  const std::string plain = strip_cjdns_json_extensions(text);
  ConfigErrors syntax;
  auto document = parse_json_with_comments(plain, syntax);
  if (!document) {
    for (const auto& e : syntax.all())
      errors.add(e.path, "valid JSON (comments and trailing commas allowed)", e.found);
    return std::nullopt;
  }
  if (!document->is_object()) {
    errors.add("", "an object (a cjdroute.conf)", describe_json(*document));
    return std::nullopt;
  }
  return Importer(*document, errors).run(source_name);
}

}  // namespace mh::core
