#!/usr/bin/env bash
# Two nodes in two network namespaces joined by a veth pair peer over UDP, once over IPv4
# and once over IPv6: each reaches established with the other and `meshctl peers` shows
# it with an RTT. A node with the wrong password gets no neighbour, and the failed
# handshake is counted. Bound: established within keepalive + retry (2 s here), waited 3×
# with margin for the Argon2id of each password at start.
# usage: switch_peers_over_udp.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces"
mh_enter_world "$@"
source "$(dirname "$0")/switch_lib.sh"

sw_make_pair
key_a=$(sw_identity a)
key_b=$(sw_identity b)

for family in 4 6; do
  if [ "$family" = 4 ]; then
    bind_a='["192.0.2.1:11234"]' bind_b='["192.0.2.2:11234"]' addr_b='192.0.2.2:11234'
  else
    bind_a='["[2001:db8::1]:11234"]' bind_b='["[2001:db8::2]:11234"]' addr_b='[2001:db8::2]:11234'
  fi
  # a connects to b with b's password; b only accepts.
  sw_node a "$bind_a" "{ \"$addr_b\": { \"publicKey\": \"$key_b\", \"password\": \"mesh-pw\", \"login\": \"a\", \"peerName\": \"b\" } }" '[]'
  sw_node b "$bind_b" '{}' '[{ "password": "mesh-pw", "login": "a" }]'
  sw_start a
  sw_start b
  mh_wait_for 20 "a to show b established with an RTT (IPv$family)" sw_established_with a "$key_b"
  mh_wait_for 20 "b to show a established with an RTT (IPv$family)" sw_established_with b "$key_a"
  "$MESHCTL" --socket "$MH_TMP/a/admin.sock" peers >"$MH_TMP/peers-$family.out"
  mh_expect_in "$MH_TMP/peers-$family.out" "established"
  mh_expect_in "$MH_TMP/peers-$family.out" "$addr_b"
  sw_stop_all
done

# The wrong password: with IKpsk2 the psk enters at the response, so a's check of b's
# response fails and a counts it (b's half-open session expires unconfirmed later).
sw_node a '["192.0.2.1:11234"]' "{ \"192.0.2.2:11234\": { \"publicKey\": \"$key_b\", \"password\": \"wrong\", \"login\": \"a\" } }" '[]'
sw_node b '["192.0.2.2:11234"]' '{}' '[{ "password": "mesh-pw", "login": "a" }]'
sw_start a
sw_start b
mh_wait_for 20 "a to count the failed handshake" sw_dropped_at_least a handshake_failed 1
if sw_established_with a "$key_b"; then mh_fail "a peered with b using the wrong password"; fi
sw_stop_all
mh_log "PASS"
