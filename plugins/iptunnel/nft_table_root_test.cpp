// The gateway's table in a real kernel, as root, in a private network namespace: a forked
// child unshares one (so the host's ruleset is never touched), applies, replaces, lists and
// removes `inet meshhost` beside an operator's own tables, and reports what it saw as
// "key value" lines over a pipe; the parent checks them. Without root, or where namespaces
// cannot be made, the test reports itself skipped (exit 77, CTest's SKIP_RETURN_CODE).
#include "child_facts.hpp"
#include "nft_table.hpp"

#include <nftables/libnftables.h>

#include <doctest/doctest.h>

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using mh::iptunnel::GatewayFirewall;
using mh::iptunnel::NftTable;
using mh::iptunnel::render_gateway_ruleset;

// An operator's tables the gateway must leave alone: a forward chain that drops by policy
// (not named "fwd": nft 1.0.6 takes that for its `fwd` statement and refuses the name);
// one that accepts but jumps to a chain that rejects (as firewalld's does); one that only
// counts; and a bridge table, whose forward hook routed traffic never passes.
constexpr const char* kOperatorTables = R"(table inet operator {
  chain forward_policy { type filter hook forward priority 0; policy drop; }
}
table ip filter {
  chain FORWARD { type filter hook forward priority 0; policy accept; jump zones; }
  chain zones { ip saddr 192.0.2.0/24 reject; }
}
table ip6 quiet {
  chain counted { type filter hook forward priority 10; policy accept; counter; }
}
table bridge br {
  chain bridged { type filter hook forward priority 0; policy drop; }
}
)";
constexpr const char* kOperatorTableNames[] = {"inet operator", "ip filter", "ip6 quiet", "bridge br"};

// What a crashed run could have left: the replace must take it away.
constexpr const char* kLeftovers = R"(table inet meshhost {
  chain stale { type filter hook forward priority 5; policy drop; }
}
)";

mh::iptunnel::IpBlock block(const char* text) { return *mh::iptunnel::parse_block(text); }
mh::iptunnel::IpAddress ip(const char* text) { return *mh::iptunnel::parse_ip(text); }

GatewayFirewall typical() {
  GatewayFirewall fw;
  fw.tunnel = "mhgw0";
  fw.uplink = "eth0";
  fw.client_blocks = {block("100.64.0.0/24"), block("100.64.1.10/32"), block("2001:db8:1::/64")};
  fw.denied = {block("192.168.1.0/24"), block("10.0.0.0/8"), block("2001:db8:ffff::/48")};
  fw.dns_servers = {ip("192.168.1.1"), ip("2001:db8:ffff::53")};
  fw.client_isolation = true;
  fw.block_smtp = true;
  fw.tunnel_only_forwarding4 = true;
  fw.tunnel_only_forwarding6 = true;
  return fw;
}

// The configs whose scripts the kernel must take as they are rendered.
std::map<std::string, GatewayFirewall> variants() {
  std::map<std::string, GatewayFirewall> out;
  out["typical"] = typical();
  GatewayFirewall empty;
  empty.tunnel = "mhgw0";
  empty.uplink = "eth0";
  out["empty"] = empty;
  GatewayFirewall ip4 = empty;
  ip4.client_blocks = {block("100.64.0.0/10"), block("100.64.0.10/32")};
  ip4.denied = {block("192.168.0.0/16")};
  ip4.dns_servers = {ip("192.168.0.1")};
  out["ip4_only"] = ip4;
  GatewayFirewall ip6 = empty;
  ip6.uplink.clear();
  ip6.client_blocks = {block("2001:db8:1:2::/64")};
  ip6.denied = {block("2001:db8:ffff::1/128")};
  ip6.dns_servers = {ip("2001:db8:ffff::1")};
  ip6.mtu = 1400;
  out["ip6_only"] = ip6;
  return out;
}

