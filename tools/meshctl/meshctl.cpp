// meshctl: talks to a running meshhost over its admin socket and prints the answers for
// people (tables) or for scripts (--json).
#include "admin_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <stdexcept>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* kDefaultSocket = "/run/meshhost/admin.sock";

int usage(std::ostream& out, int code) {
  out << "usage: meshctl [--socket PATH] [--json] COMMAND\n"
         "\n"
         "commands:\n"
         "  status                 identity, address, uptime, plugins and their state\n"
         "  plugins                every plugin found, enabled or not, and why any cannot load\n"
         "  peers                  neighbours: state, link, endpoint, RTT, loss, cost, radio figures\n"
         "                         where a link metric source reports them, bytes (switch.peers)\n"
         "  routes                 routes the router knows; the selected one per destination is marked (router.routes)\n"
         "  sessions               end-to-end sessions: state, role, age, traffic (session.list)\n"
         "  tunnel                 iptunnel: the gateway's clients and leases, the client's gateways,\n"
         "                         their state, bytes and account state (iptunnel.status)\n"
         "  tunnel usage           client: asks every gateway holding our lease for our plan and usage\n"
         "                         there, waits up to 3 s for the answers (iptunnel.requestAccount,\n"
         "                         iptunnel.account)\n"
         "  usage [KEY] [PERIOD]   billing: each client's plan, period, bytes, billable bytes, amount,\n"
         "                         quota left and enforcement (billing.usage); PERIOD like 2026-05\n"
         "  ping ADDRESS [-c N] [-i MS] [-s BYTES]\n"
         "                         echo requests over the mesh's control messages (switch.ping)\n"
         "  traceroute ADDRESS [-m HOPS]\n"
         "                         the nodes on the way, by hop limit (switch.traceroute)\n"
         "  methods                every admin method the node answers\n"
         "  metrics                every metric, as JSON\n"
         "  reload                 re-read the config and reconfigure plugins (as SIGHUP)\n"
         "  call METHOD [JSON]     call any admin method with JSON params; prints the JSON result\n"
         "\n"
         "The socket defaults to $MESHHOST_ADMIN_SOCKET, else " << kDefaultSocket << ".\n";
  return code;
}

std::string text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : (value.is_null() ? "-" : value.dump());
}

std::string join(const nlohmann::json& items) {
  std::string out;
  if (items.is_array())
    for (const auto& item : items) out += (out.empty() ? "" : ",") + text(item);
  return out.empty() ? "-" : out;
}

void print_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) widths[i] = headers[i].size();
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  auto print_row = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::cout << row[i];
      if (i + 1 < row.size()) std::cout << std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << "\n";
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

std::string fixed(const nlohmann::json& value, int decimals) {
  if (!value.is_number()) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value.get<double>();
  return out.str();
}

// object[key], or null when `object` is no object or lacks it (an older node's answer).
const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json null;
  if (!object.is_object()) return null;
  const auto it = object.find(key);
  return it == object.end() ? null : *it;
}

// A radio figure from a peer's linkMetric.radio: kbit/s as Mbit/s, others as they are.
std::string radio_figure(const nlohmann::json& peer, const char* key, bool kbps_as_mbps = false) {
  const nlohmann::json& value = member(member(member(peer, "linkMetric"), "radio"), key);
  if (kbps_as_mbps && value.is_number()) return fixed(value.get<double>() / 1000.0, 1);
  return text(value);
}

