#!/usr/bin/env bash
# The reference topology of the gateway (DESIGN §6): gateway G (n1) with an uplink into the
# "Internet" namespace, client C1 (n2) peered with G, C2 (n3) peered with both G and C1, C3
# (n4) peered only with C2 (so its traffic crosses C2), and R (n5), a node whose key G does
# not pin.
# Proved here:
# - C1, C2, C3 get their pinned addresses and fetch data from the Internet host intact,
#   over IPv4 through NAT (the host sees G's uplink address) and routed IPv6 (it sees the
#   client's own address);
# - the gateway's LAN (its uplink's subnet) is out of the clients' reach;
# - R is denied, and IP data it sends anyway never reaches the Internet namespace (its
#   UDP counter there stays 0, while C1's genuine datagram is counted);
# - C1's packets with C2's source address are dropped at G and counted;
# - packets R sends into C1's tunnel address are dropped at C1 (R is not its gateway);
# - unsolicited IPv6 from the Internet to C1 is dropped at G;
# - a traffic hook (tests/plugins/traffic_tap.cpp) sees both directions with "client
#   opened it" set downstream, learns each client's plan, can queue every packet (the fetch still arrives intact) and
#   drop them (counted);
# - `meshctl tunnel` shows the clients, their leases and bytes.
# usage: iptunnel_clients_reach_the_internet.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
source "$(dirname "$0")/iptunnel_lib.sh"

mesh_make_nodes 5
mesh_link 1 2
mesh_link 1 3
mesh_link 2 3
mesh_link 3 4
mesh_link 1 5
ipt_make_internet
ipt_uplink 1 1
g=$(mesh_key 1)
c1=$(mesh_key 2) c2=$(mesh_key 3) c3=$(mesh_key 4) r=$(mesh_key 5)

basic='"plan": "basic"'
allowed="$(ipt_pin "$c1" 100.100.0.11 2001:db8:1::11 "$basic"), $(ipt_pin "$c2" 100.100.0.12 2001:db8:1::12 "$basic"),"
allowed+=" $(ipt_pin "$c3" 100.100.0.13 2001:db8:1::13 "$basic")"
ipt_gateway_config 1 "$allowed" "" '"traffic_tap": {}'
ipt_client_config 2 "\"$g\"" "" '"spoofer": {}'
ipt_client_config 3 "\"$g\""
ipt_client_config 4 "\"$g\""
ipt_client_config 5 "\"$g\"" "" '"spoofer": {}'
for i in 1 2 3 4 5; do mesh_start "$i"; done

# Bound: a lease within one request retry of the session to G (C3: two hops).
for i in 2 3 4; do
  mh_wait_for 60 "n$i's lease from the gateway" ipt_gateway_is "$i" "$g" leased
done
mh_wait_for 30 "the gateway to deny R" ipt_gateway_is 5 "$g" denied
c1_addresses=$(ip -n n2 -o addr show dev mhup0)
grep -q "inet 100.100.0.11/32" <<<"$c1_addresses" || mh_fail "C1's TUN lacks 100.100.0.11/32"
grep -q "inet6 2001:db8:1::11/128" <<<"$c1_addresses" || mh_fail "C1's TUN lacks 2001:db8:1::11/128"

for i in 2 3 4; do
  mh_wait_for 30 "n$i to fetch over IPv4 through the gateway" ipt_fetch4 "$i"
  [ "$(ipt_last_peer 4)" = 198.51.100.1 ] || mh_fail "the Internet saw $(ipt_last_peer 4), not the gateway's NAT address"
  mh_wait_for 30 "n$i to fetch over IPv6 through the gateway" ipt_fetch6 "$i"
  [ "$(ipt_last_peer 6)" = "2001:db8:1::1$((i - 1))" ] ||
    mh_fail "the Internet saw $(ipt_last_peer 6) for n$i's IPv6, not its own address"
done
mh_log "C1, C2, C3: ${IPT_OFFER_MB} MiB intact over IPv4 (NAT) and IPv6 (routed)"
# The gateway's LAN is out of bounds: its uplink's subnet (where the Internet's router
# answers the same TCP service) and its mesh links' subnets.
for target in "$(ipt_uplink4 254) 8080" "2001:db8:ff00::fe 8081"; do
  ! ip netns exec n2 timeout 10 "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" fetch $target 3 >/dev/null 2>&1 ||
    mh_fail "C1 reached $target on the gateway's uplink subnet"
done

# Counters in the Internet namespace: UDP port 9 on its IPv4 address.
ip netns exec inet "$MESH_PYTHON" "$IPT_HERE/udp_count.py" 203.0.113.100 9 "$MH_TMP/count" &
MH_PIDS+=($!)
mh_wait_for 10 "the UDP counter in the Internet namespace" test -f "$MH_TMP/count.ready"
count_is() { [ "$(cat "$MH_TMP/count" 2>/dev/null || echo 0)" = "$1" ]; }
tunnel_send() {  # tunnel_send NODE TO_KEY SOURCE DESTINATION COUNT
  mesh_ctl "$1" call spoofer.iptunnel \
    "{\"toKey\": \"$2\", \"source\": \"$3\", \"destination\": \"$4\", \"port\": 9, \"count\": $5}" >/dev/null
}
tunnel_send 2 "$g" 100.100.0.11 203.0.113.100 1
mh_wait_for 10 "C1's genuine datagram in the Internet namespace" count_is 1

