#!/bin/bash
# bramble ping / info against a server and through a mount; usage errors.
. "$(dirname "$0")/lib.sh"

br_start_server --no-root-squash

out=$("$BRAMBLE" ping -c 20 -q "127.0.0.1:$PORT") || fail "ping failed: $out"
echo "$out" | grep -Eq '^20 calls, 20 answered: min [0-9.]+ us, median [0-9.]+ us, max [0-9.]+ us$' ||
	fail "ping summary: $out"

out=$("$BRAMBLE" info "127.0.0.1:$PORT") || fail "info failed: $out"
echo "$out" | grep -q "^version: *brambled " || fail "info version: $out"
echo "$out" | grep -q "^export: *$EXPORT\$" || fail "info export: $out"
echo "$out" | grep -q "^protocol: *1, revision 5 (server speaks 1\.\.5)\$" || fail "info protocol: $out"
echo "$out" | grep -q "^max read/write: *1048576 bytes\$" || fail "info max: $out"

# Through a mount: the control file names the server.
br_mount "$T/mnt"
mkdir "$T/mnt/sub"
out=$("$BRAMBLE" ping -c 3 "$T/mnt/sub") || fail "ping via mount: $out"
echo "$out" | grep -q "127.0.0.1:$PORT" || fail "ping via mount did not reach the server: $out"
out=$("$BRAMBLE" info "$T/mnt") || fail "info via mount: $out"
echo "$out" | grep -q "^mount: *$T/mnt\$" || fail "info mount line: $out"
ls -a "$T/mnt" | grep -q '^\.bramble$' && fail ".bramble must not be listed by readdir"

# Errors: nobody listening, not a mount, bad usage.
"$BRAMBLE" ping -c 1 -t 1 127.0.0.1:1 >"$T/out" 2>&1 && fail "ping of a closed port succeeded"
grep -q "cannot connect to 127.0.0.1:1" "$T/out" || fail "no clear error: $(cat "$T/out")"
"$BRAMBLE" info "$T" >"$T/out" 2>&1 && fail "info of a plain directory succeeded"
grep -q "not in a bramble mount" "$T/out" || fail "no clear error: $(cat "$T/out")"
"$BRAMBLE" frobnicate >/dev/null 2>&1
[ $? = 2 ] || fail "unknown command must exit 2"
"$BRAMBLE" ping -c x 127.0.0.1 >/dev/null 2>&1
[ $? = 2 ] || fail "bad option must exit 2"

# rpcinfo sees the same server without rpcbind (AUTH_NONE NULL).
if command -v rpcinfo >/dev/null; then
	rpcinfo -a "127.0.0.1.$((PORT / 256)).$((PORT % 256))" -T tcp 543322733 1 |
		grep -q "ready and waiting" || fail "rpcinfo did not get an answer"
fi
exit 0
