// The gateway's nftables script as text, without root: what a typical gateway's table
// enforces, and configs with empty or one-family lists. Whether the kernel takes the text
// is nft_table_root_test's job: even libnftables' dry run sends the batch to the kernel
// (which checks it and throws it away), and that needs CAP_NET_ADMIN.
#include "nft_table.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using mh::iptunnel::GatewayFirewall;
using mh::iptunnel::IpAddress;
using mh::iptunnel::IpBlock;
using mh::iptunnel::render_gateway_ruleset;

IpBlock block(const char* text) {
  const auto b = mh::iptunnel::parse_block(text);
  REQUIRE(b.has_value());
  return *b;
}

IpAddress ip(const char* text) {
  const auto a = mh::iptunnel::parse_ip(text);
  REQUIRE(a.has_value());
  return *a;
}

GatewayFirewall typical() {
  GatewayFirewall fw;
  fw.tunnel = "mhgw0";
  fw.uplink = "eth0";
  fw.client_blocks = {block("100.64.0.0/24"), block("100.64.1.10/32"), block("2001:db8:1::/64")};
  fw.denied = {block("192.168.1.1/32"), block("192.168.1.0/24"), block("10.0.0.0/8"), block("2001:db8:ffff::/48"),
               block("fd00:1::1/128")};
  fw.dns_servers = {ip("192.168.1.1"), ip("2001:db8:ffff::53")};
  fw.client_isolation = true;
  fw.block_smtp = true;
  fw.mtu = 1280;
  return fw;
}

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

std::size_t count(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (auto at = text.find(piece); at != std::string::npos; at = text.find(piece, at + piece.size())) ++n;
  return n;
}

// The line of the script holding `piece` ("" when none).
std::string line_with(const std::string& text, const std::string& piece) {
  const auto at = text.find(piece);
  if (at == std::string::npos) return {};
  const auto start = text.rfind('\n', at) + 1;
  return text.substr(start, text.find('\n', at) - start);
}

void check_balanced(const std::string& script) {
  CHECK(count(script, "{") == count(script, "}"));
  CHECK(count(script, "\"") % 2 == 0);
}

}  // namespace

TEST_CASE("the script replaces table inet meshhost in one transaction and touches no other table") {
  const std::string script = render_gateway_ruleset(typical());
  CHECK(script.rfind("add table inet meshhost\ndelete table inet meshhost\ntable inet meshhost {\n", 0) == 0);
  CHECK(count(script, "table ") == 3);
  CHECK(!has(script, "flush"));
  check_balanced(script);
}

