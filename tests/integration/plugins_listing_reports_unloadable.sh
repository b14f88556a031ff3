#!/usr/bin/env bash
# `meshhost --plugins` lists every plugin found with its details, and every library that
# cannot load with the reason, without crashing or starting anything.
# usage: plugins_listing_reports_unloadable.sh MESHHOST MESHCTL TEST_PLUGIN_DIR
MESHHOST=$1 PLUGINS=$3
source "$(dirname "$0")/lib.sh"
mh_enter_world "$@"

out="$MH_TMP/plugins.out"
args=()
for case in good stripped abi2 newer_minor not_a_plugin; do args+=(--plugin-dir "$PLUGINS/$case"); done
"$MESHHOST" --plugins "${args[@]}" >"$out" 2>"$MH_TMP/plugins.err"
mh_expect_in "$out" "provides: good.service"
mh_expect_in "$out" "stripped"
mh_expect_in "$out" "cannot load: built for plugin ABI 2.x; this host speaks ABI 1.0"
mh_expect_in "$out" "cannot load: built for plugin ABI 1.1; this host speaks ABI 1.0 (upgrade meshhost)"
mh_expect_in "$out" "cannot load: not a meshhost plugin (no 'meshhost' ELF section)"
# not_a_plugin.so announces itself from a constructor: the loader must never dlopen a
# library that lacks the meshhost section.
if grep -qF "not_a_plugin: loaded" "$out" "$MH_TMP/plugins.err"; then mh_fail "the loader ran a library that is not a plugin"; fi

"$MESHHOST" --plugins --json "${args[@]}" >"$MH_TMP/plugins.json"
"$MH_PYTHON" - "$MH_TMP/plugins.json" <<'PY' || mh_fail "--plugins --json is not the expected JSON"
import json, sys
entries = json.load(open(sys.argv[1]))
good = [e for e in entries if e.get("name") == "good"]
assert good and good[0]["abi"] == "1.0" and good[0]["provides"] == ["good.service"], good
assert sum(1 for e in entries if "error" in e) == 3, entries
PY
mh_log "PASS"
