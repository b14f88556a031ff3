#!/usr/bin/env bash
# Two nodes on one Ethernet segment (a veth pair between two namespaces) with udp beacons
# in mode send and no connectTo hear each other's beacons on IPv4 broadcast and on IPv6
# ff02::1; a third node with beacons off hears them too but ignores and counts them.
# Also: --check-config reports a bad udp block with its path.
# usage: udp_beacons_find_neighbours.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root for network namespaces"
command -v python3 >/dev/null || mh_skip "needs python3 to read meshctl's JSON"
mh_enter_world "$@"

bad="$MH_TMP/bad.json"
mh_write_config "$bad" '{ "udp": { "bind": ["0.0.0.0:11234", "1.2.3.4"], "beacon": { "mode": 3 } } }'
status=0
"$MESHHOST" --check-config "$bad" 2>"$MH_TMP/check.err" >/dev/null || status=$?
[ "$status" = 2 ] || { cat "$MH_TMP/check.err" >&2; mh_fail "exit status $status for a bad udp block, expected 2"; }
mh_expect_in "$MH_TMP/check.err" 'plugins.udp.bind[1]: expected "host:port" with a numeric IPv4 or [IPv6] address, got "1.2.3.4"'
mh_expect_in "$MH_TMP/check.err" 'plugins.udp.beacon.mode: expected 0, 1, 2, "off", "accept" or "send", got 3'

# One bridge in namespace "lan", a veth from each node's namespace into it.
nodes=(a b c)
mh_make_bridge "${nodes[@]}"
for i in 0 1 2; do
  n=${nodes[$i]}
  ip -n "$n" addr add "192.0.2.$((i + 1))/24" dev eth0
  ip -n "$n" addr add "fd00::$((i + 1))/64" dev eth0 nodad
done

modes=(send send off)
for i in 0 1 2; do
  n=${nodes[$i]}
  mh_write_config "$MH_TMP/$n.json" \
    "{ \"udp\": { \"beacon\": { \"mode\": \"${modes[$i]}\", \"intervalMs\": 200 }, \"discoveredPeers\": { \"policy\": \"acceptAny\" } } }"
  ip netns exec "$n" "$MESHHOST" --config "$MH_TMP/$n.json" >"$MH_TMP/$n.log" 2>&1 &
  MH_PIDS+=("$!")
done
for n in "${nodes[@]}"; do
  mh_wait_for 10 "node $n listening" grep -qF "listening on udp/0.0.0.0:11234, udp/[::]:11234" "$MH_TMP/$n.log"
done

# links_field NODE FAMILY FIELD [DROP_REASON]: a udp.links counter of NODE's link of FAMILY.
links_field() {
  "$MESHCTL" --socket "$MH_TMP/$1/admin.sock" call udp.links '{}' | python3 -c '
import json, sys
family, field = sys.argv[1], sys.argv[2]
reason = sys.argv[3] if len(sys.argv) > 3 else None
for link in json.load(sys.stdin):
    if link["family"] == family:
        print(link[field][reason] if reason else link[field])' "$2" "$3" ${4:+"$4"}
}
heard() { [ "$(links_field "$1" "$2" beaconsReceived)" -ge 2 ]; }
ignored() { [ "$(links_field "$1" "$2" drops beacon_ignored)" -ge 2 ]; }

for family in ipv4 ipv6; do
  mh_wait_for 10 "a to hear b's $family beacons" heard a "$family"
  mh_wait_for 10 "b to hear a's $family beacons" heard b "$family"
  mh_wait_for 10 "c to ignore $family beacons" ignored c "$family"
  [ "$(links_field c "$family" beaconsSent)" = 0 ] || mh_fail "c sent $family beacons with beacons off"
  [ "$(links_field c "$family" beaconsReceived)" = 0 ] || mh_fail "c accepted $family beacons with beacons off"
done
for n in a b c; do
  if grep -qE '(warn|error) +\[udp\]' "$MH_TMP/$n.log"; then cat "$MH_TMP/$n.log" >&2; mh_fail "node $n logged a problem"; fi
done
mh_log "PASS"
