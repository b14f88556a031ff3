#!/usr/bin/env bash
# A changed allowedConnections applies without a restart (DESIGN §6; iptunnel.reload and
# SIGHUP): gateway G (n1) pins clients C1 (n2) and C2 (n3), both fetch from the "Internet"
# namespace. Proved here:
# - G's config rewritten without C2, then `iptunnel.reload`: C2 loses its lease at once
#   (G's route to it goes, the lease log ends it); C2 learns it at its next probe, leaves
#   "leased" and ends "denied", and its fetches fail over IPv4 and IPv6;
# - C1 keeps its lease through it: the same lease start in G's iptunnel.status, its
#   session to G never restarted (session.list, what `meshctl sessions` shows), and it
#   still fetches;
# - C2 added back and SIGHUP sent: C2 gets its lease (and its fetches) back, C1's lease is
#   still the same.
# Bounds: C2 acts on the removal at its next probe answer, within probeIntervalMs, or
# gatewayDeadMs + probeIntervalMs when answers are lost (2.5 s with the test timers):
# waited 7.5 s. A denied client asks again every deniedRetryMs (2 s with the test timers):
# its lease comes back within that, waited 6 s.
# usage: iptunnel_reload_removes_a_key.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
source "$(dirname "$0")/iptunnel_lib.sh"

mesh_make_nodes 3
mesh_link 1 2
mesh_link 1 3
ipt_make_internet
ipt_uplink 1 1
g=$(mesh_key 1) c1=$(mesh_key 2) c2=$(mesh_key 3)
pin_c1=$(ipt_pin "$c1" 100.100.0.11 2001:db8:1::11)
pin_c2=$(ipt_pin "$c2" 100.100.0.12 2001:db8:1::12)

ipt_gateway_config 1 "$pin_c1, $pin_c2"
ipt_client_config 2 "\"$g\""
ipt_client_config 3 "\"$g\""
for i in 1 2 3; do mesh_start "$i"; done

# lease_start KEY: the start (Unix seconds) of KEY's live lease in G's status, "none" without.
lease_start() {
  ipt_status 1 | "$MESH_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
print(next((c["start"] for c in s["gateway"]["clients"] if c["publicKey"] == sys.argv[1] and c["active"]), "none"))' "$1"
}
lease_start_is() { [ "$(lease_start "$1")" = "$2" ]; }
# session_age I KEY: the age in seconds of node I's session with KEY (session.list).
session_age() {
  mesh_ctl "$1" call session.list | "$MESH_PYTHON" -c '
import json, sys
print(next(s["ageSeconds"] for s in json.load(sys.stdin) if s["publicKey"] == sys.argv[1] and s["state"] == "established"))' "$2"
}
# c1_unchanged WHEN: C1 still leased, same lease start, its session on G aged since then.
c1_unchanged() {
  ipt_gateway_is 2 "$g" leased || mh_fail "$1: C1 shows G as $(ipt_gateway_state 2 "$g"), not leased"
  [ "$(lease_start "$c1")" = "$c1_start" ] || mh_fail "$1: C1's lease start is $(lease_start "$c1"), was $c1_start"
  local age
  age=$(session_age 1 "$c1")
  "$MESH_PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) + int(sys.argv[3]) - 1 else 1)' \
    "$age" "$c1_age" "$((SECONDS - c1_age_at))" ||
    mh_fail "$1: G's session with C1 is ${age} s old, was ${c1_age} s $((SECONDS - c1_age_at)) s ago: it restarted"
  ipt_fetch4 2 || mh_fail "$1: C1 cannot fetch over IPv4"
  ipt_fetch6 2 || mh_fail "$1: C1 cannot fetch over IPv6"
}
# fails FAMILY NODE: a fetch of that family from the node gets nothing within 10 s.
fetch_fails() {
  local address=203.0.113.100 port=8080
  [ "$1" = 6 ] && address=2001:db8:ffff::100 port=8081
  ! ip netns exec "n$2" timeout 10 "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" fetch "$address" "$port" 5 >/dev/null 2>&1
}

for i in 2 3; do
  mh_wait_for 60 "n$i's lease from the gateway" ipt_gateway_is "$i" "$g" leased
  mh_wait_for 30 "n$i to fetch over IPv4" ipt_fetch4 "$i"
  mh_wait_for 30 "n$i to fetch over IPv6" ipt_fetch6 "$i"
done
c1_start=$(lease_start "$c1")
c1_age=$(session_age 1 "$c1") c1_age_at=$SECONDS
[ "$c1_start" != none ] || mh_fail "G shows no live lease for C1"
mh_log "C1 and C2 leased and fetching; C1's lease started at $c1_start"

# Without C2, through the admin method.
ipt_gateway_config 1 "$pin_c1"
mesh_ctl 1 call iptunnel.reload >/dev/null
mh_wait_for 10 "G to apply the config without C2" lease_start_is "$c2" none
mh_wait_for 8 "C2 to be denied after the reload" ipt_gateway_is 3 "$g" denied
mh_expect_in "$MH_TMP/n1/state/iptunnel/leases.log" "ended $c2"
! grep -q 100.100.0.12 <<<"$(ip -n n1 route show proto 109)" || mh_fail "G still routes C2's 100.100.0.12"
! grep -q 100.100.0.12 <<<"$(ip -n n3 -o addr show dev mhup0)" || mh_fail "C2 kept 100.100.0.12 after its denial"
fetch_fails 4 3 || mh_fail "C2 fetched over IPv4 after its key was removed"
fetch_fails 6 3 || mh_fail "C2 fetched over IPv6 after its key was removed"
c1_unchanged "after iptunnel.reload"
mh_log "iptunnel.reload: C2 denied, C1's lease and session untouched"

# C2 back, through SIGHUP.
ipt_gateway_config 1 "$pin_c1, $pin_c2"
kill -HUP "$MESH_PID_1"
started=$SECONDS
mh_wait_for 6 "C2's lease back after SIGHUP" ipt_gateway_is 3 "$g" leased
mh_log "C2 leased again $((SECONDS - started)) s after SIGHUP"
mh_wait_for 30 "C2 to fetch over IPv4 again" ipt_fetch4 3
mh_wait_for 30 "C2 to fetch over IPv6 again" ipt_fetch6 3
c1_unchanged "after SIGHUP"
[ "$(grep -c 'plugin "iptunnel" applied its new config' "$MH_TMP/n1.log")" = 2 ] ||
  mh_fail "G did not log two applied configs: $(grep iptunnel "$MH_TMP/n1.log" | tail -n 5)"
mesh_stop_all
mh_log "PASS"
