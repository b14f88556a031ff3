#!/usr/bin/env bash
# An initiator that is not who the responder expects gets no neighbour, and the responder
# counts why: a login that names none of b's authorizedPasswords (unknown_login), and a
# connectTo naming the wrong public key for b's address (bad_mac1: mac1 is keyed by the
# key the initiator meant, so b drops the frame before any Diffie-Hellman).
# Bounds: a retries every handshakeRetryMs (1 s here) and b counts the first initiation
# it gets; waits are 3 × 1 s plus the startup of both nodes (10 s each at most).
# usage: switch_rejects_wrong_login_and_key.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/switch_lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces"
mh_enter_world "$@"
sw_make_pair

key_a=$(sw_identity a)
key_b=$(sw_identity b)
key_c=$(sw_identity c)  # a key nobody runs

# Over IPv4, a uses a login b does not know (with b's right password); over IPv6, a names
# c's key for b's address.
sw_node a '["192.0.2.1:11234", "[2001:db8::1]:11234"]' "{
  \"192.0.2.2:11234\": { \"publicKey\": \"$key_b\", \"password\": \"mesh-pw\", \"login\": \"stranger\" },
  \"[2001:db8::2]:11234\": { \"publicKey\": \"$key_c\", \"password\": \"mesh-pw\", \"login\": \"a\" } }" '[]'
sw_node b '["192.0.2.2:11234", "[2001:db8::2]:11234"]' '{}' '[{ "password": "mesh-pw", "login": "a" }]'
sw_start b
sw_start a

mh_wait_for 10 "b to count an unknown login" sw_dropped_at_least b unknown_login 1
mh_wait_for 10 "b to count a bad mac1" sw_dropped_at_least b bad_mac1 1
# Both go on being refused: a keeps retrying, b keeps counting, nobody peers.
n_login=$(sw_dropped b unknown_login)
n_mac=$(sw_dropped b bad_mac1)
mh_wait_for 10 "b to count a retried unknown login" sw_dropped_at_least b unknown_login $((n_login + 1))
mh_wait_for 10 "b to count a retried bad mac1" sw_dropped_at_least b bad_mac1 $((n_mac + 1))
sw_no_peers b || { sw_peers_json b >&2; mh_fail "b took a neighbour it should have refused"; }
for key in "$key_b" "$key_c"; do
  if sw_state_is a "$key" established; then mh_fail "a reached established with $key"; fi
done
# Nothing got as far as the Noise handshake on b.
[ "$(sw_event b responses_sent)" = 0 ] || mh_fail "b answered an initiation it should have refused"
sw_stop_all
mh_log "PASS"
