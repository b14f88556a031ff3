#!/usr/bin/env bash
# Gateway failover (DESIGN §6, "Several gateways"): client C (n3) holds leases from two
# gateways, G1 (n1, priority 10) and G2 (n2, priority 20), each with its own uplink into the
# "Internet" namespace and its own addresses for C. Proved here:
# - while both answer, G1 carries C's default routes (preferred4/preferred6) and the
#   Internet sees G1's uplink address (IPv4, NAT) and C's G1 address (IPv6, routed);
# - after kill -9 of G1, the default routes move to G2 within the bound, and fetches over
#   IPv4 and IPv6 arrive intact through G2 (the Internet sees 198.51.100.2 and
#   2001:db8:2::11); the failover time is measured and logged;
# - G1 restarted with the same config leases to C again, and the routes return to it.
# Bounds: failover takes gatewayDeadMs + probeIntervalMs after G1's last answer (2.5 s
# with the test timers): waited 7.5 s from the kill. Return to G1: the session's silence
# re-handshake (keepalive + 5 s: 7 s with the test timers) plus a probe, a request and a
# second for the routes: 10 s; waited 30 s. Measured here: failover 2.0-2.1 s after the
# kill, routes back on G1 5-6 s after its restart.
# usage: iptunnel_client_fails_over_between_gateways.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
source "$(dirname "$0")/iptunnel_lib.sh"

FAILOVER_BOUND_MS=7500
RETURN_BOUND_S=30

mesh_make_nodes 3
mesh_link 1 3
mesh_link 2 3
ipt_make_internet
ipt_uplink 1 1  # G1: 198.51.100.1; the Internet routes 2001:db8:1::/48 to it
ipt_uplink 2 2  # G2: 198.51.100.2; 2001:db8:2::/48
g1=$(mesh_key 1) g2=$(mesh_key 2) c=$(mesh_key 3)

ipt_gateway_config 1 "$(ipt_pin "$c" 100.100.0.11 2001:db8:1::11)"
ipt_gateway_config 2 "$(ipt_pin "$c" 100.100.1.11 2001:db8:2::11)"
ipt_client_config 3 "{ \"publicKey\": \"$g1\", \"priority\": 10 }, { \"publicKey\": \"$g2\", \"priority\": 20 }"
for i in 1 2 3; do mesh_start "$i"; done

preferred_is() { [ "$(ipt_preferred 3 4)" = "$1" ] && [ "$(ipt_preferred 3 6)" = "$1" ]; }
# fetchN_through PEER: one intact fetch from C, seen by the Internet as coming from PEER.
fetch4_through() { ipt_fetch4 3 && [ "$(ipt_last_peer 4)" = "$1" ]; }
fetch6_through() { ipt_fetch6 3 && [ "$(ipt_last_peer 6)" = "$1" ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Bound: a lease within one request retry of the session to each gateway.
mh_wait_for 60 "C's lease from G1" ipt_gateway_is 3 "$g1" leased
mh_wait_for 60 "C's lease from G2" ipt_gateway_is 3 "$g2" leased
mh_wait_for 10 "C's default routes through G1 (priority 10)" preferred_is "$g1"
mh_wait_for 30 "C to fetch over IPv4 through G1" fetch4_through 198.51.100.1
mh_wait_for 30 "C to fetch over IPv6 through G1" fetch6_through 2001:db8:1::11
mh_log "both gateways leased; C's traffic leaves through G1"

kill -KILL "$MESH_PID_1"
killed=$(now_ms)
mh_wait_exit "$MESH_PID_1" 10
mh_wait_for $(((FAILOVER_BOUND_MS + 999) / 1000)) "C's default routes to move to G2 after G1's kill -9" preferred_is "$g2"
failover_ms=$(($(now_ms) - killed))
[ "$failover_ms" -le "$FAILOVER_BOUND_MS" ] ||
  mh_fail "failover took ${failover_ms} ms, more than ${FAILOVER_BOUND_MS} ms"
[ "$(ipt_gateway_state 3 "$g1")" = dead ] || mh_fail "C shows G1 as $(ipt_gateway_state 3 "$g1"), not dead"
mh_log "failover to G2 after ${failover_ms} ms (bound ${FAILOVER_BOUND_MS} ms)"
fetch4_through 198.51.100.2 || mh_fail "C's IPv4 fetch after failover: the Internet saw $(ipt_last_peer 4), not G2's uplink"
fetch6_through 2001:db8:2::11 || mh_fail "C's IPv6 fetch after failover: the Internet saw $(ipt_last_peer 6), not 2001:db8:2::11"
mh_log "IPv4 and IPv6 intact through G2"

started=$SECONDS
mesh_start 1
mh_wait_for "$RETURN_BOUND_S" "C's lease from the restarted G1" ipt_gateway_is 3 "$g1" leased
mh_wait_for 10 "C's default routes to return to G1" preferred_is "$g1"
mh_log "routes back on G1 $((SECONDS - started)) s after its restart"
mh_wait_for 30 "C to fetch over IPv4 through G1 again" fetch4_through 198.51.100.1
mh_wait_for 30 "C to fetch over IPv6 through G1 again" fetch6_through 2001:db8:1::11
ipt_gateway_is 3 "$g2" leased || mh_fail "C lost G2's lease: $(ipt_gateway_state 3 "$g2")"
mesh_stop_all
mh_log "PASS"
