#!/usr/bin/env bash
# A flood of initiation-shaped frames with a valid mac1 (random Noise body, so only a
# Diffie-Hellman could tell them from real ones) does not take b down: past its
# handshakeLoadThreshold (20/s here) b answers with cookie replies instead of doing the
# DH work, its real neighbour a stays established throughout, and its admin socket keeps
# answering. The flood is 20000 frames over about 5 s from namespace a to b's address.
# Bounds: established within handshakeRetryMs (1 s) of start, waits 3 × that plus startup;
# each admin call during the flood must answer within 2 s.
# usage: switch_survives_handshake_flood.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/switch_lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces"
mh_enter_world "$@"
sw_make_pair

key_a=$(sw_identity a)
key_b=$(sw_identity b)
sw_node a '["192.0.2.1:11234"]' "{ \"192.0.2.2:11234\": { \"publicKey\": \"$key_b\", \"password\": \"mesh-pw\", \"login\": \"a\" } }" '[]'
sw_node b '["192.0.2.2:11234"]' '{}' '[{ "password": "mesh-pw", "login": "a" }]' '"handshakeLoadThreshold": 20'
sw_start a
sw_start b
mh_wait_for 10 "a to show b established" sw_established_with a "$key_b"
mh_wait_for 10 "b to show a established" sw_established_with b "$key_a"
sessions_b=$(sw_event b sessions_established)

# The flood: initiations of 147 bytes (no login) with a random sender index and Noise
# body, mac1 = BLAKE2b-128 keyed by BLAKE2b-256("mac1----" || b's key) over the bytes
# before it, mac2 zero. Counts the cookie replies that come back.
ip netns exec a "$SW_PYTHON" -c "$SW_PY_KEY"'
import hashlib, os, socket, sys, time
mac1_key = hashlib.blake2b(b"mac1----" + raw_key(sys.argv[1]), digest_size=32).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
total, seconds = 20000, 5.0
start = time.monotonic()
replies = 0
for i in range(total):
    body = bytes([1, 1]) + os.urandom(4 + 96 + 13)
    mac1 = hashlib.blake2b(body, digest_size=16, key=mac1_key).digest()
    try:
        s.sendto(body + mac1 + bytes(16), ("192.0.2.2", 11234))
    except BlockingIOError:
        pass
    if i % 200 == 199:
        ahead = start + seconds * (i + 1) / total - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        if time.monotonic() - start > 3 * seconds:
            break
    while True:
        try:
            data = s.recv(2048)
        except BlockingIOError:
            break
        replies += len(data) == 62 and data[0] == 1 and data[1] == 3
deadline = time.monotonic() + 1
while time.monotonic() < deadline:
    try:
        data = s.recv(2048)
        replies += len(data) == 62 and data[0] == 1 and data[1] == 3
    except BlockingIOError:
        time.sleep(0.01)
open(sys.argv[2], "w").write("%d %d %.2f\n" % (i + 1, replies, time.monotonic() - start))
' "$key_b" "$MH_TMP/flood.out" &
flood=$!

# While it runs: b answers its admin socket promptly and both still show each other
# established.
polls=0
while kill -0 "$flood" 2>/dev/null && ! mh_is_zombie "$flood"; do
  timeout 2 "$MESHCTL" --socket "$MH_TMP/b/admin.sock" --json peers >"$MH_TMP/b-peers.json" ||
    mh_fail "b's admin socket did not answer within 2 s during the flood"
  "$SW_PYTHON" -c '
import json, sys
sys.exit(0 if any(p["publicKey"] == sys.argv[1] and p["state"] == "established" for p in json.load(open(sys.argv[2]))) else 1)' \
    "$key_a" "$MH_TMP/b-peers.json" || mh_fail "b lost a during the flood"
  sw_state_is a "$key_b" established || mh_fail "a lost b during the flood"
  polls=$((polls + 1))
  sleep 0.2
done
mh_wait_exit "$flood" 20
[ "$MH_STATUS" = 0 ] || mh_fail "the flood program failed"
read -r sent replies elapsed <"$MH_TMP/flood.out"
mh_log "flood: $sent frames in ${elapsed}s, $replies cookie replies back; $polls admin polls answered"

[ "$replies" -gt 0 ] || mh_fail "no cookie reply reached the flooder"
cookies=$(sw_event b cookie_replies_sent)
under_load=$(sw_dropped b bad_mac2_under_load)
failed=$(sw_dropped b handshake_failed)
mh_log "b: cookie_replies_sent $cookies, bad_mac2_under_load $under_load, handshake_failed $failed"
[ "$cookies" -gt 0 ] && [ "$under_load" -gt 0 ] || mh_fail "b did not go under load"
# Past the threshold, no DH: only the first 20 a second or so reach Noise.
[ "$failed" -lt $((sent / 10)) ] || mh_fail "b did the DH work for $failed of $sent flood frames"
sw_established_with a "$key_b" || mh_fail "a lost b after the flood"
sw_established_with b "$key_a" || mh_fail "b lost a after the flood"
[ "$(sw_event b sessions_established)" = "$sessions_b" ] || mh_fail "b's session with a was replaced during the flood"
sw_stop_all
mh_log "PASS"
