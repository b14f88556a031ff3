#!/usr/bin/env bash
# Both nodes connectTo each other at once, each holding the other's password: exactly one
# session results (one established path on each side, one session established on each
# side, whichever initiation won the collision) and it stays up across several keepalives.
# Bounds: a handshake completes within handshakeRetryMs (1 s) of both being up; waits are
# 3 × that plus startup (10 s); stability is watched for 3 × keepaliveMs.
# usage: switch_simultaneous_connect_one_session.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/switch_lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces"
mh_enter_world "$@"
sw_make_pair

key_a=$(sw_identity a)
key_b=$(sw_identity b)
sw_node a '["192.0.2.1:11234"]' "{ \"192.0.2.2:11234\": { \"publicKey\": \"$key_b\", \"password\": \"pw-for-b\", \"login\": \"a\" } }" \
  '[{ "password": "pw-for-a", "login": "b" }]'
sw_node b '["192.0.2.2:11234"]' "{ \"192.0.2.1:11234\": { \"publicKey\": \"$key_a\", \"password\": \"pw-for-a\", \"login\": \"b\" } }" \
  '[{ "password": "pw-for-b", "login": "a" }]'
# Both processes first, then wait for both sockets: their first initiations cross.
mh_start_node_in a "$MH_TMP/a.json" "$MH_TMP/a.log"
mh_start_node_in b "$MH_TMP/b.json" "$MH_TMP/b.log"
mh_wait_for 10 "node a's admin socket" test -S "$MH_TMP/a/admin.sock"
mh_wait_for 10 "node b's admin socket" test -S "$MH_TMP/b/admin.sock"

mh_wait_for 10 "a to show b established" sw_established_with a "$key_b"
mh_wait_for 10 "b to show a established" sw_established_with b "$key_a"

# one_established_path NAME KEY: NAME has exactly one neighbour, KEY, with exactly one
# path, established.
one_established_path() {
  sw_peers_json "$1" | "$SW_PYTHON" -c '
import json, sys
peers = json.load(sys.stdin)
ok = (len(peers) == 1 and peers[0]["publicKey"] == sys.argv[1] and peers[0]["state"] == "established"
      and len(peers[0]["paths"]) == 1 and peers[0]["paths"][0]["state"] == "established")
if not ok:
    print(json.dumps(peers, indent=1), file=sys.stderr)
sys.exit(0 if ok else 1)' "$2"
}

# Watch it for 3 keepalives: one path each, established every time we look.
deadline=$((SECONDS + 3 * SW_KEEPALIVE_MS / 1000 + 1))
while [ "$SECONDS" -lt "$deadline" ]; do
  one_established_path a "$key_b" || mh_fail "a does not have exactly one established path to b"
  one_established_path b "$key_a" || mh_fail "b does not have exactly one established path to a"
  sleep 0.2
done
sessions_a=$(sw_event a sessions_established)
sessions_b=$(sw_event b sessions_established)
collisions=$(( $(sw_dropped a collision_lost) + $(sw_dropped b collision_lost) ))
mh_log "sessions established: a $sessions_a, b $sessions_b; collisions lost: $collisions"
[ "$sessions_a" = 1 ] && [ "$sessions_b" = 1 ] ||
  mh_fail "expected one session on each side, got a $sessions_a and b $sessions_b"
sw_stop_all
mh_log "PASS"
