# Shared by the mesh scenarios (source after lib.sh and mh_enter_world): nodes n1…nN in
# their own namespaces, veth links between pairs (an underlay in 100.64.0.0/10), every
# node running udp + switch + router + session + tun, and readers of meshctl's answers.

MESH_PYTHON=$MH_PYTHON
MESH_TUN=meshhost0

# On failure: each node's log tail, routes, sessions and non-zero drop counters.
mesh_exit() {
  local status=$? log sock
  if [ "$status" != 0 ] && [ "$status" != "$MH_SKIP" ]; then
    for log in "$MH_TMP"/*.log; do
      [ -f "$log" ] || continue
      printf '%s\n' "--- $(basename "$log") (last 30 lines)" >&2
      tail -n 30 "$log" >&2
    done
    for sock in "$MH_TMP"/*/admin.sock; do
      [ -S "$sock" ] || continue
      printf '%s\n' "--- $sock: peers, routes, sessions, drops" >&2
      timeout 5 "$MESHCTL" --socket "$sock" peers >&2 || true
      timeout 5 "$MESHCTL" --socket "$sock" routes >&2 || true
      timeout 5 "$MESHCTL" --socket "$sock" sessions >&2 || true
      timeout 5 "$MESHCTL" --socket "$sock" call host.metrics 2>/dev/null | "$MESH_PYTHON" -c '
import json, sys
for m in json.load(sys.stdin):
    if "dropped" in m["name"] and m["value"]:
        print(m["name"], m["labels"], m["value"])' >&2 || true
    done
  fi
  mh_cleanup
}
trap mesh_exit EXIT

# Timers the scenarios run with (ms): faster than the defaults so recoveries fit the
# test's time, in the same proportions.
MESH_SWITCH_TIMERS='{ "keepaliveMs": 1000, "handshakeRetryMs": 1000, "unresponsiveMs": 3000, "goneMs": 20000 }'
MESH_ROUTER_JSON=${MESH_ROUTER_JSON:-'{ "timers": { "updateIntervalMs": 2000, "routeExpiryMs": 7000, "holdDownMs": 4000, "requestTimeoutMs": 500 } }'}
MESH_HOP_ENCRYPTION=${MESH_HOP_ENCRYPTION:-full}

# mesh_make_nodes N: namespaces n1…nN.
MESH_NODES=0
mesh_make_nodes() {
  local i
  MESH_NODES=$1
  for i in $(seq 1 "$1"); do
    ip netns add "n$i"
    ip -n "n$i" link set lo up
    ip netns exec "n$i" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.default.keep_addr_on_down=1
    mkdir -p "$MH_TMP/n$i"
    : >"$MH_TMP/n$i.connect"
    "$MESHHOST" --genconf >"$MH_TMP/n$i.gen"
    sed -n 's/^ *"privateKey": "\([0-9a-f]*\)".*/\1/p' "$MH_TMP/n$i.gen" >"$MH_TMP/n$i.key"
    sed -n 's/^ *"publicKey": "\([^"]*\)".*/\1/p' "$MH_TMP/n$i.gen" >"$MH_TMP/n$i.pub"
    sed -n 's/^ *"ipv6": "\([^"]*\)".*/\1/p' "$MH_TMP/n$i.gen" >"$MH_TMP/n$i.addr"
  done
}
mesh_key() { cat "$MH_TMP/n$1.pub"; }
mesh_addr() { cat "$MH_TMP/n$1.addr"; }

# mesh_link I J: a veth pair between nI (l<k>a, 100.64.k.1) and nJ (l<k>b, 100.64.k.2),
# each configured to connect to the other. Prints nothing; the link's number is k.
MESH_LINKS=0
MESH_LINK_A=()
MESH_LINK_B=()
mesh_link() {
  local i=$1 j=$2 k
  MESH_LINKS=$((MESH_LINKS + 1))
  k=$MESH_LINKS
  MESH_LINK_A[k]=$i
  MESH_LINK_B[k]=$j
  ip link add "l${k}a" netns "n$i" type veth peer name "l${k}b" netns "n$j"
  ip -n "n$i" addr add "100.64.$k.1/24" dev "l${k}a"
  ip -n "n$j" addr add "100.64.$k.2/24" dev "l${k}b"
  ip -n "n$i" link set "l${k}a" up
  ip -n "n$j" link set "l${k}b" up
  printf '"100.64.%s.2:11234": { "publicKey": "%s", "peerName": "n%s" }\n' "$k" "$(mesh_key "$j")" "$j" >>"$MH_TMP/n$i.connect"
  printf '"100.64.%s.1:11234": { "publicKey": "%s", "peerName": "n%s" }\n' "$k" "$(mesh_key "$i")" "$i" >>"$MH_TMP/n$j.connect"
}
# mesh_link_set K up|down: the veth pair of link k, both ends.
mesh_link_set() {
  local k=$1 state=$2
  ip -n "n${MESH_LINK_A[k]}" link set "l${k}a" "$state"
  ip -n "n${MESH_LINK_B[k]}" link set "l${k}b" "$state"
}

