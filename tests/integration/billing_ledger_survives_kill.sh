#!/usr/bin/env bash
# Billing's ledger across crashes and restarts (DESIGN §7, issue 6: "it survives a crash
# with at most one flush interval lost"): gateway G (n1, iptunnel and billing flushing every
# 1000 ms, uplink into the "Internet" namespace) and two clients peered with it, C1 (n2) on
# plan "metered" (1 EUR a GB) and C2 (n3) on plan "metered1m" (the same, shaped to 1 Mbit/s
# downstream, so the traffic it can move in one interval is known).
# Proved here:
# - C1 and C2 fetch; once C1's counters are still, C2 streams (at 1 Mbit/s: billing writes
#   a batch only when it holds some usage, so this traffic is also what moves flushSeq on),
#   and once billing.status's flushSeq has advanced past C1's fetch (twice since C1 was
#   still: the first may be of a batch taken before) G is killed with SIGKILL right after
#   flushSeq next advances; restarted on the same stateDir, G's billing.usage gives C1,
#   which sent nothing meanwhile, exactly the totals it had before the kill (bytes and
#   packets each way, billable, unbilled, amount), and C2 at least what it had shortly
#   before the kill minus one interval's traffic at its rate (125,000 bytes, plus the
#   shaper's 16 KiB burst); flushSeq did not go back, billing.status names the ledger in
#   G's stateDir and reports no error;
# - billing.statement of the period in CSV: the header is the documented one, each
#   client's line equals its billing.usage numbers, and the columns of the client lines add
#   up to the `total` line; the JSON statement's totals are the sums of its clients;
# - after the restart C1 fetches again and its totals go on from what was kept (the period
#   is resumed, not started afresh);
# - a SIGTERM flushes on stop: restarted once more, C1's totals are exactly those it had
#   when G was stopped.
# Bound: leases as in the iptunnel scenarios (60 s); flushSeq advances within 3 intervals.
# usage: billing_ledger_survives_kill.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
IPT_OFFER_MB=1
source "$(dirname "$0")/iptunnel_lib.sh"
source "$(dirname "$0")/billing_lib.sh"

INTERVAL_MS=1000
RATE=1000000
PRICE=1000000
# C2's traffic in one interval at its rate, plus the shaper's burst.
ONE_INTERVAL=$((RATE / 8 * INTERVAL_MS / 1000 + 16384))
COUNTERS='("bytesUp", "bytesDown", "packetsUp", "packetsDown", "billableBytes", "unbilledBytes", "amountMicros")'

mesh_make_nodes 3
mesh_link 1 2
mesh_link 1 3
ipt_make_internet
bill_make_probe_server
ipt_uplink 1 1
g=$(mesh_key 1) c1=$(mesh_key 2) c2=$(mesh_key 3)

allowed="$(ipt_pin "$c1" 100.100.0.11 2001:db8:1::11 '"plan": "metered"'),"
allowed+=" $(ipt_pin "$c2" 100.100.0.12 2001:db8:1::12 '"plan": "metered1m"')"
price='"price": { "perGB": '$PRICE', "currency": "EUR" }'
billing='{
  "timeZone": "UTC", "flushIntervalMs": '$INTERVAL_MS', "defaultPlan": "metered",
  "plans": {
    "metered": { '$price' },
    "metered1m": { '$price', "rateLimit": { "downBps": '$RATE' } }
  }
}'
bill_gateway_config 1 "$allowed" "$billing"
for i in 2 3; do ipt_client_config "$i" "\"$g\""; done
for i in 1 2 3; do mesh_start "$i"; done
leases_and_first_fetch() {
  for i in 2 3; do
    mh_wait_for 60 "n$i's lease from the gateway ($1)" ipt_gateway_is "$i" "$g" leased
    mh_wait_for 30 "n$i's first fetch through the gateway ($1)" bill_get "$i" 203.0.113.100 1000 0 3
  done
}
leases_and_first_fetch "first start"

out=$(bill_get 2 203.0.113.100 524288) || mh_fail "C1's fetch failed: $out"
out=$(bill_get 3 203.0.113.100 131072) || mh_fail "C2's fetch failed: $out"
u1=$(bill_wait_settled 1 "$c1")
bill_wait_settled 1 "$c2" >/dev/null
seq0=$(bill_flush_seq 1)
# C2 streams through the kill. Its traffic is also what moves flushSeq on: billing writes a
# batch only when it holds some usage. Two advances after C1 was seen still, the ledger
# holds all of C1's traffic (the first may be a batch taken before).
bill_get 3 203.0.113.100 4194304 0 5 >/dev/null 2>&1 &
stream=$!
MH_PIDS+=("$stream")
mh_wait_for $((3 * INTERVAL_MS / 1000 + 2)) "flushSeq to move past the fetches" bill_flush_seq_above 1 $((seq0 + 1))
u2=$(bill_usage 1 "$c2")
seq1=$(bill_flush_seq 1)
# Polled as fast as meshctl answers: the kill follows the advance within one call.
deadline=$((SECONDS + 3 * INTERVAL_MS / 1000 + 1))
until [ "$(bill_flush_seq 1)" -gt "$seq1" ]; do
  [ "$SECONDS" -lt "$deadline" ] || mh_fail "flushSeq did not advance from $seq1 while C2 streamed"
done
kill -KILL "$MESH_PID_1"
mh_wait_exit "$MESH_PID_1" 10
seq_at_kill=$((seq1 + 1))
kill "$stream" 2>/dev/null || true
mh_log "killed G right after flushSeq advanced past $seq1"