// Reads what the product API does not show (the operator's tables, every table's name)
// through a libnftables context of the test's own. "error: ..." when nft failed.
class Reader {
 public:
  Reader() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
  ~Reader() { nft_ctx_free(ctx_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  std::string run(const std::string& command) {
    const int rc = nft_run_cmd_from_buffer(ctx_, command.c_str());
    std::string out = nft_ctx_get_output_buffer(ctx_);
    const std::string err = nft_ctx_get_error_buffer(ctx_);
    return rc == 0 ? out : "error: " + err;
  }

  std::string operator_tables() {
    std::string out;
    for (const char* name : kOperatorTableNames) out += run(std::string("list table ") + name);
    return out;
  }

 private:
  nft_ctx* ctx_;
};

std::size_t count(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (auto at = text.find(piece); at != std::string::npos; at = text.find(piece, at + piece.size())) ++n;
  return n;
}

// The rule lines of a script or listing (every rule of the table matches an interface).
std::vector<std::string> rule_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("\t\tiifname", 0) == 0 || line.rfind("\t\toifname", 0) == 0) out.push_back(line);
  }
  return out;
}

std::size_t duplicates(const std::vector<std::string>& lines) {
  return lines.size() - std::set<std::string>(lines.begin(), lines.end()).size();
}

const char* yes_no(bool b) { return b ? "yes" : "no"; }

std::string result(bool ok, const std::string& error) { return ok ? "ok" : error; }

// The child's whole job, in the new namespace; every fact goes to `out` as one line.
int run_in_namespace(std::ostream& out) {
  if (::unshare(CLONE_NEWNET) != 0) {
    out << "skip cannot unshare the network namespace: " << std::strerror(errno) << "\n";
    return 77;
  }
  // Opened after unshare: a context's netlink socket stays in the namespace it was made in.
  std::string error;
  const std::unique_ptr<NftTable> nft = NftTable::open(&error);
  out << "open " << result(nft != nullptr, error) << "\n";
  if (nft == nullptr) return 0;
  Reader reader;

  out << "operator_applied " << result(nft->apply(kOperatorTables, &error), error) << "\n";
  const std::string operator_before = reader.operator_tables();
  out << "operator_listed " << yes_no(count(operator_before, "error:") == 0 && count(operator_before, "table ") == 4)
      << "\n";

  for (const auto& variant : variants()) {
    out << "valid_" << variant.first << " " << result(nft->apply(render_gateway_ruleset(variant.second), &error), error)
        << "\n";
  }

  out << "leftovers_applied " << result(nft->apply(kLeftovers, &error), error) << "\n";
  const std::string script = render_gateway_ruleset(typical());
  out << "apply_first " << result(nft->apply(script, &error), error) << "\n";
  out << "apply_second " << result(nft->apply(script, &error), error) << "\n";

  const std::optional<std::string> own = nft->list_own(&error);
  out << "own_present " << yes_no(own.has_value()) << "\n";
  if (!own) out << "own_error " << error << "\n";
  const std::string listed = own.value_or("");
  out << "rules_rendered " << rule_lines(script).size() << "\n";
  out << "rules_listed " << rule_lines(listed).size() << "\n";
  out << "rules_duplicated " << duplicates(rule_lines(listed)) << "\n";
  out << "chains_forward " << count(listed, "chain forward {") << "\n";
  out << "chains_input " << count(listed, "chain input {") << "\n";
  out << "chains_postrouting " << count(listed, "chain postrouting {") << "\n";
  out << "stale_chain " << count(listed, "stale") << "\n";
  out << "masquerade " << count(listed, "oifname \"eth0\" ip saddr @clients4 masquerade") << "\n";
  out << "mss_clamps " << count(listed, "tcp option maxseg size set") << "\n";
  out << "source_checks " << count(listed, "saddr != @clients") << "\n";
  out << "tables_meshhost " << count(reader.run("list tables"), "table inet meshhost\n") << "\n";
  out << "operator_after_apply " << yes_no(reader.operator_tables() == operator_before) << "\n";

  std::string droppers;
  for (const std::string& table : nft->forward_droppers(&error)) droppers += (droppers.empty() ? "" : ",") + table;
  out << "droppers " << droppers << "\n";
  out << "droppers_error " << error << "\n";

  // The kernel refuses the last command (no nat chain on the forward hook): the whole
  // transaction goes, the delete of the table included, and the running table stays.
  const std::string refused = render_gateway_ruleset(variants()["empty"]) +
                              "add chain inet meshhost broken { type nat hook forward priority 0; }\n";
  const bool refused_applied = nft->apply(refused, &error);
  out << "refused_applied " << yes_no(refused_applied) << "\n";
  out << "refused_error " << error << "\n";
  out << "refused_error_lines " << count(error, "\n") + 1 << "\n";
  const std::string after_refused = nft->list_own(&error).value_or("");
  out << "after_refused_same " << yes_no(after_refused == listed) << "\n";

  const bool parsed = nft->apply("this is not nft", &error);
  out << "garbage_applied " << yes_no(parsed) << "\n";
  out << "garbage_error " << error << "\n";
  out << "garbage_error_lines " << count(error, "\n") + 1 << "\n";

  out << "remove " << result(nft->remove(&error), error) << "\n";
  error = "untouched";
  const std::optional<std::string> gone = nft->list_own(&error);
  out << "own_after_remove " << (gone ? "present" : "absent") << "\n";
  out << "own_after_remove_error " << error << "\n";
  out << "tables_meshhost_after_remove " << count(reader.run("list tables"), "table inet meshhost\n") << "\n";
  out << "operator_after_remove " << yes_no(reader.operator_tables() == operator_before) << "\n";
  out << "remove_again " << result(nft->remove(&error), error) << "\n";
  return 0;
}

