#!/bin/bash
# Close-to-open consistency between two mounts of one server: a file
# written and closed on one is read complete and current by a later open
# on the other (even inside the attribute timeout), and a file that did
# not change keeps its page cache (no READ reaches bramblefs), and a
# cold open+read of a small file costs the server exactly OPEN + READ.
# The files are an ordinary user's (as_user), in a 1777 export; the
# server squashes root.
. "$(dirname "$0")/lib.sh"

chmod 1777 "$EXPORT"
br_start_server --trace
br_mount "$T/a" -o attr_timeout=30,entry_timeout=30
br_mount "$T/b" -o attr_timeout=30,entry_timeout=30,trace
A=$T/a
B=$T/b
reads_b() { grep -c "trace read ino=" "$T/bramblefs.log"; }

# New file: complete on the other mount.
head -c 3000000 /dev/urandom >"$T/v1"
as_user cp "$T/v1" "$A/f" || fail "cp v1"
as_user cmp "$T/v1" "$B/f" || fail "new file incomplete on the other mount"

# Rewrites in place, growth and shrinking, each visible at the next open
# although both mounts cache attributes for 30 s.
for round in 1 2 3 4 5; do
	head -c $((1000000 + round * 300000)) /dev/urandom >"$T/v$round"
	# O_TRUNC + write, then close
	as_user sh -c 'cat "$1" >"$2"' - "$T/v$round" "$A/f" || fail "round $round: rewrite"
	as_user cmp "$T/v$round" "$B/f" || fail "round $round: B read stale data"
	# B writes a piece back; A sees it at its next open.
	printf 'B%05d' "$round" | as_user dd of="$B/f" bs=1 seek=1000 conv=notrunc status=none ||
		fail "round $round: write on B"
	printf 'B%05d' "$round" | dd of="$T/v$round" bs=1 seek=1000 conv=notrunc status=none
	as_user cmp "$T/v$round" "$A/f" || fail "round $round: A read stale data"
done
as_user sh -c ': >"$1"' - "$A/f" || fail "truncating on A"
# B's next open sees the truncation, and revalidates B's attributes: a
# stat after it gives the new size although B caches attributes 30 s.
[ -z "$(as_user cat "$B/f")" ] || fail "truncated file still has data on B"
sz=$(as_user stat -c %s "$B/f")
[ "$sz" = 0 ] || fail "B's size of the truncated file after its next open: $sz"

# Append on A, read the tail on B.
as_user sh -c 'seq 1 100000 >"$1"' - "$A/log" || fail "writing the log"
as_user tail -n 1 "$B/log" | grep -qx 100000 || fail "B did not see the whole log"
as_user sh -c 'seq 100001 100500 >>"$1"' - "$A/log" || fail "appending to the log"
as_user tail -n 1 "$B/log" | grep -qx 100500 || fail "B did not see the appended lines"

# Unchanged file keeps the page cache on B.
head -c 2000000 /dev/urandom | as_user dd of="$A/cached" bs=1M status=none || fail "writing cached"
as_user cmp "$A/cached" "$B/cached" || fail "cached file differs"
n1=$(reads_b)
as_user cmp "$A/cached" "$B/cached" || fail "cached file differs (2)"
as_user cat "$B/cached" >/dev/null
n2=$(reads_b)
[ "$n1" = "$n2" ] || fail "an unchanged file was read again from the server ($n1 -> $n2 READs)"
# ... and a change drops it.
printf 'changed' | as_user dd of="$A/cached" bs=1 seek=500000 conv=notrunc status=none ||
	fail "changing cached"
as_user dd if="$B/cached" bs=1 skip=500000 count=7 status=none | grep -qx changed ||
	fail "B kept stale pages after a change"
n3=$(reads_b)
[ "$n3" -gt "$n2" ] || fail "a changed file was not read again"

# A cold open+read costs OPEN + READ: LOOKUP's attributes are still what
# the kernel holds, so open must not invalidate them (a GETATTR).
# (GETATTRs of the file's own handle, the one OPEN names: anything else on
# this machine may stat the mount point, e.g. a Slurm Epilog walking every
# bramblefs mount, and that is not this open's cost.)
srv_ops() { sed -n "$(($1 + 1)),\$p" "$T/brambled.log" | grep -c "trace $2 "; }
file_getattrs() {
	local fh
	fh=$(sed -n "$(($1 + 1)),\$p" "$T/brambled.log" | sed -n 's/.*trace OPEN \(fh=[^ ]*\).*/\1/p' | head -1)
	sed -n "$(($1 + 1)),\$p" "$T/brambled.log" | grep -c "trace GETATTR ${fh:-fh=none} "
}
for i in 1 2 3; do
	head -c 3000 /dev/urandom >"$T/small$i"
	as_user cp "$T/small$i" "$A/" || fail "cp small$i"
done
br_mount "$T/d" -o attr_timeout=30,entry_timeout=30
as_user stat "$T/d" >/dev/null        # the root's attributes: not counted
for i in 1 2 3; do
	mark=$(wc -l <"$T/brambled.log")
	as_user cmp "$T/small$i" "$T/d/small$i" || fail "small$i differs on a cold mount"
	sleep 0.2                      # let the trace lines reach the log
	got="$(srv_ops "$mark" OPEN) $(srv_ops "$mark" READ) $(file_getattrs "$mark")"
	[ "$got" = "1 1 0" ] || fail "cold read of small$i: OPEN READ GETATTR = $got, want 1 1 0"
done
# ... and a change made elsewhere is still seen at the next open, which
# also leaves the kernel the new size (attributes cached 30 s or not).
printf 'XY' | as_user dd of="$A/small1" bs=1 seek=4000 conv=notrunc status=none || fail "growing small1"
as_user cmp "$A/small1" "$T/d/small1" || fail "grown file read short on the other mount"
sz=$(as_user stat -c %s "$T/d/small1")
[ "$sz" = 4002 ] || fail "the other mount's size of the grown file after its next open: $sz"

# A file replaced by rename (editors, git) is seen at the next lookup
# once the entry cache expires: use a mount with short timeouts.
br_mount "$T/c" -o attr_timeout=0.2,entry_timeout=0.2
as_user sh -c 'echo old >"$1"' - "$A/renamed" || fail "writing renamed"
as_user cat "$T/c/renamed" >/dev/null
as_user sh -c 'echo new >"$1.tmp" && mv "$1.tmp" "$1"' - "$A/renamed" || fail "replacing renamed"
sleep 0.3
[ "$(as_user cat "$T/c/renamed")" = new ] || fail "replaced file not seen after the entry timeout"
exit 0
