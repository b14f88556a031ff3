#!/usr/bin/env bash
# IPv6 for clients when the gateway's uplink has only an on-link /64 (DESIGN §6): the
# gateway (n1) pins client C (n2) an address inside its uplink's /64, and with
# "nat": {"ndpProxy": true} answers neighbour solicitations for it on the uplink. The
# Internet host, which has no route for it, reaches C on-link: C fetches over IPv6 and
# the host sees C's own address. Stop removes the proxy entry and restores proxy_ndp.
# usage: iptunnel_ndp_proxy_on_an_onlink_uplink.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
source "$(dirname "$0")/iptunnel_lib.sh"
MESH_PLUGIN_DIR=

mesh_make_nodes 2
mesh_link 1 2
ipt_make_internet
ipt_uplink 1 1
ip netns exec n1 sysctl -qw net.ipv6.conf.up0.proxy_ndp=0
ipt_gateway_config 1 "$(ipt_pin "$(mesh_key 2)" 100.100.0.11 2001:db8:ff00::11)"
# ndpProxy beside the uplink ipt_gateway_config wrote.
sed -i 's|"nat": { "uplink": "up0" }|"nat": { "uplink": "up0", "ndpProxy": true }|' "$MH_TMP/n1.json"
ipt_client_config 2 "\"$(mesh_key 1)\""
mesh_start 1
mesh_start 2
mh_wait_for 60 "C's lease" ipt_gateway_is 2 "$(mesh_key 1)" leased
[ "$(ip netns exec n1 sysctl -n net.ipv6.conf.up0.proxy_ndp)" = 1 ] || mh_fail "proxy_ndp is not on on the uplink"
grep -q "2001:db8:ff00::11 dev up0" <<<"$(ip -n n1 -6 neigh show proxy)" ||
  mh_fail "no proxy neighbour entry for C's address on the uplink: $(ip -n n1 -6 neigh show proxy)"
mh_wait_for 30 "C to fetch over IPv6 through the on-link uplink" ipt_fetch6 2
[ "$(ipt_last_peer 6)" = 2001:db8:ff00::11 ] || mh_fail "the Internet saw $(ipt_last_peer 6), not C's own address"
ipt_fetch4 2 || mh_fail "C's IPv4 fetch failed"
mesh_stop_all
[ -z "$(ip -n n1 -6 neigh show proxy)" ] || mh_fail "stop left the proxy entry: $(ip -n n1 -6 neigh show proxy)"
[ "$(ip netns exec n1 sysctl -n net.ipv6.conf.up0.proxy_ndp)" = 0 ] || mh_fail "stop did not restore proxy_ndp"
mh_log "PASS"
