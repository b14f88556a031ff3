#!/usr/bin/env bash
# Two nodes in two network namespaces joined by a veth pair peer over UDP, once over IPv4
# and once over IPv6: each reaches established with the other and `meshctl peers` shows
# it with an RTT. A node with the wrong password gets no neighbour, and the refusal is
# counted.
# usage: switch_peers_over_udp.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces"
mh_enter_world "$@"

ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
for ns in a b; do ip -n "$ns" link set lo up; done
ip -n a addr add 192.0.2.1/24 dev va
ip -n b addr add 192.0.2.2/24 dev vb
ip -n a addr add 2001:db8::1/64 dev va nodad
ip -n b addr add 2001:db8::2/64 dev vb nodad
ip -n a link set va up
ip -n b link set vb up

# identity NAME: writes $MH_TMP/NAME.key (private) and prints the public key.
identity() {
  "$MESHHOST" --genconf >"$MH_TMP/$1.gen"
  sed -n 's/^ *"privateKey": "\([0-9a-f]*\)".*/\1/p' "$MH_TMP/$1.gen" >"$MH_TMP/$1.key"
  sed -n 's/^ *"publicKey": "\([^"]*\)".*/\1/p' "$MH_TMP/$1.gen"
}
key_a=$(identity a)
key_b=$(identity b)

# node NAME BIND_JSON CONNECT_TO_JSON PASSWORDS_JSON: writes $MH_TMP/NAME.json.
node() {
  local name=$1
  mkdir -p "$MH_TMP/$name"
  cat >"$MH_TMP/$name.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/$name.key")",
  "stateDir": "$MH_TMP/$name/state",
  "admin": { "socket": "$MH_TMP/$name/admin.sock" },
  "plugins": {
    "udp": { "bind": $2, "connectTo": $3 },
    "switch": { "authorizedPasswords": $4, "timers": { "keepaliveMs": 1000, "handshakeRetryMs": 2000, "unresponsiveMs": 8000, "goneMs": 20000 } }
  }
}
JSON
  chmod 0600 "$MH_TMP/$name.json"
}

peers_json() { "$MESHCTL" --socket "$MH_TMP/$1/admin.sock" --json peers; }
# established_with NAME KEY: NAME's switch shows KEY established with an RTT.
established_with() {
  peers_json "$1" | "$MH_PYTHON" -c '
import json, sys
peers = json.load(sys.stdin)
ok = any(p["publicKey"] == sys.argv[1] and p["state"] == "established" and p["rttMs"] is not None for p in peers)
sys.exit(0 if ok else 1)' "$2"
}

start() {  # start NAME: runs the node in its namespace; MH_PID_<NAME>
  mh_start_node_in "$1" "$MH_TMP/$1.json" "$MH_TMP/$1.log"
  mh_wait_for 10 "node $1's admin socket" test -S "$MH_TMP/$1/admin.sock"
}

stop_all() {
  local pid
  for pid in "${MH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${MH_PIDS[@]}"; do mh_wait_exit "$pid" 10; done
  MH_PIDS=()
}

for family in 4 6; do
  if [ "$family" = 4 ]; then
    bind_a='["192.0.2.1:11234"]' bind_b='["192.0.2.2:11234"]' addr_b='192.0.2.2:11234'
  else
    bind_a='["[2001:db8::1]:11234"]' bind_b='["[2001:db8::2]:11234"]' addr_b='[2001:db8::2]:11234'
  fi
  # a connects to b with b's password; b only accepts.
  node a "$bind_a" "{ \"$addr_b\": { \"publicKey\": \"$key_b\", \"password\": \"mesh-pw\", \"login\": \"a\", \"peerName\": \"b\" } }" '[]'
  node b "$bind_b" '{}' '[{ "password": "mesh-pw", "login": "a" }]'
  start a
  start b
  # Keepalives every second carry the RTT probes; 3 × the bound of a few seconds.
  mh_wait_for 20 "a to show b established with an RTT (IPv$family)" established_with a "$key_b"
  mh_wait_for 20 "b to show a established with an RTT (IPv$family)" established_with b "$key_a"
  "$MESHCTL" --socket "$MH_TMP/a/admin.sock" peers >"$MH_TMP/peers-$family.out"
  mh_expect_in "$MH_TMP/peers-$family.out" "established"
  mh_expect_in "$MH_TMP/peers-$family.out" "$addr_b"
  stop_all
done

# The wrong password: b refuses every initiation, a never gets a neighbour.
node a '["192.0.2.1:11234"]' "{ \"192.0.2.2:11234\": { \"publicKey\": \"$key_b\", \"password\": \"wrong\", \"login\": \"a\" } }" '[]'
node b '["192.0.2.2:11234"]' '{}' '[{ "password": "mesh-pw", "login": "a" }]'
start a
start b
# With IKpsk2 the psk enters at the response: a's check of b's response fails, and a
# counts it (b's half-open session expires unconfirmed later).
refused() {
  "$MESHCTL" --socket "$MH_TMP/a/admin.sock" call host.metrics | "$MH_PYTHON" -c '
import json, sys
m = json.load(sys.stdin)
n = sum(x["value"] for x in m if x["name"] == "meshhost_switch_dropped_total" and x["labels"].get("reason") == "handshake_failed")
sys.exit(0 if n > 0 else 1)'
}
mh_wait_for 20 "a to count the failed handshake" refused
if established_with a "$key_b"; then mh_fail "a peered with b using the wrong password"; fi
stop_all
mh_log "PASS"
