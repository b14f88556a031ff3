#!/usr/bin/env bash
# Route choice by link metric (issue 7): five nodes over eth on veth pairs,
#   A – B – D        (two hops: the lower RTT cost)
#   A – C1 – C2 – D  (three hops)
# every node running eth + switch + router. A also runs a fake link metric source
# (tests/plugins/fake_link_metric.cpp, standing in for a radio). With no metric A reaches D
# via B. Then A's source gives the A – B path a bad radio metric (cost 200, far above the
# extra hop's 10) and the config is reloaded: A's route to D moves to C1 (router.routes,
# and traceroute and pings through the mesh go through C1, whose forwarded counter
# counts them), and `meshctl peers` on A shows the radio figures. When the metric is
# removed (reload) the route returns via B.
# Bounds: beacons every 200 ms and one handshake: neighbours within 2 s; routes over four
# hops within two update intervals (updateIntervalMs 2000 here), waited 30 s. A reload
# reaches the router at once (no hysteresis can hold back a change this large); the
# better route is unfeasible until D's seqno moves, which a seqno request through C1
# (requestTimeoutMs 500) brings in one round trip, announced at once: 2.5 s with a lost
# request, waited 3× (8 s). Measured here: under a second each way.
# usage: mesh_prefers_better_link_metric.sh MESHHOST MESHCTL FAKE_LINK_METRIC_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root for network namespaces and AF_PACKET sockets"
[ -f "$MESH_PLUGIN_DIR/fake_link_metric.so" ] || mh_fail "no fake_link_metric.so in $MESH_PLUGIN_DIR (build meshhost_test_plugins)"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"

A=1 B=2 C1=3 C2=4 D=5
mesh_make_nodes 5

# eth_link I J: link k, a veth pair e<k>a in nI (MAC 02:00:00:00:<k>:01) and e<k>b in nJ
# (MAC 02:00:00:00:<k>:02); each side lists its end in nI.ifaces.
ETH_LINKS=0
eth_link() {
  local i=$1 j=$2 k
  ETH_LINKS=$((ETH_LINKS + 1))
  k=$ETH_LINKS
  ip link add "e${k}a" address "02:00:00:00:0$k:01" netns "n$i" type veth \
    peer name "e${k}b" address "02:00:00:00:0$k:02" netns "n$j"
  ip -n "n$i" link set "e${k}a" up
  ip -n "n$j" link set "e${k}b" up
  printf '"e%sa"\n' "$k" >>"$MH_TMP/n$i.ifaces"
  printf '"e%sb"\n' "$k" >>"$MH_TMP/n$j.ifaces"
}
eth_link $A $B    # 1: A's e1a, B's e1b (02:00:00:00:01:02)
eth_link $B $D    # 2
eth_link $A $C1   # 3
eth_link $C1 $C2  # 4
eth_link $C2 $D   # 5

# eth_config I [EXTRA_PLUGINS_JSON]: eth on nI's interfaces with beacons, switch, router.
eth_config() {
  local i=$1 extra=${2:-} plugin_dirs=
  [ -z "$extra" ] || plugin_dirs="\"$(realpath "$MESH_PLUGIN_DIR")\""
  cat >"$MH_TMP/n$i.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/n$i.key")",
  "stateDir": "$MH_TMP/n$i/state",
  "admin": { "socket": "$MH_TMP/n$i/admin.sock" },
  "pluginDirs": [$plugin_dirs],
  "plugins": {
    ${extra:+$extra,}
    "eth": { "interfaces": [$(paste -sd, "$MH_TMP/n$i.ifaces")],
             "beacon": { "mode": "send", "intervalMs": 200 }, "discoveredPeers": { "policy": "acceptAny" } },
    "switch": { "timers": $MESH_SWITCH_TIMERS },
    "router": $MESH_ROUTER_JSON
  }
}
JSON
  chmod 0600 "$MH_TMP/n$i.json"
}
# A's source: no paths, or the A – B path (B's MAC on link 1) with a bad radio.
no_metric='"fake_link_metric": { "paths": [] }'
bad_metric='"fake_link_metric": { "paths": [ { "link": "eth/e1a", "mac": "02:00:00:00:01:02", "cost": 200,
  "signalDbm": -89, "txBitrateKbps": 6500, "expectedThroughputKbps": 2100, "airtimeMetric": 9000, "inactiveMs": 40 } ] }'
eth_config $A "$no_metric"
for i in $B $C1 $C2 $D; do eth_config "$i"; done
for i in $A $B $C1 $C2 $D; do mesh_start "$i"; done

