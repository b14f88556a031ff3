#!/usr/bin/env bash
# A plugin whose start fails makes the host stop what already started, in reverse, and
# exit non-zero with that plugin's message.
# usage: host_start_failure_unwinds.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 PLUGINS=$3
source "$(dirname "$0")/lib.sh"
mh_enter_world "$@"

config="$MH_TMP/node.json"
mh_write_config "$config" '{ "start_fails": {}, "order_a": {} }'
log="$MH_TMP/node.log"
mh_start_node "$config" "$log" --plugin-dir "$PLUGINS/start_fails"
mh_wait_exit "$MH_PID" 20; status=$MH_STATUS
[ "$status" = 1 ] || { cat "$log" >&2; mh_fail "exit status $status, expected 1"; }
mh_expect_in "$log" 'plugin "start_fails" failed to start: start_fails: refusing to start (test)'
# order_a provides what start_fails requires: it started first and is stopped after the failure.
started=$(grep -nF "order_a: started" "$log" | cut -d: -f1)
failed=$(grep -nF 'plugin "start_fails" failed to start' "$log" | cut -d: -f1)
stopped=$(grep -nF "order_a: stopped" "$log" | cut -d: -f1)
[ -n "$started" ] && [ -n "$failed" ] && [ -n "$stopped" ] || { cat "$log" >&2; mh_fail "missing lifecycle lines"; }
[ "$started" -lt "$failed" ] && [ "$failed" -lt "$stopped" ] || { cat "$log" >&2; mh_fail "wrong order"; }
if grep -qF "start_fails: stopped" "$log"; then mh_fail "a plugin that never started was stopped"; fi
[ ! -e "$(mh_socket_of "$config")" ] || mh_fail "the admin socket was left behind"
mh_log "PASS"
