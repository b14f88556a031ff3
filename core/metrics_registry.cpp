// Metric storage and exposition. Values are atomics so that a plugin's worker thread (a
// ledger, say) may update a metric it registered on the loop thread.
#include "metrics_registry.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mh::core {

namespace {

bool is_name_char(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

bool is_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!is_name_char(name[i], i == 0, false)) return false;
  return true;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

bool is_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!is_name_char(name[i], i == 0, true)) return false;
  return true;
}

struct MetricsRegistry::Series final : Counter, Gauge {
  std::string owner;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
  std::atomic<std::uint64_t> count{0};
  std::atomic<double> level{0.0};

  void add(std::uint64_t delta) noexcept override { count.fetch_add(delta, std::memory_order_relaxed); }
  void set(double value) noexcept override { level.store(value, std::memory_order_relaxed); }
};

struct MetricsRegistry::Family {
  std::string help;
  bool is_counter = true;
  std::map<std::string, std::unique_ptr<Series>> series;  // by rendered label set
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Series* MetricsRegistry::find_or_add(const std::string& owner, const std::string& name,
                                                      const std::string& help, bool is_counter,
                                                      const std::vector<std::pair<std::string, std::string>>& labels) {
  if (!is_metric_name(name)) return nullptr;
  auto sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key;
  for (const auto& [label, value] : sorted) {
    if (!is_label_name(label)) return nullptr;
    key += label + "=\"" + escape_label_value(value) + "\",";
  }
  auto& family = families_[name];
  if (!family) {
    family = std::make_unique<Family>();
    family->help = help;
    family->is_counter = is_counter;
  } else if (family->is_counter != is_counter) {
    return nullptr;
  }
  auto& series = family->series[key];
  if (!series) {
    series = std::make_unique<Series>();
    series->owner = owner;
    series->labels = std::move(sorted);
  } else if (series->owner != owner) {
    return nullptr;  // another plugin's series: it goes when that plugin does
  }
  return series.get();
}

Counter* MetricsRegistry::counter(const std::string& owner, const std::string& name, const std::string& help,
                                  const std::vector<std::pair<std::string, std::string>>& labels) {
  return find_or_add(owner, name, help, true, labels);
}

Gauge* MetricsRegistry::gauge(const std::string& owner, const std::string& name, const std::string& help,
                              const std::vector<std::pair<std::string, std::string>>& labels) {
  return find_or_add(owner, name, help, false, labels);
}

void MetricsRegistry::remove_owner(const std::string& owner) {
  for (auto family = families_.begin(); family != families_.end();) {
    auto& series = family->second->series;
    for (auto it = series.begin(); it != series.end();) it = it->second->owner == owner ? series.erase(it) : std::next(it);
    family = series.empty() ? families_.erase(family) : std::next(family);
  }
}

std::string MetricsRegistry::prometheus_text() const {
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + " " + escape_help(family->help) + "\n";
    out += "# TYPE " + name + (family->is_counter ? " counter\n" : " gauge\n");
    for (const auto& [key, series] : family->series) {
      out += name;
      if (!series->labels.empty()) {
        out += "{";
        for (std::size_t i = 0; i < series->labels.size(); ++i) {
          if (i) out += ",";
          out += series->labels[i].first + "=\"" + escape_label_value(series->labels[i].second) + "\"";
        }
        out += "}";
      }
      out += " ";
      out += family->is_counter ? std::to_string(series->count.load(std::memory_order_relaxed))
                                : format_value(series->level.load(std::memory_order_relaxed));
      out += "\n";
    }
  }
  return out;
}

nlohmann::json MetricsRegistry::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, family] : families_) {
    for (const auto& [key, series] : family->series) {
      nlohmann::json labels = nlohmann::json::object();
      for (const auto& [label, value] : series->labels) labels[label] = value;
      nlohmann::json entry = {{"name", name},
                              {"type", family->is_counter ? "counter" : "gauge"},
                              {"help", family->help},
                              {"labels", labels}};
      if (family->is_counter)
        entry["value"] = series->count.load(std::memory_order_relaxed);
      else
        entry["value"] = series->level.load(std::memory_order_relaxed);
      out.push_back(std::move(entry));
    }
  }
  return out;
}

}  // namespace mh::core