[[noreturn]] void skip(const std::string& reason) { mh::testing_support::skip_test("iptunnel_nft_root_test: SKIP: " + reason); }

}  // namespace

TEST_CASE("the gateway's table replaces itself atomically and leaves the operator's tables alone") {
  if (::geteuid() != 0) skip("needs root (nftables in a private network namespace)");
  mh::testing_support::ChildReport child = mh::testing_support::run_in_child(run_in_namespace);
  INFO("the child reported:\n" << child.text);
  if (child.exit_code == 77) skip(child.facts["skip"]);
  REQUIRE(child.exit_code == 0);
  std::map<std::string, std::string>& facts = child.facts;

  REQUIRE(facts["open"] == "ok");
  REQUIRE(facts["operator_applied"] == "ok");
  CHECK(facts["operator_listed"] == "yes");
  for (const char* variant : {"typical", "empty", "ip4_only", "ip6_only"}) {
    CAPTURE(variant);
    CHECK(facts[std::string("valid_") + variant] == "ok");
  }

  // Replaced twice over a crashed run's leftovers: one table, each rule once.
  CHECK(facts["leftovers_applied"] == "ok");
  CHECK(facts["apply_first"] == "ok");
  CHECK(facts["apply_second"] == "ok");
  REQUIRE(facts["own_present"] == "yes");
  CHECK(facts["rules_listed"] == facts["rules_rendered"]);
  CHECK(facts["rules_duplicated"] == "0");
  CHECK(facts["chains_forward"] == "1");
  CHECK(facts["chains_input"] == "1");
  CHECK(facts["chains_postrouting"] == "1");
  CHECK(facts["stale_chain"] == "0");
  CHECK(facts["masquerade"] == "1");
  CHECK(facts["mss_clamps"] == "4");
  CHECK(facts["source_checks"] == "2");
  CHECK(facts["tables_meshhost"] == "1");
  CHECK(facts["operator_after_apply"] == "yes");

  // Ours drops too, but is not "another table"; the bridge and the counting table drop nothing routed.
  CHECK(facts["droppers"] == "inet operator,ip filter");
  CHECK(facts["droppers_error"] == "");

  CHECK(facts["refused_applied"] == "no");
  CHECK(facts["refused_error"].find("Operation not supported") != std::string::npos);
  CHECK(facts["refused_error_lines"] == "1");
  CHECK(facts["after_refused_same"] == "yes");
  CHECK(facts["garbage_applied"] == "no");
  CHECK(facts["garbage_error"].find("syntax error") != std::string::npos);
  CHECK(facts["garbage_error_lines"] == "1");

  CHECK(facts["remove"] == "ok");
  CHECK(facts["own_after_remove"] == "absent");
  CHECK(facts["own_after_remove_error"] == "");
  CHECK(facts["tables_meshhost_after_remove"] == "0");
  CHECK(facts["operator_after_remove"] == "yes");
  CHECK(facts["remove_again"] == "ok");
}
