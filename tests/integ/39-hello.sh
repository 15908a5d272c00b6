#!/bin/bash
# 39-hello: HELLO agrees on a protocol revision or refuses in words; the
# server's instance changes when it restarts, and libbramble notices it on
# its own reconnect (bramblefs logs it, the mount keeps working).  The
# mount's workload and `bramble info` run as an ordinary user; rawrpc.py
# stays root (reserved source ports).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW="python3 $top_srcdir/tests/integ/rawrpc.py"
mkdir "$EXPORT/u" && chown "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server

out=$($RAW "$PORT" hello 1 2) || fail "HELLO 1..2: $out"
note "$out"
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
has "$out" status=0 && has "$out" revision=2 || fail "HELLO 1..2 not agreed: $out"
inst1=$(echo "$out" | sed -n 's/.*instance=\([0-9]*\).*/\1/p')
out=$($RAW "$PORT" hello 1 9) || fail "HELLO 1..9: $out"
has "$out" status=0 && has "$out" revision=5 || fail "a newer client is not met at 5: $out"
inst2=$(echo "$out" | sed -n 's/.*instance=\([0-9]*\).*/\1/p')
[ "$inst1" = "$inst2" ] || fail "instance differs between connections of one run"

# No common revision, and a capability the server lacks: refused in words.
out=$($RAW "$PORT" hello 7 9) || fail "HELLO 7..9: $out"
has "$out" status=71 && has "$out" revision=0 || fail "not refused: $out"
case $out in *"no common protocol revision"*) ;; *) fail "no reason given: $out" ;; esac
out=$($RAW "$PORT" hello 1 2 0x4000) || fail "HELLO need: $out"
has "$out" status=71 || fail "missing capability not refused: $out"
case $out in *"lacks capabilities"*) ;; *) fail "no reason given: $out" ;; esac
grep -q 'HELLO from "rawrpc" refused' "$T/brambled.log" || fail "refusal not logged"

# The tools show what was agreed.
as_user "$BRAMBLE" info "127.0.0.1:$PORT" >"$T/info" || fail "bramble info"
grep -q "revision 5 (server speaks 1..5)" "$T/info" || fail "info: $(cat "$T/info")"
grep -q "capabilities:.* drc" "$T/info" || fail "info caps: $(cat "$T/info")"

# A restart gives a new instance; the mount's library sees it on redial.
br_mount "$T/mnt"
as_user sh -c "echo hello >$T/mnt/u/f" || fail "write on the mount"
br_kill_server
br_restart_server
out=$($RAW "$PORT" hello 1 2) || fail "HELLO after restart: $out"
inst3=$(echo "$out" | sed -n 's/.*instance=\([0-9]*\).*/\1/p')
[ "$inst3" != "$inst1" ] || fail "instance unchanged across a restart"
[ "$(as_user cat "$T/mnt/u/f")" = hello ] || fail "mount unusable after the restart"
grep -q "restarted (brambled" "$T"/bramblefs*.log || fail "bramblefs did not notice the restart"
exit 0