mesh_start 1
a1=$(bill_usage 1 "$c1") a2=$(bill_usage 1 "$c2")
seq_after=$(bill_flush_seq 1)
ledger=$(bill_status 1 ledger)
case $ledger in "$MH_TMP/n1/state/"*) ;; *) mh_fail "billing.status names the ledger $ledger, not a file in G's stateDir" ;; esac
[ -s "$ledger" ] || mh_fail "billing.status names the ledger $ledger, which is not there"
[ -z "$(bill_status 1 lastError)" ] || mh_fail "billing.status reports an error after the restart: $(bill_status 1 lastError)"
[ "$seq_after" -ge "$seq_at_kill" ] || mh_fail "flushSeq went back from $seq_at_kill to $seq_after across the restart"
bill_assert "$(bill_pair "$u1" "$a1")" "all(u['a'][k] == u['b'][k] for k in $COUNTERS)" \
  "C1's totals after kill -9 and restart (before → after)"
bill_assert "$(bill_pair "$u2" "$a2")" \
  "all(u['b'][k] >= u['a'][k] - $ONE_INTERVAL for k in ('bytesDown', 'billableBytes'))" \
  "C2's totals after kill -9 and restart (shortly before → after; at most $ONE_INTERVAL bytes lost)"
mh_log "after kill -9: C1 kept exactly $(bill_of "$a1" 'u["billableBytes"]') billable bytes;" \
  "C2 $(bill_of "$(bill_pair "$u2" "$a2")" 'u["b"]["bytesDown"] - u["a"]["bytesDown"]') bytes down against its usage read before the last advance"

# The statement adds up, and matches the usage.
label=$(bill_of "$a1" 'u["period"]')
[ "$(bill_of "$a2" 'u["period"]')" = "$label" ] || mh_fail "C1 and C2 are in different periods: $a1 $a2"
csv=$(mesh_ctl 1 call billing.statement "{\"period\": \"$label\", \"format\": \"csv\"}")
json=$(mesh_ctl 1 call billing.statement "{\"period\": \"$label\", \"format\": \"json\"}")
"$MESH_PYTHON" - "$csv" "$json" "$a1" "$a2" <<'PY' || mh_fail "the statement of $label does not add up: $csv $json"
import csv, io, json, sys
answer, statement, usages = json.loads(sys.argv[1]), json.loads(sys.argv[2]), [json.loads(a) for a in sys.argv[3:]]
columns = ["bytes_up", "bytes_down", "billable_bytes", "unbilled_bytes", "amount_micros"]
fields = ["bytesUp", "bytesDown", "billableBytes", "unbilledBytes", "amountMicros"]
def check(ok, what):
    if not ok:
        sys.exit("statement: " + what)
check(answer["period"] == usages[0]["period"], "CSV answer for period %r" % answer["period"])
check(answer["csv"].endswith("\n"), "the CSV does not end in a newline")
rows = list(csv.reader(io.StringIO(answer["csv"])))
check(rows[0] == ["publicKey", "plan"] + columns, "CSV header %r" % rows[0])
body, total = rows[1:-1], rows[-1]
check(total[0] == "total", "last CSV line %r is not the total" % total)
check(len(body) == 2, "%d client lines, expected 2" % len(body))
for i, c in enumerate(columns):
    check(sum(int(r[2 + i]) for r in body) == int(total[2 + i]), "column %s does not add up to its total" % c)
for u in usages:
    line = [r for r in body if r[0] == u["publicKey"]]
    check(len(line) == 1, "no single CSV line for %s" % u["publicKey"])
    check(line[0][1] == u["plan"], "plan %r, usage says %r" % (line[0][1], u["plan"]))
    check([int(x) for x in line[0][2:]] == [u[f] for f in fields],
          "CSV line %r, usage %r" % (line[0], [u[f] for f in fields]))
check(statement["period"] == usages[0]["period"], "JSON statement for period %r" % statement["period"])
check(len(statement["clients"]) == 2, "JSON statement has %d clients" % len(statement["clients"]))
for f in fields:
    check(f in statement["totals"], "JSON totals lack %s" % f)
    check(statement["totals"][f] == sum(c[f] for c in statement["clients"]), "JSON %s does not add up" % f)
for c in statement["clients"]:
    u = [u for u in usages if u["publicKey"] == c["publicKey"]][0]
    check([c[f] for f in fields] == [u[f] for f in fields], "JSON client %r, usage %r" % (c, u))
    check(u["amountMicros"] == u["billableBytes"] * 1000000 // 10**9, "amount of %r" % u)
PY
mh_log "the statement of $label adds up to the usage: $(printf '%s' "$(bill_of "$csv" 'u["csv"]')" | tail -n 1)"

# The period goes on from what was kept.
leases_and_first_fetch "after kill -9"
out=$(bill_get 2 203.0.113.100 131072) || mh_fail "C1's fetch after the restart failed: $out"
b1=$(bill_wait_settled 1 "$c1")
bill_assert "$(bill_pair "$a1" "$b1")" \
  'u["b"]["bytesDown"] >= u["a"]["bytesDown"] + 131072 and u["b"]["billableBytes"] > u["a"]["billableBytes"] + 131072' \
  "C1's totals after a fetch following the restart"

# A clean stop flushes what the last interval held.
kill -TERM "$MESH_PID_1"
mh_wait_exit "$MESH_PID_1" 10
[ "$MH_STATUS" = 0 ] || mh_fail "G exited with $MH_STATUS on SIGTERM"
mesh_start 1
s1=$(bill_usage 1 "$c1")
bill_assert "$(bill_pair "$b1" "$s1")" "all(u['a'][k] == u['b'][k] for k in $COUNTERS)" \
  "C1's totals after SIGTERM and restart (before → after)"
mh_log "after SIGTERM and restart: C1's totals exactly kept"

mesh_stop_all
mh_log "PASS"
