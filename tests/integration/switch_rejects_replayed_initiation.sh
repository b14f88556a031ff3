#!/usr/bin/env bash
# A replayed handshake initiation does nothing: a's first initiation to b is captured by a
# UDP listener standing in for b, then the real b starts and a and b establish, then the
# captured initiation is sent to b again from namespace a. b drops it as stale_timestamp
# (its TAI64N is not newer than the last one b accepted from a), answers nothing, adds no
# path, and the session stays established.
# Bounds: a retries every handshakeRetryMs (1 s here), so b is established within 1 s of
# starting; waits are 3 × that plus startup (10 s).
# usage: switch_rejects_replayed_initiation.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/switch_lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces"
mh_enter_world "$@"
sw_make_pair

key_a=$(sw_identity a)
key_b=$(sw_identity b)
sw_node a '["192.0.2.1:11234"]' "{ \"192.0.2.2:11234\": { \"publicKey\": \"$key_b\", \"password\": \"mesh-pw\", \"login\": \"a\" } }" '[]'
sw_node b '["192.0.2.2:11234"]' '{}' '[{ "password": "mesh-pw", "login": "a" }]'

# The stand-in for b: keeps the first initiation (version 1, type 0x01) it receives.
ip netns exec b "$SW_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 11234))
s.settimeout(15)
open(sys.argv[1] + ".ready", "w").close()
while True:
    data, _ = s.recvfrom(2048)
    if len(data) >= 147 and data[0] == 1 and data[1] == 1:
        open(sys.argv[1], "wb").write(data)
        break
' "$MH_TMP/initiation.bin" &
listener=$!
mh_wait_for 10 "the stand-in listener" test -e "$MH_TMP/initiation.bin.ready"
sw_start a
mh_wait_exit "$listener" 15
[ "$MH_STATUS" = 0 ] && [ -s "$MH_TMP/initiation.bin" ] || mh_fail "no initiation captured from a"

sw_start b
mh_wait_for 10 "a to show b established" sw_established_with a "$key_b"
mh_wait_for 10 "b to show a established" sw_established_with b "$key_a"
responses=$(sw_event b responses_sent)
[ "$(sw_dropped b stale_timestamp)" = 0 ] || mh_fail "b counted a stale timestamp before the replay"

# The replay, three times, from a's namespace (another source port than a's node).
ip netns exec a "$SW_PYTHON" -c '
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(data, ("192.0.2.2", 11234))
' "$MH_TMP/initiation.bin"
mh_wait_for 10 "b to count the replays as stale" sw_dropped_at_least b stale_timestamp 3

[ "$(sw_event b responses_sent)" = "$responses" ] || mh_fail "b answered a replayed initiation"
sw_established_with a "$key_b" || mh_fail "a lost b after the replay"
sw_established_with b "$key_a" || mh_fail "b lost a after the replay"
paths=$(sw_peers_json b | "$SW_PYTHON" -c 'import json, sys; print(sum(len(p["paths"]) for p in json.load(sys.stdin)))')
[ "$paths" = 1 ] || { sw_peers_json b >&2; mh_fail "b has $paths paths after the replay, expected 1"; }
sw_stop_all
mh_log "PASS"
