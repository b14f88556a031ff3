// The sysctls iptunnel changes (forwarding, proxy_ndp, …) and their values from before
// meshhost, kept in a state file so that even after kill -9 the next start restores only
// what meshhost changed, to what the operator had (DESIGN §6).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mh::iptunnel {

// Reads and writes files under `proc_sys` ("/proc/sys" in the product; never runs sysctl)
// and `state_file` (in the plugin's stateDir). Blocks on that file I/O; not thread-safe.
// Destroying it restores nothing: restore_all is the plugin's stop, and a process that dies
// without it leaves the state file for the next one.
class SysctlState {
 public:
  // Adopts the originals a predecessor recorded in `state_file` (it died before restoring),
  // so restore_all puts back the values from before the first meshhost that changed them.
  // Lines that cannot be read are skipped.
  SysctlState(std::string proc_sys, std::string state_file);

  // Sets `name` to `value` unless it already has it. `name` is dotted ("net.ipv4.ip_forward")
  // or, for names whose parts hold dots (an interface "eth0.100"), slashed
  // ("net/ipv6/conf/eth0.100/proxy_ndp"). Values compare with runs of whitespace as one
  // space ("32768\t60999" equals "32768 60999"). The first change of a name records its
  // original in the state file (fsync + rename) before writing the sysctl; a value that
  // was already right is not recorded, so restore_all leaves it alone. False with one line
  // in *error (naming the sysctl) when it cannot be read, recorded or written.
  bool set(const std::string& name, const std::string& value, std::string* error);

  // Writes back every recorded original that differs from the current value, latest change
  // first, and removes the state file. A sysctl whose file is gone (its device was removed)
  // needs nothing. Returns one line per sysctl that could not be restored; those stay in
  // the state file for the next start to retry.
  std::vector<std::string> restore_all();

  // The value `name` had before meshhost: its recorded original when this process or a
  // predecessor changed it, else its value now. Empty when it cannot be read.
  std::string value_before(const std::string& name) const;

  // How many originals the constructor found in the state file.
  std::size_t adopted() const noexcept { return adopted_; }

 private:
  std::string path_of(const std::string& relative) const;
  bool save(std::string* error) const;

  std::string proc_sys_;
  std::string state_file_;
  std::vector<std::pair<std::string, std::string>> originals_;  // name, value; in the order first changed
  std::size_t adopted_ = 0;
};

}  // namespace mh::iptunnel
