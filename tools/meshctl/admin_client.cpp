// The admin client's socket handling: one request line out, one response line back.
#include "admin_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mh::meshctl {

AdminClient::AdminClient(const std::string& socket_path, int timeout_ms) : socket_path_(socket_path) {
  sockaddr_un address{};
  if (socket_path.size() >= sizeof address.sun_path) throw std::runtime_error("socket path too long: " + socket_path);
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::string reason = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("cannot connect to " + socket_path + ": " + reason + " (is meshhost running?)");
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

AdminClient::~AdminClient() {
  if (fd_ >= 0) ::close(fd_);
}

nlohmann::json AdminClient::call(const std::string& method, const nlohmann::json& params) {
  const int id = next_id_++;
  nlohmann::json request = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) request["params"] = params;
  std::string line = request.dump() + "\n";
  for (std::size_t sent = 0; sent < line.size();) {
    ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("sending to " + socket_path_ + ": " + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::size_t newline;
  while ((newline = buffer_.find('\n')) == std::string::npos) {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) throw std::runtime_error("meshhost closed the admin connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) throw std::runtime_error("no answer from meshhost in time");
      throw std::runtime_error(std::string("reading the answer: ") + std::strerror(errno));
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  nlohmann::json response = nlohmann::json::parse(buffer_.substr(0, newline));
  buffer_.erase(0, newline + 1);
  if (response.contains("error")) {
    const auto& error = response["error"];
    throw RpcError{error.value("code", 0), error.value("message", std::string("unknown error"))};
  }
  return response.value("result", nlohmann::json());
}

}  // namespace mh::meshctl
