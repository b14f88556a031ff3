#!/usr/bin/env bash
# A client reads its own account at its gateways and hears when it is blocked (issue 6,
# "Client side"; docs/protocol.md, iptunnel 0x08–0x0a): gateway G1 (n1, iptunnel and
# billing, plan "small": a quota of 1,000,000 bytes, overQuota "block") and gateway G2 (n5,
# iptunnel without billing), client C (n2) pinned at both (G1 priority 10, G2 priority 20),
# client D (n3) pinned at G1 on plan "open", client E (n4) not pinned at G1.
# Proved here:
# - C's `meshctl tunnel usage` shows, for G1, plan "small", the quota, and bytes up, down,
#   billable and unbilled, and the amount, exactly as G1's `meshctl usage` has them once
#   C's traffic settled (both read billing's counters in memory: no flush interval between
#   them), and for G2 "not metered";
# - D's answer is D's own account (plan "open", D's bytes), never C's; E, holding no lease,
#   has nobody to ask and `meshctl tunnel usage` says so (exit 1);
# - C crossing its quota is told so unasked: its log has the blocked line ("blocked: quota
#   1000000 bytes used … nothing passes through this gateway until then"), `meshctl tunnel`
#   shows G1's account "blocked", and C's default route moves to G2, through which C
#   fetches again while G1 bills it nothing more;
# - `meshctl tunnel usage` then shows G1's account blocked with no quota left.
# Bounds: leases as in the iptunnel scenarios (60 s); a notice is one datagram: 3 s; the
# default route moves at once on the notice: 3 s.
# usage: billing_client_sees_its_account.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
IPT_OFFER_MB=1
source "$(dirname "$0")/iptunnel_lib.sh"
source "$(dirname "$0")/billing_lib.sh"

QUOTA=1000000
FETCH=393216  # 384 KiB: the quota holds two such fetches, not three

mesh_make_nodes 5
mesh_link 1 2
mesh_link 1 3
mesh_link 1 4
mesh_link 5 2
ipt_make_internet
bill_make_probe_server
ipt_uplink 1 1  # G1: 198.51.100.1
ipt_uplink 5 2  # G2: 198.51.100.2
g1=$(mesh_key 1) c=$(mesh_key 2) d=$(mesh_key 3) e=$(mesh_key 4) g2=$(mesh_key 5)

billing='{
  "timeZone": "UTC", "flushIntervalMs": 1000, "defaultPlan": "open",
  "plans": {
    "small": { "quotaBytes": '$QUOTA', "overQuota": "block", "price": { "perGB": 2500000, "currency": "EUR" } },
    "open": {}
  }
}'
bill_gateway_config 1 "$(ipt_pin "$c" 100.100.0.11 2001:db8:1::11 '"plan": "small"'), $(ipt_pin "$d" 100.100.0.12 2001:db8:1::12 '"plan": "open"')" \
  "$billing"
ipt_gateway_config 5 "$(ipt_pin "$c" 100.100.1.11 2001:db8:2::11)"
ipt_client_config 2 "{ \"publicKey\": \"$g1\", \"priority\": 10 }, { \"publicKey\": \"$g2\", \"priority\": 20 }"
ipt_client_config 3 "\"$g1\""
ipt_client_config 4 "\"$g1\""
for i in 1 2 3 4 5; do mesh_start "$i"; done

mh_wait_for 60 "C's lease from G1" ipt_gateway_is 2 "$g1" leased
mh_wait_for 60 "C's lease from G2" ipt_gateway_is 2 "$g2" leased
mh_wait_for 60 "D's lease from G1" ipt_gateway_is 3 "$g1" leased
mh_wait_for 60 "E's denial by G1" ipt_gateway_is 4 "$g1" denied
mh_wait_for 10 "C's default route through G1 (priority 10)" [ "$(ipt_preferred 2 4)" = "$g1" ]
mh_wait_for 30 "C's first fetch through G1" bill_get 2 203.0.113.100 1000 0 3
mh_wait_for 30 "D's first fetch through G1" bill_get 3 203.0.113.100 1000 0 3
bill_get 2 203.0.113.100 100000 0 10 >/dev/null || mh_fail "C's fetch of 100000 bytes through G1 failed"

# tunnel_account I GATEWAY_KEY: node I's `meshctl --json tunnel usage` entry for that
# gateway's account (fails when the command does, or the gateway did not answer).
tunnel_account() {
  mesh_ctl "$1" --json tunnel usage | "$MESH_PYTHON" -c '
import json, sys
u = json.load(sys.stdin)
g = [g for g in u["gateways"] if g["publicKey"] == sys.argv[1]]
if len(g) != 1 or g[0]["pending"] or g[0]["account"] is None:
    sys.exit("no answer from %s: %s" % (sys.argv[1], json.dumps(u)))
print(json.dumps(g[0]["account"]))' "$2"
}

