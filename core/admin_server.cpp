// JSON-RPC 2.0 over a Unix socket on the SDK loop: newline-delimited, bounded buffers,
// non-blocking writes with a bounded output queue per connection.
#include "admin_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace mh::core {

namespace {

constexpr std::size_t kMaxRequestBytes = 1 << 20;   // one request line
constexpr std::size_t kMaxPendingOutput = 16 << 20;  // a client that does not read is dropped
constexpr std::size_t kMaxConnections = 64;
constexpr std::uint64_t kAcceptRetryDelayNs = 1'000'000'000;
constexpr std::size_t kReadChunk = 64 * 1024;
// nlohmann::json copies and dumps recurse once per nesting level: deeper requests are
// refused before parsing so that no request can exhaust the stack.
constexpr std::size_t kMaxJsonDepth = 64;
constexpr auto kReplaceInvalidUtf8 = nlohmann::json::error_handler_t::replace;

nlohmann::json error_response(const nlohmann::json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// True when `text` nests arrays/objects deeper than `limit` (brackets inside strings
// do not count).
bool nests_deeper_than(const std::string& text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace

struct AdminServer::Connection final : FdHandler {
  AdminServer* server;
  int fd;
  FdWatch* watch = nullptr;
  std::string input;
  std::string output;
  bool closing = false;  // the client shut its side; close once output is written

  void on_fd_ready(int, std::uint32_t events) noexcept override { server->on_connection_ready(this, events); }
};

AdminServer::AdminServer(Loop& loop) : loop_(loop) {}

AdminServer::~AdminServer() { close(); }

void AdminServer::listen(const std::string& path) {
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) throw std::runtime_error("admin socket path is too long: " + path);
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0755);
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  // A socket file left behind by a crashed run refuses connections; a live one answers.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error("admin socket path " + path + " exists and is not a socket");
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (probe >= 0) ::close(probe);
    if (live) throw std::runtime_error("another process already answers on admin socket " + path);
    ::unlink(path.c_str());
  }

  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(errno_text("admin socket"));
  // The umask makes the socket 0600 from the moment it exists; chmod states it again.
  mode_t old_mask = ::umask(0177);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::umask(old_mask);
  if (rc != 0) {
    std::string reason = errno_text("cannot bind admin socket " + path);
    close();
    throw std::runtime_error(reason);
  }
  path_ = path;
  ::chmod(path.c_str(), 0600);
  if (::listen(listen_fd_, 16) != 0) {
    std::string reason = errno_text("cannot listen on admin socket " + path);
    close();
    throw std::runtime_error(reason);
  }
  Status status = loop_.watch_fd(listen_fd_, kFdReadable, static_cast<FdHandler*>(this), &listen_watch_);
  if (status.ok()) status = loop_.create_timer(static_cast<TimerHandler*>(this), &accept_retry_);
  if (!status.ok()) {
    close();
    throw std::runtime_error("cannot watch admin socket: " + std::string(status.message.data, status.message.size));
  }
}

void AdminServer::close() {
  while (!connections_.empty()) drop(connections_.begin()->first);
  if (listen_watch_) listen_watch_->release();
  listen_watch_ = nullptr;
  if (accept_retry_) accept_retry_->release();
  accept_retry_ = nullptr;
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

bool AdminServer::add_method(const std::string& name, const std::string& owner, Method method) {
  return methods_.emplace(name, Entry{owner, std::move(method)}).second;
}

void AdminServer::remove_owner(const std::string& owner) {
  for (auto it = methods_.begin(); it != methods_.end();) it = it->second.owner == owner ? methods_.erase(it) : std::next(it);
}

std::vector<std::string> AdminServer::method_names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : methods_) names.push_back(name);
  return names;
}

