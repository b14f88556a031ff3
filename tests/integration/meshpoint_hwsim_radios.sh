#!/usr/bin/env bash
# Three nodes, each with its own mac80211_hwsim radio moved into its namespace, bring up
# an 802.11s mesh through the meshpoint plugin (mesh0 created on the phy, joined to one
# mesh ID on channel 1): the nodes find each other by beacons over the radios and peer,
# meshpoint.stations lists each other station with its figures, its cost and its node's
# key, the switch shows those figures and that cost beside each peer, and the router's
# routes carry the radio cost. At stop each node leaves the mesh and deletes mesh0.
# Needs mac80211_hwsim (loaded, or loadable with modprobe) and iw; skipped otherwise.
# Bound: mesh peering (~1 s) then beacons every 200 ms and a handshake: neighbours within
# 10 s (waited 30 s); station figures every 500 ms (waited 10 s); routes within 10 s
# (waited 30 s).
# usage: meshpoint_hwsim_radios.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root for network namespaces, radios and TUN devices"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
here=$(dirname "$0")

# Radios are made through the driver's netlink family in this world's namespace (the
# module's radios= parameter would put them where this world cannot see them), so the
# module is loaded with none of its own.
loaded_hwsim=
if [ ! -d /sys/module/mac80211_hwsim ]; then
  command -v modprobe >/dev/null || mh_skip "mac80211_hwsim is not loaded and there is no modprobe to load it"
  modprobe -n mac80211_hwsim 2>"$MH_TMP/modprobe.err" ||
    mh_skip "mac80211_hwsim is not loaded and this kernel has no such module: $(head -n 1 "$MH_TMP/modprobe.err")"
fi
command -v iw >/dev/null || mh_skip "needs iw to move radios between namespaces (scripts/install-deps test installs it)"
if [ ! -d /sys/module/mac80211_hwsim ]; then
  modprobe mac80211_hwsim radios=0 2>"$MH_TMP/modprobe.err" ||
    mh_skip "mac80211_hwsim is not loaded and cannot be: $(head -n 1 "$MH_TMP/modprobe.err")"
  loaded_hwsim=1
fi

# Unique phy names: a radio left by an aborted run keeps its name until it is deleted.
tag=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
phy() { printf 'mh%sp%s' "$tag" "$1"; }
radios=()
mp_exit() {
  local status=$? i
  set +eE
  trap - ERR
  (exit "$status")  # mesh_exit reads the scenario's status from $?
  mesh_exit
  # Each radio is deleted in the namespace it is in now.
  for i in "${radios[@]}"; do
    ip netns exec "n$i" "$MH_PYTHON" "$here/meshpoint_hwsim.py" del "$(phy "$i")" >/dev/null 2>&1 ||
      "$MH_PYTHON" "$here/meshpoint_hwsim.py" del "$(phy "$i")" >/dev/null 2>&1 || true
  done
  [ -z "$loaded_hwsim" ] || modprobe -r mac80211_hwsim 2>/dev/null || true
  exit "$status"
}
trap mp_exit EXIT

mesh_make_nodes 3
for i in 1 2 3; do
  "$MH_PYTHON" "$here/meshpoint_hwsim.py" new "$(phy "$i")" >/dev/null || mh_fail "cannot create radio $(phy "$i")"
  radios+=("$i")
  iw phy "$(phy "$i")" set netns name "n$i" || mh_fail "cannot move radio $(phy "$i") into n$i"
done

