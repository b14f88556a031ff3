// Lease decisions and the anti-spoof check of the iptunnel gateway.
#include "gateway_table.hpp"

#include <meshhost/keys.hpp>

#include <algorithm>
#include <cstring>

namespace mh::iptunnel {

namespace {

int compare(const PublicKey& a, const PublicKey& b) noexcept { return std::memcmp(a.bytes, b.bytes, sizeof a.bytes); }

bool has_family(const std::vector<PinnedAddress>& pinned, Family f) {
  return std::any_of(pinned.begin(), pinned.end(), [&](const PinnedAddress& p) { return p.alloc.address.family == f; });
}

// Addresses in `pool` a client may get: capped so the arithmetic stays in 64 bits.
std::uint64_t pool_capacity(const IpBlock& pool) noexcept {
  const unsigned host_bits = max_length(pool.address.family) - pool.length;
  return host_bits >= 32 ? (std::uint64_t{1} << 32) : (std::uint64_t{1} << host_bits);
}

// Offset 0 is the network address, 1 the gateway's own tunnel address; IPv4 also keeps the
// broadcast address (the last) out.
constexpr std::uint64_t kFirstClientOffset = 2;

}  // namespace

std::string format_lease_record(const LeaseRecord& record) {
  static const char* const kEvents[] = {"granted", "renewed", "ended"};
  std::string line = std::string(kEvents[static_cast<int>(record.event)]) + " " + format_public_key(record.key);
  for (const GrantedAddress& a : record.addresses) line += " " + format_ip(a.address) + "/" + std::to_string(a.alloc);
  return line + " start=" + std::to_string(record.start_s) + " end=" + std::to_string(record.end_s);
}

GatewayTable::GatewayTable(const IptunnelConfig& config, LeaseStore* store)
    : ip4_pool_(config.ip4_pool),
      ip6_pool_(config.ip6_pool),
      lease_seconds_(config.lease_seconds),
      mtu_(config.mtu),
      dns_(config.dns_servers),
      store_(store) {
  for (const AllowedConnection& c : config.allowed) {
    Client client;
    client.key = c.key;
    client.pinned = c.addresses;
    clients_.push_back(std::move(client));
  }
  std::sort(clients_.begin(), clients_.end(), [](const Client& a, const Client& b) { return compare(a.key, b.key) < 0; });
  // Keep only stored leases that still fit this config: a pinned key without a pinned
  // address of that family, an address in the pool, not reserved, one per key and family.
  const std::vector<StoredLease> stored = store_->load();
  for (const StoredLease& lease : stored) {
    const Client* c = find(lease.key);
    const auto& pool = lease.address.family == Family::ip4 ? ip4_pool_ : ip6_pool_;
    const bool fits = c && !has_family(c->pinned, lease.address.family) && pool && contains(*pool, lease.address) &&
                      !reserved(*pool, lease.address) &&
                      std::none_of(pool_leases_.begin(), pool_leases_.end(), [&](const StoredLease& other) {
                        return other.address == lease.address ||
                               (compare(other.key, lease.key) == 0 && other.address.family == lease.address.family);
                      });
    if (fits) pool_leases_.push_back(lease);
  }
  if (pool_leases_.size() != stored.size()) store_failed_ = !store_->save(pool_leases_);
}

GatewayTable::Client* GatewayTable::find(const PublicKey& key) noexcept {
  return const_cast<Client*>(static_cast<const GatewayTable*>(this)->find(key));
}

const GatewayTable::Client* GatewayTable::find(const PublicKey& key) const noexcept {
  auto it = std::lower_bound(clients_.begin(), clients_.end(), key,
                             [](const Client& c, const PublicKey& k) { return compare(c.key, k) < 0; });
  return it != clients_.end() && compare(it->key, key) == 0 ? &*it : nullptr;
}

const PinnedAddress* GatewayTable::pinned_containing(const IpAddress& a) const noexcept {
  for (const Client& c : clients_) {
    for (const PinnedAddress& p : c.pinned) {
      if (contains(p.alloc, a)) return &p;
    }
  }
  return nullptr;
}

bool GatewayTable::reserved(const IpBlock& pool, const IpAddress& a) const noexcept {
  const IpAddress base = network_of(pool);
  if (a == base || a == add_offset(base, 1)) return true;
  if (a.family == Family::ip4 && a == add_offset(base, pool_capacity(pool) - 1)) return true;
  return pinned_containing(a) != nullptr;
}

std::optional<IpAddress> GatewayTable::pool_address(const PublicKey& key, const IpBlock& pool, bool* saved_new) {
  const Family family = pool.address.family;
  for (const StoredLease& lease : pool_leases_) {
    if (compare(lease.key, key) == 0 && lease.address.family == family) return lease.address;
  }
  const IpAddress base = network_of(pool);
  const std::uint64_t end = pool_capacity(pool) - (family == Family::ip4 ? 1 : 0);
  for (std::uint64_t offset = kFirstClientOffset; offset < end; ++offset) {
    const IpAddress candidate = add_offset(base, offset);
    if (const PinnedAddress* inside = pinned_containing(candidate)) {
      // Skip the whole pinned block (aligned, so its end is the next multiple of its size);
      // a block of 2^32 addresses or more covers every offset this search tries.
      const unsigned host_bits = max_length(family) - inside->alloc.length;
      if (host_bits >= 32) break;
      offset |= (std::uint64_t{1} << host_bits) - 1;
      continue;
    }
    if (std::any_of(pool_leases_.begin(), pool_leases_.end(),
                    [&](const StoredLease& l) { return l.address == candidate; })) {
      continue;
    }
    pool_leases_.push_back(StoredLease{key, candidate});
    *saved_new = store_->save(pool_leases_);
    return candidate;
  }
  return std::nullopt;
}

GatewayDecision GatewayTable::request(const PublicKey& key, std::uint8_t families, std::uint32_t nonce,
                                      std::uint64_t now_s) {
  GatewayDecision d;
  auto deny = [&](DenialReason reason, const std::string& text) {
    d.denial.nonce = nonce;
    d.denial.reason = reason;
    d.denial.text_size = static_cast<std::uint8_t>(std::min(text.size(), kMaxDenialText));
    std::memcpy(d.denial.text, text.data(), d.denial.text_size);
    return d;
  };
  Client* c = find(key);
  if (!c) return deny(DenialReason::not_pinned, "key not in allowedConnections");

  std::uint8_t count = 0;
  GrantedAddress addresses[kMaxGrantAddresses];
  bool exhausted = false;
  for (Family family : {Family::ip4, Family::ip6}) {
    if (!(families & (family == Family::ip4 ? kWantIp4 : kWantIp6))) continue;
    if (has_family(c->pinned, family)) {
      for (const PinnedAddress& p : c->pinned) {
        if (p.alloc.address.family == family && count < kMaxGrantAddresses) {
          addresses[count++] = GrantedAddress{p.alloc.address, p.prefix, p.alloc.length};
        }
      }
      continue;
    }
    const auto& pool = family == Family::ip4 ? ip4_pool_ : ip6_pool_;
    if (!pool) continue;
    bool saved = true;
    auto address = pool_address(key, *pool, &saved);
    if (!address) {
      exhausted = true;
      continue;
    }
    d.store_failed = d.store_failed || !saved;
    if (count < kMaxGrantAddresses) addresses[count++] = GrantedAddress{*address, 0, max_length(family)};
  }
  if (count == 0) {
    return exhausted ? deny(DenialReason::pool_exhausted, "address pool exhausted")
                     : deny(DenialReason::bad_request, "no address of the families asked for");
  }
  const bool renewal = c->active;
  if (!renewal) c->start_s = now_s;
  c->active = true;
  c->end_s = now_s + lease_seconds_;
  c->held_count = count;
  std::copy(addresses, addresses + count, c->held);

  d.granted = true;
  d.grant.nonce = nonce;
  d.grant.mtu = mtu_;
  d.grant.lease_seconds = lease_seconds_;
  d.grant.address_count = count;
  std::copy(addresses, addresses + count, d.grant.addresses);
  d.grant.dns_count = static_cast<std::uint8_t>(std::min(dns_.size(), kMaxDnsServers));
  std::copy(dns_.begin(), dns_.begin() + d.grant.dns_count, d.grant.dns);
  d.record = record_of(*c, renewal ? LeaseRecord::Event::renewed : LeaseRecord::Event::granted);
  rebuild_leased();
  return d;
}

LeaseRecord GatewayTable::record_of(const Client& c, LeaseRecord::Event event) const {
  return LeaseRecord{event, c.key, std::vector<GrantedAddress>(c.held, c.held + c.held_count), c.start_s, c.end_s};
}

std::vector<LeaseRecord> GatewayTable::reconfigure(const IptunnelConfig& config, std::uint64_t now_s) {
  GatewayTable next(config, store_);
  std::vector<LeaseRecord> ended;
  for (const Client& old : clients_) {
    if (!old.active) continue;
    Client* kept = next.find(old.key);
    const bool still_owned =
        kept && std::all_of(old.held, old.held + old.held_count, [&](const GrantedAddress& a) {
          const bool pinned = std::any_of(kept->pinned.begin(), kept->pinned.end(), [&](const PinnedAddress& p) {
            return p.alloc.address == a.address && p.alloc.length == a.alloc && p.prefix == a.prefix;
          });
          const bool pooled = std::any_of(next.pool_leases_.begin(), next.pool_leases_.end(), [&](const StoredLease& l) {
            return compare(l.key, old.key) == 0 && l.address == a.address;
          });
          return pinned || pooled;
        });
    if (still_owned) {
      kept->active = true;
      kept->start_s = old.start_s;
      kept->end_s = old.end_s;
      kept->held_count = old.held_count;
      std::copy(old.held, old.held + old.held_count, kept->held);
    } else {
      LeaseRecord record = record_of(old, LeaseRecord::Event::ended);
      record.end_s = std::min(old.end_s, now_s);
      ended.push_back(std::move(record));
    }
  }
  *this = std::move(next);
  rebuild_leased();
  return ended;
}

std::optional<LeaseRecord> GatewayTable::release(const PublicKey& key, std::uint64_t now_s) {
  Client* c = find(key);
  if (!c || !c->active) return std::nullopt;
  c->active = false;
  c->end_s = std::min(c->end_s, now_s);
  rebuild_leased();
  return record_of(*c, LeaseRecord::Event::ended);
}

std::vector<LeaseRecord> GatewayTable::expire(std::uint64_t now_s) {
  std::vector<LeaseRecord> ended;
  for (Client& c : clients_) {
    if (c.active && c.end_s <= now_s) {
      c.active = false;
      ended.push_back(record_of(c, LeaseRecord::Event::ended));
    }
  }
  if (!ended.empty()) rebuild_leased();
  return ended;
}

bool GatewayTable::source_allowed(const PublicKey& key, ByteSpan packet) const noexcept {
  const Client* c = find(key);
  if (!c || !c->active) return false;
  IpAddress source;
  if (!packet_source(packet, &source)) return false;
  for (std::uint8_t i = 0; i < c->held_count; ++i) {
    if (contains(IpBlock{c->held[i].address, c->held[i].alloc}, source)) return true;
  }
  return false;
}

namespace {

// Orders addresses by family, then bytes: the order of the leased-block index.
int compare_ip(const IpAddress& a, const IpAddress& b) noexcept {
  if (a.family != b.family) return a.family < b.family ? -1 : 1;
  return std::memcmp(a.bytes, b.bytes, sizeof a.bytes);
}

}  // namespace

void GatewayTable::rebuild_leased() {
  leased_.clear();
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    const Client& c = clients_[i];
    if (!c.active) continue;
    for (std::uint8_t j = 0; j < c.held_count; ++j) {
      const IpBlock block{c.held[j].address, c.held[j].alloc};
      leased_.push_back(LeasedBlock{IpBlock{network_of(block), block.length}, static_cast<std::uint32_t>(i)});
    }
  }
  std::sort(leased_.begin(), leased_.end(), [](const LeasedBlock& a, const LeasedBlock& b) {
    return compare_ip(a.block.address, b.block.address) < 0;
  });
}