void print_peers(const nlohmann::json& peers) {
  // Radio columns only when a link metric source (meshpoint) reports figures for a peer.
  bool radio = false;
  for (const auto& p : peers) {
    const nlohmann::json& figures = member(member(p, "linkMetric"), "radio");
    radio |= figures.is_object() && !figures.empty();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : peers) {
    std::string name = p.value("peerName", std::string());
    // With a link metric the cost shows its parts: published (RTT part + metric part).
    std::string cost = text(p["cost"]);
    if (member(p, "linkMetric").is_object()) {
      const nlohmann::json& parts = member(p, "costParts");
      cost += " (" + text(member(parts, "rtt")) + "+" + text(member(parts, "metric")) + ")";
    }
    std::vector<std::string> row = {text(p["address"]), name.empty() ? "-" : name, text(p["state"]), text(p["link"]),
                                    text(p["endpoint"]), fixed(p["rttMs"], 2), fixed(p["lossPercent"], 1), cost};
    if (radio) {
      for (std::string figure : {radio_figure(p, "signalDbm"), radio_figure(p, "txBitrateKbps", true),
                                 radio_figure(p, "expectedThroughputKbps", true), radio_figure(p, "airtimeMetric"),
                                 radio_figure(p, "inactiveMs")})
        row.push_back(std::move(figure));
    }
    for (std::string more : {text(p["bytesIn"]), text(p["bytesOut"]), fixed(p["lastSeenSecondsAgo"], 1)})
      row.push_back(std::move(more));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) {
    std::cout << "no neighbours\n";
    return;
  }
  std::vector<std::string> headers = {"ADDRESS", "NAME", "STATE", "LINK", "ENDPOINT", "RTT_MS", "LOSS_%", "COST"};
  if (radio)
    for (const char* h : {"SIGNAL_DBM", "TX_MBIT/S", "EXPECTED_MBIT/S", "AIRTIME", "INACTIVE_MS"}) headers.push_back(h);
  for (const char* h : {"BYTES_IN", "BYTES_OUT", "SEEN_S_AGO"}) headers.push_back(h);
  print_table(headers, rows);
}

void print_status(const nlohmann::json& s) {
  std::cout << "meshhost " << text(s["version"]) << " (plugin ABI " << text(s["abi"]) << "), pid " << text(s["pid"])
            << "\n"
            << "public key: " << text(s["publicKey"]) << "\n"
            << "address:    " << text(s["address"]) << "\n"
            << "uptime:     " << std::fixed << std::setprecision(0) << s.value("uptimeSeconds", 0.0) << " s\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : s["plugins"]) rows.push_back({text(p["name"]), text(p["version"]), text(p["kind"]), text(p["state"])});
  if (rows.empty()) {
    std::cout << "plugins:    none enabled\n";
    return;
  }
  std::cout << "\n";
  print_table({"PLUGIN", "VERSION", "KIND", "STATE"}, rows);
}

void print_plugins(const nlohmann::json& plugins) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : plugins) {
    if (p.contains("error"))
      rows.push_back({"-", "-", "-", "-", "cannot load: " + text(p["error"]), text(p["path"])});
    else
      rows.push_back({text(p["name"]), text(p["version"]), text(p["kind"]), text(p["state"]),
                      "provides " + join(p["provides"]) + "; requires " + join(p["requires"]), text(p["path"])});
  }
  print_table({"PLUGIN", "VERSION", "KIND", "STATE", "SERVICES", "FILE"}, rows);
}


void print_routes(const nlohmann::json& routes) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : routes) {
    rows.push_back({r.value("selected", false) ? "*" : " ", text(r["address"]), text(r["nextHop"]), text(r["metric"]),
                    text(r["seqno"]), r.value("feasible", false) ? "yes" : "no", fixed(r["ageSeconds"], 1)});
  }
  if (rows.empty()) {
    std::cout << "no routes\n";
    return;
  }
  print_table({"SEL", "ADDRESS", "NEXT_HOP", "METRIC", "SEQNO", "FEASIBLE", "AGE_S"}, rows);
}

void print_sessions(const nlohmann::json& sessions) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : sessions) {
    rows.push_back({text(s["address"]), text(s["state"]), text(s["role"]), fixed(s["ageSeconds"], 1),
                    fixed(s["idleSeconds"], 1), text(s["packetsIn"]), text(s["packetsOut"]), text(s["bytesIn"]),
                    text(s["bytesOut"]), text(s["queued"])});
  }
  if (rows.empty()) {
    std::cout << "no sessions\n";
    return;
  }
  print_table({"ADDRESS", "STATE", "ROLE", "AGE_S", "IDLE_S", "PKTS_IN", "PKTS_OUT", "BYTES_IN", "BYTES_OUT", "QUEUED"},
              rows);
}

std::string short_key(const nlohmann::json& key) {
  const std::string k = text(key);
  return k.size() > 14 ? k.substr(0, 6) + "..." + k.substr(k.size() - 6) : k;
}

