#!/bin/bash
# 19-drc: the duplicate-request cache.  MKDIR and REMOVE re-sent with the
# same XID and client id on a new connection (as libbramble does after a
# reconnect) get their first reply again instead of EEXIST / ENOENT; the
# same XID from another client id, or from a call without one, really runs.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
br_start_server --no-root-squash --trace
python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" drc "$EXPORT" ||
	fail "duplicate-request cache checks failed"
kill -0 "$SERVER_PID" || fail "brambled died"
grep -q "trace MKDIR replayed" "$T/brambled.log" || fail "no replay traced"
br_stop_server
# under --enable-sanitizers, leaks and UB are reported at exit
grep -q "Sanitizer\|runtime error" "$T/brambled.log" && fail "sanitizer report in brambled.log"
exit 0
