#!/usr/bin/env bash
# A chain of five nodes over UDP (n1 – n2 – n3 – n4 – n5), each with udp, switch, router,
# session and tun, in both hopEncryption modes. Node 1 pings node 5's fc00:: address with
# the kernel's ping; a TCP transfer of several MiB from n1 to n5 arrives intact (SHA-256
# compared); a capture on both links of the middle node n3 never contains the marker
# string the transfer carries (while a capture on n1's own TUN device, where the transfer
# is plaintext, does: the capture works); `meshctl traceroute` from n1 lists the four hops.
# Bound: n1 reaches n5 within 30 s of the last node starting (waited 60 s): handshakes
# (~1 s each hop) plus the router's convergence over four hops.
# usage: mesh_chain_ping_and_transfer.sh MESHHOST MESHCTL
MESHHOST=$1 MESHCTL=$2
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces and TUN devices"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
here=$(dirname "$0")
marker=MESHHOST-PLAINTEXT-MARKER-7f3a

mesh_make_nodes 5
for i in 1 2 3 4; do mesh_link "$i" $((i + 1)); done
addr5=$(mesh_addr 5)

for mode in full headers; do
  MESH_HOP_ENCRYPTION=$mode
  for i in 1 2 3 4 5; do mesh_config "$i"; done
  for i in 1 2 3 4 5; do mesh_start "$i"; done
  mh_wait_for 60 "n1 to ping n5 over four hops ($mode)" mesh_ping 1 5
  ip netns exec n1 ping -6 -n -c 3 -i 0.2 -W 2 "$addr5" >"$MH_TMP/ping-$mode.out" ||
    mh_fail "kernel ping n1 → n5 lost packets ($mode): $(cat "$MH_TMP/ping-$mode.out")"

  # The capture starts before the transfer and covers both of n3's links.
  ip netns exec n3 "$MESH_PYTHON" "$here/capture_marker.py" "$MH_TMP/capture-$mode.json" "$marker" l2b l3a &
  capture=$!
  ip netns exec n1 "$MESH_PYTHON" "$here/capture_marker.py" "$MH_TMP/control-$mode.json" "$marker" "$MESH_TUN" &
  control=$!
  mh_wait_for 10 "the capture on n3" test -f "$MH_TMP/capture-$mode.json.ready"
  mh_wait_for 10 "the capture on n1's TUN" test -f "$MH_TMP/control-$mode.json.ready"
  ip netns exec n5 "$MESH_PYTHON" "$here/tcp_transfer.py" serve "$addr5" 5001 "$MH_TMP/received-$mode" &
  server=$!
  mh_wait_for 10 "the TCP server on n5" test -f "$MH_TMP/received-$mode.ready"
  ip netns exec n1 "$MESH_PYTHON" "$here/tcp_transfer.py" send "$addr5" 5001 4 "$marker" >"$MH_TMP/sent-$mode" ||
    mh_fail "the TCP transfer n1 → n5 failed ($mode)"
  wait "$server" || mh_fail "the TCP server on n5 failed ($mode)"
  kill -TERM "$capture" "$control"
  wait "$capture" || mh_fail "the capture on n3 failed ($mode)"
  wait "$control" || mh_fail "the capture on n1's TUN failed ($mode)"
  [ "$(cat "$MH_TMP/sent-$mode")" = "$(cat "$MH_TMP/received-$mode")" ] ||
    mh_fail "n5 received other bytes than n1 sent ($mode): sent $(cat "$MH_TMP/sent-$mode"), received $(cat "$MH_TMP/received-$mode")"
  read -r frames marker_frames < <("$MESH_PYTHON" -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["frames"], c["marker_frames"])' "$MH_TMP/capture-$mode.json")
  [ "$frames" -ge 2000 ] || mh_fail "the capture on n3 saw only $frames frames: it did not see the transfer ($mode)"
  [ "$marker_frames" = 0 ] || mh_fail "$marker_frames frames on n3's links carried the plaintext marker ($mode)"
  control_frames=$("$MESH_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["marker_frames"])' \
    "$MH_TMP/control-$mode.json")
  [ "$control_frames" -gt 0 ] || mh_fail "the capture on n1's TUN never saw the marker: the capture cannot be trusted ($mode)"
  mh_log "$mode: 4 MiB intact n1 → n5; $frames frames on n3's links, none with the marker"

  mesh_ctl 1 --json traceroute "$addr5" >"$MH_TMP/trace-$mode.json" ||
    mh_fail "traceroute n1 → n5 did not reach it ($mode): $(cat "$MH_TMP/trace-$mode.json")"
  mesh_hops_are "$MH_TMP/trace-$mode.json" "$(mesh_addr 2)" "$(mesh_addr 3)" "$(mesh_addr 4)" "$addr5" ||
    mh_fail "traceroute n1 → n5 did not list n2, n3, n4, n5 ($mode): $(cat "$MH_TMP/trace-$mode.json")"
  mesh_stop_all
done
mh_log "PASS"
