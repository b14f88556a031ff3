#!/usr/bin/env bash
# Three nodes on one Ethernet bridge, eth beacons on and no connectTo: with policy
# acceptAny all three become each other's neighbours; with requirePassword, the two that
# know the password peer and the third, which knows none, peers with nobody.
# Bound: beacons every 200 ms, then one handshake: established within a second or two,
# waited 20 s.
# usage: switch_auto_peers_on_eth_bridge.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root for network namespaces and AF_PACKET sockets"
mh_enter_world "$@"
source "$(dirname "$0")/switch_lib.sh"

nodes=(a b c)
mh_make_bridge "${nodes[@]}"
declare -A key
for n in "${nodes[@]}"; do key[$n]=$(sw_identity "$n"); done

# eth_node NAME POLICY BEACON_PASSWORD_JSON [AUTHORIZED_PASSWORDS_JSON]: eth with beacons,
# a switch accepting "pw" (login "lan") unless told otherwise.
eth_node() {
  local authorized=${4:-'[{ "password": "pw", "login": "lan" }]'}
  mkdir -p "$MH_TMP/$1"
  cat >"$MH_TMP/$1.json" <<JSON
{
  "privateKey": "$(cat "$MH_TMP/$1.key")",
  "stateDir": "$MH_TMP/$1/state",
  "admin": { "socket": "$MH_TMP/$1/admin.sock" },
  "plugins": {
    "eth": { "interfaces": ["eth0"], "beacon": { "mode": "send", "intervalMs": 200 $3 },
             "discoveredPeers": { "policy": "$2" } },
    "switch": { "authorizedPasswords": $authorized,
                "timers": { "keepaliveMs": $SW_KEEPALIVE_MS, "handshakeRetryMs": $SW_RETRY_MS,
                            "unresponsiveMs": $SW_UNRESPONSIVE_MS, "goneMs": $SW_GONE_MS } }
  }
}
JSON
  chmod 0600 "$MH_TMP/$1.json"
}

# acceptAny: everyone peers with everyone.
for n in "${nodes[@]}"; do eth_node "$n" acceptAny ''; done
for n in "${nodes[@]}"; do sw_start "$n"; done
for n in "${nodes[@]}"; do
  for m in "${nodes[@]}"; do
    [ "$n" = "$m" ] && continue
    mh_wait_for 20 "$n to have $m as an established neighbour" sw_established_with "$n" "${key[$m]}"
  done
done
sw_stop_all

# requirePassword: c knows no password at all. Its initiations carry the all-zero psk and
# are refused by a's and b's policy; theirs name login "lan", which c does not authorize.
with_password=', "password": "pw", "login": "lan"'
eth_node a requirePassword "$with_password"
eth_node b requirePassword "$with_password"
eth_node c requirePassword '' '[]'
for n in "${nodes[@]}"; do sw_start "$n"; done
mh_wait_for 20 "a and b to peer" sw_established_with a "${key[b]}"
mh_wait_for 20 "b and a to peer" sw_established_with b "${key[a]}"
# Several beacon rounds: c refuses a's initiations, a refuses c's.
mh_wait_for 20 "a to refuse c by policy" sw_dropped_at_least a policy_rejected 1
mh_wait_for 20 "c to refuse the unknown login" sw_dropped_at_least c unknown_login 1
for n in a b; do
  if sw_established_with "$n" "${key[c]}"; then mh_fail "$n peered with c, which has no password"; fi
done
if sw_established_with c "${key[a]}" || sw_established_with c "${key[b]}"; then mh_fail "c got a neighbour without the password"; fi
sw_stop_all
mh_log "PASS"