// The account column of `meshctl tunnel`: what the gateway last told us.
std::string account_state(const nlohmann::json& account) {
  if (!account.is_object()) return "-";
  if (text(account["status"]) != "ok") return text(account["status"]);
  return text(account["state"]);
}

void print_tunnel(const nlohmann::json& status) {
  const nlohmann::json& gateway = status["gateway"];
  if (!gateway.is_null()) {
    std::cout << "gateway on " << text(gateway["tun"]) << ", NAT out of "
              << (text(gateway["uplink"]).empty() ? "-" : text(gateway["uplink"])) << ", "
              << text(gateway["activeLeases"]) << " active leases\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : gateway["clients"]) {
      rows.push_back({short_key(c["publicKey"]), c.value("active", false) ? "leased" : "-", join(c["addresses"]),
                      text(c["packetsUp"]), text(c["bytesUp"]), text(c["packetsDown"]), text(c["bytesDown"])});
    }
    print_table({"CLIENT", "LEASE", "ADDRESSES", "PKTS_UP", "BYTES_UP", "PKTS_DOWN", "BYTES_DOWN"}, rows);
  }
  const nlohmann::json& client = status["client"];
  if (!client.is_null()) {
    if (!gateway.is_null()) std::cout << "\n";
    std::cout << "client on " << text(client["tun"]) << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : client["gateways"]) {
      std::string preferred = g.value("preferred4", false) ? "4" : "";
      if (g.value("preferred6", false)) preferred += preferred.empty() ? "6" : ",6";
      rows.push_back({short_key(g["publicKey"]), text(g["priority"]), text(g["state"]),
                      preferred.empty() ? "-" : preferred, join(g["addresses"]), text(g["leaseRemainingS"]),
                      text(g["bytesUp"]), text(g["bytesDown"]), account_state(g["account"]),
                      text(g["reason"]).empty() ? "-" : text(g["reason"])});
    }
    print_table({"GATEWAY", "PRIO", "STATE", "DEFAULT", "ADDRESSES", "LEASE_S", "BYTES_UP", "BYTES_DOWN", "ACCOUNT",
                 "REASON"},
                rows);
    // A gateway that blocks or throttles us says so in a line of its own: the reason the
    // default route moved, or traffic crawls.
    for (const auto& g : client["gateways"]) {
      const nlohmann::json& a = g["account"];
      if (!a.is_object() || !a.contains("state") || text(a["state"]) == "open") continue;
      std::cout << "gateway " << short_key(g["publicKey"]) << ": " << text(a["state"]);
      if (text(a["state"]) == "throttled") std::cout << " to " << text(a["throttleBps"]) << " bit/s";
      std::cout << " until " << text(a["periodEndUtc"]) << " (quota " << text(a["quotaBytes"]) << " bytes, "
                << text(a["billableBytes"]) << " billable)\n";
    }
  }
  if (gateway.is_null() && client.is_null()) std::cout << "iptunnel is neither gateway nor client\n";
}

// Micro-units as a decimal amount with the currency: 1234567 EUR -> "1.234567 EUR".
std::string amount(const nlohmann::json& micros, const nlohmann::json& currency) {
  if (!micros.is_number_unsigned()) return "-";
  const std::uint64_t m = micros.get<std::uint64_t>();
  std::ostringstream out;
  out << m / 1000000 << "." << std::setw(6) << std::setfill('0') << m % 1000000;
  if (currency.is_string()) out << " " << currency.get<std::string>();
  return out.str();
}

void print_usage(const nlohmann::json& usage) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : usage["clients"]) {
    std::string rate = text(c["rateUpBps"]) + "/" + text(c["rateDownBps"]);
    rows.push_back({short_key(c["publicKey"]), text(c["plan"]), text(c["period"]), text(c["bytesUp"]),
                    text(c["bytesDown"]), text(c["billableBytes"]), text(c["unbilledBytes"]),
                    amount(c["amountMicros"], c["currency"]), text(c["quotaLeftBytes"]), text(c["state"]),
                    text(c["action"]), rate, text(c["droppedPackets"])});
  }
  if (rows.empty()) {
    std::cout << "no clients\n";
    return;
  }
  print_table({"CLIENT", "PLAN", "PERIOD", "BYTES_UP", "BYTES_DOWN", "BILLABLE", "UNBILLED", "AMOUNT", "QUOTA_LEFT",
               "STATE", "ACTION", "RATE_UP/DOWN", "DROPPED"},
              rows);
}

