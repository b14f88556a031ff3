#!/usr/bin/env bash
# Throughput through the Internet gateway: a TCP stream from client n2 to the "Internet"
# host (tests/integration/iptunnel_lib.sh) through gateway n1, the two peered directly over
# a veth pair; through iptunnel over IPv4 (NAT out of the uplink) and IPv6 (routed), and, as
# the reference measured in the same run, with n1 as an ordinary router forwarding in the
# kernel over the same veths (no meshhost). Prints Mbit/s of TCP goodput for each.
# Root only; runs inside its own namespaces as the integration scenarios do.
# usage: bench/iptunnel_throughput.sh BUILD_DIR [MEGABYTES (default 128)]
set -euo pipefail
build=$(realpath "${1:?usage: bench/iptunnel_throughput.sh BUILD_DIR [MEGABYTES]}")
megabytes=${2:-128}
MESHHOST=$build/bin/meshhost MESHCTL=$build/bin/meshctl
tests=$(realpath "$(dirname "$0")/../tests/integration")
source "$tests/lib.sh"
[ "$(id -u)" = 0 ] || { echo "iptunnel_throughput: needs root (network namespaces, TUN devices, nftables)" >&2; exit 1; }
mh_enter_world "$@"
source "$tests/mesh_lib.sh"
IPT_OFFER_MB=1  # the readiness fetches below, not the measurement
source "$tests/iptunnel_lib.sh"

mesh_make_nodes 2
mesh_link 1 2  # n1 100.64.1.1, n2 100.64.1.2
ipt_make_internet
ipt_uplink 1 1

rate() {  # rate ADDRESS: n2 sends $megabytes MiB to a sink on the Internet host
  rm -f "$MH_TMP/sink" "$MH_TMP/sink.ready"
  ip netns exec inet "$MESH_PYTHON" "$tests/tcp_transfer.py" serve "$1" 5001 "$MH_TMP/sink" &
  local server=$!
  mh_wait_for 10 "the sink on $1" test -f "$MH_TMP/sink.ready"
  ip netns exec n2 timeout 150 "$MESH_PYTHON" "$tests/tcp_transfer.py" blast "$1" 5001 "$megabytes" ||
    mh_fail "the transfer to $1 failed or took longer than 150 s"
  wait "$server"
}

# Reference: n1 routes between the veth and its uplink, no NAT, no meshhost.
ip netns exec n1 sysctl -qw net.ipv4.ip_forward=1
ip -n n2 route add 203.0.113.0/24 via 100.64.1.1
ip -n inet route add 100.64.1.0/24 via 198.51.100.1
reference=$(rate 203.0.113.100)
ip -n inet route del 100.64.1.0/24 via 198.51.100.1
ip -n n2 route del 203.0.113.0/24 via 100.64.1.1  # or it would bypass the tunnel
ip netns exec n1 sysctl -qw net.ipv4.ip_forward=0

ipt_gateway_config 1 "$(ipt_pin "$(mesh_key 2)" 100.100.0.11 2001:db8:1::11)"
ipt_client_config 2 "\"$(mesh_key 1)\""
for i in 1 2; do mesh_start "$i"; done
mh_wait_for 60 "n2's lease from the gateway" ipt_gateway_is 2 "$(mesh_key 1)" leased
mh_wait_for 30 "n2 to fetch over IPv4 through the gateway" ipt_fetch4 2
mh_wait_for 30 "n2 to fetch over IPv6 through the gateway" ipt_fetch6 2
ip4=$(rate 203.0.113.100)
ip6=$(rate 2001:db8:ffff::100)
mesh_stop_all

echo "TCP goodput client → gateway → Internet host, peered over one veth, $megabytes MiB each, $(nproc) CPUs:"
echo "kernel forwarding: $reference Mbit/s"
echo "iptunnel IPv4 (NAT): $ip4 Mbit/s"
echo "iptunnel IPv6: $ip6 Mbit/s"
