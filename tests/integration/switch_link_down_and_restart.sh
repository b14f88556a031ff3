#!/usr/bin/env bash
# A neighbour survives its link going down and its peer crashing, without operator action:
# - `ip link set va down` (addresses kept, DESIGN §9): a shows b unresponsive within
#   unresponsiveMs (4 s here) of the last frame;
# - link up again: established again, neither node restarted, within keepaliveMs +
#   handshakeRetryMs (a handshakes every handshakeRetryMs once silent that long);
# - b killed with SIGKILL and restarted with the same key: a notices the silence and
#   handshakes again within keepaliveMs + handshakeRetryMs of b being back.
# Timers: keepalive 1 s, retry 1 s, unresponsive 4 s, gone 20 s. Each wait is 3 × its bound.
# usage: switch_link_down_and_restart.sh MESHHOST MESHCTL
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
sw_start a
sw_start b
mh_wait_for 10 "a to show b established" sw_established_with a "$key_b"
mh_wait_for 10 "b to show a established" sw_established_with b "$key_a"
pid_a=$SW_PID_a

unresponsive_s=$((SW_UNRESPONSIVE_MS / 1000))
rehandshake_s=$(((SW_KEEPALIVE_MS + SW_RETRY_MS + 999) / 1000))

# Link down: nothing authenticates any more; a marks b unresponsive.
ip -n a link set va down
addrs=$(ip -n a addr show dev va)  # not piped into grep -q: pipefail and SIGPIPE
[[ $addrs == *192.0.2.1/24* ]] || mh_fail "va lost its address when it went down"
mh_wait_for $((3 * unresponsive_s)) "a to show b unresponsive with the link down" sw_state_is a "$key_b" unresponsive
sessions_before=$(sw_event a sessions_established)

# Link up: a's retries get through; both established again.
ip -n a link set va up
mh_wait_for $((3 * rehandshake_s)) "a to show b established after link up" sw_state_is a "$key_b" established
mh_wait_for $((3 * rehandshake_s)) "b to show a established after link up" sw_state_is b "$key_a" established
kill -0 "$pid_a" && kill -0 "$SW_PID_b" || mh_fail "a node exited across the link flap"

# b crashes and comes back with the same key; a's old session is silent on b's side, so
# a handshakes again by itself.
sessions_before=$(sw_event a sessions_established)
kill -KILL "$SW_PID_b"
mh_wait_exit "$SW_PID_b" 10
sw_start b
mh_wait_for $((3 * rehandshake_s)) "restarted b to show a established" sw_state_is b "$key_a" established
mh_wait_for $((3 * rehandshake_s)) "a to establish a new session with restarted b" \
  sw_event_at_least a sessions_established $((sessions_before + 1))
sw_state_is a "$key_b" established || mh_fail "a does not show restarted b established"
sw_stop_all
mh_log "PASS"
