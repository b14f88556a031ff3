#!/usr/bin/env bash
# What a crashed iptunnel leaves in the kernel is replaced, not doubled, by the next start,
# and a stop leaves nothing (DESIGN §6: "replaced atomically at start", "a restart after
# kill -9 can remove them", "only sysctls meshhost changed are restored"): gateway G (n1,
# uplink into the "Internet" namespace) and client C (n2). Proved here:
# - after kill -9 of both, G's `inet meshhost` table and C's policy rules are left behind;
#   both restarted, C leases and fetches again, and then G has exactly one `inet meshhost`
#   table with the same sets and rules as before, and neither node has a duplicate policy
#   rule or proto 109 route: the same rules and routes as before the crash (C's two policy
#   rules once per family);
# - after SIGTERM of both, the table, the policy rules and the proto 109 routes are gone,
#   and the sysctls G changed (net.ipv4.ip_forward and net.ipv6.conf.all.forwarding, set
#   to 0 before the first start, and up0's accept_ra) are back to their values from before
#   the first start, though the crashed run never restored them.
# Bound: a lease within one request retry of the session to G, which both nodes make
# afresh after the restart: waited 60 s, as the reference scenario does.
# usage: iptunnel_restart_leaves_no_duplicates.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
command -v nft >/dev/null || mh_skip "no nft command to read the gateway's table (Debian package nftables)"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
source "$(dirname "$0")/iptunnel_lib.sh"

mesh_make_nodes 2
mesh_link 1 2
ipt_make_internet
ipt_uplink 1 1
g=$(mesh_key 1) c=$(mesh_key 2)
SYSCTLS=(net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv6.conf.up0.accept_ra)
ip netns exec n1 sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
ip netns exec n1 sysctl -n "${SYSCTLS[@]}" >"$MH_TMP/sysctl.before"

ipt_gateway_config 1 "$(ipt_pin "$c" 100.100.0.11 2001:db8:1::11)"
ipt_client_config 2 "\"$g\""

# tables I: how many `inet meshhost` tables node I has.
tables() { ip netns exec "n$1" nft list tables | grep -cx "table inet meshhost" || true; }
# snapshot NAME: G's table, and per node and family the policy rules and proto 109 routes,
# one file each (NAME.nft, NAME.rules-n2-6, NAME.routes-n1-4, ...).
snapshot() {
  local i family
  ip netns exec n1 nft list table inet meshhost >"$MH_TMP/$1.nft" 2>&1 || true
  for i in 1 2; do
    for family in 4 6; do
      ip -n "n$i" "-$family" rule >"$MH_TMP/$1.rules-n$i-$family"
      ip -n "n$i" "-$family" route show table all proto 109 >"$MH_TMP/$1.routes-n$i-$family"
    done
  done
}
# same A B: two snapshot files are equal (else both are shown).
same() {
  cmp -s "$MH_TMP/$1" "$MH_TMP/$2" && return
  diff -u "$MH_TMP/$1" "$MH_TMP/$2" >&2 || true
  return 1
}
no_duplicates() {
  local dup
  dup=$(sort "$MH_TMP/$1" | uniq -d)
  [ -z "$dup" ] || { printf '%s\n' "$dup" >&2; return 1; }
}
start_and_fetch() {
  mesh_start 1
  mesh_start 2
  mh_wait_for 60 "C's lease from the gateway ($1)" ipt_gateway_is 2 "$g" leased
  mh_wait_for 30 "C to fetch over IPv4 ($1)" ipt_fetch4 2
  mh_wait_for 30 "C to fetch over IPv6 ($1)" ipt_fetch6 2
}