# R, unpinned, sends IP data without a lease.
tunnel_send 5 "$g" 100.100.0.99 203.0.113.100 5
mh_wait_for 10 "the gateway to drop R's five packets" eval '[ "$(ipt_drops 1 not_a_client)" -ge 5 ]'
# C1 forges C2's source; then one genuine datagram on the same session: when it is
# counted, every forged one before it was handled.
tunnel_send 2 "$g" 100.100.0.12 203.0.113.100 5
tunnel_send 2 "$g" 100.100.0.11 203.0.113.100 1
mh_wait_for 10 "C1's second genuine datagram" count_is 2
[ "$(ipt_drops 1 spoofed_source)" = 5 ] || mh_fail "the gateway counted $(ipt_drops 1 spoofed_source) forged packets, expected 5"
count_is 2 || mh_fail "the Internet namespace counted $(cat "$MH_TMP/count") datagrams: R's or forged packets got through"
mh_log "R's 5 packets and C1's 5 forged ones dropped at the gateway; none reached the Internet"

# R sends into C1's tunnel address as if it were C1's gateway.
tunnel_send 5 "$c1" 203.0.113.100 100.100.0.11 5
mh_wait_for 10 "C1 to drop R's packets" eval '[ "$(ipt_drops 2 not_our_gateway)" -ge 5 ]'

# Unsolicited IPv6 from the Internet to C1.
ip netns exec inet "$MESH_PYTHON" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(3): s.sendto(b"unsolicited", ("2001:db8:1::11", 9))'
mh_wait_for 10 "the gateway to drop unsolicited IPv6" eval '[ "$(ipt_drops 1 unsolicited)" -ge 3 ]'

# The traffic hook saw both directions; downstream packets belong to flows clients opened.
tap() { mesh_ctl 1 call traffic_tap.stats | "$MESH_PYTHON" -c "import json, sys; s = json.load(sys.stdin); print($1)"; }
[ "$(tap 's["upstream"]["packets"] > 0 and s["downstream"]["opened"] > 1000')" = True ] ||
  mh_fail "the hook saw too little: $(mesh_ctl 1 call traffic_tap.stats)"
[ "$(tap 's["plan"]')" = basic ] || mh_fail "the hook was not told the client's plan: $(mesh_ctl 1 call traffic_tap.stats)"
mesh_ctl 1 call traffic_tap.mode '{"verdict": "queue"}' >/dev/null
ipt_fetch4 2 || mh_fail "C1's fetch failed while the hook queued every packet"
[ "$(tap 's["queued"] > 1000 and s["queued"] == s["resumed"]')" = True ] ||
  mh_fail "queued packets were not all resumed: $(mesh_ctl 1 call traffic_tap.stats)"
mesh_ctl 1 call traffic_tap.mode '{"verdict": "drop"}' >/dev/null
before=$(ipt_drops 1 hook)
! ip netns exec n2 timeout 10 "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" fetch 203.0.113.100 8080 3 >/dev/null 2>&1 ||
  mh_fail "C1 fetched data while the hook dropped every packet"
[ "$(ipt_drops 1 hook)" -gt "$before" ] || mh_fail "the hook's drops were not counted"
mesh_ctl 1 call traffic_tap.mode '{"verdict": "pass"}' >/dev/null
mh_log "the hook counted, queued and dropped"

mesh_ctl 1 tunnel >"$MH_TMP/tunnel.txt"
for ip in 100.100.0.11/32 100.100.0.12/32 2001:db8:1::13/128; do mh_expect_in "$MH_TMP/tunnel.txt" "$ip"; done
mesh_ctl 2 tunnel >"$MH_TMP/tunnel-c1.txt"
mh_expect_in "$MH_TMP/tunnel-c1.txt" leased
cat "$MH_TMP/tunnel.txt" "$MH_TMP/tunnel-c1.txt" >&2
mesh_stop_all
# Stop removed what the gateway and clients installed.
ip netns exec n1 "$MESH_PYTHON" - <<'PY' || mh_fail "a stopped node left rules or routes behind"
import subprocess, sys
for args in (["ip", "rule"], ["ip", "-6", "rule"], ["ip", "route", "show", "table", "all", "proto", "109"]):
    out = subprocess.run(args, capture_output=True, text=True).stdout
    if "27976" in out or (args[-1] == "109" and out.strip()):
        sys.exit(1)
PY
! grep -q 27976 <<<"$(ip -n n2 rule)" || mh_fail "C1 left its policy rules behind"
mh_log "PASS"
