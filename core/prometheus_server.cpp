// A deliberately small HTTP/1.0-style responder: GET /metrics gets the text, anything
// else 404; one response per connection, bounded request size.
#include "prometheus_server.hpp"

#include "config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mh::core {

namespace {
constexpr std::size_t kMaxRequestBytes = 8192;
constexpr std::size_t kMaxClients = 16;
}  // namespace

struct PrometheusServer::Client final : FdHandler {
  PrometheusServer* server;
  int fd;
  FdWatch* watch = nullptr;
  std::string request;
  std::string response;
  bool responding = false;

  void on_fd_ready(int, std::uint32_t events) noexcept override { server->on_client_ready(this, events); }
};

PrometheusServer::PrometheusServer(Loop& loop, const MetricsRegistry& metrics) : loop_(loop), metrics_(metrics) {}
PrometheusServer::~PrometheusServer() { close(); }

void PrometheusServer::listen(const std::string& host_port) {
  auto parsed = parse_host_port(host_port);
  if (!parsed) throw std::runtime_error("metrics.prometheus: not host:port: " + host_port);
  std::string host = parsed->host == "localhost" ? "127.0.0.1" : parsed->host;
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&storage); ::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(parsed->port));
    length = sizeof *v4;
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
             ::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(parsed->port));
    length = sizeof *v6;
  } else {
    throw std::runtime_error("metrics.prometheus: not an IP address: " + host);
  }
  listen_fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    std::string reason = "cannot listen for metrics on " + host_port + ": " + std::strerror(errno);
    close();
    throw std::runtime_error(reason);
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  if (!loop_.watch_fd(listen_fd_, kFdReadable, this, &watch_).ok()) {
    close();
    throw std::runtime_error("cannot watch the metrics socket");
  }
}

void PrometheusServer::close() {
  while (!clients_.empty()) drop(clients_.begin()->first);
  if (watch_) watch_->release();
  watch_ = nullptr;
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void PrometheusServer::on_fd_ready(int, std::uint32_t) noexcept {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (clients_.size() >= kMaxClients) {
      ::close(fd);
      continue;
    }
    auto client = std::make_unique<Client>();
    client->server = this;
    client->fd = fd;
    if (!loop_.watch_fd(fd, kFdReadable, client.get(), &client->watch).ok()) {
      ::close(fd);
      continue;
    }
    clients_.emplace(client.get(), std::move(client));
  }
}

void PrometheusServer::on_client_ready(Client* c, std::uint32_t events) noexcept {
  if (!c->responding && (events & kFdReadable)) {
    char buffer[2048];
    ssize_t n = ::read(c->fd, buffer, sizeof buffer);
    if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
      drop(c);
      return;
    }
    if (n > 0) c->request.append(buffer, static_cast<std::size_t>(n));
    if (c->request.size() > kMaxRequestBytes) {
      drop(c);
      return;
    }
    if (c->request.find("\r\n\r\n") == std::string::npos && c->request.find("\n\n") == std::string::npos) return;
    std::string body;
    std::string status;
    if (c->request.rfind("GET /metrics ", 0) == 0 || c->request.rfind("GET / ", 0) == 0) {
      status = "200 OK";
      try {
        body = metrics_.prometheus_text();
      } catch (...) {
        status = "500 Internal Server Error";
      }
    } else {
      status = "404 Not Found";
      body = "try GET /metrics\n";
    }
    c->response = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
                  "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    c->responding = true;
    c->watch->set_events(kFdWritable);
    return;
  }
  if (c->responding) {
    ssize_t n = ::send(c->fd, c->response.data(), c->response.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      drop(c);
      return;
    }
    if (n > 0) c->response.erase(0, static_cast<std::size_t>(n));
    if (c->response.empty()) drop(c);
  }
}

void PrometheusServer::drop(Client* c) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  c->watch->release();
  ::close(c->fd);
  clients_.erase(it);
}

}  // namespace mh::core
