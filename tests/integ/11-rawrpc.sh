#!/bin/bash
# 11-rawrpc: hostile calls over raw RPC -- bad names, escaping MOUNT paths,
# forged/tampered/foreign handles (including genuine-format handles with a
# valid MAC for directories outside the export), oversized fields and
# records, garbage -- all refused, the server still serving, and nothing
# beside the export touched.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
mkdir -p "$T/sentinel/deep" "$EXPORT/sub"
echo keep >"$T/sentinel/deep/file"
echo data >"$EXPORT/file"
ln -s ../sentinel "$EXPORT/escape"

# Root, unsquashed, on purpose: the hostile calls must be refused even
# to the strongest client (a squashed root or an ordinary user could be
# stopped by file permissions alone, hiding a missing check).
br_start_server --no-root-squash
python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" hostile "$EXPORT" "$T/sentinel" "$STATE" ||
	fail "hostile checks failed"
kill -0 "$SERVER_PID" || fail "brambled died"
grep -q "exceeds" "$T/brambled.log" || fail "oversized record not logged"
br_stop_server
# under --enable-sanitizers, leaks and UB are reported at exit
grep -q "Sanitizer\|runtime error" "$T/brambled.log" && fail "sanitizer report in brambled.log"
exit 0
