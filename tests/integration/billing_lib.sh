# Shared by the billing scenarios (source after lib.sh, mh_enter_world, mesh_lib.sh and
# iptunnel_lib.sh): a gateway running iptunnel and billing, the goodput probe
# (rate_probe.py) on the Internet host, and readers of billing's admin answers.

BILL_PROBE_PORT4=8090
BILL_PROBE_PORT6=8091
BILL_GATEWAY=${BILL_GATEWAY:-1}

# On failure: what billing says on the gateway, then what every mesh scenario shows.
bill_exit() {
  local status=$? sock="$MH_TMP/n$BILL_GATEWAY/admin.sock"
  if [ "$status" != 0 ] && [ "$status" != "$MH_SKIP" ] && [ -S "$sock" ]; then
    printf '%s\n' "--- n$BILL_GATEWAY: billing.status, billing.usage" >&2
    timeout 5 "$MESHCTL" --socket "$sock" call billing.status >&2 || true
    timeout 5 "$MESHCTL" --socket "$sock" call billing.usage >&2 || true
  fi
  (exit "$status")
  mesh_exit
}
trap bill_exit EXIT

# bill_gateway_config I ALLOWED_JSON_LIST BILLING_JSON [EXTRA_IPTUNNEL_KEYS]: node I as an
# iptunnel gateway (NAT out of up0) with the billing plugin beside it.
bill_gateway_config() {
  ipt_gateway_config "$1" "$2" "${4:-}" "\"billing\": $3"
}

# bill_make_probe_server: rate_probe.py's server in the Internet namespace on every
# address, IPv4 port 8090 and IPv6 port 8091 (after ipt_make_internet).
bill_make_probe_server() {
  ip netns exec inet "$MESH_PYTHON" "$IPT_HERE/rate_probe.py" serve 0.0.0.0 "$BILL_PROBE_PORT4" "$MH_TMP/probe4.ready" &
  MH_PIDS+=($!)
  ip netns exec inet "$MESH_PYTHON" "$IPT_HERE/rate_probe.py" serve :: "$BILL_PROBE_PORT6" "$MH_TMP/probe6.ready" &
  MH_PIDS+=($!)
  mh_wait_for 10 "the goodput probe's server" test -f "$MH_TMP/probe4.ready" -a -f "$MH_TMP/probe6.ready"
}

bill_port_for() { case $1 in *:*) echo "$BILL_PROBE_PORT6" ;; *) echo "$BILL_PROBE_PORT4" ;; esac; }

# bill_get I ADDRESS BYTES [SKIP] [TIMEOUT]: node I fetches BYTES from the probe at ADDRESS;
# prints rate_probe.py's JSON; fails unless all arrived (TIMEOUT: seconds without progress,
# default 10).
bill_get() {
  local i=$1 address=$2 bytes=$3 skip=${4:-0} timeout=${5:-10}
  ip netns exec "n$i" timeout $((timeout * 3 + 10)) "$MESH_PYTHON" "$IPT_HERE/rate_probe.py" get \
    "$address" "$(bill_port_for "$address")" "$bytes" "$skip" "$timeout"
}
# bill_put I ADDRESS BYTES [SKIP] [TIMEOUT]: the same upstream, measured by the receiver.
bill_put() {
  local i=$1 address=$2 bytes=$3 skip=${4:-0} timeout=${5:-10}
  ip netns exec "n$i" timeout $((timeout * 3 + 10)) "$MESH_PYTHON" "$IPT_HERE/rate_probe.py" put \
    "$address" "$(bill_port_for "$address")" "$bytes" "$skip" "$timeout"
}

# bill_of JSON EXPR: EXPR (Python, the parsed JSON is `u`) evaluated and printed.
bill_of() {
  "$MESH_PYTHON" -c 'import json, sys; u = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}
# bill_assert JSON EXPR WHAT: fails the test naming WHAT unless EXPR holds.
bill_assert() {
  [ "$(bill_of "$1" "$2")" = True ] || mh_fail "$3: expected $2, in $1"
}
# bill_pair A B: one JSON object {"a": A, "b": B}, for expressions over two answers.
bill_pair() { printf '{"a": %s, "b": %s}' "$1" "$2"; }

# bill_usage I KEY [PERIOD]: node I's billing.usage entry for KEY (one JSON object); fails
# when the answer has no entry for it.
bill_usage() {
  local params="{\"publicKey\": \"$2\"${3:+, \"period\": \"$3\"}}"
  mesh_ctl "$1" call billing.usage "$params" | "$MESH_PYTHON" -c '
import json, sys
u = json.load(sys.stdin)
c = [c for c in u["clients"] if c["publicKey"] == sys.argv[1]]
if len(c) != 1:
    sys.exit("billing.usage has %d entries for %s: %s" % (len(c), sys.argv[1], json.dumps(u)))
print(json.dumps(c[0]))' "$2"
}

# bill_status I FIELD: one field of node I's billing.status.
bill_status() {
  mesh_ctl "$1" call billing.status | "$MESH_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
bill_flush_seq() { bill_status "$1" flushSeq; }
bill_flush_seq_above() { [ "$(bill_flush_seq "$1")" -gt "$2" ]; }

# bill_settled I KEY: the client's counters did not move for 500 ms (the traffic it caused,
# its last ACKs and FINs included, has all been counted); prints its usage then.
bill_settled() {
  local a b
  a=$(bill_usage "$1" "$2") || return 1
  sleep 0.5
  b=$(bill_usage "$1" "$2") || return 1
  [ "$(bill_of "$(bill_pair "$a" "$b")" \
    'all(u["a"][k] == u["b"][k] for k in ("bytesUp", "bytesDown", "packetsUp", "packetsDown"))')" = True ] || return 1
  printf '%s\n' "$b"
}
# bill_wait_settled I KEY: waits (15 s) for bill_settled; prints the usage.
bill_wait_settled() {
  local deadline=$((SECONDS + 15)) out
  until out=$(bill_settled "$1" "$2" 2>/dev/null); do
    [ "$SECONDS" -lt "$deadline" ] || mh_fail "the usage of $2 kept moving for 15 s"
  done
  printf '%s\n' "$out"
}
