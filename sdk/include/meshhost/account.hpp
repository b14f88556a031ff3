// A client's account at its gateway (DESIGN §6, §7): billing keeps it, iptunnel carries it
// to the client over the client's session — when the client asks (`meshctl tunnel usage`)
// and, unasked, when the account is blocked, throttled or opened again.
#pragma once

#include <meshhost/types.hpp>

namespace mh {

enum class AccountState : std::uint8_t {
  open = 0,       // traffic flows under the plan's rate limit
  blocked = 1,    // over quota with overQuota "block": nothing passes until the period ends
  throttled = 2,  // over quota with overQuota "throttle": shaped to throttle_bps
};

// Fixed-size fields only: it crosses the plugin boundary. Strings are not terminated.
struct AccountReport {
  AccountState state = AccountState::open;
  std::uint8_t plan_size = 0;
  char plan[32] = {};  // the plan's name
  std::uint8_t currency_size = 0;
  char currency[8] = {};
  std::int64_t period_start_unix = 0;  // this period, [start, end), Unix seconds
  std::int64_t period_end_unix = 0;
  std::uint64_t quota_bytes = 0;       // 0: no quota
  std::uint64_t billable_bytes = 0;    // this period, counted toward the quota and billed
  std::uint64_t bytes_up = 0;          // this period, every byte metered, billable or not
  std::uint64_t bytes_down = 0;
  std::uint64_t unbilled_bytes = 0;    // this period: free prefixes and unsolicited traffic
  std::uint64_t rate_up_bps = 0;       // the plan's rate limits, 0: none
  std::uint64_t rate_down_bps = 0;
  std::uint64_t throttle_bps = 0;      // the rate when throttled (overQuota "throttle"), else 0
  std::uint64_t price_micro_per_gb = 0;  // integer micro-units of `currency` per 10^9 bytes
  std::uint64_t amount_micro = 0;        // this period's amount so far
};

// Offered by billing under service name "billing" (ask it for kAccountReporterInterface).
class AccountReporter {
 public:
  // Fills `out` with `client`'s account now, from memory (no I/O). not_found for a key
  // billing has never seen and that no plan applies to.
  virtual Status account_of(const PublicKey& client, AccountReport* out) noexcept = 0;

 protected:
  ~AccountReporter() = default;
};

inline constexpr InterfaceId kAccountReporterInterface = interface_id("meshhost.billing.account.v1");

// Offered by iptunnel under service name "iptunnel" (ask it for kAccountNoticesInterface).
class AccountNotices {
 public:
  // Tells `client`, over its session, that its account is now as `report` says (billing
  // calls it when a client is blocked, throttled, or open again at a period reset). The
  // client logs it and shows it in `meshctl tunnel`. Dropped when `client` holds no lease.
  virtual void notify_account(const PublicKey& client, const AccountReport& report) noexcept = 0;

 protected:
  ~AccountNotices() = default;
};

inline constexpr InterfaceId kAccountNoticesInterface = interface_id("meshhost.iptunnel.account_notices.v1");

}  // namespace mh