mp_config() {
  cat >"$MH_TMP/n$1.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/n$1.key")",
  "stateDir": "$MH_TMP/n$1/state",
  "admin": { "socket": "$MH_TMP/n$1/admin.sock" },
  "plugins": {
    "meshpoint": { "interface": { "name": "mesh0", "phy": "$(phy "$1")", "create": true },
                   "meshId": "meshhost-hwsim", "channel": 1, "channelWidth": "20", "stationIntervalMs": 500,
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

# peer_has_radio_cost I J: nI has nJ established, with a link metric carrying a signal and
# a cost, and that cost is part of the neighbour's cost.
peer_has_radio_cost() {
  mesh_ctl "$1" --json peers | "$MESH_PYTHON" -c '
import json, sys
for p in json.load(sys.stdin):
    if p["publicKey"] != sys.argv[1] or p["state"] != "established":
        continue
    m = p.get("linkMetric")
    ok = m is not None and m["cost"] is not None and m["cost"] > 0 and "signalDbm" in m["radio"]
    sys.exit(0 if ok and p["costParts"]["metric"] == m["cost"] else 1)
sys.exit(1)' "$(mesh_key "$2")"
}

# stations_show I: nI's meshpoint.stations lists the two other radios, peered (estab),
# with a signal, a cost and the key of the node heard at that MAC.
stations_show() {
  mesh_ctl "$1" call meshpoint.stations | "$MESH_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
keys = set(sys.argv[1:])
good = [x for x in s["stations"] if x.get("plinkState") == "estab" and "signalDbm" in x["figures"]
        and x["cost"] > 0 and x.get("publicKey") in keys]
sys.exit(0 if s["state"] == "up" and s["radio"] and s["joined"] and len(good) == 2 else 1)' \
    "$(for j in 1 2 3; do [ "$j" = "$1" ] || mesh_key "$j"; done)"
}

# route_carries_radio_cost I J: nI's selected route to nJ has a metric of at least the
# switch's ideal-link 10 plus the radio cost of the station it goes through.
route_carries_radio_cost() {
  local peers routes
  peers=$(mesh_ctl "$1" --json peers) routes=$(mesh_ctl "$1" --json routes)
  "$MESH_PYTHON" -c '
import json, sys
peers, routes, key = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
route = [r for r in routes if r["publicKey"] == key and r["selected"]]
if not route or route[0]["metric"] == "infinite":
    sys.exit(1)
hop = [p for p in peers if p["address"] == route[0]["nextHop"]]
sys.exit(0 if hop and hop[0]["linkMetric"] and route[0]["metric"] >= 10 + hop[0]["linkMetric"]["cost"] else 1)' \
    "$peers" "$routes" "$(mesh_key "$2")"
}

for i in 1 2 3; do mp_config "$i"; done
for i in 1 2 3; do mesh_start "$i"; done
for i in 1 2 3; do
  mh_expect_in "$MH_TMP/n$i.log" "mesh0: joined mesh \"meshhost-hwsim\" on 2412 MHz"
  ip netns exec "n$i" iw dev mesh0 info | grep -q "type mesh point" || mh_fail "n$i: mesh0 is not a mesh point"
done
for i in 1 2 3; do
  for j in 1 2 3; do
    [ "$i" = "$j" ] && continue
    mh_wait_for 30 "n$i to peer with n$j over the radios, with its radio figures" peer_has_radio_cost "$i" "$j"
  done
  mh_wait_for 10 "n$i's meshpoint.stations to show both other radios" stations_show "$i"
done
for pair in "1 3" "3 1" "2 3"; do
  # shellcheck disable=SC2086
  mh_wait_for 30 "n${pair% *}'s route to n${pair#* } to carry the radio cost" route_carries_radio_cost $pair
done
mh_wait_for 30 "n1 to ping n3" mesh_ping 1 3
stations=$(mesh_metric 1 meshpoint_stations)
[ "$stations" = 2 ] || mh_fail "n1's meshpoint_stations gauge is $stations, not 2"

# Stop: every node leaves the mesh and deletes the interface it created.
mesh_stop_all
for i in 1 2 3; do
  if ip netns exec "n$i" ip link show mesh0 >/dev/null 2>&1; then mh_fail "n$i: mesh0 is still there after stop"; fi
done
mh_log "PASS"
