#!/usr/bin/env bash
# `meshhost --import-cjdroute` turns a cjdroute.conf into a config that --check-config
# accepts with the real plugins: the same identity, the binds, and a filled-in ipTunnel
# carried into the "iptunnel" plugin's section. A file without a privateKey exits 2 with an
# `import: PATH: expected …, got …` line. With PART "shared", the same for cjdns's own
# cjdroute.conf in ../shared/testdata/cjdns instead (skipped, saying so, when that file is
# absent), so a missing file never hides whether the embedded cases passed.
# usage: import_cjdroute_passes_check_config.sh MESHHOST MESHCTL TEST_PLUGIN_DIR [embedded|shared]
MESHHOST=$1
PART=${4:-embedded}
SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/lib.sh"
mh_enter_world "$@"

KEY=874e75bc4b0fba04b1e44614484be551e93eeb964671200c23067977e65107c4
PUB=lzjxju6upk0zj14n99bxj7gwpc0226jllz2m2bn6q0u35zyxn310.k
ADDR=fc2d:19ef:5c07:aff7:6912:6e74:171f:a45d

import_and_check() {  # import_and_check CJDROUTE_CONF: imports, then --check-config on the result
  local out="$MH_TMP/imported.json"
  "$MESHHOST" --import-cjdroute "$1" >"$out" 2>"$MH_TMP/import.err" || { cat "$MH_TMP/import.err" >&2; mh_fail "import of $1 failed"; }
  chmod 0600 "$out"
  "$MESHHOST" --check-config "$out" >"$MH_TMP/check.out" 2>"$MH_TMP/check.err" ||
    { cat "$out" "$MH_TMP/check.err" >&2; mh_fail "--check-config rejects the import of $1"; }
  mh_expect_in "$MH_TMP/check.out" "OK"
  mh_expect_in "$out" "\"privateKey\": \"$KEY\""
  mh_expect_in "$out" "\"publicKey\": \"$PUB\""
  mh_expect_in "$out" "\"ipv6\": \"$ADDR\""
}

if [ "$PART" = shared ]; then
  conf="$SOURCE_DIR/../shared/testdata/cjdns/cjdroute.conf"
  [ -f "$conf" ] || mh_skip "cjdns's cjdroute.conf not found at $conf"
  import_and_check "$conf"
  mh_expect_in "$MH_TMP/imported.json" '"0.0.0.0:53557"'
  mh_expect_in "$MH_TMP/imported.json" '"[::]:53557"'
  mh_log "PASS"
  exit 0
fi

# A node with ipTunnel filled in, written the way cjdns writes (comments, trailing commas).
tunnel="$MH_TMP/tunnel.conf"
cat >"$tunnel" <<CONF
{
    // identity
    "privateKey": "$KEY",
    "publicKey": "$PUB",
    "ipv6": "$ADDR",
    "authorizedPasswords": [ { "password": "secret", "user": "north" }, ],
    "admin": { "bind": "127.0.0.1:11234", "password": "NONE" },
    "interfaces": {
        "UDPInterface": [ { "bind": "0.0.0.0:11234", "connectTo": {
            "192.0.2.7:11234": { "publicKey": "$PUB", "password": "pw", "login": "me", "peerName": "p" },
        } } ],
    },
    "router": {
        "interface": { "type": "TUNInterface", "tunDevice": "cjdns0" },
        /* the gateway's clients */
        "ipTunnel": {
            "allowedConnections": [
                { "publicKey": "$PUB", "ip4Address": "192.168.1.24", "ip4Prefix": 0, "ip4Alloc": 32,
                  "ip6Address": "2001:db8::3", "ip6Prefix": 0, "ip6Alloc": 64 },
            ],
            "outgoingConnections": [],
        },
    },
}
CONF
import_and_check "$tunnel"
mh_expect_in "$MH_TMP/imported.json" '"iptunnel": {'
! grep -q '"enabled": false' "$MH_TMP/imported.json" || mh_fail "the imported iptunnel section is switched off"
mh_expect_in "$MH_TMP/imported.json" '"ip4Address": "192.168.1.24"'
mh_expect_in "$MH_TMP/imported.json" '"name": "cjdns0"'
mh_expect_in "$MH_TMP/imported.json" '"192.0.2.7:11234": {'
mh_expect_in "$MH_TMP/import.err" 'import: warning: admin: '

# No privateKey: exit 2 and one line naming the path.
nokey="$MH_TMP/nokey.conf"
echo '{ "interfaces": {} }' >"$nokey"
status=0
"$MESHHOST" --import-cjdroute "$nokey" >/dev/null 2>"$MH_TMP/nokey.err" || status=$?
[ "$status" = 2 ] || { cat "$MH_TMP/nokey.err" >&2; mh_fail "exit status $status without a privateKey, expected 2"; }
mh_expect_in "$MH_TMP/nokey.err" "import: privateKey: expected the node's private key (64 hex characters), got nothing"

mh_log "PASS"
