// A blocking JSON-RPC 2.0 client for meshhost's admin socket.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace mh::meshctl {

class AdminClient {
 public:
  // Connects; throws std::runtime_error naming the socket and the reason.
  explicit AdminClient(const std::string& socket_path, int timeout_ms = 10000);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Calls `method` and returns its result; throws RpcError for an error response and
  // std::runtime_error for transport problems.
  nlohmann::json call(const std::string& method, const nlohmann::json& params = nullptr);

 private:
  int fd_ = -1;
  int next_id_ = 1;
  std::string buffer_;
  std::string socket_path_;
};

struct RpcError {
  int code;
  std::string message;
};

}  // namespace mh::meshctl
