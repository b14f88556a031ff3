// Serves the metrics registry as Prometheus text over HTTP on a loopback address.
#pragma once

#include "metrics_registry.hpp"

#include <meshhost/loop.hpp>

#include <map>
#include <memory>
#include <string>

namespace mh::core {

class PrometheusServer final : private FdHandler {
 public:
  PrometheusServer(Loop& loop, const MetricsRegistry& metrics);
  ~PrometheusServer();

  // Listens on "host:port" (loopback only; the config check enforces it). Throws
  // std::runtime_error with a one-line reason.
  void listen(const std::string& host_port);
  void close();
  // The port actually bound (useful with port 0 in tests).
  unsigned port() const { return port_; }

 private:
  struct Client;
  void on_fd_ready(int fd, std::uint32_t events) noexcept override;
  void on_client_ready(Client* client, std::uint32_t events) noexcept;
  void drop(Client* client);

  Loop& loop_;
  const MetricsRegistry& metrics_;
  int listen_fd_ = -1;
  unsigned port_ = 0;
  FdWatch* watch_ = nullptr;
  std::map<Client*, std::unique_ptr<Client>> clients_;
};

}  // namespace mh::core