TEST_CASE("a typical gateway: granted sources only, no link-local, multicast, LAN or SMTP, DNS allowed, clamped MSS") {
  const std::string script = render_gateway_ruleset(typical());
  INFO(script);

  // The Alloc block inside the pool needs no element of its own; sets keep the family apart.
  CHECK(has(script, "set clients4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"));
  CHECK(has(script, "elements = { 100.64.0.0/24, 100.64.1.10/32 }"));
  CHECK(has(script, "elements = { 2001:db8:1::/64 }"));
  // Blocks inside others go (a named interval set refuses overlaps); addresses become blocks.
  CHECK(has(script, "elements = { 10.0.0.0/8, 192.168.1.0/24 }"));
  CHECK(has(script, "elements = { 2001:db8:ffff::/48, fd00:1::1/128 }"));
  CHECK(has(script, "set dns4 {\n\t\ttype ipv4_addr\n\t\tcomment"));
  CHECK(has(script, "elements = { 192.168.1.1 }"));
  CHECK(has(script, "elements = { 2001:db8:ffff::53 }"));

  CHECK(has(script, "chain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"));
  CHECK(has(script, "iifname \"mhgw0\" ip saddr != @clients4 drop"));
  CHECK(has(script, "iifname \"mhgw0\" ip6 saddr != @clients6 drop"));
  CHECK(has(script, "iifname \"mhgw0\" ip daddr { 169.254.0.0/16, 224.0.0.0/4 } drop"));
  CHECK(has(script, "iifname \"mhgw0\" ip6 daddr { fe80::/10, ff00::/8 } drop"));
  CHECK(has(script, "iifname \"mhgw0\" ip daddr @dns4 meta l4proto { tcp, udp } th dport 53 accept"));
  CHECK(has(script, "iifname \"mhgw0\" ip6 daddr @dns6 meta l4proto { tcp, udp } th dport 53 accept"));
  CHECK(has(script, "iifname \"mhgw0\" ip daddr @denied4 drop"));
  CHECK(has(script, "iifname \"mhgw0\" ip6 daddr @denied6 drop"));
  CHECK(has(script, "iifname \"mhgw0\" oifname \"mhgw0\" drop"));
  CHECK(has(script, "iifname \"mhgw0\" tcp dport 25 drop"));

  // DNS servers inside the denied addresses stay reachable: their accept comes first.
  const std::string forward = script.substr(script.find("chain forward"), script.find("chain input") - script.find("chain forward"));
  CHECK(forward.find("@dns4") < forward.find("@denied4"));
  CHECK(forward.find("@dns6") < forward.find("@denied6"));
  // The clamp is no verdict: it comes before any accept could skip it.
  CHECK(forward.rfind("maxseg size set") < forward.find("accept comment"));

  // Both directions, both families; only larger values are lowered.
  for (const char* side : {"iifname", "oifname"}) {
    CHECK(has(script, std::string(side) +
                          " \"mhgw0\" meta nfproto ipv4 tcp flags syn tcp option maxseg size > 1240 tcp option maxseg size set 1240"));
    CHECK(has(script, std::string(side) +
                          " \"mhgw0\" meta nfproto ipv6 tcp flags syn tcp option maxseg size > 1220 tcp option maxseg size set 1220"));
  }

  CHECK(has(script, "chain input {\n\t\ttype filter hook input priority filter; policy accept;\n"));
  CHECK(has(script, "iifname \"mhgw0\" ct state established,related accept"));
  CHECK(has(script, "iifname \"mhgw0\" icmp type echo-request accept"));
  const std::string icmpv6 = line_with(script, "icmpv6 type");
  for (const char* type : {"echo-request", "nd-neighbor-solicit", "nd-neighbor-advert"}) CHECK(has(icmpv6, type));
  CHECK(!has(icmpv6, "nd-router-advert"));
  CHECK(!has(icmpv6, "nd-redirect"));
  // The catch-all drop of the input chain is its last rule.
  const std::string input = script.substr(script.find("chain input"));
  CHECK(has(input.substr(0, input.find("\t}")), "iifname \"mhgw0\" drop comment"));
  CHECK(input.find("iifname \"mhgw0\" drop") > input.rfind(" accept "));

  CHECK(has(script, "chain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"));
  CHECK(has(script, "oifname \"eth0\" ip saddr @clients4 masquerade"));
}

TEST_CASE("every rule says what it is for") {
  const std::string script = render_gateway_ruleset(typical());
  std::size_t rules = 0;
  std::size_t commented = 0;
  for (std::size_t at = 0; at < script.size();) {
    const auto end = script.find('\n', at);
    const std::string line = script.substr(at, end - at);
    at = end + 1;
    const bool rule = line.rfind("\t\tiifname", 0) == 0 || line.rfind("\t\toifname", 0) == 0;
    rules += rule ? 1 : 0;
    commented += rule && has(line, " comment \"") ? 1 : 0;
  }
  CHECK(rules > 20);
  CHECK(commented == rules);
}

TEST_CASE("options left off leave their rules out") {
  GatewayFirewall fw = typical();
  fw.client_isolation = false;
  fw.block_smtp = false;
  fw.uplink.clear();
  fw.mtu = 1400;
  const std::string script = render_gateway_ruleset(fw);
  INFO(script);
  CHECK(!has(script, "oifname \"mhgw0\" drop"));
  CHECK(!has(script, "dport 25"));
  CHECK(!has(script, "postrouting"));
  CHECK(!has(script, "masquerade"));
  CHECK(has(script, "maxseg size > 1360 tcp option maxseg size set 1360"));
  CHECK(has(script, "maxseg size > 1340 tcp option maxseg size set 1340"));
  check_balanced(script);
}

