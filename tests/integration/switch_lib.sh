# Shared by the switch scenarios (source after lib.sh and mh_enter_world): two network
# namespaces a and b joined by a veth pair va/vb (192.0.2.1/2, 2001:db8::1/2), node
# identities and configs with udp + switch, and readers of `meshctl peers` and the metrics.

SW_PYTHON=$MH_PYTHON  # lib.sh: the system python3 where there is one

# On failure, the nodes' logs go to stderr before the temp directory is removed.
sw_exit() {
  local status=$? log sock
  if [ "$status" != 0 ] && [ "$status" != "$MH_SKIP" ]; then
    for log in "$MH_TMP"/*.log; do
      [ -f "$log" ] || continue
      printf '%s\n' "--- $(basename "$log") (last 40 lines)" >&2
      tail -n 40 "$log" >&2
    done
    for sock in "$MH_TMP"/*/admin.sock; do
      [ -S "$sock" ] || continue
      printf '%s\n' "--- $sock: switch metrics and peers" >&2
      timeout 5 "$MESHCTL" --socket "$sock" call host.metrics 2>/dev/null | "$SW_PYTHON" -c '
import json, sys
for m in json.load(sys.stdin):
    if m["name"].startswith("meshhost_switch") and m["value"]:
        print(m["name"], m["labels"], m["value"])' >&2 || true
      timeout 5 "$MESHCTL" --socket "$sock" peers >&2 || true
    done
  fi
  mh_cleanup
}
trap sw_exit EXIT

# Timers the scenarios run with (ms); keepalive + retry < unresponsive < gone.
SW_KEEPALIVE_MS=${SW_KEEPALIVE_MS:-1000}
SW_RETRY_MS=${SW_RETRY_MS:-1000}
SW_UNRESPONSIVE_MS=${SW_UNRESPONSIVE_MS:-4000}
SW_GONE_MS=${SW_GONE_MS:-20000}

# sw_make_pair: namespaces a and b, addresses kept while a link is down (DESIGN §9).
sw_make_pair() {
  ip netns add a
  ip netns add b
  ip link add va netns a type veth peer name vb netns b
  local ns
  for ns in a b; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.keep_addr_on_down=1
  done
  ip -n a addr add 192.0.2.1/24 dev va
  ip -n b addr add 192.0.2.2/24 dev vb
  ip -n a addr add 2001:db8::1/64 dev va nodad
  ip -n b addr add 2001:db8::2/64 dev vb nodad
  ip -n a link set va up
  ip -n b link set vb up
}

# sw_identity NAME: writes $MH_TMP/NAME.key (private) and prints the public key.
sw_identity() {
  "$MESHHOST" --genconf >"$MH_TMP/$1.gen"
  sed -n 's/^ *"privateKey": "\([0-9a-f]*\)".*/\1/p' "$MH_TMP/$1.gen" >"$MH_TMP/$1.key"
  sed -n 's/^ *"publicKey": "\([^"]*\)".*/\1/p' "$MH_TMP/$1.gen"
}

# sw_node NAME BIND_JSON CONNECT_TO_JSON PASSWORDS_JSON [EXTRA_SWITCH_JSON]: writes
# $MH_TMP/NAME.json.
sw_node() {
  local name=$1 extra=${5:-}
  mkdir -p "$MH_TMP/$name"
  cat >"$MH_TMP/$name.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/$name.key")",
  "stateDir": "$MH_TMP/$name/state",
  "admin": { "socket": "$MH_TMP/$name/admin.sock" },
  "plugins": {
    "udp": { "bind": $2, "connectTo": $3 },
    "switch": {
      ${extra:+$extra,}
      "authorizedPasswords": $4,
      "timers": { "keepaliveMs": $SW_KEEPALIVE_MS, "handshakeRetryMs": $SW_RETRY_MS,
                  "unresponsiveMs": $SW_UNRESPONSIVE_MS, "goneMs": $SW_GONE_MS }
    }
  }
}
JSON
  chmod 0600 "$MH_TMP/$name.json"
}

# sw_start NAME [NETNS]: runs the node in its namespace (NAME's by default); sets MH_PID
# and SW_PID_<NAME>.
sw_start() {
  rm -f "$MH_TMP/$1/admin.sock"
  mh_start_node_in "${2:-$1}" "$MH_TMP/$1.json" "$MH_TMP/$1.log"
  printf -v "SW_PID_$1" '%s' "$MH_PID"
  mh_wait_for 10 "node $1's admin socket" test -S "$MH_TMP/$1/admin.sock"
}

sw_stop_all() {
  local pid
  for pid in "${MH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${MH_PIDS[@]}"; do mh_wait_exit "$pid" 10; done
  MH_PIDS=()
}

sw_peers_json() { timeout 5 "$MESHCTL" --socket "$MH_TMP/$1/admin.sock" --json peers; }

# sw_state_is NAME KEY STATE: NAME's switch shows KEY in STATE.
sw_state_is() {
  sw_peers_json "$1" | "$SW_PYTHON" -c '
import json, sys
peers = json.load(sys.stdin)
sys.exit(0 if any(p["publicKey"] == sys.argv[1] and p["state"] == sys.argv[2] for p in peers) else 1)' "$2" "$3"
}

# sw_established_with NAME KEY: NAME shows KEY established with an RTT.
sw_established_with() {
  sw_peers_json "$1" | "$SW_PYTHON" -c '
import json, sys
peers = json.load(sys.stdin)
ok = any(p["publicKey"] == sys.argv[1] and p["state"] == "established" and p["rttMs"] is not None for p in peers)
sys.exit(0 if ok else 1)' "$2"
}

# sw_no_peers NAME: NAME's switch has no neighbour at all.
sw_no_peers() { [ "$(sw_peers_json "$1" | "$SW_PYTHON" -c 'import json, sys; print(len(json.load(sys.stdin)))')" = 0 ]; }

# sw_metric NAME METRIC LABEL VALUE: prints the sum of METRIC{LABEL=VALUE} on node NAME.
sw_metric() {
  timeout 5 "$MESHCTL" --socket "$MH_TMP/$1/admin.sock" call host.metrics | "$SW_PYTHON" -c '
import json, sys
m = json.load(sys.stdin)
print(int(sum(x["value"] for x in m if x["name"] == sys.argv[1] and x["labels"].get(sys.argv[2]) == sys.argv[3])))' \
    "$2" "$3" "$4"
}
sw_dropped() { sw_metric "$1" meshhost_switch_dropped_total reason "$2"; }
sw_event() { sw_metric "$1" meshhost_switch_events_total event "$2"; }
# sw_dropped_at_least NAME REASON N
sw_dropped_at_least() { [ "$(sw_dropped "$1" "$2")" -ge "$3" ]; }
# sw_event_at_least NAME EVENT N
sw_event_at_least() { [ "$(sw_event "$1" "$2")" -ge "$3" ]; }

# The python3 helpers below need b's raw public key: cjdns base32 (sdk/src/base32.cpp),
# 5-bit digits least significant first, then ".k".
SW_PY_KEY='
ALPHABET = "0123456789bcdfghjklmnpqrstuvwxyz"
def raw_key(text):
    assert text.endswith(".k")
    bits = nbits = 0
    out = bytearray()
    for c in text[:-2]:
        bits |= ALPHABET.index(c.lower()) << nbits
        nbits += 5
        if nbits >= 8:
            out.append(bits & 0xff)
            bits >>= 8
            nbits -= 8
    assert len(out) == 32 and bits == 0
    return bytes(out)
'
