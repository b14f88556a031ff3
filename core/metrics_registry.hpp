// Counters and gauges with labels, registered by the host and its plugins, read as JSON
// through the admin API and as Prometheus text.
#pragma once

#include <meshhost/host.hpp>

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mh::core {

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();

  // Returns the metric for (name, labels), creating it; nullptr if the name is not a valid
  // Prometheus name, a label name is invalid, the name is already used by the other type,
  // or another owner registered the same name and labels.
  // `owner` (a plugin name, or "host") lets remove_owner() drop a plugin's metrics.
  Counter* counter(const std::string& owner, const std::string& name, const std::string& help,
                   const std::vector<std::pair<std::string, std::string>>& labels);
  Gauge* gauge(const std::string& owner, const std::string& name, const std::string& help,
               const std::vector<std::pair<std::string, std::string>>& labels);

  void remove_owner(const std::string& owner);

  // Prometheus text exposition format, version 0.0.4.
  std::string prometheus_text() const;
  // [{"name", "type", "help", "labels": {...}, "value"}]
  nlohmann::json to_json() const;

 private:
  struct Family;
  struct Series;
  Series* find_or_add(const std::string& owner, const std::string& name, const std::string& help, bool is_counter,
                      const std::vector<std::pair<std::string, std::string>>& labels);

  std::map<std::string, std::unique_ptr<Family>> families_;
};

bool is_metric_name(const std::string& name);

}  // namespace mh::core
