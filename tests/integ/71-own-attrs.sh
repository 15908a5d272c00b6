#!/bin/bash
# 71-own-attrs: a mount's own changes come back with the attributes after
# them (BR_CAP_CB_ATTRS, server/watch.h), so it keeps trusting what it
# changed (fuse/lease.h) -- and stays right when others change it too.
#  0. on the wire (cbcheck.py --attrs): a client with the capability gets
#     its SELF notices with attributes (version 2 records) and hears of a
#     later change by another client; one without gets today's records;
#  a. cp -a of a tree of a few hundred files onto the mount, then rm -rf
#     of it, as the user: the kernel's GETATTR of the directory after each
#     create or remove is answered by bramblefs, so the server sees far
#     fewer GETATTRs than files (it saw about one per file before); the
#     copy is exact (contents, modes, sizes);
#  b. mount A keeps creating and removing in a directory (so it trusts it
#     with the attributes after its own changes) while mount B creates,
#     removes and chmods there: A's view of the directory and of B's files
#     (ls, mtime, links, mode, size) is the disk's right after, step by
#     step and with both running at once.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
INTEG=$top_srcdir/tests/integ
chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server

RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID python3 "$INTEG/cbcheck.py" --attrs "$PORT" ||
	fail "own changes' attributes on the wire (cbcheck.py --attrs)"

A=$T/a B=$T/b
br_mount "$A" -o attr_timeout=0,entry_timeout=0
br_mount "$B"
ctl() { sed -n "s/^$2=//p" "$1/.bramble"; }
[ "$(ctl "$A" lease.on)" = 1 ] || fail "callbacks not on for mount A"

# ---- a: cp -a and rm -rf cost few GETATTRs
SRC=$T/src
mkdir -p "$SRC"
chown "$BR_UID:$BR_GID" "$SRC"
as_user sh -c 'cd "$1" && for d in 1 2 3 4 5 6; do
	mkdir -p "d$d/sub"; chmod 750 "d$d/sub"
	i=0; while [ $i -lt 40 ]; do
		printf "file %s %s\n" "$d" "$i" >"d$d/f$i"; i=$((i + 1))
	done
	i=0; while [ $i -lt 10 ]; do
		head -c $((i * 1000)) /dev/urandom >"d$d/sub/g$i"; chmod 640 "d$d/sub/g$i"
		i=$((i + 1))
	done
	ln -s "f1" "d$d/link"
done' sh "$SRC" || fail "making the source tree"
nfiles=$(find "$SRC" | wc -l)
g0=$(br_calls GETATTR)
as_user cp -a "$SRC" "$B/tree" || fail "cp -a onto the mount"
g1=$(br_calls GETATTR)
listing() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort); }
[ "$(listing "$SRC")" = "$(listing "$EXPORT/tree")" ] || fail "the copy differs: modes, sizes or links"
diff -r "$SRC" "$EXPORT/tree" >/dev/null || fail "the copy's contents differ"
as_user rm -rf "$B/tree" || fail "rm -rf on the mount"
g2=$(br_calls GETATTR)
[ ! -e "$EXPORT/tree" ] || fail "rm -rf left $(find "$EXPORT/tree" | wc -l) objects"
note "$nfiles objects: GETATTR calls cp -a $((g1 - g0)), rm -rf $((g2 - g1))"
# Before: about one per object each (the directory after each change).
[ $((g1 - g0)) -le $((nfiles / 4)) ] || fail "cp -a: $((g1 - g0)) GETATTRs for $nfiles objects"
[ $((g2 - g1)) -le $((nfiles / 4)) ] || fail "rm -rf: $((g2 - g1)) GETATTRs for $nfiles objects"

# ---- b: A trusts what it changed, and hears of B's changes
as_user mkdir "$A/d" || fail "mkdir"
# view MNT: what MNT says of d and its entries; the disk's is view $EXPORT.
view() {
	as_user sh -c 'cd "$1/d" && stat -c "%n %y %h %a %s" . * 2>/dev/null | sort' sh "$1"
}
same() { [ "$(view "$A")" = "$(view "$EXPORT")" ]; }
# A's view must be the disk's at once; the callbacks are in A's socket
# when B's calls return, so allow only the time to handle them.
check() {
	wait_for 3 same || fail "$1: A sees
$(view "$A")
the disk has
$(view "$EXPORT")"
}
for i in 1 2 3 4 5 6 7 8 9 10; do
	as_user touch "$A/d/a$i" || fail "A creates a$i"
	as_user stat "$A/d" >/dev/null
	as_user sh -c 'echo b >"$1"' sh "$B/d/b$i" || fail "B creates b$i"
	check "after B created b$i"
	as_user chmod $((700 + i % 8 * 10 + 5)) "$B/d" || fail "B chmods d"
	check "after B's chmod of d"
	as_user rm "$A/d/a$i" && as_user stat "$A/d" >/dev/null
	as_user mkdir "$B/d/s$i" || fail "B makes s$i"
	check "after B made s$i"
	as_user sh -c 'echo longer >>"$1"' sh "$B/d/b$i"
	as_user chmod 600 "$B/d/b$i"
	check "after B changed b$i"
	as_user rm "$B/d/b$i" && as_user rmdir "$B/d/s$i"
	check "after B removed b$i and s$i"
done
as_user chmod 755 "$B/d"
# Both at once: A's loop changes d and reads it back; B's too.
as_user sh -c 'i=0; while [ $i -lt 150 ]; do
	touch "$1/d/x$i"; stat "$1/d" >/dev/null; rm "$1/d/x$i"; i=$((i + 1)); done' sh "$A" &
pa=$!
as_user sh -c 'i=0; while [ $i -lt 150 ]; do
	echo "$i" >"$1/d/y$i"; chmod $((600 + i % 2 * 40)) "$1/d/y$i"
	[ $((i % 3)) = 0 ] && rm "$1/d/y$i"; i=$((i + 1)); done' sh "$B" &
pb=$!
wait $pa || fail "A's loop"
wait $pb || fail "B's loop"
check "after both loops"
[ "$(as_user ls "$A/d" | wc -l)" = 100 ] || fail "A lists $(as_user ls "$A/d" | wc -l) entries, want 100"
[ "$(ctl "$A" lease.getattr_saved)" -gt 0 ] || fail "A answered no GETATTR itself"
exit 0
