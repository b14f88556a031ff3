#!/usr/bin/env bash
# What billing does not bill (DESIGN §7, issue 6): gateway G (n1, iptunnel and billing,
# uplink into the "Internet" namespace, "ipv6InboundOpen": true so that unsolicited IPv6
# reaches billing instead of being dropped by iptunnel) and client C (n2) on plan
# "community", whose freePrefixes hold the Internet host's 203.0.113.100/32 and whose
# price is 2 EUR a GB. The Internet host gets a second address, 203.0.113.101, outside the
# prefix (the probe's server listens on every address).
# Proved here:
# - C fetching 256 KiB from 203.0.113.100 is counted and not billed: billableBytes does
#   not move at all, unbilledBytes grows by at least the payload, bytesDown too;
# - C fetching 256 KiB from 203.0.113.101 is billed: billableBytes grows by at least the
#   payload (and by at most 10 % more, headers and ACKs), unbilledBytes does not move;
#   amountMicros is floor(billableBytes × 2,000,000 / 10^9) in EUR;
# - 20 UDP datagrams the Internet host sends, unsolicited, to C's IPv6 address reach C (a
#   listener there counts them, so C's kernel answers nothing back) and are counted down
#   and unbilled — bytesDown, packetsDown and unbilledBytes grow by exactly their 20 × 1048
#   bytes and 20 packets — while billableBytes does not move;
# - the statement of the period, in JSON, bills C exactly its usage's billable bytes and
#   amount.
# Bound: leases as in the iptunnel scenarios (60 s); counters settle within 15 s.
# usage: billing_free_and_unsolicited.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 MESH_PLUGIN_DIR=$3
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || mh_skip "needs root to create network namespaces, TUN devices, routes and nftables tables"
[ -c /dev/net/tun ] || mh_skip "no /dev/net/tun on this machine"
mh_enter_world "$@"
source "$(dirname "$0")/mesh_lib.sh"
IPT_OFFER_MB=1
source "$(dirname "$0")/iptunnel_lib.sh"
source "$(dirname "$0")/billing_lib.sh"

SIZE=262144
PRICE=2000000  # micro-EUR a GB
DATAGRAMS=20 PAYLOAD=1000
DATAGRAM_IP_BYTES=$((40 + 8 + PAYLOAD))  # IPv6 and UDP headers

mesh_make_nodes 2
mesh_link 1 2
ipt_make_internet
ip -n inet addr add 203.0.113.101/32 dev lo
bill_make_probe_server
ipt_uplink 1 1
g=$(mesh_key 1) c=$(mesh_key 2)

billing='{
  "timeZone": "UTC", "flushIntervalMs": 1000, "defaultPlan": "community",
  "plans": {
    "community": { "freePrefixes": ["203.0.113.100/32"], "price": { "perGB": '$PRICE', "currency": "EUR" } }
  }
}'
bill_gateway_config 1 "$(ipt_pin "$c" 100.100.0.11 2001:db8:1::11 '"plan": "community"')" "$billing" '"ipv6InboundOpen": true'
ipt_client_config 2 "\"$g\""
mesh_start 1
mesh_start 2
mh_wait_for 60 "C's lease from the gateway" ipt_gateway_is 2 "$g" leased
mh_wait_for 30 "C's first fetch through the gateway" bill_get 2 203.0.113.100 1000 0 3

delta() {  # delta BEFORE AFTER FIELD
  bill_of "$(bill_pair "$1" "$2")" "u[\"b\"][\"$3\"] - u[\"a\"][\"$3\"]"
}

# The free prefix.
before=$(bill_wait_settled 1 "$c")
out=$(bill_get 2 203.0.113.100 "$SIZE") || mh_fail "C's fetch from the free prefix failed: $out"
after=$(bill_wait_settled 1 "$c")
mh_log "from 203.0.113.100 (free): billable +$(delta "$before" "$after" billableBytes), unbilled +$(delta "$before" "$after" unbilledBytes), down +$(delta "$before" "$after" bytesDown)"
[ "$(delta "$before" "$after" billableBytes)" = 0 ] || mh_fail "a fetch from a free prefix was billed: $before → $after"
[ "$(delta "$before" "$after" unbilledBytes)" -ge "$SIZE" ] || mh_fail "a fetch from a free prefix was not counted unbilled: $before → $after"
[ "$(delta "$before" "$after" bytesDown)" -ge "$SIZE" ] || mh_fail "a fetch from a free prefix was not counted down: $before → $after"

