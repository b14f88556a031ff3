#!/usr/bin/env bash
# Three nodes on one bridge, each through a veth in its own namespace, run the eth plugin
# with "interfaces": "all" and beacons in mode send: each hears the other two by key at
# their MACs (eth.links). An interface with MTU 1000 is refused with a message naming it
# and both numbers; an interface added after start becomes a link, and one taken down
# goes away; SIGTERM stops each node cleanly. Also: --check-config reports a bad eth block.
# usage: eth_beacons_on_a_bridge.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root for network namespaces and AF_PACKET sockets"
command -v python3 >/dev/null || mh_skip "needs python3 to read meshctl's JSON"
mh_enter_world "$@"

bad="$MH_TMP/bad.json"
mh_write_config "$bad" '{ "eth": { "interfaces": ["eth0", "a/b"], "beacon": { "mode": 3 } } }'
status=0
"$MESHHOST" --check-config "$bad" 2>"$MH_TMP/check.err" >/dev/null || status=$?
[ "$status" = 2 ] || { cat "$MH_TMP/check.err" >&2; mh_fail "exit status $status for a bad eth block, expected 2"; }
mh_expect_in "$MH_TMP/check.err" 'plugins.eth.interfaces[1]: expected an interface name'
mh_expect_in "$MH_TMP/check.err" 'plugins.eth.beacon.mode: expected 0, 1, 2, "off", "accept" or "send", got 3'

# One bridge in namespace "lan", a veth from each node's namespace into it.
nodes=(a b c)
mh_make_bridge "${nodes[@]}"
# c also has a pair whose MTU cannot carry meshhost.
ip -n c link add small0 mtu 1000 type veth peer name small1 mtu 1000
ip -n c link set small0 up
ip -n c link set small1 up

for n in "${nodes[@]}"; do
  mh_write_config "$MH_TMP/$n.json" \
    '{ "eth": { "interfaces": "all", "beacon": { "mode": "send", "intervalMs": 200 }, "discoveredPeers": { "policy": "acceptAny" } } }'
  ip netns exec "$n" "$MESHHOST" --config "$MH_TMP/$n.json" >"$MH_TMP/$n.log" 2>&1 &
  MH_PIDS+=("$!")
done
for n in "${nodes[@]}"; do
  mh_wait_for 10 "node $n's link on eth0" grep -qF "eth0: link eth/eth0 up" "$MH_TMP/$n.log"
done

key_of() { "$MESHCTL" --socket "$MH_TMP/$1/admin.sock" status | sed -n 's/^public key: *//p'; }
mac_of() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
# links NODE: eth.links of NODE as JSON.
links() { "$MESHCTL" --socket "$MH_TMP/$1/admin.sock" call eth.links '{}'; }
# heard NODE INTERFACE KEY MAC: NODE's link on INTERFACE hears KEY's beacons from MAC.
heard() {
  links "$1" | "$MH_PYTHON" -c '
import json, sys
interface, key, mac = sys.argv[1:4]
for link in json.load(sys.stdin)["links"]:
    if link["interface"] == interface and link["state"] == "up":
        sys.exit(0 if any(h["publicKey"] == key and h["mac"] == mac for h in link["heard"]) else 1)
sys.exit(1)' "$2" "$3" "$4"
}
# state NODE INTERFACE: the state eth.links reports for INTERFACE ("" if not listed).
state() {
  links "$1" | "$MH_PYTHON" -c '
import json, sys
print(next((l["state"] for l in json.load(sys.stdin)["links"] if l["interface"] == sys.argv[1]), ""))' "$2"
}
state_is() { [ "$(state "$1" "$2")" = "$3" ]; }

for n in "${nodes[@]}"; do
  for m in "${nodes[@]}"; do
    [ "$n" = "$m" ] && continue
    key=$(key_of "$m")
    [ -n "$key" ] || mh_fail "no public key for node $m"
    mh_wait_for 10 "$n to hear $m's beacons" heard "$n" eth0 "$key" "$(mac_of "$m" eth0)"
  done
done

mh_expect_in "$MH_TMP/c.log" "small0: MTU 1000 is too small for meshhost, which needs at least 1412"
mh_expect_in "$MH_TMP/c.log" "small1: MTU 1000 is too small for meshhost, which needs at least 1412"
state_is c small0 refused || mh_fail "eth.links on c does not list small0 as refused"

# An interface that appears after start becomes a link; taken down, it goes away.
ip -n a link add late0 type veth peer name late1
ip -n a link set late0 up
ip -n a link set late1 up
mh_wait_for 10 "a's link on late0" state_is a late0 up
mh_expect_in "$MH_TMP/a.log" "late0: link eth/late0 up"
ip -n a link set late0 down
mh_wait_for 10 "a's link on late0 to go" state_is a late0 down
ip -n a link del late0
mh_wait_for 10 "late0 to leave eth.links" state_is a late0 ""

for i in "${!nodes[@]}"; do
  pid=${MH_PIDS[$i]}
  kill -TERM "$pid"
  mh_wait_exit "$pid" 10
  [ "$MH_STATUS" = 0 ] || { cat "$MH_TMP/${nodes[$i]}.log" >&2; mh_fail "node ${nodes[$i]} exited with $MH_STATUS"; }
done
mh_log "PASS"
