#!/bin/bash
# 27-drc-restart: non-idempotent calls whose reply was lost get the answer
# of their first execution, through the real client library, even when
# brambled was killed with SIGKILL and restarted in between.
#
# rpcproxy.py sits between bramblefs and brambled: it forwards one chosen
# call (exclusive CREATE, MKDIR, REMOVE, RENAME, LINK, RMDIR), swallows the
# server's reply and cuts the connection.  libbramble reconnects and re-sends
# the call (same XID, same client id); the proxy holds the new connection
# until the test has (for most cases) kill -9'd and restarted the server.
# The application (python3 on the mount) must see success, not EEXIST or
# ENOENT.  With --drc off the same sequence must fail: the test proves the
# cache, not luck.  The application and the files are an ordinary
# user's (as_user; the export is that user's directory), and the server
# squashes root.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"

CTL=$T/proxy
mkdir -p "$CTL"
# --insecure: the proxy forwards from a port of its own, not a reserved one.
SERVER_ARGS=(--insecure --trace)
chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server "${SERVER_ARGS[@]}"
python3 "$top_srcdir/tests/integ/rpcproxy.py" "$CTL" "$PORT" >>"$T/proxy.log" 2>&1 &
PROXY_PID=$!
br_on_cleanup "kill $PROXY_PID 2>/dev/null; wait $PROXY_PID 2>/dev/null"
wait_for 10 test -s "$CTL/port" || fail "rpcproxy did not start"
PPORT=$(cat "$CTL/port")
MNT=$T/mnt
br_mount "$MNT" -o "port=$PPORT,timeout=60"

cat >"$T/op.py" <<'EOF'
import os, sys
op, args = sys.argv[1], sys.argv[2:]
try:
    if op == "create":
        os.close(os.open(args[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    elif op == "mkdir":
        os.mkdir(args[0])
    elif op == "unlink":
        os.unlink(args[0])
    elif op == "rmdir":
        os.rmdir(args[0])
    elif op == "rename":
        os.rename(args[0], args[1])
    elif op == "link":
        os.link(args[0], args[1])
except OSError as e:
    print("%s: %s" % (op, e))
    sys.exit(3)
EOF

# lose PROC restart|keep OP ARGS...: run OP on the mount while the proxy
# loses the reply of its PROC call; restart the server (kill -9) or not
# before the client's reconnect goes through.  Sets OP_RC, OP_OUT.
lose() {
	local proc=$1 how=$2 pid
	shift 2
	rm -f "$CTL/cut" "$CTL/go"
	echo "$proc" >"$CTL/arm"
	as_user python3 "$T/op.py" "$@" >"$T/op.out" 2>&1 &
	pid=$!
	wait_for 20 test -e "$CTL/cut" || fail "$1: the proxy never saw proc $proc"
	if [ "$how" = restart ]; then
		br_kill_server
		br_restart_server "${SERVER_ARGS[@]}"
	fi
	touch "$CTL/go"
	OP_RC=0
	wait "$pid" || OP_RC=$?
	OP_OUT=$(cat "$T/op.out")
}

expect_ok() {
	[ "$OP_RC" = 0 ] || fail "$1: the application saw an error: $OP_OUT"
}

replays() { grep -c "trace $1 replayed" "$T/brambled.log"; }

# ---- reply lost, server killed -9 and restarted: answered from bramble.db
lose 10 restart create "$MNT/excl"
expect_ok "exclusive create across a restart"
[ -f "$EXPORT/excl" ] || fail "excl was not created"
[ "$(stat -c %u "$EXPORT/excl")" = "$BR_UID" ] || fail "excl is not the user's: $(stat -c %u "$EXPORT/excl")"
[ "$(replays CREATE)" -ge 1 ] || fail "the re-sent CREATE was not replayed"
grep -q "replies kept from the previous run" "$T/brambled.log" ||
	fail "the restarted server loaded no replies"

lose 11 restart mkdir "$MNT/dir"
expect_ok "mkdir across a restart"
[ -d "$EXPORT/dir" ] || fail "dir was not made"

# (fixtures made on the server's disk by the user, whose files they are)
as_user sh -c 'echo data >"$1"' - "$EXPORT/gone" || fail "making gone"
lose 14 restart unlink "$MNT/gone"
expect_ok "unlink across a restart"
[ ! -e "$EXPORT/gone" ] || fail "gone still exists"

as_user sh -c 'echo moved >"$1"' - "$EXPORT/from" || fail "making from"
lose 16 restart rename "$MNT/from" "$MNT/to"
expect_ok "rename across a restart"
[ ! -e "$EXPORT/from" ] && [ "$(cat "$EXPORT/to")" = moved ] || fail "rename went wrong"

# ---- reply lost, same server: answered from memory
lose 17 keep link "$MNT/to" "$MNT/to2"
expect_ok "link"
[ "$(stat -c %h "$EXPORT/to")" = 2 ] || fail "link count of to is not 2"

lose 15 keep rmdir "$MNT/dir"
expect_ok "rmdir"
[ ! -e "$EXPORT/dir" ] || fail "dir still exists"

for p in CREATE MKDIR REMOVE RENAME LINK RMDIR; do
	[ "$(replays $p)" -ge 1 ] || fail "no $p replay traced"
done
[ "$(grep -c "^re-sent:" "$T/proxy.log")" -ge 6 ] ||
	fail "the client did not re-send every lost call (see proxy.log)"

# ---- the control: without the cache the re-sent call runs twice
SERVER_ARGS=(--insecure --trace --drc off)
br_kill_server
br_restart_server "${SERVER_ARGS[@]}"
lose 10 restart create "$MNT/excl2"
[ "$OP_RC" = 3 ] && grep -q "File exists" <<<"$OP_OUT" ||
	fail "without the cache a lost CREATE reply should give EEXIST (rc $OP_RC: $OP_OUT)"
as_user sh -c 'echo x >"$1"' - "$EXPORT/gone2" || fail "making gone2"
lose 14 keep unlink "$MNT/gone2"
[ "$OP_RC" = 3 ] && grep -q "No such file" <<<"$OP_OUT" ||
	fail "without the cache a lost REMOVE reply should give ENOENT (rc $OP_RC: $OP_OUT)"

# The mount still works normally.
as_user sh -c 'echo fine >"$1"' - "$MNT/after" || fail "writing after"
[ "$(cat "$EXPORT/after")" = fine ] || fail "mount broken afterwards"
kill -0 "$SERVER_PID" || fail "brambled died"
exit 0
