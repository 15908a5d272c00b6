#!/bin/bash
# 10-rpcinfo: the stock rpcinfo pings brambled (NULL, AUTH_NONE, any port)
# and hears "version mismatch" for version 2.
. "$(dirname "$0")/lib.sh"

command -v rpcinfo >/dev/null || skip "rpcinfo not installed (Debian package rpcbind)"
br_start_server
addr=127.0.0.1.$((PORT / 256)).$((PORT % 256))

out=$(rpcinfo -a "$addr" -T tcp 543322733 1 2>&1)
note "$out"
echo "$out" | grep -q "ready and waiting" || fail "version 1 not ready: $out"

out=$(rpcinfo -a "$addr" -T tcp 543322733 2 2>&1)
note "$out"
echo "$out" | grep -qi "mismatch\|not available" || fail "version 2 answered: $out"

out=$(rpcinfo -a "$addr" -T tcp 100003 3 2>&1)
echo "$out" | grep -qi "not available\|unavailable" || fail "NFS program answered: $out"

grep -q "listening on 127.0.0.1:$PORT" "$T/brambled.log" || fail "no 'listening on' line"
exit 0
