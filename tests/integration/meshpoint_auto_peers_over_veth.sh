#!/usr/bin/env bash
# Three nodes whose only link driver is meshpoint, pointed at existing veth interfaces
# ("manage": false), on one "air" bridge whose a and c ports are isolated from each other
# (as two radios out of each other's range, both in range of b): they find each other by
# beacons through eth's shared transport, a and c peer only with b, and a reaches c
# through b — kernel ping, a TCP transfer intact (SHA-256 compared) and traceroute's hops
# b, c. meshpoint.stations shows the link, and says the veth has no station figures.
# Bound: beacons every 200 ms, handshakes ~1 s, the router's convergence over two hops
# within 30 s of the last start (waited 60 s); neighbours within 5 s (waited 20 s).
# usage: meshpoint_auto_peers_over_veth.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root for network namespaces, AF_PACKET sockets and TUN devices"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
here=$(dirname "$0")

# n1 = a, n2 = b, n3 = c; each one's mesh0 is a port of br0 in "air".
mesh_make_nodes 3
ip netns add air
ip -n air link add br0 type bridge
ip -n air link set br0 up
for i in 1 2 3; do
  ip -n "n$i" link add mesh0 type veth peer name "port$i" netns air
  ip -n air link set dev "port$i" master br0 up
  ip -n "n$i" link set mesh0 up
done
# Isolated ports reach only ports that are not isolated: a and c hear b, not each other.
ip netns exec air bridge link set dev port1 isolated on ||
  mh_skip "this kernel or iproute2 cannot isolate bridge ports (bridge link set … isolated on)"
ip netns exec air bridge link set dev port3 isolated on

# mp_config I: meshpoint (unmanaged, beacons, any discovered key), switch, router, session, tun.
mp_config() {
  cat >"$MH_TMP/n$1.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/n$1.key")",
  "stateDir": "$MH_TMP/n$1/state",
  "admin": { "socket": "$MH_TMP/n$1/admin.sock" },
  "plugins": {
    "meshpoint": { "interface": { "name": "mesh0" }, "manage": false,
                   "beacon": { "mode": "send", "intervalMs": 200 },
                   "discoveredPeers": { "policy": "acceptAny" } },
    "switch": { "timers": $MESH_SWITCH_TIMERS },
    "router": $MESH_ROUTER_JSON,
    "session": { "keepaliveMs": 2000 },
    "tun": { "name": "$MESH_TUN" }
  }
}
JSON
  chmod 0600 "$MH_TMP/n$1.json"
}

established_with() {  # established_with I J: nI has nJ as an established neighbour
  mesh_ctl "$1" --json peers | "$MESH_PYTHON" -c '
import json, sys
sys.exit(0 if any(p["publicKey"] == sys.argv[1] and p["state"] == "established" for p in json.load(sys.stdin)) else 1)' \
    "$(mesh_key "$2")"
}

for i in 1 2 3; do mp_config "$i"; done
for i in 1 2 3; do mesh_start "$i"; done
for pair in "1 2" "2 1" "2 3" "3 2"; do
  # shellcheck disable=SC2086
  mh_wait_for 20 "n${pair% *} to have n${pair#* } as a neighbour over meshpoint" established_with $pair
done
addr3=$(mesh_addr 3)
mh_wait_for 60 "n1 to ping n3 through n2" mesh_ping 1 3
ip netns exec n1 ping -6 -n -c 3 -i 0.2 -W 2 "$addr3" >"$MH_TMP/ping.out" ||
  mh_fail "kernel ping n1 → n3 lost packets: $(cat "$MH_TMP/ping.out")"
# The isolation held: a and c never heard each other, so they are not neighbours.
if established_with 1 3 || established_with 3 1; then mh_fail "n1 and n3 peered directly: the air bridge is not isolating them"; fi

ip netns exec n3 "$MESH_PYTHON" "$here/tcp_transfer.py" serve "$addr3" 5001 "$MH_TMP/received" &
server=$!
mh_wait_for 10 "the TCP server on n3" test -f "$MH_TMP/received.ready"
ip netns exec n1 "$MESH_PYTHON" "$here/tcp_transfer.py" send "$addr3" 5001 2 meshpoint-marker >"$MH_TMP/sent" ||
  mh_fail "the TCP transfer n1 → n3 failed"
wait "$server" || mh_fail "the TCP server on n3 failed"
[ "$(cat "$MH_TMP/sent")" = "$(cat "$MH_TMP/received")" ] ||
  mh_fail "n3 received other bytes than n1 sent: sent $(cat "$MH_TMP/sent"), received $(cat "$MH_TMP/received")"

mesh_ctl 1 --json traceroute "$addr3" >"$MH_TMP/trace.json" ||
  mh_fail "traceroute n1 → n3 did not reach it: $(cat "$MH_TMP/trace.json")"
mesh_hops_are "$MH_TMP/trace.json" "$(mesh_addr 2)" "$addr3" ||
  mh_fail "traceroute n1 → n3 did not list n2, n3: $(cat "$MH_TMP/trace.json")"

# The relay's frames went through meshpoint's link, and meshpoint.stations says what it has.
sent=$(mesh_metric 2 meshpoint_frames_sent_total link meshpoint/mesh0)
[ "$sent" -gt 0 ] || mh_fail "n2 sent no frames over meshpoint/mesh0"
mesh_ctl 2 call meshpoint.stations >"$MH_TMP/stations.json"
"$MESH_PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["state"] == "up" and s["link"] == "meshpoint/mesh0" and s["managed"] is False and s["radio"] is False
sys.exit(0 if ok and s["stations"] == [] else 1)' "$MH_TMP/stations.json" ||
  mh_fail "meshpoint.stations on n2 is not what an unmanaged veth gives: $(cat "$MH_TMP/stations.json")"
mh_expect_in "$MH_TMP/n2.log" "mesh0: no station figures, frames only"
mesh_stop_all
mh_log "PASS"