// "1000000 bit/s", "-" for no limit.
std::string rate(const nlohmann::json& bps) {
  if (!bps.is_number_unsigned() || bps.get<std::uint64_t>() == 0) return "none";
  return text(bps) + " bit/s";
}

// `meshctl tunnel usage`: one block per gateway asked, as the gateway's billing sees us.
void print_tunnel_usage(const nlohmann::json& accounts, const nlohmann::json& asked) {
  bool first = true;
  for (const auto& g : accounts["gateways"]) {
    const bool was_asked = std::find(asked.begin(), asked.end(), g["publicKey"]) != asked.end();
    if (!was_asked) continue;
    if (!first) std::cout << "\n";
    first = false;
    std::cout << "gateway " << text(g["publicKey"]) << "\n";
    const nlohmann::json& a = g["account"];
    if (g.value("pending", false)) {
      std::cout << "  no answer within 3 s" << (a.is_object() ? "; its last account follows" : "") << "\n";
    }
    if (!a.is_object()) continue;
    const std::string status = text(a["status"]);
    if (status == "not_metered") {
      std::cout << "  not metered: the gateway runs no billing\n";
      continue;
    }
    if (status != "ok") {
      std::cout << "  the gateway's billing has no account for this node (" << status << ")\n";
      continue;
    }
    const bool quota = a["quotaBytes"].is_number_unsigned() && a["quotaBytes"].get<std::uint64_t>() > 0;
    std::string state = text(a["state"]);
    if (state == "throttled") state += " to " + text(a["throttleBps"]) + " bit/s";
    std::vector<std::vector<std::string>> rows = {
        {"plan", text(a["plan"])},
        {"period", text(a["periodStartUtc"]) + " to " + text(a["periodEndUtc"])},
        {"quota", quota ? text(a["quotaBytes"]) + " bytes" : "none"},
        {"used", text(a["billableBytes"]) + " bytes billable"},
        {"left", quota ? text(a["quotaLeftBytes"]) + " bytes" : "-"},
        {"up/down", text(a["bytesUp"]) + " / " + text(a["bytesDown"]) + " bytes"},
        {"unbilled", text(a["unbilledBytes"]) + " bytes"},
        {"rate limit", "up " + rate(a["rateUpBps"]) + ", down " + rate(a["rateDownBps"])},
        {"state", state},
        {"amount", amount(a["amountMicros"], a["currency"]) + " (" + amount(a["priceMicrosPerGb"], a["currency"]) +
                       " per GB)"},
        {"as of", fixed(nlohmann::json(a.value("receivedMsAgo", 0.0) / 1000.0), 1) + " s ago" +
                      (a.value("notice", false) ? " (a notice)" : "")},
    };
    for (const auto& row : rows) std::cout << "  " << std::left << std::setw(11) << row[0] << row[1] << "\n";
    std::cout << std::right;
  }
  if (first) std::cout << "no gateway holds a lease for this node: nobody to ask\n";
}

