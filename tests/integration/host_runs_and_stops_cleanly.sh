#!/usr/bin/env bash
# A node with a plugin starts, answers meshctl (status, plugins, a plugin's method,
# metrics), serves Prometheus text on loopback, survives SIGHUP, and stops cleanly on
# SIGTERM and on SIGINT: exit 0, plugin stopped, admin socket removed.
# usage: host_runs_and_stops_cleanly.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 PLUGINS=$3
source "$(dirname "$0")/lib.sh"
mh_enter_world "$@"

port=$((20000 + RANDOM % 20000))
config="$MH_TMP/node.json"
mh_write_config "$config" '{ "good": {} }' "\"metrics\": { \"prometheus\": \"127.0.0.1:$port\" }"
socket=$(mh_socket_of "$config")

"$MESHHOST" --check-config "$config" --plugin-dir "$PLUGINS/good" >"$MH_TMP/check.out"
mh_expect_in "$MH_TMP/check.out" "OK (1 plugin(s), start order: good)"

# The second run finds its plugins through the config's pluginDirs rather than the
# command line, and runs a second plugin so the stop order can be seen.
config2="$MH_TMP/node2.json"
mh_write_config "$config2" '{ "good": {}, "stripped": {} }' \
  "\"metrics\": { \"prometheus\": \"127.0.0.1:$port\" }, \"pluginDirs\": [\"$PLUGINS/good\", \"$PLUGINS/stripped\"]"
sed -i "s|$MH_TMP/node2/|$MH_TMP/node/|" "$config2"  # same socket and state as the first run

for signal in TERM INT; do
  log="$MH_TMP/node-$signal.log"
  if [ "$signal" = TERM ]; then
    running="$config"
    mh_start_node "$running" "$log" --plugin-dir "$PLUGINS/good"
  else
    running="$config2"
    mh_start_node "$running" "$log"
  fi
  mh_wait_for 10 "the admin socket" test -S "$socket"
  mh_wait_for 10 "plugin good running" grep -qF "good: started" "$log"

  mode=$(stat -c %a "$socket")
  [ "$mode" = 600 ] || mh_fail "admin socket mode is $mode, expected 600"

  "$MESHCTL" --socket "$socket" status >"$MH_TMP/status.out"
  mh_expect_in "$MH_TMP/status.out" "address:    fc"
  mh_expect_in "$MH_TMP/status.out" "public key: "
  grep -qE '^good +[^ ]+ +[^ ]+ +running$' "$MH_TMP/status.out" || { cat "$MH_TMP/status.out"; mh_fail "status does not show good running"; }

  "$MESHCTL" --socket "$socket" plugins >"$MH_TMP/plugins.out"
  mh_expect_in "$MH_TMP/plugins.out" "$PLUGINS/good/good.so"

  "$MESHCTL" --socket "$socket" call good.ping '{}' >"$MH_TMP/ping.out"
  mh_expect_in "$MH_TMP/ping.out" '"pong": true'

  if "$MESHCTL" --socket "$socket" call no.such.method 2>"$MH_TMP/nomethod.err"; then
    mh_fail "an unknown method succeeded"
  fi
  mh_expect_in "$MH_TMP/nomethod.err" "no method no.such.method"

  # Prometheus text over plain HTTP on loopback (bash's /dev/tcp: no client needed).
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
  timeout 10 cat <&3 >"$MH_TMP/metrics.out"
  exec 3<&-
  mh_expect_in "$MH_TMP/metrics.out" "HTTP/1.1 200 OK"
  mh_expect_in "$MH_TMP/metrics.out" "# TYPE"

  kill -HUP "$MH_PID"
  mh_wait_for 10 "the reload" grep -qF "reloading $running" "$log"
  kill -0 "$MH_PID" || mh_fail "SIGHUP stopped the node"
  "$MESHCTL" --socket "$socket" status >/dev/null

  kill -"$signal" "$MH_PID"
  mh_wait_exit "$MH_PID" 10; status=$MH_STATUS
  [ "$status" = 0 ] || { cat "$log" >&2; mh_fail "exit status $status after SIG$signal, expected 0"; }
  mh_expect_in "$log" "good: stopped"
  [ ! -e "$socket" ] || mh_fail "the admin socket was left behind after SIG$signal"
done

# Stop is the reverse of start.
log="$MH_TMP/node-INT.log"
started=$(grep -oE '(good|stripped): started' "$log" | cut -d: -f1 | paste -sd,)
stopped=$(grep -oE '(good|stripped): stopped' "$log" | cut -d: -f1 | paste -sd,)
reversed=$(echo "$started" | tr , '\n' | tac | paste -sd,)
[ "$started" = "good,stripped" ] && [ "$stopped" = "$reversed" ] ||
  { cat "$log" >&2; mh_fail "started $started, stopped $stopped: expected the reverse order"; }
mh_log "PASS"
