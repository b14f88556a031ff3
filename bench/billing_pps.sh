#!/usr/bin/env bash
# The per-packet cost of billing at the gateway: a client floods small UDP datagrams
# (64-byte payload) through its gateway to the "Internet" host (tests/integration/
# iptunnel_lib.sh), and the host counts how many arrive per second — with billing off, on
# with a plan that only meters (price, a free prefix), and on with a rate limit high enough
# never to hold a packet (the shaper's path on every packet). Client and gateway are peered
# directly over a veth; same run, same machine. Root only; runs in its own namespaces.
# usage: bench/billing_pps.sh BUILD_DIR [SECONDS (default 5)]
set -euo pipefail
build=$(realpath "${1:?usage: bench/billing_pps.sh BUILD_DIR [SECONDS]}")
seconds=${2:-5}
MESHHOST=$build/bin/meshhost MESHCTL=$build/bin/meshctl
tests=$(realpath "$(dirname "$0")/../tests/integration")
here=$(realpath "$(dirname "$0")")
source "$tests/lib.sh"
[ "$(id -u)" = 0 ] || { echo "billing_pps: needs root (network namespaces, TUN devices, nftables)" >&2; exit 1; }
mh_enter_world "$@"
source "$tests/mesh_lib.sh"
IPT_OFFER_MB=1
source "$tests/iptunnel_lib.sh"

mesh_make_nodes 2
mesh_link 1 2
ipt_make_internet
ipt_uplink 1 1
client=$(mesh_key 2)

pps() {  # pps: datagrams per second the Internet host receives from the client's flood
  rm -f "$MH_TMP/pps" "$MH_TMP/pps.ready"
  ip netns exec inet "$MESH_PYTHON" "$here/udp_pps.py" sink 203.0.113.100 9 "$seconds" "$MH_TMP/pps" &
  local sink=$!
  mh_wait_for 10 "the sink" test -f "$MH_TMP/pps.ready"
  ip netns exec n2 timeout $((seconds + 30)) "$MESH_PYTHON" "$here/udp_pps.py" flood 203.0.113.100 9 $((seconds + 1)) 64
  wait "$sink"
  read -r packets elapsed <"$MH_TMP/pps"
  "$MESH_PYTHON" -c "print(int($packets / $elapsed))"
}

run() {  # run PLUGINS_EXTRA: gateway config with these extra plugins, then measure
  ipt_gateway_config 1 "$(ipt_pin "$client" 100.100.0.11 2001:db8:1::11 '"plan": "p"')" "" "$1"
  ipt_client_config 2 "\"$(mesh_key 1)\""
  for i in 1 2; do mesh_start "$i"; done
  mh_wait_for 60 "the client's lease" ipt_gateway_is 2 "$(mesh_key 1)" leased
  mh_wait_for 30 "a fetch through the gateway" ipt_fetch4 2
  pps
  # The nodes only: mesh_stop_all would also stop the Internet host's service.
  local i pid
  for i in 1 2; do
    pid="MESH_PID_$i"
    kill -TERM "${!pid}"
    mh_wait_exit "${!pid}" 10
  done
}

off=$(run "")
metered=$(run '"billing": { "defaultPlan": "p", "plans": { "p": { "price": { "perGB": 1000000, "currency": "EUR" }, "freePrefixes": ["192.0.2.0/24"] } } }')
shaped=$(run '"billing": { "defaultPlan": "p", "plans": { "p": { "rateLimit": { "upBps": 10000000000, "downBps": 10000000000 } } } }')

echo "UDP datagrams (64-byte payload) client → gateway → Internet host per second, $seconds s each, $(nproc) CPUs:"
echo "billing off: $off pps"
echo "billing on, metering only: $metered pps"
echo "billing on, metering and a rate limit that never holds: $shaped pps"