TEST_CASE("empty lists: no empty sets, and a family no client holds is dropped from the tunnel") {
  GatewayFirewall fw;
  fw.tunnel = "mhgw0";
  fw.uplink = "eth0";
  const std::string script = render_gateway_ruleset(fw);
  INFO(script);
  CHECK(!has(script, "\tset "));
  CHECK(!has(script, "@"));
  CHECK(!has(script, "elements"));
  CHECK(has(script, "iifname \"mhgw0\" meta nfproto ipv4 drop"));
  CHECK(has(script, "iifname \"mhgw0\" meta nfproto ipv6 drop"));
  CHECK(!has(script, "dport 53"));
  // Nothing to translate without IPv4 clients.
  CHECK(!has(script, "masquerade"));
  CHECK(has(script, "chain forward {"));
  CHECK(has(script, "chain input {"));
  check_balanced(script);
}

TEST_CASE("IPv4-only gateway") {
  GatewayFirewall fw;
  fw.tunnel = "mhgw0";
  fw.uplink = "wan";
  fw.client_blocks = {block("100.64.0.0/10"), block("100.64.0.10/32")};
  fw.denied = {block("192.168.0.0/16")};
  fw.dns_servers = {ip("192.168.0.1")};
  const std::string script = render_gateway_ruleset(fw);
  INFO(script);
  CHECK(has(script, "elements = { 100.64.0.0/10 }"));
  CHECK(!has(script, "clients6"));
  CHECK(!has(script, "denied6"));
  CHECK(!has(script, "dns6"));
  CHECK(has(script, "iifname \"mhgw0\" ip saddr != @clients4 drop"));
  CHECK(has(script, "iifname \"mhgw0\" meta nfproto ipv6 drop"));
  CHECK(has(script, "iifname \"mhgw0\" ip daddr @dns4 meta l4proto { tcp, udp } th dport 53 accept"));
  CHECK(has(script, "oifname \"wan\" ip saddr @clients4 masquerade"));
  check_balanced(script);
}

TEST_CASE("IPv6-only gateway: routed, never translated") {
  GatewayFirewall fw;
  fw.tunnel = "gw6";
  fw.uplink = "eth0";
  fw.client_blocks = {block("2001:db8:1:2::10/64")};  // host bits set: the network is meant
  fw.denied = {block("2001:db8:ffff::1/128")};
  fw.dns_servers = {ip("2001:db8:ffff::1"), ip("2001:db8:ffff::1")};
  const std::string script = render_gateway_ruleset(fw);
  INFO(script);
  CHECK(has(script, "elements = { 2001:db8:1:2::/64 }"));
  CHECK(has(script, "elements = { 2001:db8:ffff::1 }"));
  CHECK(!has(script, "clients4"));
  CHECK(has(script, "iifname \"gw6\" meta nfproto ipv4 drop"));
  CHECK(has(script, "iifname \"gw6\" ip6 saddr != @clients6 drop"));
  CHECK(has(script, "iifname \"gw6\" ip6 daddr @denied6 drop"));
  CHECK(!has(script, "masquerade"));
  CHECK(!has(script, "postrouting"));
  check_balanced(script);
}

TEST_CASE("forwarding meshhost turned on carries the tunnel's traffic only, per family") {
  GatewayFirewall fw = typical();
  const std::string both_off = render_gateway_ruleset(fw);
  CHECK(both_off.find("forwarding is on for the tunnel only") == std::string::npos);
  fw.tunnel_only_forwarding4 = true;
  const std::string script = render_gateway_ruleset(fw);
  CHECK(script.find("iifname != \"mhgw0\" oifname != \"mhgw0\" meta nfproto ipv4 drop") != std::string::npos);
  CHECK(script.find("meta nfproto ipv6 drop comment \"forwarding is on for the tunnel only\"") == std::string::npos);
  fw.tunnel_only_forwarding6 = true;
  CHECK(render_gateway_ruleset(fw).find("oifname != \"mhgw0\" meta nfproto ipv6 drop") != std::string::npos);
}
