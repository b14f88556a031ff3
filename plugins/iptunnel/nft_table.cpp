// The gateway's `inet meshhost` table: rendering the firewall as nft text, and applying it
// through libnftables (see nft_table.hpp).
#include "nft_table.hpp"

#include <nftables/libnftables.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <linux/netlink.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <utility>

namespace mh::iptunnel {

namespace {

using nlohmann::json;

constexpr const char* kTable = "inet meshhost";
// MSS = MTU minus the IP and TCP headers without options.
constexpr int kIp4TcpHeaders = 20 + 20;
constexpr int kIp6TcpHeaders = 40 + 20;
constexpr int kDnsPort = 53;
constexpr int kSmtpPort = 25;

// The blocks of one family as disjoint network blocks in address order. A named interval
// set refuses overlapping elements ("conflicting intervals"), and Alloc blocks sit inside
// pools, so a block inside another is dropped (CIDR blocks nest or are disjoint).
std::vector<IpBlock> disjoint_blocks(const std::vector<IpBlock>& blocks, Family family) {
  std::vector<IpBlock> sorted;
  for (const IpBlock& b : blocks) {
    if (b.address.family == family) sorted.push_back(IpBlock{network_of(b), b.length});
  }
  // The wider of two blocks with the same first address sorts first, so it is the one kept.
  std::sort(sorted.begin(), sorted.end(), [](const IpBlock& a, const IpBlock& b) {
    const int order = std::memcmp(a.address.bytes, b.address.bytes, kIp6Size);
    return order != 0 ? order < 0 : a.length < b.length;
  });
  std::vector<IpBlock> kept;
  for (const IpBlock& b : sorted) {
    if (kept.empty() || !overlaps(kept.back(), b)) kept.push_back(b);
  }
  return kept;
}

std::vector<IpAddress> addresses_of(const std::vector<IpAddress>& all, Family family) {
  std::vector<IpAddress> out;
  for (const IpAddress& a : all) {
    if (a.family == family && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

template <typename T, typename Format>
std::string element_list(const std::vector<T>& items, Format format) {
  std::string out;
  for (const T& item : items) {
    if (!out.empty()) out += ", ";
    out += format(item);
  }
  return out;
}

// One named set; none when it would be empty (an empty set is valid nft, but a rule on it
// would read as if it did something).
void render_set(std::ostringstream& out, const std::string& name, Family family, bool interval, const std::string& comment,
                const std::string& elements) {
  if (elements.empty()) return;
  out << "\tset " << name << " {\n"
      << "\t\ttype " << (family == Family::ip4 ? "ipv4_addr" : "ipv6_addr") << "\n";
  if (interval) out << "\t\tflags interval\n";
  out << "\t\tcomment " << quoted(comment) << "\n"
      << "\t\telements = { " << elements << " }\n"
      << "\t}\n\n";
}

// The per-family pieces of the rules.
struct FamilyRules {
  Family family;
  const char* ip;       // "ip" / "ip6"
  const char* nfproto;  // "ipv4" / "ipv6"
  const char* suffix;   // set names: clients4, denied6, ...
  const char* link_local_and_multicast;
  int mss;
  bool has_clients;
  bool has_denied;
  bool has_dns;
};

// `nft` reports one error as "Error: <what>", the script line it is about and a line of
// carets under the culprit; several errors follow each other. One line: "Error: <what>
// (in: <script line>)", joined by "; ".
std::string one_line(const std::string& text) {
  std::string out;
  std::string message;
  std::string context;
  const auto flush = [&] {
    if (message.empty() && context.empty()) return;
    if (!out.empty()) out += "; ";
    out += message.empty() ? context : message;
    if (!message.empty() && !context.empty()) out += " (in: " + context + ")";
    message.clear();
    context.clear();
  };
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    line = line.substr(first, last - first + 1);
    if (line.find_first_not_of("^~ ") == std::string::npos) continue;  // the carets
    if (line.rfind("Error:", 0) == 0 || line.rfind("Warning:", 0) == 0 || line.find(": Error:") != std::string::npos) {
      flush();
      message = line;
    } else if (context.empty()) {
      context = line;
    }
  }
  flush();
  return out;
}

}  // namespace

std::string render_gateway_ruleset(const GatewayFirewall& fw) {
  const std::vector<IpBlock> clients4 = disjoint_blocks(fw.client_blocks, Family::ip4);
  const std::vector<IpBlock> clients6 = disjoint_blocks(fw.client_blocks, Family::ip6);
  const std::vector<IpBlock> denied4 = disjoint_blocks(fw.denied, Family::ip4);
  const std::vector<IpBlock> denied6 = disjoint_blocks(fw.denied, Family::ip6);
  const std::vector<IpAddress> dns4 = addresses_of(fw.dns_servers, Family::ip4);
  const std::vector<IpAddress> dns6 = addresses_of(fw.dns_servers, Family::ip6);
  const auto block = [](const IpBlock& b) { return format_block(b); };
  const auto address = [](const IpAddress& a) { return format_ip(a); };

  const FamilyRules families[] = {
      {Family::ip4, "ip", "ipv4", "4", "169.254.0.0/16, 224.0.0.0/4", fw.mtu - kIp4TcpHeaders, !clients4.empty(),
       !denied4.empty(), !dns4.empty()},
      {Family::ip6, "ip6", "ipv6", "6", "fe80::/10, ff00::/8", fw.mtu - kIp6TcpHeaders, !clients6.empty(),
       !denied6.empty(), !dns6.empty()},
  };
  const std::string from = "\t\tiifname " + quoted(fw.tunnel) + " ";
  const std::string to = "\t\toifname " + quoted(fw.tunnel) + " ";

  std::ostringstream out;
  // Adding first makes the delete succeed when no earlier run left the table behind; both
  // and the definition are one transaction, so the old rules hold until the new ones do.
  out << "add table " << kTable << "\n"
      << "delete table " << kTable << "\n"
      << "table " << kTable << " {\n"
      << "\tcomment \"meshhost iptunnel gateway: replaced at start, deleted at stop\"\n\n";

  render_set(out, "clients4", Family::ip4, true, "Alloc blocks and pools clients send from", element_list(clients4, block));
  render_set(out, "clients6", Family::ip6, true, "Alloc blocks and pools clients send from", element_list(clients6, block));
  render_set(out, "denied4", Family::ip4, true, "the gateway's own addresses and LAN", element_list(denied4, block));
  render_set(out, "denied6", Family::ip6, true, "the gateway's own addresses and LAN", element_list(denied6, block));
  render_set(out, "dns4", Family::ip4, false, "DNS servers clients may ask", element_list(dns4, address));
  render_set(out, "dns6", Family::ip6, false, "DNS servers clients may ask", element_list(dns6, address));

  out << "\tchain forward {\n"
      << "\t\ttype filter hook forward priority filter; policy accept;\n";
  // The clamp comes first: it is no verdict, and a later accept (DNS over TCP) would skip it.
  for (const FamilyRules& f : families) {
    for (const std::string& side : {from, to}) {
      out << side << "meta nfproto " << f.nfproto << " tcp flags syn tcp option maxseg size > " << f.mss
          << " tcp option maxseg size set " << f.mss << " comment \"MSS clamp to the tunnel MTU\"\n";
    }
  }
  for (const FamilyRules& f : families) {
    if (f.has_clients) {
      out << from << f.ip << " saddr != @clients" << f.suffix << " drop comment \"source not granted to a client\"\n";
    } else {
      // No blocks of this family: every such packet has a source no client was granted.
      out << from << "meta nfproto " << f.nfproto << " drop comment \"no client holds " << f.nfproto << " addresses\"\n";
    }
  }
  for (const FamilyRules& f : families) {
    out << from << f.ip << " daddr { " << f.link_local_and_multicast << " } drop comment \"link-local and multicast\"\n";
  }
  for (const FamilyRules& f : families) {
    if (!f.has_dns) continue;
    out << from << f.ip << " daddr @dns" << f.suffix << " meta l4proto { tcp, udp } th dport " << kDnsPort
        << " accept comment \"DNS, even inside the denied addresses\"\n";
  }
  for (const FamilyRules& f : families) {
    if (!f.has_denied) continue;
    out << from << f.ip << " daddr @denied" << f.suffix << " drop comment \"the gateway's own addresses and LAN\"\n";
  }
  if (fw.client_isolation) {
    out << from << "oifname " << quoted(fw.tunnel) << " drop comment \"client isolation\"\n";
  }
  if (fw.block_smtp) out << from << "tcp dport " << kSmtpPort << " drop comment \"no SMTP from clients\"\n";
  for (const FamilyRules& f : families) {
    const bool only = f.family == Family::ip4 ? fw.tunnel_only_forwarding4 : fw.tunnel_only_forwarding6;
    if (!only) continue;
    out << "\t\tiifname != " << quoted(fw.tunnel) << " oifname != " << quoted(fw.tunnel) << " meta nfproto "
        << f.nfproto << " drop comment \"forwarding is on for the tunnel only\"\n";
  }
  out << "\t}\n\n";

  out << "\tchain input {\n"
      << "\t\ttype filter hook input priority filter; policy accept;\n"
      << from << "ct state established,related accept comment \"answers to the gateway's own traffic\"\n";
  for (const FamilyRules& f : families) {
    if (!f.has_dns) continue;
    out << from << f.ip << " daddr @dns" << f.suffix << " meta l4proto { tcp, udp } th dport " << kDnsPort
        << " accept comment \"DNS on the gateway\"\n";
  }
  // Router advertisements and redirects stay out: a client never acts as the gateway's router.
  out << from << "icmp type echo-request accept comment \"ping\"\n"
      << from << "icmpv6 type { echo-request, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert }"
      << " accept comment \"ping and neighbour discovery\"\n"
      << from << "drop comment \"clients never reach the gateway's own services\"\n"
      << "\t}\n";

  // IPv6 is routed (or NDP-proxied), never translated.
  if (!fw.uplink.empty() && !clients4.empty()) {
    out << "\n\tchain postrouting {\n"
        << "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        << "\t\toifname " << quoted(fw.uplink) << " ip saddr @clients4 masquerade comment \"clients leave with the "
        << "uplink's address\"\n"
        << "\t}\n";
  }
  out << "}\n";
  return out.str();
}

std::unique_ptr<NftTable> NftTable::open(std::string* error) {
  // nft_ctx_new exits the whole process when it cannot open its netfilter netlink socket
  // (a kernel without nfnetlink): find out first, and fail like any other setup step.
  const int probe = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (probe < 0) {
    *error = std::string("nftables: cannot open a netfilter netlink socket (is nf_tables in the kernel?): ") +
             std::strerror(errno);
    return nullptr;
  }
  ::close(probe);
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) {
    *error = "nftables: cannot create a libnftables context";
    return nullptr;
  }
  nft_ctx_output_set_flags(ctx, 0);
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    *error = "nftables: cannot buffer libnftables' output";
    return nullptr;
  }
  return std::unique_ptr<NftTable>(new NftTable(ctx));
}

NftTable::~NftTable() { nft_ctx_free(ctx_); }

bool NftTable::run(const std::string& commands, std::string* output, std::string* error) {
  const int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  // Reading a buffer rewinds it, and the next write reuses its memory: copy both now, so
  // the next call starts empty whatever this one wrote.
  std::string printed = nft_ctx_get_output_buffer(ctx_);
  const std::string errors = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) {
    const std::string line = one_line(errors);
    *error = line.empty() ? "nftables: the command failed and nft said nothing" : line;
    return false;
  }
  if (output != nullptr) *output = std::move(printed);
  return true;
}

