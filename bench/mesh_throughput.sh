#!/usr/bin/env bash
# Throughput across the mesh: a TCP stream from n1 to n3 through n2 (udp links over veth
# pairs), once between the nodes' fc00:: addresses through meshhost (tun → session →
# switch → udp, and back up at n3; n2 forwards), in each hopEncryption mode, and, as the
# reference measured in the same run, once between the underlay addresses with n2
# forwarding in the kernel (raw veth, no meshhost). Prints Mbit/s of TCP goodput for each.
# Root only; runs inside its own namespaces as the integration scenarios do.
# usage: bench/mesh_throughput.sh BUILD_DIR [MEGABYTES (default 128)]
set -euo pipefail
build=$(realpath "${1:?usage: bench/mesh_throughput.sh BUILD_DIR [MEGABYTES]}")
megabytes=${2:-128}
MESHHOST=$build/bin/meshhost MESHCTL=$build/bin/meshctl
tests=$(realpath "$(dirname "$0")/../tests/integration")
source "$tests/lib.sh"
[ "$(id -u)" = 0 ] || { echo "mesh_throughput: needs root (network namespaces, TUN devices)" >&2; exit 1; }
mh_enter_world "$@"
source "$tests/mesh_lib.sh"

mesh_make_nodes 3
mesh_link 1 2
mesh_link 2 3
addr3=$(mesh_addr 3)

rate() {  # rate SERVER_NS CLIENT_NS ADDRESS
  rm -f "$MH_TMP/sink" "$MH_TMP/sink.ready"
  ip netns exec "$1" "$MESH_PYTHON" "$tests/tcp_transfer.py" serve "$3" 5001 "$MH_TMP/sink" &
  local server=$!
  mh_wait_for 10 "the sink on $1" test -f "$MH_TMP/sink.ready"
  ip netns exec "$2" "$MESH_PYTHON" "$tests/tcp_transfer.py" blast "$3" 5001 "$megabytes"
  wait "$server"
}

# Reference: the kernel forwards between the two veth pairs.
ip netns exec n2 sysctl -qw net.ipv4.ip_forward=1
ip -n n1 route add 100.64.2.0/24 via 100.64.1.2
ip -n n3 route add 100.64.1.0/24 via 100.64.2.1
reference=$(rate n3 n1 100.64.2.2)
ip netns exec n2 sysctl -qw net.ipv4.ip_forward=0

results=()
for mode in full headers; do
  MESH_HOP_ENCRYPTION=$mode
  for i in 1 2 3; do mesh_config "$i"; done
  for i in 1 2 3; do mesh_start "$i"; done
  mh_wait_for 60 "n1 to reach n3 ($mode)" mesh_ping 1 3
  results+=("$mode $(rate n3 n1 "$addr3")")
  mesh_stop_all
done

echo "TCP goodput n1 → n3 through n2, $megabytes MiB each, $(nproc) CPUs:"
printf '  %-38s %6s Mbit/s\n' "raw veth, kernel forwarding (reference)" "$reference"
for r in "${results[@]}"; do
  printf '  %-38s %6s Mbit/s\n' "meshhost, hopEncryption ${r%% *}" "${r#* }"
done
