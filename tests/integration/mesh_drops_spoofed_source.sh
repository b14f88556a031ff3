#!/usr/bin/env bash
# Source authenticity end to end (DESIGN §4): in a chain n1 – n2 – n3, n1 runs a test
# plugin (tests/plugins/spoofer.cpp) that sends IPv6 datagrams to n3's tun through its
# session with n3. Those with n1's own address as inner source reach a socket on n3; those
# claiming n2's address are dropped by n3's tun and counted (spoofed_source), and never
# reach the socket.
# usage: mesh_drops_spoofed_source.sh MESHHOST MESHCTL SPOOFER_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces and TUN devices"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
here=$(dirname "$0")

mesh_make_nodes 3
mesh_link 1 2
mesh_link 2 3
mesh_config 1 '"spoofer": {}'
MESH_PLUGIN_DIR=
mesh_config 2
mesh_config 3
for i in 1 2 3; do mesh_start "$i"; done
addr1=$(mesh_addr 1) addr2=$(mesh_addr 2) addr3=$(mesh_addr 3)
mh_wait_for 60 "n1 to ping n3" mesh_ping 1 3

ip netns exec n3 "$MESH_PYTHON" "$here/udp_count.py" "$addr3" 9 "$MH_TMP/count" &
mh_wait_for 10 "the UDP counter on n3" test -f "$MH_TMP/count.ready"
count_is() { [ "$(cat "$MH_TMP/count" 2>/dev/null)" = "$1" ]; }

spoof() {  # spoof SOURCE COUNT
  mesh_ctl 1 call spoofer.send "{\"to\": \"$addr3\", \"source\": \"$1\", \"count\": $2}" >/dev/null
}
spoof "$addr1" 3
mh_wait_for 10 "n1's three genuine datagrams at n3" count_is 3
spoof "$addr2" 5
mh_wait_for 10 "n3 to count five spoofed datagrams" \
  eval '[ "$(mesh_metric 3 meshhost_tun_dropped_total reason spoofed_source)" -ge 5 ]'
# One more genuine datagram on the same session: when it has arrived, every spoofed one
# before it was handled, so the count proves none of them got through.
spoof "$addr1" 1
mh_wait_for 10 "the last genuine datagram at n3" count_is 4
[ "$(mesh_metric 3 meshhost_tun_dropped_total reason spoofed_source)" = 5 ] ||
  mh_fail "n3 counted $(mesh_metric 3 meshhost_tun_dropped_total reason spoofed_source) spoofed datagrams, expected 5"
mesh_stop_all
mh_log "PASS"
