#!/bin/bash
# 63-state-lock: two brambled on one state directory: the second is
# refused at once (foreground and daemon mode), naming the directory and
# the first one's pid; the lock goes with the first (stop or kill -9).
. "$(dirname "$0")/lib.sh"

br_start_server
FIRST=$SERVER_PID

# second [ARGS]: a brambled on $STATE while $FIRST runs must exit 1.
second() {
	local rc
	timeout 20 "$BRAMBLED" --export "$EXPORT" --state "$STATE" --listen 127.0.0.1:0 \
		"$@" >"$T/second.log" 2>&1
	rc=$?
	[ "$rc" = 1 ] || fail "second brambled $*: exit $rc: $(cat "$T/second.log")"
	grep -q "state directory '$STATE' is in use by another brambled, pid $FIRST" \
		"$T/second.log" || fail "second brambled $*: $(cat "$T/second.log")"
}

second --foreground
second
kill -0 "$FIRST" || fail "the first brambled died"
"$BRAMBLE" ping -c 1 -t 5 "127.0.0.1:$PORT" >/dev/null || fail "the first brambled stopped answering"

# Stopped cleanly, or killed: the directory is free again.
br_stop_server
br_start_server
grep -qx "$SERVER_PID" "$STATE/brambled.lock" || fail "lock file: $(cat "$STATE/brambled.lock")"
br_kill_server
br_start_server
"$BRAMBLE" ping -c 1 -t 5 "127.0.0.1:$PORT" >/dev/null || fail "restart after kill -9"
exit 0
