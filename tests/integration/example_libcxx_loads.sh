#!/usr/bin/env bash
# Scenario: a third party builds examples/hello out of tree against the installed SDK with
# clang++ and libc++, strips it, and it loads into the g++/libstdc++ host, answers
# hello.greet over the admin socket, and stops cleanly on SIGTERM (DESIGN §2).
#
# usage: example_libcxx_loads.sh SOURCE_DIR BUILD_DIR MESHHOST MESHCTL
# Exits 77 (CTest: skipped) with a reason when clang++ or libc++ is missing.
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 SOURCE_DIR BUILD_DIR MESHHOST MESHCTL" >&2
  exit 2
fi
source_dir=$1 build_dir=$2 meshhost=$3 meshctl=$4

# The documented bound for a one-plugin node to open its admin socket, or to exit after
# SIGTERM, is well under 10 s; waits allow three times that.
readonly wait_deadline_s=30

skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*" >&2
  if [[ -s ${tmp:-}/meshhost.log ]]; then
    echo "--- meshhost log ---" >&2
    cat "$tmp/meshhost.log" >&2
  fi
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/meshhost-libcxx.XXXXXX")
host_pid=""
cleanup() {
  if [[ -n $host_pid ]]; then
    kill -KILL "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls `condition` (a command) every 0.1 s until it holds or the deadline passes.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + wait_deadline_s))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${wait_deadline_s}s waiting for $what"
    sleep 0.1
  done
}

# ---- what the scenario needs ----
command -v clang++ >/dev/null || skip "clang++ not found"
for tool in cmake strip readelf; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done
[[ -x $meshhost ]] || fail "meshhost not built: $meshhost"
[[ -x $meshctl ]] || fail "meshctl not built: $meshctl"
printf '#include <string>\nint main() { std::string s("libc++"); return s.size() == 6 ? 0 : 1; }\n' >"$tmp/probe.cpp"
clang++ -stdlib=libc++ "$tmp/probe.cpp" -o "$tmp/probe" 2>"$tmp/probe.log" && "$tmp/probe" \
  || skip "clang++ -stdlib=libc++ cannot build a program (install libc++-dev and libc++abi-dev)"

# ---- install the SDK and build the example as a third party would ----
echo "installing the SDK from $build_dir"
cmake --install "$build_dir" --prefix "$tmp/prefix" --component sdk >"$tmp/install.log" \
  || { cat "$tmp/install.log" >&2; fail "cmake --install of the sdk component failed"; }

echo "building examples/hello with clang++ and libc++"
CXX=clang++ cmake -S "$source_dir/examples/hello" -B "$tmp/hello-build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_CXX_FLAGS=-stdlib=libc++ \
  -DCMAKE_MODULE_LINKER_FLAGS=-stdlib=libc++ \
  -DCMAKE_SHARED_LINKER_FLAGS=-stdlib=libc++ \
  -DCMAKE_EXE_LINKER_FLAGS=-stdlib=libc++ >"$tmp/configure.log" 2>&1 \
  || { cat "$tmp/configure.log" >&2; fail "configuring examples/hello against the installed SDK failed"; }
cmake --build "$tmp/hello-build" --target hello -j2 >"$tmp/build.log" 2>&1 \
  || { cat "$tmp/build.log" >&2; fail "building examples/hello failed"; }

# The plugin directory must not be writable by others, or the host refuses it.
plugin_dir=$tmp/plugins
mkdir -m 0755 "$plugin_dir"
install -m 0644 "$tmp/hello-build/hello.so" "$plugin_dir/hello.so"
strip --strip-unneeded "$plugin_dir/hello.so"
chmod 0755 "$tmp"

needed=$(readelf -d "$plugin_dir/hello.so" | grep NEEDED || true)
grep -q 'libc++\.so' <<<"$needed" || fail "hello.so does not link libc++: $needed"
! grep -q 'libstdc++' <<<"$needed" || fail "hello.so links libstdc++: $needed"
readelf -S -W "$plugin_dir/hello.so" | grep -q ' meshhost ' || fail "hello.so has no meshhost section after strip"
! readelf -S -W "$plugin_dir/hello.so" | grep -q ' \.symtab ' || fail "hello.so still has a .symtab after strip"
exported=$(readelf -W --dyn-syms "$plugin_dir/hello.so" | awk '$7 != "UND" && $5 != "LOCAL" && NR > 3 { print $8 }' | sort -u)
[[ $exported == meshhost_plugin_v1 ]] || fail "hello.so exports more than its entry point: $(echo $exported)"

