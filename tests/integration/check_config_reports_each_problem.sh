#!/usr/bin/env bash
# --check-config validates the host's keys and every enabled plugin's section, one line
# per problem with its JSON path, and exits non-zero; a good config exits 0. Missing
# providers and cycles are reported the same way, before anything starts.
# usage: check_config_reports_each_problem.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 PLUGINS=$3
SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/lib.sh"
mh_enter_world "$@"

expect_problem() {  # expect_problem CONFIG LINE [PLUGIN_DIR]
  local out="$MH_TMP/check.err" status=0
  "$MESHHOST" --check-config "$1" ${3:+--plugin-dir "$3"} 2>"$out" >/dev/null || status=$?
  [ "$status" = 2 ] || { cat "$out" >&2; mh_fail "exit status $status for $1, expected 2"; }
  mh_expect_in "$out" "$2"
}

bad="$MH_TMP/bad.json"
cat >"$bad" <<'JSON'
{
  // two host problems and one plugin problem, all reported in one run
  "privateKey": "not-a-key",
  "logLevel": "chatty",
  "plugins": { "good": { "colour": "blue" }, "nothere": {} }
}
JSON
expect_problem "$bad" 'config: privateKey: expected 64 hexadecimal characters, got 9 characters that are not a key' "$PLUGINS/good"
expect_problem "$bad" 'config: logLevel: expected one of trace, debug, info, warn, error, got "chatty"' "$PLUGINS/good"
expect_problem "$bad" 'config: plugins.good: expected {} (this test plugin has no settings), got {"colour":"blue"}' "$PLUGINS/good"
expect_problem "$bad" 'config: plugins.nothere: expected a loadable plugin, got no plugin named "nothere" in the plugin directories' "$PLUGINS/good"
[ "$(grep -c '^config: ' "$MH_TMP/check.err")" = 4 ] || { cat "$MH_TMP/check.err" >&2; mh_fail "expected exactly 4 problem lines"; }

syntax="$MH_TMP/syntax.json"
printf '{\n  "privateKey": "x",\n  oops\n}\n' >"$syntax"
expect_problem "$syntax" 'config: (top level): expected valid JSON (comments allowed), got a syntax error at line 3, column 3'

missing="$MH_TMP/missing.json"
mh_write_config "$missing" '{ "needs_missing": {} }'
expect_problem "$missing" 'config: plugins: plugin "needs_missing" requires service "nobody.provides", which no enabled plugin provides; no plugin found provides it' "$PLUGINS/missing_provider"

cycle="$MH_TMP/cycle.json"
mh_write_config "$cycle" '{ "cycle_a": {}, "cycle_b": {} }'
expect_problem "$cycle" 'config: plugins: dependency cycle: cycle_a -> cycle_b -> cycle_a' "$PLUGINS/cycle"

# The provider exists but is not enabled: the message names it.
needs_a="$MH_TMP/needs_a.json"
mh_write_config "$needs_a" '{ "start_fails": {} }'
expect_problem "$needs_a" 'requires service "order.a", which no enabled plugin provides; enable "order_a" to provide it' "$PLUGINS/start_fails"

# "enabled": false turns a plugin off: its problems are not checked, nothing requires it.
off="$MH_TMP/off.json"
mh_write_config "$off" '{ "needs_missing": { "enabled": false } }'
"$MESHHOST" --check-config "$off" --plugin-dir "$PLUGINS/missing_provider" >/dev/null

for profile in relay client gateway; do
  "$MESHHOST" --genconf --profile "$profile" >"$MH_TMP/$profile.json"
  "$MESHHOST" --check-config "$MH_TMP/$profile.json" >/dev/null || mh_fail "the $profile profile does not check"
done
# The shipped configs check once their key file exists (mode 0600 enforced).
key="$MH_TMP/node.key"
(umask 077 && "$MESHHOST" --genkey >"$key")
for profile in relay client gateway meshpoint-pi; do
  sed "s|/etc/meshhost/node.key|$key|" "$SOURCE_DIR/configs/$profile.json" >"$MH_TMP/shipped-$profile.json"
  "$MESHHOST" --check-config "$MH_TMP/shipped-$profile.json" >/dev/null || mh_fail "configs/$profile.json does not check"
done
chmod 0644 "$key"
expect_problem "$MH_TMP/shipped-relay.json" "config: privateKeyFile: expected a key file with mode 0600 (readable by its owner only), owned by root or this user, got \"$key\" with mode 0644"

if "$MESHHOST" --genconf --profile nonsense >/dev/null 2>&1; then mh_fail "an unknown profile was accepted"; fi
mh_log "PASS"