bool NftTable::apply(const std::string& script, std::string* error) { return run(script, nullptr, error); }

bool NftTable::remove(std::string* error) {
  // nft 1.0.6 has no `destroy`; adding first makes the delete succeed when it is absent.
  return run(std::string("add table ") + kTable + "\ndelete table " + kTable, nullptr, error);
}

std::optional<std::string> NftTable::list_own(std::string* error) {
  // `list table` of an absent table fails like any other error would; `list tables` tells
  // the two apart.
  std::string tables;
  if (!run("list tables", &tables, error)) return std::nullopt;
  bool present = false;
  std::istringstream lines(tables);
  for (std::string line; std::getline(lines, line);) present = present || line == std::string("table ") + kTable;
  error->clear();
  if (!present) return std::nullopt;
  std::string text;
  if (!run(std::string("list table ") + kTable, &text, error)) return std::nullopt;
  return text;
}

std::vector<std::string> NftTable::forward_droppers(std::string* error) {
  const unsigned int flags = nft_ctx_output_get_flags(ctx_);
  nft_ctx_output_set_flags(ctx_, flags | NFT_CTX_OUTPUT_JSON);
  std::string listing;
  const bool listed = run("list ruleset", &listing, error);
  nft_ctx_output_set_flags(ctx_, flags);
  if (!listed) return {};
  const json ruleset = json::parse(listing, nullptr, false);
  if (ruleset.is_discarded() || !ruleset.contains("nftables") || !ruleset["nftables"].is_array()) {
    *error = "nftables: `list ruleset` printed no JSON (libnftables built without JSON support?)";
    return {};
  }

  using TableKey = std::pair<std::string, std::string>;  // family, table
  using ChainKey = std::pair<TableKey, std::string>;
  const auto text = [](const json& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<TableKey> tables;  // in listing order, so the warning reads like `nft list ruleset`
  std::set<ChainKey> forward_chains;
  std::set<ChainKey> dropping;  // a rule of the chain drops or rejects
  std::map<ChainKey, std::vector<std::string>> jumps;
  std::set<TableKey> flagged;
  for (const json& item : ruleset["nftables"]) {
    if (!item.is_object()) continue;
    if (const auto table = item.find("table"); table != item.end() && table->is_object()) {
      tables.emplace_back(text(*table, "family"), text(*table, "name"));
    } else if (const auto chain = item.find("chain"); chain != item.end() && chain->is_object()) {
      if (text(*chain, "hook") != "forward" || text(*chain, "family") == "bridge") continue;
      const TableKey owner{text(*chain, "family"), text(*chain, "table")};
      forward_chains.insert(ChainKey{owner, text(*chain, "name")});
      if (text(*chain, "policy") == "drop") flagged.insert(owner);
    } else if (const auto rule = item.find("rule"); rule != item.end() && rule->is_object()) {
      const ChainKey where{{text(*rule, "family"), text(*rule, "table")}, text(*rule, "chain")};
      const auto expr = rule->find("expr");
      if (expr == rule->end() || !expr->is_array()) continue;
      for (const json& statement : *expr) {
        if (!statement.is_object()) continue;
        if (statement.contains("drop") || statement.contains("reject")) dropping.insert(where);
        for (const char* verdict : {"jump", "goto"}) {
          const auto target = statement.find(verdict);
          if (target != statement.end() && target->is_object()) jumps[where].push_back(text(*target, "target"));
        }
      }
    }
  }

  // What a forward chain drops includes what the chains it jumps or goes to drop.
  for (const ChainKey& start : forward_chains) {
    std::set<ChainKey> seen{start};
    std::vector<ChainKey> pending{start};
    while (!pending.empty() && flagged.count(start.first) == 0) {
      const ChainKey chain = pending.back();
      pending.pop_back();
      if (dropping.count(chain) != 0) flagged.insert(start.first);
      for (const std::string& target : jumps[chain]) {
        const ChainKey next{chain.first, target};
        if (seen.insert(next).second) pending.push_back(next);
      }
    }
  }

  std::vector<std::string> out;
  for (const TableKey& table : tables) {
    if (flagged.count(table) == 0) continue;
    const std::string name = table.first + " " + table.second;
    if (name != kTable) out.push_back(name);
  }
  error->clear();
  return out;
}

}  // namespace mh::iptunnel
