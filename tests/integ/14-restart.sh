#!/bin/bash
# 14-restart: a handle obtained before kill -9 still works after a restart
# (same state dir, same key); a new state dir (new key) makes it stale.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW=$top_srcdir/tests/integ/rawrpc.py
# The calls carry the ordinary user's credentials (rawrpc.py itself runs
# as root only to bind a reserved port); the server squashes root.
export RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID
mkdir -p "$EXPORT/a/b"
printf 'twelve bytes' >"$EXPORT/a/b/f"

br_start_server
fh=$(python3 "$RAW" "$PORT" handle a/b/f) || fail "no handle"
dh=$(python3 "$RAW" "$PORT" handle a/b) || fail "no dir handle"
[ "$(stat -c %a "$STATE/handle.key")" = 600 ] || fail "handle.key not 0600"
[ "$(stat -c %s "$STATE/handle.key")" = 32 ] || fail "handle.key not 32 bytes"
key=$(od -An -tx1 "$STATE/handle.key")
br_kill_server

br_restart_server
[ "$(python3 "$RAW" "$PORT" getattr "$fh")" = 12 ] || fail "file handle stale after restart"
python3 "$RAW" "$PORT" getattr "$dh" >/dev/null || fail "dir handle stale after restart"
[ "$(python3 "$RAW" "$PORT" handle a/b/f)" = "$fh" ] || fail "same object, different handle"
[ "$(od -An -tx1 "$STATE/handle.key")" = "$key" ] || fail "key changed"
if command -v sqlite3 >/dev/null; then
	[ "$(sqlite3 "$STATE/bramble.db" "select value from meta where key='schema_version'")" = 1 ] ||
		fail "meta table missing"
fi
br_stop_server

STATE=$T/state2
br_restart_server
python3 "$RAW" "$PORT" getattr "$fh" 2>/dev/null && fail "handle valid under a new key"
exit 0
