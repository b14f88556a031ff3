#!/usr/bin/env bash
# A chained gateway (DESIGN §6: "a chained gateway receives a delegated ip6Alloc block"):
# G1 (n1) has the uplink into the "Internet" namespace; G2 (n2) is G1's client and at the
# same time the gateway of C (n3), peered only with G2: G1 – G2 – C. G1 pins G2 with
# 100.100.0.2 and the block 2001:db8:1:2::/64 (ip6Alloc 64); G2 gives C 100.100.2.11 and
# 2001:db8:1:2::11 out of that block, and masquerades C's IPv4 behind its own client TUN
# (nat.uplink "mhup0"). Proved here:
# - G2 and C get their leases, G2 its delegated block;
# - C fetches over IPv4 and IPv6 intact: its IPv4 is translated twice (at G2 to
#   100.100.0.2, at G1 to G1's uplink address, which the Internet sees), its IPv6 is
#   routed through both gateways (the Internet sees 2001:db8:1:2::11);
# - G2's own traffic still leaves through G1 (the Internet sees 198.51.100.1 and
#   2001:db8:1:2::1).
# Bound: a lease within one request retry of the session to the gateway; G2's gateway side
# answers C whether or not its own lease is in yet, so C's path works once both leases are
# in: waited 60 s each, as the reference scenario does.
# usage: iptunnel_chained_isp.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
source "$(dirname "$0")/iptunnel_lib.sh"

mesh_make_nodes 3
mesh_link 1 2
mesh_link 2 3
ipt_make_internet
ipt_uplink 1 1  # G1: 198.51.100.1; the Internet routes 2001:db8:1::/48 to it
g1=$(mesh_key 1) g2=$(mesh_key 2) c=$(mesh_key 3)

ipt_gateway_config 1 "$(ipt_pin "$g2" 100.100.0.2 2001:db8:1:2::1 '"ip6Alloc": 64')"
# G2: a client of G1 (its mesh sockets marked) and a gateway whose uplink is its own
# client TUN.
ipt_client_config 2 "\"$g1\"" \
  "\"allowedConnections\": [$(ipt_pin "$c" 100.100.2.11 2001:db8:1:2::11)], \"nat\": { \"uplink\": \"mhup0\" }"
ipt_client_config 3 "\"$g2\""
for i in 1 2 3; do mesh_start "$i"; done

mh_wait_for 60 "G2's lease from G1" ipt_gateway_is 2 "$g1" leased
mh_wait_for 60 "C's lease from G2" ipt_gateway_is 3 "$g2" leased
grep -q "inet 100.100.0.2/32" <<<"$(ip -n n2 -o addr show dev mhup0)" || mh_fail "G2's client TUN lacks 100.100.0.2/32"
grep -q "inet6 2001:db8:1:2::1/128" <<<"$(ip -n n2 -o addr show dev mhup0)" || mh_fail "G2's client TUN lacks 2001:db8:1:2::1"
grep -qF '"2001:db8:1:2::1/64"' <<<"$(ipt_status 2)" || mh_fail "G2 does not hold the delegated block: $(ipt_status 2)"
grep -q "^2001:db8:1:2::/64 dev mhgw0" <<<"$(ip -n n1 -6 route show proto 109)" ||
  mh_fail "G1 routes no 2001:db8:1:2::/64 to its gateway TUN: $(ip -n n1 -6 route show proto 109)"
grep -q "inet 100.100.2.11/32" <<<"$(ip -n n3 -o addr show dev mhup0)" || mh_fail "C's TUN lacks 100.100.2.11/32"
grep -q "inet6 2001:db8:1:2::11/128" <<<"$(ip -n n3 -o addr show dev mhup0)" || mh_fail "C's TUN lacks 2001:db8:1:2::11"

mh_wait_for 30 "C to fetch over IPv4 through G2 and G1" ipt_fetch4 3
[ "$(ipt_last_peer 4)" = 198.51.100.1 ] || mh_fail "the Internet saw $(ipt_last_peer 4) for C's IPv4, not G1's uplink address"
mh_wait_for 30 "C to fetch over IPv6 through G2 and G1" ipt_fetch6 3
[ "$(ipt_last_peer 6)" = 2001:db8:1:2::11 ] || mh_fail "the Internet saw $(ipt_last_peer 6) for C's IPv6, not its own address"
# G1 grants G2 only 100.100.0.2: C's IPv4 got through because G2 translated it.
[ "$(ipt_drops 1 spoofed_source)" = 0 ] || mh_fail "G1 dropped $(ipt_drops 1 spoofed_source) packets from G2 as spoofed"
mh_log "C: ${IPT_OFFER_MB} MiB intact over IPv4 (NAT twice) and IPv6 (routed through both gateways)"

mh_wait_for 30 "G2 to fetch over IPv4 through G1" ipt_fetch4 2
[ "$(ipt_last_peer 4)" = 198.51.100.1 ] || mh_fail "the Internet saw $(ipt_last_peer 4) for G2's IPv4, not G1's uplink address"
mh_wait_for 30 "G2 to fetch over IPv6 through G1" ipt_fetch6 2
[ "$(ipt_last_peer 6)" = 2001:db8:1:2::1 ] || mh_fail "the Internet saw $(ipt_last_peer 6) for G2's IPv6, not its own address"
mh_log "G2's own traffic intact through G1"
mesh_stop_all
mh_log "PASS"
