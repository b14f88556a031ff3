#!/usr/bin/env bash
# Billing's enforcement at the gateway (DESIGN §7, issue 6): gateway G (n1, iptunnel and
# billing, uplink into the "Internet" namespace) and four clients peered with it — C1 (n2)
# on plan "slow" (1 Mbit/s each way), C2 (n3) on plan "unlimited", C3 (n4) on plan
# "capped" (a quota of 1,000,000 bytes, overQuota "block", shaped to 8 Mbit/s down so that
# packets wait in its shaper's queue when the quota is crossed), C4 (n5) on plan
# "throttled" (a quota of 300,000 bytes, then throttled to 1 Mbit/s).
# Proved here:
# - C1 fetching 384 KiB measures about 1 Mbit/s, and so does C1 sending 384 KiB (goodput
#   as the receiver sees it, after the first 32 KiB: that leaves out the shaper's 16 KiB
#   burst and TCP's slow start). Tolerance 0.70–1.15 Mbit/s: the shaper meters inner IP
#   bytes, so TCP/IP headers (52 of every 1280-byte packet at iptunnel's MTU) put perfect
#   shaping at 0.96 Mbit/s of goodput; the lower bound leaves room for losses at the
#   shaper's bounded queue and a loaded machine's timer latency, the upper for timer
#   granularity on a 3-second measurement;
# - C2, fetching 4 MiB while C1's fetch runs, is not held to C1's rate: it gets more than
#   20 Mbit/s (an absolute floor, not a comparison; the mesh carries far more on a quiet
#   machine, and a shaper applied to it by mistake would give 1);
# - billing.usage names each client's plan and the rates in force;
# - C3 fetching 384 KiB again and again completes at most two fetches (2 × 393,216 bytes of
#   payload, plus headers, fit in the quota, a third does not) and is then blocked: its
#   next fetches fail, over IPv4 and IPv6; billing.usage shows it over (state "over",
#   action "block", quotaLeftBytes 0, the crossing counted in droppedPackets) with
#   billableBytes at the quota — within two packets below it, since a packet the quota
#   cannot hold is blocked, not counted, and never above it, packets that waited in the
#   shaper included — while C1 (the same 0.70–1.15 Mbit/s) and C2 (> 20 Mbit/s) still
#   fetch, and C3's billable bytes stay where they were;
# - C4's first fetch of 384 KiB crosses its quota and still completes; billing.usage then
#   shows it over with action "throttle" at 1 Mbit/s each way, still billing what it
#   carries (billableBytes past the quota), and its next fetch measures 0.70–1.15 Mbit/s.
# Bound: leases as in the iptunnel scenarios (60 s); each transfer has its own timeout.
# usage: billing_rate_limit_and_quota.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
IPT_OFFER_MB=1
source "$(dirname "$0")/iptunnel_lib.sh"
source "$(dirname "$0")/billing_lib.sh"

RATE=1000000   # plan "slow", bits/s each way
QUOTA=1000000  # plan "capped", billable bytes a period
THROTTLE_QUOTA=300000  # plan "throttled"
SHAPED=393216  # 384 KiB: about 3 s at 1 Mbit/s
SKIP=32768
FAST=4194304   # 4 MiB for the unlimited client
MIN_MBPS=0.70 MAX_MBPS=1.15 FLOOR_MBPS=20

mesh_make_nodes 5
mesh_link 1 2
mesh_link 1 3
mesh_link 1 4
mesh_link 1 5
ipt_make_internet
bill_make_probe_server
ipt_uplink 1 1
g=$(mesh_key 1) c1=$(mesh_key 2) c2=$(mesh_key 3) c3=$(mesh_key 4) c4=$(mesh_key 5)