start_and_fetch "first start"
snapshot first
[ "$(tables 1)" = 1 ] || mh_fail "G has $(tables 1) inet meshhost tables after its first start"
grep -q "masquerade" "$MH_TMP/first.nft" || { cat "$MH_TMP/first.nft" >&2; mh_fail "G's table has no NAT rule"; }
grep -q "^100.100.0.11 dev mhgw0" "$MH_TMP/first.routes-n1-4" || mh_fail "G routes no 100.100.0.11 to mhgw0"
grep -q "^2001:db8:1::11 dev mhgw0" "$MH_TMP/first.routes-n1-6" || mh_fail "G routes no 2001:db8:1::11 to mhgw0"
for family in 4 6; do
  for priority in 27970 27971; do
    [ "$(grep -c "^$priority:" "$MH_TMP/first.rules-n2-$family")" = 1 ] ||
      mh_fail "C has not exactly one IPv$family policy rule $priority: $(cat "$MH_TMP/first.rules-n2-$family")"
  done
  [ "$(grep -c "^default dev mhup0 table 27976" "$MH_TMP/first.routes-n2-$family")" = 1 ] ||
    mh_fail "C has not one IPv$family default route in table 27976: $(cat "$MH_TMP/first.routes-n2-$family")"
done
mh_log "first start: one table, C's rules and routes in place"

kill -KILL "$MESH_PID_1" "$MESH_PID_2"
mh_wait_exit "$MESH_PID_1" 10
mh_wait_exit "$MESH_PID_2" 10
# Without these leftovers the restart below would prove nothing.
[ "$(tables 1)" = 1 ] || mh_fail "G's table did not outlive its kill -9"
grep -q "lookup 27976" <<<"$(ip -n n2 rule)" || mh_fail "C's policy rules did not outlive its kill -9: $(ip -n n2 rule)"
[ "$(ip netns exec n1 sysctl -n net.ipv4.ip_forward)" = 1 ] || mh_fail "G's forwarding did not outlive its kill -9"

start_and_fetch "after kill -9"
snapshot again
mh_expect_in "$MH_TMP/n2.log" "routes and rules a previous run left behind"
[ "$(tables 1)" = 1 ] || mh_fail "G has $(tables 1) inet meshhost tables after its restart"
same first.nft again.nft || mh_fail "G's table differs after the restart"
for i in 1 2; do
  for family in 4 6; do
    no_duplicates "again.rules-n$i-$family" || mh_fail "n$i has duplicate IPv$family policy rules after the restart"
    no_duplicates "again.routes-n$i-$family" || mh_fail "n$i has duplicate IPv$family proto 109 routes after the restart"
    same "first.rules-n$i-$family" "again.rules-n$i-$family" || mh_fail "n$i's IPv$family policy rules differ after the restart"
    same "first.routes-n$i-$family" "again.routes-n$i-$family" ||
      mh_fail "n$i's IPv$family proto 109 routes differ after the restart"
  done
done
mh_log "after kill -9 and restart: one table, the same rules and routes, no duplicates"

mesh_stop_all
snapshot stopped
[ "$(tables 1)" = 0 ] || { cat "$MH_TMP/stopped.nft" >&2; mh_fail "G left its inet meshhost table behind at stop"; }
for i in 1 2; do
  for family in 4 6; do
    ! grep -E "proto 109|27976" "$MH_TMP/stopped.rules-n$i-$family" >&2 ||
      mh_fail "n$i left IPv$family policy rules behind at stop"
    [ ! -s "$MH_TMP/stopped.routes-n$i-$family" ] ||
      mh_fail "n$i left IPv$family proto 109 routes behind at stop: $(cat "$MH_TMP/stopped.routes-n$i-$family")"
  done
done
ip netns exec n1 sysctl -n "${SYSCTLS[@]}" >"$MH_TMP/sysctl.after"
same sysctl.before sysctl.after || mh_fail "G's sysctls (${SYSCTLS[*]}) are not what they were before its first start"
mh_log "after SIGTERM: no table, rules or routes; sysctls restored ($(paste -sd' ' "$MH_TMP/sysctl.after"))"
mh_log "PASS"
