// A traffic hook for the iptunnel scenarios, as billing will use one (DESIGN §6): counts
// what iptunnel reports per direction — packets, inner IP bytes, packets on flows the
// client opened — and, when told, drops every packet or queues each one and resumes it
// on the next loop turn (the "queued" verdict, as a shaper would).
// "traffic_tap.stats" → {upstream: {packets, bytes, opened}, downstream: {…}, queued, resumed,
//   plan: the plan iptunnel names for the last client seen}
// "traffic_tap.mode" {"verdict": "pass" | "drop" | "queue"} → {"verdict": …}
#include <meshhost/plugin.hpp>
#include <meshhost/traffic.hpp>

#include <deque>
#include <new>
#include <string>

namespace {

class TrafficTap final : public mh::Plugin, mh::TrafficHook, mh::TimerHandler {
 public:
  explicit TrafficTap(mh::Host* host) noexcept : host_(host) {}

  mh::Status init() noexcept {
    if (const mh::Status s = host_->register_admin_method("traffic_tap.stats", &stats_); !s.ok()) return s;
    return host_->register_admin_method("traffic_tap.mode", &mode_);
  }

  mh::Status start() noexcept override {
    mh::Service* service = host_->lookup("iptunnel");
    hooks_ = service == nullptr ? nullptr : static_cast<mh::TrafficHooks*>(service->query(mh::kTrafficHooksInterface));
    if (hooks_ == nullptr) return mh::Status::error(mh::StatusCode::unavailable, "traffic_tap: no iptunnel hooks");
    if (const mh::Status s = host_->loop()->create_timer(this, &timer_); !s.ok()) return s;
    return hooks_->add_hook(this);
  }
  void stop() noexcept override {
    hooks_->remove_hook(this);
    for (Held& h : held_) h.packet->release();  // ours until resumed: give them back
    held_.clear();
    if (timer_ != nullptr) timer_->release();
    timer_ = nullptr;
  }
  mh::ReconfigureResult reconfigure(mh::Str, mh::ErrorSink*) noexcept override { return mh::ReconfigureResult::applied; }
  void* query(mh::InterfaceId) noexcept override { return nullptr; }

  mh::TrafficVerdict on_traffic(const mh::TrafficInfo& info, mh::Packet* packet) noexcept override {
    Count& c = info.direction == mh::TrafficDirection::upstream ? up_ : down_;
    c.packets++;
    c.bytes += info.ip_length;
    if (info.client_opened) c.opened++;
    last_client_ = info.client;
    if (verdict_ == "drop") return mh::TrafficVerdict::drop;
    if (verdict_ == "queue") {
      try {
        held_.push_back(Held{info, packet});
      } catch (const std::bad_alloc&) {
        return mh::TrafficVerdict::drop;
      }
      queued_++;
      timer_->arm(1);
      return mh::TrafficVerdict::queued;
    }
    return mh::TrafficVerdict::pass;
  }

  void on_timer() noexcept override {
    while (!held_.empty()) {
      const Held h = held_.front();
      held_.pop_front();
      resumed_++;
      hooks_->resume(this, h.info, h.packet);
    }
  }

 private:
  struct Count {
    std::uint64_t packets = 0, bytes = 0, opened = 0;
  };
  struct Held {
    mh::TrafficInfo info;
    mh::Packet* packet;
  };
  static std::string json(const Count& c) {
    return "{\"packets\":" + std::to_string(c.packets) + ",\"bytes\":" + std::to_string(c.bytes) +
           ",\"opened\":" + std::to_string(c.opened) + "}";
  }

  struct Stats final : mh::AdminHandler {
    explicit Stats(TrafficTap* t) : tap(t) {}
    mh::Status call(mh::Str, mh::StringSink* result) noexcept override {
      const mh::Str plan = tap->hooks_ != nullptr ? tap->hooks_->plan_of(tap->last_client_) : mh::Str();
      const std::string text = "{\"upstream\":" + json(tap->up_) + ",\"downstream\":" + json(tap->down_) +
                               ",\"queued\":" + std::to_string(tap->queued_) +
                               ",\"resumed\":" + std::to_string(tap->resumed_) + ",\"plan\":\"" +
                               std::string(plan.data, plan.size) + "\"}";
      result->append(mh::Str::of(text));
      return mh::Status::success();
    }
    TrafficTap* tap;
  };
  struct Mode final : mh::AdminHandler {
    explicit Mode(TrafficTap* t) : tap(t) {}
    mh::Status call(mh::Str params, mh::StringSink* result) noexcept override {
      const std::string text(params.data, params.size);
      for (const char* v : {"pass", "drop", "queue"}) {
        if (text.find(std::string("\"") + v + "\"") != std::string::npos) tap->verdict_ = v;
      }
      const std::string out = "{\"verdict\":\"" + tap->verdict_ + "\"}";
      result->append(mh::Str::of(out));
      return mh::Status::success();
    }
    TrafficTap* tap;
  };

  mh::Host* host_;
  mh::TrafficHooks* hooks_ = nullptr;
  mh::Timer* timer_ = nullptr;
  std::string verdict_ = "pass";
  Count up_, down_;
  std::uint64_t queued_ = 0, resumed_ = 0;
  mh::PublicKey last_client_;
  std::deque<Held> held_;
  Stats stats_{this};
  Mode mode_{this};
};

void validate(mh::Str, mh::ErrorSink*) noexcept {}

mh::Status create(mh::Host* host, mh::Str, mh::Plugin** out) noexcept {
  auto* plugin = new (std::nothrow) TrafficTap(host);
  if (plugin == nullptr) return mh::Status::error(mh::StatusCode::internal, "traffic_tap: out of memory");
  if (const mh::Status s = plugin->init(); !s.ok()) {
    delete plugin;
    return s;
  }
  *out = plugin;
  return mh::Status::success();
}

void destroy(mh::Plugin* plugin) noexcept { delete static_cast<TrafficTap*>(plugin); }

constexpr mh::Str kRequired[] = {"iptunnel"};
constexpr mh::PluginDescriptor kDescriptor = {
    sizeof(mh::PluginDescriptor), MESHHOST_ABI_MAJOR, MESHHOST_ABI_MINOR, "traffic_tap", "0.1.0",
    "test only: counts, drops or queues iptunnel traffic through its hooks", "test", nullptr, 0, kRequired, 1, "{}",
    mh::Stability::experimental, validate, create, destroy};

}  // namespace

MESHHOST_PLUGIN(kDescriptor)