nlohmann::json AdminServer::handle(const nlohmann::json& request) {
  if (request.is_array()) {
    if (request.empty()) return error_response(nullptr, kRpcInvalidRequest, "empty batch");
    nlohmann::json responses = nlohmann::json::array();
    for (const auto& one : request) {
      auto response = handle(one.is_array() ? nlohmann::json() : one);
      if (!response.is_null()) responses.push_back(std::move(response));
    }
    return responses.empty() ? nlohmann::json() : responses;
  }
  if (!request.is_object()) return error_response(nullptr, kRpcInvalidRequest, "a request must be an object");
  const bool notification = !request.contains("id");
  nlohmann::json id = notification ? nlohmann::json() : request["id"];
  if (!id.is_null() && !id.is_string() && !id.is_number())
    return error_response(nullptr, kRpcInvalidRequest, "id must be a string, a number or null");
  auto version = request.find("jsonrpc");
  if (version == request.end() || !version->is_string() || version->get<std::string>() != "2.0")
    return error_response(id, kRpcInvalidRequest, "jsonrpc must be \"2.0\"");
  auto method = request.find("method");
  if (method == request.end() || !method->is_string())
    return error_response(id, kRpcInvalidRequest, "method must be a string");
  nlohmann::json params = request.value("params", nlohmann::json());
  if (!params.is_null() && !params.is_object() && !params.is_array())
    return error_response(id, kRpcInvalidParams, "params must be an object or an array");

  nlohmann::json response;
  auto entry = methods_.find(method->get<std::string>());
  if (entry == methods_.end()) {
    response = error_response(id, kRpcMethodNotFound, "no method " + method->get<std::string>() +
                                                          " (host.methods lists them)");
  } else {
    try {
      response = {{"jsonrpc", "2.0"}, {"id", id}, {"result", entry->second.method(params)}};
    } catch (const AdminError& e) {
      response = error_response(id, e.code, e.message);
    } catch (const std::exception& e) {
      response = error_response(id, kRpcServerError, e.what());
    }
  }
  return notification ? nlohmann::json() : response;
}

std::string AdminServer::handle_line(const std::string& line) {
  if (nests_deeper_than(line, kMaxJsonDepth))
    return error_response(nullptr, kRpcInvalidRequest,
                          "request nests deeper than " + std::to_string(kMaxJsonDepth) + " levels")
        .dump();
  nlohmann::json request;
  try {
    request = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return error_response(nullptr, kRpcParseError, std::string("parse error: ") + e.what())
        .dump(-1, ' ', false, kReplaceInvalidUtf8);
  }
  auto response = handle(request);
  return response.is_null() ? std::string() : response.dump(-1, ' ', false, kReplaceInvalidUtf8);
}

void AdminServer::on_fd_ready(int, std::uint32_t) noexcept {
  // The listening socket: accept everything pending.
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the pending connection stays queued and the level-triggered
        // watch would fire at once again, so pause accepting for a while instead.
        listen_watch_->set_events(0);
        accept_retry_->arm(kAcceptRetryDelayNs);
      }
      return;  // EAGAIN, or a transient error: try again on the next wake-up
    }
    if (connections_.size() >= kMaxConnections) {
      ::close(fd);
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->server = this;
    connection->fd = fd;
    if (!loop_.watch_fd(fd, kFdReadable, connection.get(), &connection->watch).ok()) {
      ::close(fd);
      continue;
    }
    connections_.emplace(connection.get(), std::move(connection));
  }
}

void AdminServer::on_timer() noexcept {
  if (listen_watch_) listen_watch_->set_events(kFdReadable);
}

void AdminServer::answer(Connection* c, const std::string& line) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;
  std::string reply;
  try {
    reply = handle_line(line);
  } catch (const std::exception& e) {
    reply = error_response(nullptr, kRpcServerError, e.what()).dump(-1, ' ', false, kReplaceInvalidUtf8);
  }
  if (!reply.empty()) c->output += reply + "\n";
}

void AdminServer::on_connection_ready(Connection* c, std::uint32_t events) noexcept {
  if ((events & kFdReadable) && !c->closing) {
    char buffer[kReadChunk];
    ssize_t n = ::read(c->fd, buffer, sizeof buffer);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      drop(c);
      return;
    }
    if (n > 0) c->input.append(buffer, static_cast<std::size_t>(n));
    std::size_t newline;
    while ((newline = c->input.find('\n')) != std::string::npos) {
      std::string line = c->input.substr(0, newline);
      c->input.erase(0, newline + 1);
      answer(c, line);
    }
    if (n == 0) {
      // The client finished sending: a last request without a newline still gets its
      // answer, and everything pending is written before the connection closes.
      answer(c, c->input);
      c->input.clear();
      c->closing = true;
    }
    if (c->input.size() > kMaxRequestBytes || c->output.size() > kMaxPendingOutput) {
      drop(c);
      return;
    }
  }
  if (!c->output.empty()) {
    ssize_t n = ::send(c->fd, c->output.data(), c->output.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      drop(c);
      return;
    }
    if (n > 0) c->output.erase(0, static_cast<std::size_t>(n));
  }
  if (c->closing && c->output.empty()) {
    drop(c);
    return;
  }
  std::uint32_t wanted = c->output.empty() ? 0u : kFdWritable;
  if (!c->closing) wanted |= kFdReadable;
  c->watch->set_events(wanted);
}

void AdminServer::drop(Connection* c) {
  auto it = connections_.find(c);
  if (it == connections_.end()) return;
  c->watch->release();
  ::close(c->fd);
  connections_.erase(it);
}

}  // namespace mh::core
