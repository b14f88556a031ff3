// The admin API: JSON-RPC 2.0 over a Unix stream socket created mode 0600, one request
// or response per line. Methods come from the host and from plugins.
#pragma once

#include <meshhost/loop.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace mh::core {

// Thrown by a method to answer with a JSON-RPC error.
struct AdminError {
  int code;
  std::string message;
};

inline constexpr int kRpcParseError = -32700;
inline constexpr int kRpcInvalidRequest = -32600;
inline constexpr int kRpcMethodNotFound = -32601;
inline constexpr int kRpcInvalidParams = -32602;
inline constexpr int kRpcServerError = -32000;

class AdminServer final : private FdHandler, private TimerHandler {
 public:
  using Method = std::function<nlohmann::json(const nlohmann::json& params)>;

  explicit AdminServer(Loop& loop);
  ~AdminServer();

  // Creates the socket (and its directory, mode 0755, if missing). A stale socket left by
  // a crashed run is replaced; a socket another live process answers on is an error.
  // Throws std::runtime_error with a one-line reason.
  void listen(const std::string& path);
  void close();

  // `owner` lets remove_owner() drop a plugin's methods. False on a duplicate name.
  bool add_method(const std::string& name, const std::string& owner, Method method);
  void remove_owner(const std::string& owner);
  std::vector<std::string> method_names() const;

  // Handles one request object (or batch) and returns the response; null for notifications.
  // Used by the socket path and by tests.
  nlohmann::json handle(const nlohmann::json& request);
  std::string handle_line(const std::string& line);

 private:
  struct Connection;
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  void on_timer() noexcept override;
  void on_connection_ready(Connection* connection, std::uint32_t events) noexcept;
  void answer(Connection* connection, const std::string& line);
  void drop(Connection* connection);

  Loop& loop_;
  int listen_fd_ = -1;
  FdWatch* listen_watch_ = nullptr;
  Timer* accept_retry_ = nullptr;  // resumes accepting after running out of descriptors
  std::string path_;
  struct Entry {
    std::string owner;
    Method method;
  };
  std::map<std::string, Entry> methods_;
  std::map<Connection*, std::unique_ptr<Connection>> connections_;
};

}  // namespace mh::core
