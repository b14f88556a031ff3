// meshhost's command line: argument parsing and nothing else.
#include "commands.hpp"

#include <meshhost/abi.hpp>

#include <boost/program_options.hpp>

#include <iostream>

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  po::options_description options("meshhost options");
  options.add_options()
    ("help,h", "show this help")
    ("version", "print the version")
    ("config,c", po::value<std::string>()->value_name("FILE"), "run a node with this config")
    ("check-config", po::value<std::string>()->value_name("FILE"), "validate a config (host keys and every enabled plugin) and exit")
    ("plugins", "list every plugin found, with why any cannot load; starts none")
    ("json", "with --plugins: print JSON")
    ("genconf", "print a commented config with a fresh identity")
    ("genkey", "print a fresh private key (64 hex characters) for a privateKeyFile")
    ("import-cjdroute", po::value<std::string>()->value_name("FILE"), "print a meshhost config with the identity, links, peers and passwords of a cjdroute.conf")
    ("profile", po::value<std::string>()->default_value("relay")->value_name("NAME"), "with --genconf: relay, client or gateway")
    ("plugin-dir", po::value<std::vector<std::string>>()->value_name("DIR"), "search DIR for plugins first (repeatable)")
    ("log-level", po::value<std::string>()->value_name("LEVEL"), "trace, debug, info, warn or error (overrides the config)");

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "meshhost: " << e.what() << "\n" << options;
    return mh::core::kExitConfig;
  }
  if (vm.count("help")) {
    std::cout << "usage: meshhost --config FILE | --check-config FILE | --plugins | --genconf [--profile NAME] | --genkey | --import-cjdroute FILE\n\n"
              << options;
    return mh::core::kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "meshhost " << MESHHOST_VERSION << " (plugin ABI " << MESHHOST_ABI_MAJOR << "." << MESHHOST_ABI_MINOR << ")\n";
    return mh::core::kExitOk;
  }

  mh::core::CommandOptions command;
  if (vm.count("plugin-dir")) command.plugin_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  if (vm.count("log-level")) {
    const auto level = vm["log-level"].as<std::string>();
    if (level != "trace" && level != "debug" && level != "info" && level != "warn" && level != "error") {
      std::cerr << "meshhost: --log-level: expected trace, debug, info, warn or error, got \"" << level << "\"\n";
      return mh::core::kExitConfig;
    }
    command.log_level = level;
  }
  std::optional<std::string> config;
  if (vm.count("config")) config = vm["config"].as<std::string>();

  try {
    if (vm.count("genkey")) return mh::core::genkey();
    if (vm.count("import-cjdroute")) return mh::core::import_cjdroute(vm["import-cjdroute"].as<std::string>());
    if (vm.count("genconf")) return mh::core::genconf(vm["profile"].as<std::string>());
    if (vm.count("plugins")) return mh::core::list_plugins(config, command, vm.count("json") > 0);
    if (vm.count("check-config")) return mh::core::check_config(vm["check-config"].as<std::string>(), command);
    if (config) return mh::core::run_node(*config, command);
  } catch (const std::exception& e) {
    std::cerr << "meshhost: " << e.what() << "\n";
    return mh::core::kExitFailure;
  }
  std::cerr << "meshhost: nothing to do: give --config FILE (or --help)\n";
  return mh::core::kExitConfig;
}