# mesh_config I [EXTRA_PLUGINS_JSON]: writes $MH_TMP/nI.json. MESH_UDP_EXTRA, when set, adds
# keys to the udp plugin's object (e.g. '"fwmark": 27976').
mesh_config() {
  local i=$1 extra=${2:-}
  local connect plugin_dirs=
  connect=$(paste -sd, "$MH_TMP/n$i.connect")
  [ -z "${MESH_PLUGIN_DIR:-}" ] || plugin_dirs="\"$(realpath "$MESH_PLUGIN_DIR")\""
  cat >"$MH_TMP/n$i.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/n$i.key")",
  "stateDir": "$MH_TMP/n$i/state",
  "admin": { "socket": "$MH_TMP/n$i/admin.sock" },
  "pluginDirs": [$plugin_dirs],
  "plugins": {
    ${extra:+$extra,}
    "udp": { "bind": ["0.0.0.0:11234"], "connectTo": { $connect }, "hopEncryption": "$MESH_HOP_ENCRYPTION"${MESH_UDP_EXTRA:+, $MESH_UDP_EXTRA} },
    "switch": { "timers": $MESH_SWITCH_TIMERS },
    "router": $MESH_ROUTER_JSON,
    "session": { "keepaliveMs": 2000 },
    "tun": { "name": "$MESH_TUN" }
  }
}
JSON
  chmod 0600 "$MH_TMP/n$i.json"
}

# mesh_start I: runs node I in nI; sets MESH_PID_I.
mesh_start() {
  rm -f "$MH_TMP/n$1/admin.sock"
  mh_start_node_in "n$1" "$MH_TMP/n$1.json" "$MH_TMP/n$1.log"
  printf -v "MESH_PID_$1" '%s' "$MH_PID"
  mh_wait_for 10 "node n$1's admin socket" test -S "$MH_TMP/n$1/admin.sock"
}

mesh_ctl() {
  local i=$1
  shift
  timeout 10 "$MESHCTL" --socket "$MH_TMP/n$i/admin.sock" "$@"
}

# mesh_ping I J: one kernel ping from nI to nJ's fc00:: address, answered within 1 s.
mesh_ping() { ip netns exec "n$1" ping -6 -n -q -c 1 -W 1 "$(mesh_addr "$2")" >/dev/null 2>&1; }

# mesh_metric I METRIC [LABEL VALUE]: the sum of METRIC (with LABEL=VALUE) on node I.
mesh_metric() {
  mesh_ctl "$1" call host.metrics | "$MESH_PYTHON" -c '
import json, sys
m = json.load(sys.stdin)
name, label, value = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None, sys.argv[3] if len(sys.argv) > 3 else None
print(int(sum(x["value"] for x in m if x["name"] == name and (label is None or x["labels"].get(label) == value))))' "${@:2}"
}

mesh_stop_all() {
  local pid
  for pid in "${MH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${MH_PIDS[@]}"; do mh_wait_exit "$pid" 10; done
  MH_PIDS=()
}

# mesh_hops_are TRACEROUTE_JSON ADDRESS...: the traceroute reached its target and its hops
# are exactly these addresses, in order (compared as addresses, not as text).
mesh_hops_are() {
  local json=$1
  shift
  "$MESH_PYTHON" -c '
import ipaddress, json, sys
t = json.load(open(sys.argv[1]))
got = [ipaddress.IPv6Address(h["address"]) if "address" in h else None for h in t["hops"]]
want = [ipaddress.IPv6Address(a) for a in sys.argv[2:]]
sys.exit(0 if t.get("reached") and got == want else 1)' "$json" "$@"
}