canonical() { "$MESH_PYTHON" -c 'import ipaddress, sys; print(ipaddress.IPv6Address(sys.argv[1]))' "$1"; }
# next_hop_is I J K: nI's selected route to nJ goes through nK.
next_hop_is() {
  mesh_ctl "$1" --json routes | "$MESH_PYTHON" -c '
import ipaddress, json, sys
target, via = ipaddress.IPv6Address(sys.argv[1]), ipaddress.IPv6Address(sys.argv[2])
hops = [r["nextHop"] for r in json.load(sys.stdin) if r["selected"] and ipaddress.IPv6Address(r["address"]) == target]
sys.exit(0 if hops and hops[0] != "self" and ipaddress.IPv6Address(hops[0]) == via else 1)' "$(mesh_addr "$2")" "$(mesh_addr "$3")"
}
# traceroute_via I J HOP...: a traceroute from nI reaches nJ through exactly these nodes.
traceroute_via() {
  local from=$1 to=$2 hop addrs=()
  shift 2
  for hop in "$@" "$to"; do addrs+=("$(mesh_addr "$hop")"); done
  mesh_ctl "$from" --json traceroute "$(mesh_addr "$to")" >"$MH_TMP/trace.json" && mesh_hops_are "$MH_TMP/trace.json" "${addrs[@]}"
}
forwarded() { mesh_metric "$1" meshhost_switch_forwarded_total; }
# pings_through I J K: 20 echoes from nI to nJ are answered and each went through nK (its
# forwarded counter grows by at least 20: the requests; replies take nJ's own route).
pings_through() {
  local before after
  before=$(forwarded "$3")
  mesh_ctl "$1" --json ping "$(mesh_addr "$2")" -c 20 -i 20 >"$MH_TMP/ping.json"
  "$MESH_PYTHON" -c 'import json, sys; p = json.load(open(sys.argv[1])); sys.exit(0 if len(p["replies"]) == 20 else 1)' \
    "$MH_TMP/ping.json" || mh_fail "n$1 → n$2 lost echoes: $(cat "$MH_TMP/ping.json")"
  after=$(forwarded "$3")
  [ $((after - before)) -ge 20 ] || mh_fail "n$3 forwarded $((after - before)) packets of n$1's 20 echoes to n$2"
}

# No metric: two hops via B beat three via C1.
mh_wait_for 30 "A's route to D" next_hop_is $A $D $B
mh_wait_for 30 "A's route to C2" next_hop_is $A $C2 $C1
mh_wait_for 10 "a traceroute A → D via B" traceroute_via $A $D $B
pings_through $A $D $B
if mesh_ctl $A peers | grep -q SIGNAL_DBM; then mh_fail "meshctl peers shows radio columns with no metric"; fi

# A bad radio on A – B: the route moves to the three-hop path.
eth_config $A "$bad_metric"
mesh_ctl $A reload >/dev/null
started=$SECONDS
mh_wait_for 8 "A's route to D to move to C1" next_hop_is $A $D $C1
mh_log "A's route to D moved to C1 $((SECONDS - started)) s after the reload"
mh_wait_for 8 "a traceroute A → D via C1 and C2" traceroute_via $A $D $C1 $C2
pings_through $A $D $C1
mesh_ctl $A peers >"$MH_TMP/peers.txt"
mh_expect_in "$MH_TMP/peers.txt" SIGNAL_DBM
mh_expect_in "$MH_TMP/peers.txt" -89
mh_expect_in "$MH_TMP/peers.txt" "+200)"  # cost (rtt part + metric part)
mesh_ctl $A --json peers | "$MESH_PYTHON" -c '
import json, sys
peers = json.load(sys.stdin)
ab = [p for p in peers if p["link"] == "eth/e1a"]
ac = [p for p in peers if p["link"] == "eth/e3a"]
assert len(ab) == 1 and len(ac) == 1, peers
m = ab[0]["linkMetric"]
assert m["cost"] == 200 and m["radio"] == {"signalDbm": -89, "txBitrateKbps": 6500, "expectedThroughputKbps": 2100,
                                          "airtimeMetric": 9000, "inactiveMs": 40}, m
assert ab[0]["costParts"]["metric"] == 200 and ab[0]["cost"] >= 200, ab[0]
assert ac[0]["linkMetric"] is None and ac[0]["costParts"]["metric"] == 0, ac[0]
' || mh_fail "switch.peers on A does not show the A – B link metric: $(mesh_ctl $A --json peers)"

# The metric goes: back via B.
eth_config $A "$no_metric"
mesh_ctl $A reload >/dev/null
started=$SECONDS
mh_wait_for 8 "A's route to D to return to B" next_hop_is $A $D $B
mh_log "A's route to D returned to B $((SECONDS - started)) s after the reload"
mh_wait_for 8 "a traceroute A → D via B again" traceroute_via $A $D $B
pings_through $A $D $B
if mesh_ctl $A peers | grep -q SIGNAL_DBM; then mh_fail "meshctl peers still shows radio columns"; fi
mesh_stop_all
mh_log "PASS"
