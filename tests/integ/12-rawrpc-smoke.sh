#!/bin/bash
# 12-rawrpc-smoke: every procedure over raw RPC, compared with what the
# export directory holds afterwards; then many connections with hundreds of
# pipelined calls each.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
br_start_server --no-root-squash --trace
python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" smoke "$EXPORT" ||
	fail "smoke checks failed"
python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" stress "$EXPORT" ||
	fail "stress checks failed"
kill -0 "$SERVER_PID" || fail "brambled died"
grep -q "trace READ fh=[0-9a-f]\{8\} OK [0-9]*us" "$T/brambled.log" || fail "no trace lines"
br_stop_server
# under --enable-sanitizers, leaks and UB are reported at exit
grep -q "Sanitizer\|runtime error" "$T/brambled.log" && fail "sanitizer report in brambled.log"
exit 0
