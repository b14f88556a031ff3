# Shared by the iptunnel scenarios (source after lib.sh, mh_enter_world and mesh_lib.sh):
# the "Internet" namespace `inet` — a host on 203.0.113.100 and 2001:db8:ffff::100 where a
# TCP service offers data, behind a router the gateways' uplinks reach — the
# iptunnel configs of gateways and clients, and readers of iptunnel.status.

IPT_FWMARK=27976
IPT_OFFER_MB=${IPT_OFFER_MB:-2}
IPT_HERE=$(dirname "${BASH_SOURCE[0]}")
# Fast timers so failover fits a test: probes every 500 ms, dead after 2 s, a gateway that
# said no asked again after 2 s.
IPT_CLIENT_TIMERS='{ "requestRetryMs": 500, "probeIntervalMs": 500, "gatewayDeadMs": 2000, "deniedRetryMs": 2000 }'

# ipt_make_internet: the namespace and its TCP service (port 8080, both families). The
# host's addresses sit behind the router the gateways' uplinks share (198.51.100.254,
# 2001:db8:ff00::fe on bridge br0): a gateway's uplink subnet is its LAN, which clients may
# not reach, so the Internet must lie beyond it.
ipt_make_internet() {
  ip netns add inet
  ip -n inet link set lo up
  ip netns exec inet sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n inet link add br0 type bridge
  ip -n inet link set br0 up
  ip -n inet addr add 198.51.100.254/24 dev br0
  ip -n inet addr add 2001:db8:ff00::fe/64 dev br0 nodad
  ip -n inet addr add 203.0.113.100/32 dev lo
  ip -n inet addr add 2001:db8:ffff::100/128 dev lo nodad
  ip netns exec inet "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" offer 0.0.0.0 8080 "$IPT_OFFER_MB" "$MH_TMP/peers4" &
  MH_PIDS+=($!)
  ip netns exec inet "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" offer :: 8081 "$IPT_OFFER_MB" "$MH_TMP/peers6" &
  MH_PIDS+=($!)
  mh_wait_for 10 "the Internet host's TCP service" test -f "$MH_TMP/peers4.ready" -a -f "$MH_TMP/peers6.ready"
  "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" digest "$IPT_OFFER_MB" >"$MH_TMP/offered"
}

# ipt_uplink I N: node I's uplink `up0` into inet's bridge, 198.51.100.N/24 and
# 2001:db8:ff00::N/64 (ipt_uplink4 N, ipt_uplink6 N), default routes through inet's
# router; inet routes client prefix 2001:db8:N::/48 through it.
ipt_uplink4() { echo "198.51.100.$1"; }
ipt_uplink6() { echo "2001:db8:ff00::$1"; }
ipt_uplink() {
  local i=$1 n=$2
  ip link add up0 netns "n$i" type veth peer name "up-n$i" netns inet
  ip -n inet link set "up-n$i" master br0 up
  ip -n "n$i" addr add "$(ipt_uplink4 "$n")/24" dev up0
  ip -n "n$i" addr add "$(ipt_uplink6 "$n")/64" dev up0 nodad
  ip -n "n$i" link set up0 up
  ip -n "n$i" route add default via 198.51.100.254
  ip -n "n$i" -6 route add default via 2001:db8:ff00::fe
  ip -n inet -6 route add "2001:db8:$n::/48" via "$(ipt_uplink6 "$n")"
}

# ipt_pin KEY IP4 IP6 [EXTRA]: one allowedConnections entry.
ipt_pin() {
  printf '{ "publicKey": "%s", "ip4Address": "%s", "ip6Address": "%s"%s }' "$1" "$2" "$3" "${4:+, $4}"
}

# ipt_gateway_config I ALLOWED_JSON_LIST [EXTRA_IPTUNNEL_KEYS] [EXTRA_PLUGINS]: node I as a
# gateway with NAT out of up0.
ipt_gateway_config() {
  local i=$1 allowed=$2 extra=${3:-} plugins=${4:-}
  mesh_config "$i" "${plugins:+$plugins, }\"iptunnel\": { \"allowedConnections\": [$allowed], \"nat\": { \"uplink\": \"up0\" }${extra:+, $extra} }"
}

# ipt_client_config I GATEWAYS_JSON_LIST [EXTRA_IPTUNNEL_KEYS] [EXTRA_PLUGINS]: node I as a
# client of those gateways, its udp sockets marked so the mesh bypasses the tunnel.
ipt_client_config() {
  local i=$1 gateways=$2 extra=${3:-} plugins=${4:-}
  MESH_UDP_EXTRA="\"fwmark\": $IPT_FWMARK" mesh_config "$i" \
    "${plugins:+$plugins, }\"iptunnel\": { \"outgoingConnections\": [$gateways], \"timers\": $IPT_CLIENT_TIMERS${extra:+, $extra} }"
}

ipt_status() { mesh_ctl "$1" call iptunnel.status; }

# ipt_gateway_state I GATEWAY_KEY: the state node I's client side has for that gateway.
ipt_gateway_state() {
  ipt_status "$1" | "$MESH_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
print(next((g["state"] for g in (s["client"] or {}).get("gateways", []) if g["publicKey"] == sys.argv[1]), "none"))' "$2"
}
ipt_gateway_is() { [ "$(ipt_gateway_state "$1" "$2")" = "$3" ]; }

# ipt_preferred I FAMILY(4|6): the key of node I's gateway carrying that default route.
ipt_preferred() {
  ipt_status "$1" | "$MESH_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
print(next((g["publicKey"] for g in (s["client"] or {}).get("gateways", []) if g["preferred" + sys.argv[1]]), "none"))' "$2"
}

# ipt_drops I REASON: node I's iptunnel drop counter for REASON.
ipt_drops() {
  ipt_status "$1" | "$MESH_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["dropped"][sys.argv[1]])' "$2"
}

# ipt_fetch I ADDRESS PORT: fetches the offer from node I; fails unless it arrived intact.
ipt_fetch() {
  local got
  got=$(ip netns exec "n$1" timeout 40 "$MESH_PYTHON" "$IPT_HERE/tcp_transfer.py" fetch "$2" "$3" 30) || return 1
  [ "$got" = "$(cat "$MH_TMP/offered")" ]
}
ipt_fetch4() { ipt_fetch "$1" 203.0.113.100 8080; }
ipt_fetch6() { ipt_fetch "$1" 2001:db8:ffff::100 8081; }

# ipt_last_peer 4|6: the address the Internet host saw on its last connection.
ipt_last_peer() { tail -n 1 "$MH_TMP/peers$1"; }