allowed="$(ipt_pin "$c1" 100.100.0.11 2001:db8:1::11 '"plan": "slow"'),"
allowed+=" $(ipt_pin "$c2" 100.100.0.12 2001:db8:1::12 '"plan": "unlimited"'),"
allowed+=" $(ipt_pin "$c3" 100.100.0.13 2001:db8:1::13 '"plan": "capped"'),"
allowed+=" $(ipt_pin "$c4" 100.100.0.14 2001:db8:1::14 '"plan": "throttled"')"
billing='{
  "timeZone": "UTC", "flushIntervalMs": 1000, "defaultPlan": "unlimited",
  "plans": {
    "slow": { "rateLimit": { "upBps": '$RATE', "downBps": '$RATE' } },
    "unlimited": {},
    "capped": { "quotaBytes": '$QUOTA', "overQuota": "block", "rateLimit": { "downBps": 8000000 } },
    "throttled": { "quotaBytes": '$THROTTLE_QUOTA', "overQuota": { "throttleBps": '$RATE' } }
  }
}'
bill_gateway_config 1 "$allowed" "$billing"
for i in 2 3 4 5; do ipt_client_config "$i" "\"$g\""; done
for i in 1 2 3 4 5; do mesh_start "$i"; done
for i in 2 3 4 5; do
  mh_wait_for 60 "n$i's lease from the gateway" ipt_gateway_is "$i" "$g" leased
  mh_wait_for 30 "n$i's first fetch through the gateway" bill_get "$i" 203.0.113.100 1000 0 3
done