# same_as_gateway I KEY: node I's account at G1 has what G1's billing.usage has for KEY.
same_as_gateway() {
  local mine theirs
  mine=$(tunnel_account "$1" "$g1") || return 1
  theirs=$(bill_usage 1 "$2") || return 1
  [ "$(bill_of "$(bill_pair "$mine" "$theirs")" 'u["a"]["status"] == "ok" and u["a"]["plan"] == u["b"]["plan"] and all(
    u["a"][k] == u["b"][k] for k in ("bytesUp", "bytesDown", "billableBytes", "unbilledBytes", "amountMicros"))')" = True ] ||
    { mh_log "C sees $mine; G1 has $theirs"; return 1; }
  printf '%s\n' "$mine"
}

uc=$(bill_wait_settled 1 "$c")
mine=$(same_as_gateway 2 "$c") || mine=$(same_as_gateway 2 "$c") ||
  mh_fail "C's account at G1 is not what G1's billing has"
bill_assert "$mine" 'u["plan"] == "small" and u["state"] == "open" and u["quotaBytes"] == '$QUOTA' and u["currency"] == "EUR"' \
  "C's account at G1"
bill_assert "$mine" 'u["bytesDown"] >= 100000 and 0 < u["quotaLeftBytes"] < '$QUOTA' and u["priceMicrosPerGb"] == 2500000' \
  "C's account at G1"
mh_log "C sees its account at G1: $(bill_of "$mine" 'u["billableBytes"]') of $QUOTA bytes billable, as G1's billing has it"
[ "$(bill_of "$(tunnel_account 2 "$g2")" 'u["status"]')" = not_metered ] || mh_fail "G2 (no billing) did not answer not_metered"
human=$(mesh_ctl 2 tunnel usage) || mh_fail "C's meshctl tunnel usage failed: $human"
printf '%s\n' "$human" >&2
grep -q "plan  *small" <<<"$human" || mh_fail "C's meshctl tunnel usage shows no plan: $human"
grep -q "not metered" <<<"$human" || mh_fail "C's meshctl tunnel usage does not say G2 meters nothing: $human"

bill_wait_settled 1 "$d" >/dev/null
theirs=$(same_as_gateway 3 "$d") || theirs=$(same_as_gateway 3 "$d") || mh_fail "D's account at G1 is not what G1's billing has for D"
bill_assert "$theirs" 'u["plan"] == "open" and u["quotaBytes"] == 0' "D's account at G1 (its own, not C's)"
if out=$(mesh_ctl 4 tunnel usage 2>&1); then mh_fail "E, holding no lease, read an account: $out"; fi
grep -q "no gateway holds a lease" <<<"$out" || mh_fail "E's meshctl tunnel usage did not say it has nobody to ask: $out"

# C runs into its quota: G1 blocks it and says so.
blocked_logged() { grep -q "gateway .*: blocked: quota $QUOTA bytes used .*nothing passes through this gateway until then" "$MH_TMP/n2.log"; }
for attempt in 1 2 3 4 5; do
  bill_get 2 203.0.113.100 "$FETCH" 0 5 >/dev/null || mh_log "C's fetch $attempt stopped"
  blocked_logged && break
  [ "$(bill_of "$(bill_usage 1 "$c")" 'u["state"]')" = over ] && break
done
mh_wait_for 3 "C's log to say G1 blocks it" blocked_logged
grep "blocked: quota" "$MH_TMP/n2.log" >&2
account_state_is() {
  ipt_status 2 | "$MESH_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
g = [g for g in s["client"]["gateways"] if g["publicKey"] == sys.argv[1]][0]
sys.exit(0 if (g["account"] or {}).get("state") == sys.argv[2] else 1)' "$1" "$2"
}
mh_wait_for 3 "C's iptunnel.status to show G1's account blocked" account_state_is "$g1" blocked
table=$(mesh_ctl 2 tunnel) || mh_fail "meshctl tunnel on C failed"
printf '%s\n' "$table" >&2
grep -q "blocked until" <<<"$table" || mh_fail "meshctl tunnel on C does not show the block: $table"
mh_wait_for 3 "C's default route to move to G2" [ "$(ipt_preferred 2 4)" = "$g2" ]
held=$(bill_wait_settled 1 "$c")
bill_get 2 203.0.113.100 "$FETCH" 0 10 >/dev/null || mh_fail "C's fetch through G2 after G1 blocked it failed"
after=$(bill_usage 1 "$c")
bill_assert "$(bill_pair "$held" "$after")" 'u["b"]["billableBytes"] == u["a"]["billableBytes"]' \
  "G1's billable bytes for C while its traffic leaves through G2"
blocked=$(tunnel_account 2 "$g1") || mh_fail "C's account at G1 after the block: no answer"
bill_assert "$blocked" 'u["state"] == "blocked" and u["quotaLeftBytes"] == 0' "C's account at G1 after the block"
mh_log "C blocked at G1 after $(bill_of "$blocked" 'u["billableBytes"]') billable bytes; its traffic leaves through G2"

mesh_stop_all
mh_log "PASS"