# ---- run a node with it ----
"$meshhost" --genconf >"$tmp/genconf.jsonc" 2>"$tmp/genconf.err" || fail "meshhost --genconf failed: $(cat "$tmp/genconf.err")"
private_key=$(grep -o '"privateKey"[[:space:]]*:[[:space:]]*"[0-9a-fA-F]\{64\}"' "$tmp/genconf.jsonc" \
  | grep -o '[0-9a-fA-F]\{64\}' | head -n1 || true)
[[ -n $private_key ]] || fail "no privateKey in meshhost --genconf output"

socket=$tmp/admin.sock
cat >"$tmp/node.json" <<EOF
// Written by example_libcxx_loads.sh: one node, only the hello plugin.
{
  "privateKey": "$private_key",
  "stateDir": "$tmp/state",
  "admin": { "socket": "$socket" },
  "plugins": {
    "hello": { "enabled": true, "greeting": "Hi from libc++" }
  }
}
EOF
chmod 0600 "$tmp/node.json"
mkdir -m 0700 "$tmp/state"

"$meshhost" --check-config "$tmp/node.json" --plugin-dir "$plugin_dir" >"$tmp/check.log" 2>&1 \
  || { cat "$tmp/check.log" >&2; fail "meshhost --check-config refused the test config"; }

echo "starting meshhost with $plugin_dir/hello.so"
"$meshhost" --config "$tmp/node.json" --plugin-dir "$plugin_dir" --log-level debug >"$tmp/meshhost.log" 2>&1 &
host_pid=$!

# kill -0 cannot tell: an exited child stays a zombie until wait reaps it.
host_running() {
  local state
  state=$(awk '{ print $3 }' "/proc/$host_pid/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}
socket_ready() {
  host_running || fail "meshhost exited before opening its admin socket"
  [[ -S $socket ]]
}
wait_for "the admin socket $socket" socket_ready

greet() { "$meshctl" --socket "$socket" call hello.greet "$1"; }
json_has() {  # json_has TEXT KEY VALUE-REGEX: "KEY": VALUE somewhere in TEXT
  grep -Eq "\"$2\"[[:space:]]*:[[:space:]]*$3" <<<"$1"
}

reply=$(greet '{"name":"test"}') || fail "meshctl call hello.greet failed"
echo "hello.greet -> $reply"
json_has "$reply" greeting '"Hi from libc\+\+, test"' || fail "unexpected greeting: $reply"
json_has "$reply" address '"fc[0-9a-f]{2}(:[0-9a-f]{4}){7}"' || fail "no fc00::/8 address in: $reply"
json_has "$reply" count '1([^0-9]|$)' || fail "first greeting does not count 1: $reply"

reply=$(greet '{"name":"again"}') || fail "second hello.greet failed"
json_has "$reply" count '2([^0-9]|$)' || fail "second greeting does not count 2: $reply"

# An error from the plugin crosses the boundary as a Status and reaches the caller.
if greet '{"name":5}' >"$tmp/bad.out" 2>"$tmp/bad.err"; then
  fail "hello.greet accepted a numeric name: $(cat "$tmp/bad.out")"
fi
grep -q 'expected a string' "$tmp/bad.err" || fail "meshctl did not show the plugin's error: $(cat "$tmp/bad.err")"

echo "stopping meshhost"
kill -TERM "$host_pid"
host_exited() { ! host_running; }
wait_for "meshhost to exit after SIGTERM" host_exited
status=0
wait "$host_pid" || status=$?
host_pid=""
((status == 0)) || fail "meshhost exited with status $status after SIGTERM"
grep -q 'stopped after 2 greetings' "$tmp/meshhost.log" || fail "hello did not log its stop"

echo "PASS: libc++ hello plugin loaded, answered and stopped"
