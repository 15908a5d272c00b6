#!/bin/bash
# 19-drc: the duplicate-request cache.  MKDIR and REMOVE re-sent with the
# same XID and client id on a new connection (as libbramble does after a
# reconnect) get their first reply again instead of EEXIST / ENOENT; the
# same XID from another client id, or from a call without one, really runs.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
# The calls carry an ordinary user's credentials (rawrpc.py runs as root
# only to bind a reserved port), and the export is that user's directory;
# the server squashes root, as by default.
export RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID
chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server --trace
python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" drc "$EXPORT" ||
	fail "duplicate-request cache checks failed"
kill -0 "$SERVER_PID" || fail "brambled died"
grep -q "trace MKDIR replayed" "$T/brambled.log" || fail "no replay traced"

# The window between doing a call and storing its reply: killed there, a
# restarted server finds only the call's intent in bramble.db.  A re-sent
# CREATE/REMOVE must then succeed (the first run did it), not answer
# EEXIST/ENOENT.  The crash is made exact by killing brambled after the
# calls and deleting their reply rows (not the intents) from the table.
drop_rows() {           # drop_rows WHERE: delete drc rows, with the server dead
	python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("DELETE FROM drc WHERE " + sys.argv[2]).rowcount
db.commit()
print(n)' "$STATE/bramble.db" "$1"
}
RAW="python3 $top_srcdir/tests/integ/rawrpc.py"
$RAW "$PORT" drc-crash "$EXPORT" do || fail "calls before the crash"
br_kill_server
[ "$(drop_rows "xid >= 3235774465 AND xid <= 3235774466 AND length(reply) > 0")" = 2 ] ||
	fail "reply rows not found"
br_restart_server --trace
$RAW "$PORT" drc-crash "$EXPORT" resend || fail "a call done before the crash ran again"
grep -q "CREATE re-sent after a restart: already done" "$T/brambled.log" ||
	fail "settled CREATE not logged"
[ "$(stat -c %u "$EXPORT/crash-new")" = "$BR_UID" ] ||
	fail "crash-new owned by $(stat -c %u "$EXPORT/crash-new"), not the user's $BR_UID"
# Control: without the intents the re-sent calls really fail.
rm -f "$EXPORT/crash-new"
$RAW "$PORT" drc-crash "$EXPORT" do-lost || fail "calls before the second crash"
br_kill_server
[ "$(drop_rows "xid >= 3235774481 AND xid <= 3235774482")" = 4 ] ||
	fail "control rows not found"
br_restart_server --trace
$RAW "$PORT" drc-crash "$EXPORT" resend-lost || fail "control: calls without intents"
br_stop_server
# under --enable-sanitizers, leaks and UB are reported at exit
grep -q "Sanitizer\|runtime error" "$T/brambled.log" && fail "sanitizer report in brambled.log"
exit 0
