// Where the gateway keeps the pool addresses it gave each key, so a key gets the same
// address after a restart (DESIGN §6: stable per key, persisted in stateDir).
#pragma once

#include "ip_block.hpp"

#include <meshhost/types.hpp>

#include <string>
#include <vector>

namespace mh::iptunnel {

struct StoredLease {
  PublicKey key;
  IpAddress address;
};

// Implemented by the plugin over a file in stateDir (FileLeaseStore); called only when a
// lease is made or dropped, never per packet. May block on disk I/O.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  // The set last saved; empty when nothing was ever saved. Entries that cannot be read are
  // skipped.
  virtual std::vector<StoredLease> load() = 0;
  // Replaces the stored set. False when it could not be written; the old set then stays.
  virtual bool save(const std::vector<StoredLease>& leases) = 0;
};

// One line per lease, "<key>.k <address>", in `path`. save() writes `path`.tmp, syncs it
// and renames it over `path`, so a crash leaves the old set or the new one, never a mix.
class FileLeaseStore final : public LeaseStore {
 public:
  explicit FileLeaseStore(std::string path) : path_(std::move(path)) {}
  std::vector<StoredLease> load() override;
  bool save(const std::vector<StoredLease>& leases) override;

 private:
  std::string path_;
};

}  // namespace mh::iptunnel
