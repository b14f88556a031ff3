#!/usr/bin/env bash
# SIGHUP (and `meshctl reload`) re-read the config: a plugin's changed section is applied
# without a restart; a config with problems is refused as a whole, named, and the running
# one stays in force.
# usage: host_reload_applies_config.sh MESHHOST MESHCTL HELLO_PLUGIN_DIR
MESHHOST=$1 MESHCTL=$2 HELLO=$3
source "$(dirname "$0")/lib.sh"
mh_enter_world "$@"

config="$MH_TMP/node.json"
mh_write_config "$config" '{ "hello": { "greeting": "hi" } }'
socket=$(mh_socket_of "$config")
log="$MH_TMP/node.log"
mh_start_node "$config" "$log" --plugin-dir "$HELLO"
mh_wait_for 10 "the admin socket" test -S "$socket"

greet() { "$MESHCTL" --socket "$socket" call hello.greet '{"name":"mesh"}'; }
greet | grep -qF '"greeting": "hi, mesh"' || mh_fail "hello does not greet with its configured greeting"

sed -i 's/"greeting": "hi"/"greeting": "hey"/' "$config"
kill -HUP "$MH_PID"
mh_wait_for 10 "the new config applied" grep -qF 'plugin "hello" applied its new config' "$log"
greet | grep -qF '"greeting": "hey, mesh"' || mh_fail "SIGHUP did not apply the new greeting"

# A broken config is refused whole, with its problems; the node keeps running as it was.
sed -i 's/"greeting": "hey"/"greeting": 7/' "$config"
if "$MESHCTL" --socket "$socket" reload 2>"$MH_TMP/reload.err"; then mh_fail "a broken config was reloaded"; fi
mh_expect_in "$MH_TMP/reload.err" "reload refused:"
mh_expect_in "$MH_TMP/reload.err" "plugins.hello.greeting"
greet | grep -qF '"greeting": "hey, mesh"' || mh_fail "a refused reload changed the running config"

kill -TERM "$MH_PID"
mh_wait_exit "$MH_PID" 10
[ "$MH_STATUS" = 0 ] || { cat "$log" >&2; mh_fail "exit status $MH_STATUS, expected 0"; }
mh_log "PASS"