mbps_in() {  # mbps_in JSON LOW HIGH
  [ "$(bill_of "$1" "$2 <= u[\"mbps\"] <= $3")" = True ]
}

# C1 shaped, C2 beside it.
bill_get 2 203.0.113.100 "$SHAPED" "$SKIP" 10 >"$MH_TMP/c1-get" &
c1_get=$!
sleep 0.5
bill_get 3 203.0.113.100 "$FAST" 0 10 >"$MH_TMP/c2-get" || mh_fail "C2's fetch failed: $(cat "$MH_TMP/c2-get")"
kill -0 "$c1_get" 2>/dev/null || mh_log "note: C1's fetch ended before C2's did (they did not overlap in full)"
wait "$c1_get" || mh_fail "C1's shaped fetch failed: $(cat "$MH_TMP/c1-get")"
r1=$(cat "$MH_TMP/c1-get") r2=$(cat "$MH_TMP/c2-get")
mh_log "C1 (slow) fetched at $(bill_of "$r1" 'u["mbps"]') Mbit/s, C2 (unlimited) at $(bill_of "$r2" 'u["mbps"]') Mbit/s"
mbps_in "$r1" "$MIN_MBPS" "$MAX_MBPS" || mh_fail "C1's fetch on a 1 Mbit/s plan was not within $MIN_MBPS–$MAX_MBPS Mbit/s: $r1"
mbps_in "$r2" "$FLOOR_MBPS" 1e9 || mh_fail "C2's fetch on an unlimited plan was not above $FLOOR_MBPS Mbit/s: $r2"

up=$(bill_put 2 203.0.113.100 "$SHAPED" "$SKIP" 10) || mh_fail "C1's shaped upload failed: $up"
mh_log "C1 (slow) sent at $(bill_of "$up" 'u["mbps"]') Mbit/s"
mbps_in "$up" "$MIN_MBPS" "$MAX_MBPS" || mh_fail "C1's upload on a 1 Mbit/s plan was not within $MIN_MBPS–$MAX_MBPS Mbit/s: $up"

u1=$(bill_usage 1 "$c1") u2=$(bill_usage 1 "$c2")
bill_assert "$u1" 'u["plan"] == "slow" and u["rateUpBps"] == '$RATE' and u["rateDownBps"] == '$RATE' and u["action"] == "pass"' \
  "C1's usage"
bill_assert "$u1" 'u["bytesDown"] >= '$SHAPED' and u["bytesUp"] >= '$SHAPED' and u["state"] == "under"' "C1's usage"
bill_assert "$u2" 'u["plan"] == "unlimited" and u["bytesDown"] >= '$FAST' and u["action"] == "pass"' "C2's usage"

# C3 runs into its quota.
fetched=0
for attempt in 1 2 3 4 5; do
  if out=$(bill_get 4 203.0.113.100 "$SHAPED" 0 5); then
    fetched=$((fetched + 1))
  else
    mh_log "C3's fetch $attempt stopped: $out"
    break
  fi
done
[ "$fetched" -ge 1 ] && [ "$fetched" -le 2 ] ||
  mh_fail "C3 completed $fetched fetches of $SHAPED bytes on a quota of $QUOTA bytes (expected 1 or 2, then blocked)"
! out=$(bill_get 4 203.0.113.100 1000 0 3) || mh_fail "C3 fetched after crossing its quota: $out"
! out=$(bill_get 4 2001:db8:ffff::100 1000 0 3) || mh_fail "C3 fetched over IPv6 after crossing its quota: $out"
u3=$(bill_usage 1 "$c3")
bill_assert "$u3" 'u["plan"] == "capped" and u["state"] == "over" and u["action"] == "block"' "C3's usage after the crossing"
bill_assert "$u3" 'u["quotaBytes"] == '$QUOTA' and u["quotaLeftBytes"] == 0' "C3's usage after the crossing"
bill_assert "$u3" ''$QUOTA' - 2 * 1280 <= u["billableBytes"] <= '$QUOTA "C3's billable bytes after the crossing"
bill_assert "$u3" 'u["droppedPackets"] > 0' "C3's blocked packets"
mh_log "C3 blocked after $fetched fetches: billable $(bill_of "$u3" 'u["billableBytes"]') of $QUOTA, $(bill_of "$u3" 'u["droppedPackets"]') packets dropped"

# The others are unaffected.
r2=$(bill_get 3 203.0.113.100 "$FAST" 0 10) || mh_fail "C2's fetch failed after C3 was blocked: $r2"
mbps_in "$r2" "$FLOOR_MBPS" 1e9 || mh_fail "C2 fetched at no more than $FLOOR_MBPS Mbit/s after C3 was blocked: $r2"
r1=$(bill_get 2 203.0.113.100 "$SHAPED" "$SKIP" 10) || mh_fail "C1's fetch failed after C3 was blocked: $r1"
mbps_in "$r1" "$MIN_MBPS" "$MAX_MBPS" || mh_fail "C1's fetch after C3 was blocked was not within $MIN_MBPS–$MAX_MBPS Mbit/s: $r1"
mh_log "after C3's block: C1 at $(bill_of "$r1" 'u["mbps"]') Mbit/s, C2 at $(bill_of "$r2" 'u["mbps"]') Mbit/s"
u3b=$(bill_usage 1 "$c3")
bill_assert "$(bill_pair "$u3" "$u3b")" 'u["b"]["billableBytes"] == u["a"]["billableBytes"]' "C3's billable bytes while blocked"

# C4 is throttled, not blocked.
cross=$(bill_get 5 203.0.113.100 "$SHAPED" 0 10) || mh_fail "C4's fetch across its quota failed: $cross"
u4=$(bill_usage 1 "$c4")
bill_assert "$u4" 'u["plan"] == "throttled" and u["state"] == "over" and u["action"] == "throttle" and u["quotaLeftBytes"] == 0' \
  "C4's usage after the crossing"
bill_assert "$u4" 'u["rateUpBps"] == '$RATE' and u["rateDownBps"] == '$RATE "C4's rates after the crossing"
bill_assert "$u4" 'u["billableBytes"] > '$THROTTLE_QUOTA' and u["bytesDown"] >= '$SHAPED "C4's billable bytes after the crossing"
r4=$(bill_get 5 203.0.113.100 "$SHAPED" "$SKIP" 10) || mh_fail "C4's throttled fetch failed: $r4"
mbps_in "$r4" "$MIN_MBPS" "$MAX_MBPS" || mh_fail "C4's throttled fetch was not within $MIN_MBPS–$MAX_MBPS Mbit/s: $r4"
mh_log "C4 throttled after its quota: the crossing fetch took $(bill_of "$cross" 'u["totalSeconds"]') s, the next one $(bill_of "$r4" 'u["mbps"]') Mbit/s"

mesh_stop_all
mh_log "PASS"