const PublicKey* GatewayTable::client_for_destination(ByteSpan packet) const noexcept {
  IpAddress destination;
  if (!packet_destination(packet, &destination)) return nullptr;
  // The last block starting at or before the destination is the only one that can hold it.
  auto it = std::upper_bound(leased_.begin(), leased_.end(), destination, [](const IpAddress& a, const LeasedBlock& b) {
    return compare_ip(a, b.block.address) < 0;
  });
  if (it == leased_.begin()) return nullptr;
  --it;
  return contains(it->block, destination) ? &clients_[it->client].key : nullptr;
}

GatewayTable::AccountAsk GatewayTable::account_request(const PublicKey& key, std::uint64_t now_ns) noexcept {
  Client* c = find(key);
  if (c == nullptr || !c->active) return AccountAsk::no_lease;
  // One request every interval on average, up to a burst ahead of that schedule.
  constexpr std::uint64_t interval_ns = 1'000'000'000 / kAccountPerSecond;
  if (c->account_due_ns > now_ns + (kAccountBurst - 1) * interval_ns) return AccountAsk::rate_limited;
  c->account_due_ns = std::max(c->account_due_ns, now_ns) + interval_ns;
  return AccountAsk::answer;
}

std::uint8_t GatewayTable::held_families(const PublicKey& key) const noexcept {
  const Client* c = find(key);
  if (!c || !c->active) return 0;
  std::uint8_t families = 0;
  for (std::uint8_t i = 0; i < c->held_count; ++i) {
    families |= c->held[i].address.family == Family::ip4 ? kWantIp4 : kWantIp6;
  }
  return families;
}

std::vector<GrantedAddress> GatewayTable::held(const PublicKey& key) const {
  const Client* c = find(key);
  if (!c || !c->active) return {};
  return std::vector<GrantedAddress>(c->held, c->held + c->held_count);
}

std::vector<GatewayTable::ClientView> GatewayTable::clients() const {
  std::vector<ClientView> views;
  for (const Client& c : clients_) {
    ClientView v;
    v.key = c.key;
    v.active = c.active;
    if (c.active) v.addresses.assign(c.held, c.held + c.held_count);
    v.start_s = c.start_s;
    v.end_s = c.end_s;
    views.push_back(std::move(v));
  }
  return views;
}

std::vector<IpBlock> GatewayTable::client_blocks() const {
  std::vector<IpBlock> blocks;
  for (const Client& c : clients_) {
    for (const PinnedAddress& p : c.pinned) blocks.push_back(IpBlock{network_of(p.alloc), p.alloc.length});
  }
  if (ip4_pool_) blocks.push_back(*ip4_pool_);
  if (ip6_pool_) blocks.push_back(*ip6_pool_);
  return blocks;
}

std::size_t GatewayTable::active_leases() const noexcept {
  return static_cast<std::size_t>(std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return c.active; }));
}

}  // namespace mh::iptunnel