// Asks every leased gateway, then polls until each answered or 3 s passed. 0 when every
// gateway asked answered.
int tunnel_usage(mh::meshctl::AdminClient& client, bool as_json) {
  const nlohmann::json asked = client.call("iptunnel.requestAccount", nlohmann::json::object())["asked"];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  nlohmann::json accounts;
  bool waiting = true;
  for (;;) {
    accounts = client.call("iptunnel.account", nlohmann::json::object());
    waiting = false;
    for (const auto& g : accounts["gateways"]) {
      const bool was_asked = std::find(asked.begin(), asked.end(), g["publicKey"]) != asked.end();
      if (was_asked && g.value("pending", false)) waiting = true;
    }
    if (!waiting || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (as_json) {
    accounts["asked"] = asked;
    std::cout << accounts.dump(2) << "\n";
  } else {
    print_tunnel_usage(accounts, asked);
  }
  return waiting || asked.empty() ? 1 : 0;
}

// usage [KEY] [PERIOD], in either order: a key ends in ".k", anything else is a period.
bool parse_usage_args(const std::vector<std::string>& args, nlohmann::json& params) {
  if (args.size() > 3) return false;
  params = nlohmann::json::object();
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool is_key = a.size() > 2 && a.compare(a.size() - 2, 2, ".k") == 0;
    const char* field = is_key ? "publicKey" : "period";
    if (params.contains(field)) return false;
    params[field] = a;
  }
  return true;
}

// Polls switch.probe until the probe is done, printing ping replies and errors as they
// arrive. Returns 0 when at least one reply came back.
// A probe the node never finishes must not hang meshctl: give up after what the probe's own
// parameters allow, plus slack.
std::chrono::steady_clock::time_point probe_deadline(const nlohmann::json& params) {
  const long count = params.value("count", 4L), interval_ms = params.value("intervalMs", 1000L),
             timeout_ms = params.value("timeoutMs", 2000L);
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(count * interval_ms + timeout_ms + 5000);
}

void check_deadline(std::chrono::steady_clock::time_point deadline) {
  if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("the node did not finish the probe in time");
}

int follow_ping(mh::meshctl::AdminClient& client, long probe, const std::string& address, bool as_json,
                std::chrono::steady_clock::time_point deadline) {
  std::size_t printed_replies = 0, printed_errors = 0;
  nlohmann::json state;
  for (;;) {
    check_deadline(deadline);
    state = client.call("switch.probe", {{"probe", probe}});
    if (!as_json) {
      const auto& replies = state["replies"];
      for (; printed_replies < replies.size(); ++printed_replies) {
        const auto& r = replies[printed_replies];
        std::cout << "reply from " << text(r["from"]) << ": seq=" << text(r["seq"]) << " hop_limit="
                  << text(r["hopLimit"]) << " time=" << fixed(r["rttMs"], 3) << " ms\n";
      }
      const auto& errors = state["errors"];
      for (; printed_errors < errors.size(); ++printed_errors) {
        const auto& e = errors[printed_errors];
        std::cout << "from " << text(e["from"]) << ": seq=" << text(e["seq"]) << " " << text(e["kind"]) << "\n";
      }
    }
    if (state.value("done", false)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::size_t sent = state.value("sent", std::size_t{0});
  const std::size_t received = state["replies"].size();
  if (as_json) {
    std::cout << state.dump(2) << "\n";
  } else {
    std::cout << "--- " << address << " ping statistics ---\n"
              << sent << " sent, " << received << " received, "
              << (sent == 0 ? 0 : (sent - std::min(sent, received)) * 100 / sent) << "% loss\n";
  }
  return received > 0 ? 0 : 1;
}

int follow_traceroute(mh::meshctl::AdminClient& client, long probe, const std::string& address, bool as_json,
                      std::chrono::steady_clock::time_point deadline) {
  nlohmann::json state;
  for (;;) {
    check_deadline(deadline);
    state = client.call("switch.probe", {{"probe", probe}});
    if (state.value("done", false)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (as_json) {
    std::cout << state.dump(2) << "\n";
  } else {
    std::cout << "traceroute to " << address << "\n";
    for (const auto& h : state["hops"]) {
      if (h.value("timeout", false))
        std::cout << std::setw(3) << text(h["hop"]) << "  *\n";
      else
        std::cout << std::setw(3) << text(h["hop"]) << "  " << text(h["address"]) << "  " << fixed(h["rttMs"], 3)
                  << " ms\n";
    }
    if (!state.value("reached", false)) std::cout << "destination not reached\n";
  }
  return state.value("reached", false) ? 0 : 1;
}

// ping/traceroute options after the address: -c N, -i MS, -s BYTES, -m HOPS.
bool parse_probe_args(const std::vector<std::string>& args, nlohmann::json& params) {
  if (args.size() < 2) return false;
  params["address"] = args[1];
  for (std::size_t i = 2; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return false;
    const std::string& flag = args[i];
    long value = 0;
    try {
      std::size_t used = 0;
      value = std::stol(args[i + 1], &used);
      if (used != args[i + 1].size()) return false;
    } catch (const std::exception&) {
      return false;
    }
    if (args[0] == "ping" && flag == "-c") params["count"] = value;
    else if (args[0] == "ping" && flag == "-i") params["intervalMs"] = value;
    else if (args[0] == "ping" && flag == "-s") params["size"] = value;
    else if (args[0] == "traceroute" && flag == "-m") params["maxHops"] = value;
    else return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket = std::getenv("MESHHOST_ADMIN_SOCKET") ? std::getenv("MESHHOST_ADMIN_SOCKET") : kDefaultSocket;
  bool as_json = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--socket" || arg == "-s") {
      if (++i >= argc) return usage(std::cerr, 2);
      socket = argv[i];
    } else if (arg.rfind("--socket=", 0) == 0) {
      socket = arg.substr(9);
    } else if (arg == "--json") {
      as_json = true;
    } else if (arg == "--help" || arg == "-h") {
      return usage(std::cout, 0);
    } else {
      args.push_back(arg);
    }
  }
  if (args.empty()) return usage(std::cerr, 2);

  const std::string& command = args[0];
  std::string method;
  nlohmann::json params;
  if (command == "status") method = "host.status";
  else if (command == "plugins") method = "host.plugins";
  else if (command == "peers") method = "switch.peers";
  else if (command == "routes") method = "router.routes";
  else if (command == "sessions") method = "session.list";
  else if (command == "tunnel") method = "iptunnel.status";
  else if (command == "usage") {
    method = "billing.usage";
    if (!parse_usage_args(args, params)) return usage(std::cerr, 2);
  }
  else if (command == "ping" || command == "traceroute") {
    method = command == "ping" ? "switch.ping" : "switch.traceroute";
    if (!parse_probe_args(args, params)) return usage(std::cerr, 2);
  }
  else if (command == "methods") method = "host.methods";
  else if (command == "metrics") method = "host.metrics";
  else if (command == "reload") method = "host.reload";
  else if (command == "call") {
    if (args.size() < 2 || args.size() > 3) return usage(std::cerr, 2);
    method = args[1];
    if (args.size() == 3) {
      try {
        params = nlohmann::json::parse(args[2]);
      } catch (const nlohmann::json::exception& e) {
        std::cerr << "meshctl: params are not JSON: " << e.what() << "\n";
        return 2;
      }
    }
  } else {
    std::cerr << "meshctl: unknown command \"" << command << "\"\n";
    return usage(std::cerr, 2);
  }
  const bool tunnel_usage_command = command == "tunnel" && args.size() == 2 && args[1] == "usage";
  if (command != "call" && command != "ping" && command != "traceroute" && command != "usage" && args.size() != 1 &&
      !tunnel_usage_command)
    return usage(std::cerr, 2);

  try {
    mh::meshctl::AdminClient client(socket);
    if (tunnel_usage_command) {
      method = "iptunnel.requestAccount";
      return tunnel_usage(client, as_json);
    }
    nlohmann::json result = client.call(method, params);
    if (command == "ping")
      return follow_ping(client, result.at("probe").get<long>(), args[1], as_json, probe_deadline(params));
    if (command == "traceroute")
      return follow_traceroute(client, result.at("probe").get<long>(), args[1], as_json, probe_deadline(params));
    if (as_json || command == "call" || command == "methods" || command == "metrics" || command == "reload")
      std::cout << result.dump(2) << "\n";
    else if (command == "status")
      print_status(result);
    else if (command == "plugins")
      print_plugins(result);
    else if (command == "peers")
      print_peers(result);
    else if (command == "routes")
      print_routes(result);
    else if (command == "sessions")
      print_sessions(result);
    else if (command == "tunnel")
      print_tunnel(result);
    else if (command == "usage")
      print_usage(result);
    return 0;
  } catch (const mh::meshctl::RpcError& e) {
    std::cerr << "meshctl: " << method << ": " << e.message << " (code " << e.code << ")\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "meshctl: " << e.what() << "\n";
    return 1;
  }
}
