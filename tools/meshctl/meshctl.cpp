// meshctl: talks to a running meshhost over its admin socket and prints the answers for
// people (tables) or for scripts (--json).
#include "admin_client.hpp"

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* kDefaultSocket = "/run/meshhost/admin.sock";

int usage(std::ostream& out, int code) {
  out << "usage: meshctl [--socket PATH] [--json] COMMAND\n"
         "\n"
         "commands:\n"
         "  status                 identity, address, uptime, plugins and their state\n"
         "  plugins                every plugin found, enabled or not, and why any cannot load\n"
         "  peers                  neighbours: state, link, endpoint, RTT, loss, cost, bytes (switch.peers)\n"
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

void print_peers(const nlohmann::json& peers) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : peers) {
    std::string name = p.value("peerName", std::string());
    rows.push_back({text(p["address"]), name.empty() ? "-" : name, text(p["state"]), text(p["link"]),
                    text(p["endpoint"]), fixed(p["rttMs"], 2), fixed(p["lossPercent"], 1), text(p["cost"]),
                    text(p["bytesIn"]), text(p["bytesOut"]), fixed(p["lastSeenSecondsAgo"], 1)});
  }
  if (rows.empty()) {
    std::cout << "no neighbours\n";
    return;
  }
  print_table({"ADDRESS", "NAME", "STATE", "LINK", "ENDPOINT", "RTT_MS", "LOSS_%", "COST", "BYTES_IN", "BYTES_OUT",
               "SEEN_S_AGO"},
              rows);
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
  if (command != "call" && args.size() != 1) return usage(std::cerr, 2);

  try {
    mh::meshctl::AdminClient client(socket);
    nlohmann::json result = client.call(method, params);
    if (as_json || command == "call" || command == "methods" || command == "metrics" || command == "reload")
      std::cout << result.dump(2) << "\n";
    else if (command == "status")
      print_status(result);
    else if (command == "plugins")
      print_plugins(result);
    else if (command == "peers")
      print_peers(result);
    return 0;
  } catch (const mh::meshctl::RpcError& e) {
    std::cerr << "meshctl: " << method << ": " << e.message << " (code " << e.code << ")\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "meshctl: " << e.what() << "\n";
    return 1;
  }
}