# Outside it.
before=$after
out=$(bill_get 2 203.0.113.101 "$SIZE") || mh_fail "C's fetch from 203.0.113.101 failed: $out"
after=$(bill_wait_settled 1 "$c")
billed=$(delta "$before" "$after" billableBytes)
mh_log "from 203.0.113.101 (billed): billable +$billed, unbilled +$(delta "$before" "$after" unbilledBytes)"
[ "$billed" -ge "$SIZE" ] && [ "$billed" -le $((SIZE * 11 / 10)) ] ||
  mh_fail "a fetch of $SIZE bytes outside the free prefix was billed $billed bytes: $before → $after"
[ "$(delta "$before" "$after" unbilledBytes)" = 0 ] || mh_fail "a fetch outside the free prefix was counted unbilled: $before → $after"
bill_assert "$after" 'u["amountMicros"] == u["billableBytes"] * '$PRICE' // 10**9 and u["currency"] == "EUR"' "C's amount"

# Unsolicited IPv6.
ip netns exec n2 "$MESH_PYTHON" "$IPT_HERE/udp_count.py" 2001:db8:1::11 9 "$MH_TMP/count" &
MH_PIDS+=($!)
mh_wait_for 10 "the UDP counter on C" test -f "$MH_TMP/count.ready"
before=$after
ip netns exec inet "$MESH_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    s.sendto(b"u" * int(sys.argv[2]), ("2001:db8:1::11", 9))' "$DATAGRAMS" "$PAYLOAD"
mh_wait_for 10 "C to receive $DATAGRAMS unsolicited datagrams" \
  eval '[ "$(cat "$MH_TMP/count" 2>/dev/null || echo 0)" -ge '$DATAGRAMS' ]'
after=$(bill_wait_settled 1 "$c")
mh_log "unsolicited: billable +$(delta "$before" "$after" billableBytes), unbilled +$(delta "$before" "$after" unbilledBytes), down +$(delta "$before" "$after" bytesDown) in $(delta "$before" "$after" packetsDown) packets"
[ "$(delta "$before" "$after" billableBytes)" = 0 ] || mh_fail "unsolicited inbound IPv6 was billed: $before → $after"
[ "$(delta "$before" "$after" unbilledBytes)" = $((DATAGRAMS * DATAGRAM_IP_BYTES)) ] ||
  mh_fail "unsolicited inbound IPv6 was not counted unbilled as $((DATAGRAMS * DATAGRAM_IP_BYTES)) bytes: $before → $after"
[ "$(delta "$before" "$after" bytesDown)" = $((DATAGRAMS * DATAGRAM_IP_BYTES)) ] &&
  [ "$(delta "$before" "$after" packetsDown)" = "$DATAGRAMS" ] ||
  mh_fail "unsolicited inbound IPv6 was not counted down as $DATAGRAMS packets: $before → $after"
[ "$(delta "$before" "$after" bytesUp)" = 0 ] || mh_fail "C sent something back to unsolicited traffic: $before → $after"
[ "$(ipt_drops 1 unsolicited)" = 0 ] || mh_fail "iptunnel dropped unsolicited IPv6 though ipv6InboundOpen is set"

# The statement bills what the usage says.
label=$(bill_of "$after" 'u["period"]')
statement=$(mesh_ctl 1 call billing.statement "{\"period\": \"$label\", \"format\": \"json\"}")
bill_assert "$(bill_pair "$statement" "$after")" \
  '[(x["billableBytes"], x["unbilledBytes"], x["amountMicros"]) for x in u["a"]["clients"] if x["publicKey"] == u["b"]["publicKey"]] == [(u["b"]["billableBytes"], u["b"]["unbilledBytes"], u["b"]["amountMicros"])]' \
  "the statement of $label against the usage"

mesh_stop_all
mh_log "PASS"
