# Shared by the integration scenarios: a private world to run in, temporary files removed
# on every exit path, bounded waits on conditions, and starting/stopping real meshhost
# processes. Source it, then call mh_enter_world "$@" first thing.

set -euo pipefail

MH_SKIP=77  # CTest's SKIP_RETURN_CODE for these tests

mh_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
mh_fail() { mh_log "FAIL: $*"; exit 1; }
mh_skip() { mh_log "SKIP: $*"; exit "$MH_SKIP"; }

# Re-runs this script inside its own network, mount and PID namespaces (DESIGN §9) when
# root, so nothing it starts can outlive it and no port it opens is seen outside; its
# /run/netns is a private tmpfs. Without root the scenario runs as it is: the host-only
# scenarios need no privileges and touch nothing but loopback and their temp directory.
mh_enter_world() {
  if [ -n "${MH_IN_WORLD:-}" ]; then
    ip link set lo up 2>/dev/null || true
    mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
  elif [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    export MH_IN_WORLD=1
    exec unshare --net --mount --pid --fork --kill-child --mount-proc "$0" "$@"
  else
    mh_log "not root: running without a private network namespace (this scenario needs none)"
  fi
  mh_make_tmp
}

# The scenario's temporary directory, made once the script runs where it will stay (after
# the re-exec above) and removed, with every process it started, on every exit path.
MH_PIDS=()
MH_TMP=
mh_make_tmp() {
  MH_TMP=$(mktemp -d /tmp/meshhost-it.XXXXXX)
  chmod 0755 "$MH_TMP"
  trap mh_cleanup EXIT
  trap 'mh_log "FAIL: interrupted by a signal"; exit 130' INT TERM
  # A command that fails under `set -e` outside mh_fail names itself, so no scenario can
  # end without saying why.
  set -E
  trap 'mh_log "FAIL: line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR
}
mh_cleanup() {
  local pid
  for pid in "${MH_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  [ -n "$MH_TMP" ] && rm -rf "$MH_TMP"
}

# The system's python3 where there is one: a version manager's shim in PATH can take
# seconds to start on a loaded machine, and scenarios call python3 in their polls.
MH_PYTHON=$(command -v /usr/bin/python3 || command -v python3 || true)

# mh_wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 50 ms until it succeeds
# or the deadline passes (then fails the test naming DESCRIPTION).
mh_wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || mh_fail "timed out after ${seconds}s waiting for $what"
    sleep 0.05
  done
}

# A fresh private key from the host's own generator.
mh_new_private_key() {
  "$MESHHOST" --genconf | sed -n 's/^ *"privateKey": "\([0-9a-f]*\)".*/\1/p'
}

# mh_write_config FILE PLUGINS_JSON [EXTRA_TOP_LEVEL_JSON]: a node config whose state,
# socket and key live under $MH_TMP.
mh_write_config() {
  local file=$1 plugins=$2 extra=${3:-}
  local name
  name=$(basename "$file" .json)
  mkdir -p "$MH_TMP/$name"
  cat >"$file" <<JSON
// written by $(basename "$0")
{
  "privateKey": "$(mh_new_private_key)",
  "stateDir": "$MH_TMP/$name/state",
  "admin": { "socket": "$MH_TMP/$name/admin.sock" },
  ${extra:+$extra,}
  "plugins": $plugins
}
JSON
  chmod 0600 "$file"
}

mh_socket_of() { sed -n 's/.*"socket": "\([^"]*\)".*/\1/p' "$1"; }

# mh_start_node CONFIG LOGFILE [ARGS...]: starts meshhost in the background; sets MH_PID.
mh_start_node() {
  local config=$1 log=$2
  shift 2
  "$MESHHOST" --config "$config" "$@" >"$log" 2>&1 &
  MH_PID=$!
  MH_PIDS+=("$MH_PID")
}

# mh_start_node_in NETNS CONFIG LOGFILE [ARGS...]: as mh_start_node, inside a namespace
# made with `ip netns add` (in this scenario's private /run/netns).
mh_start_node_in() {
  local netns=$1 config=$2 log=$3
  shift 3
  ip netns exec "$netns" "$MESHHOST" --config "$config" "$@" >"$log" 2>&1 &
  MH_PID=$!
  MH_PIDS+=("$MH_PID")
}

# mh_make_bridge NODE...: a namespace "lan" holding bridge br0 and, for each NODE, a
# namespace of that name whose eth0 (up, IPv6 without DAD) is a port of br0.
mh_make_bridge() {
  ip netns add lan
  ip -n lan link add br0 type bridge
  ip -n lan link set br0 up
  local n
  for n in "$@"; do
    ip netns add "$n"
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n "$n" link set lo up
    ip -n "$n" link add eth0 type veth peer name "port-$n" netns lan
    ip -n lan link set dev "port-$n" master br0 up
    ip -n "$n" link set eth0 up
  done
}

# mh_wait_exit PID SECONDS: waits for PID (a child of this shell) to exit; sets MH_STATUS.
mh_wait_exit() {
  local pid=$1 seconds=$2
  local deadline=$((SECONDS + seconds))
  while kill -0 "$pid" 2>/dev/null && ! mh_is_zombie "$pid"; do
    [ "$SECONDS" -lt "$deadline" ] || mh_fail "process $pid still running after ${seconds}s"
    sleep 0.05
  done
  MH_STATUS=0
  wait "$pid" || MH_STATUS=$?
}
mh_is_zombie() { [ "$(sed -n 's/^[0-9]* (.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

mh_expect_in() {  # mh_expect_in FILE TEXT
  grep -qF -- "$2" "$1" || { cat "$1" >&2; mh_fail "expected \"$2\" in $1"; }
}
