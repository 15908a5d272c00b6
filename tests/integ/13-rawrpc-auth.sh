#!/bin/bash
# 13-rawrpc-auth: who may do what -- root squash (default) and
# --no-root-squash, an ordinary user's permissions, source ports and
# --insecure, --allow, --read-only.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW=$top_srcdir/tests/integ/rawrpc.py
chmod 755 "$EXPORT"

# default: root squashed, reserved ports only
br_start_server
python3 "$RAW" "$PORT" creds "$EXPORT" squash || fail "creds (squash)"
python3 "$RAW" "$PORT" port refused || fail "unprivileged port not refused"
br_stop_server

rm -rf "${EXPORT:?}"/* && chmod 755 "$EXPORT"
br_start_server --no-root-squash --insecure
python3 "$RAW" "$PORT" creds "$EXPORT" nosquash || fail "creds (no squash)"
python3 "$RAW" "$PORT" port accepted || fail "--insecure did not accept"
br_stop_server

echo data >"$EXPORT/file"
br_start_server --read-only
python3 "$RAW" "$PORT" readonly || fail "read-only"
[ "$(cat "$EXPORT/file")" = data ] || fail "read-only export changed"
br_stop_server

br_start_server --allow 10.0.0.0/8,fd00::/8
python3 "$RAW" "$PORT" allow-refused || fail "--allow did not refuse"
wait_for 5 grep -q "refused connection from 127.0.0.1" "$T/brambled.log" ||
	fail "refused connection not logged"
exit 0
