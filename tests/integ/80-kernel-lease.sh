#!/bin/bash
# 80-kernel-lease: the kernel keeps names and attributes the server
# watches for the mount for the rest of the lease, not for
# entry_timeout/attr_timeout (fuse/klease.h), and is told at once when
# they change (callbacks), when the lease runs out (changes behind
# brambled's back) and when the connection breaks.  Mount A uses the
# README's options (kernel timeouts 1 s); B is "another node".
#  a. a tree A made (cp -a) and walked: walked again after more than the
#     kernel timeouts, it costs no LOOKUP or GETATTR at all -- not to the
#     server, not even to bramblefs (its own counters); a second rsync -a
#     of it makes no LOOKUP or GETATTR call to the server;
#  b. B changes names, modes, contents and sizes, and makes a name A
#     found missing: A sees each change as soon as its callbacks are
#     handled, long before its kernel's times ran out; a mode change
#     bites at once for another user;
#  c. a change on the server's disk behind brambled's back is seen after
#     the lease (-o lease=2), not before the kernel times would have;
#  d. kill -9 and restart of brambled with the disk changed meanwhile: A
#     sees the new names and modes as soon as it noticed the break.
. "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || skip "rsync needed"
chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server

A=$T/a B=$T/b D=$T/d
br_mount "$A"
br_mount "$B"
br_mount "$D" -o lease=2
ctl() { sed -n "s/^$2=//p" "$1/.bramble"; }
# The LOOKUPs A's kernel sent bramblefs (answered by the server or from
# the lease), and the GETATTRs bramblefs sent the server.  (Not the
# GETATTRs answered from the lease: a read or a listing makes the kernel
# ask for a file's or a directory's atime at its next stat.)
asked() { echo $(( $(ctl "$1" lease.lookup_saved) + $(ctl "$1" rpc.LOOKUP.calls | sed 's/^$/0/') +
	$(ctl "$1" rpc.GETATTR.calls | sed 's/^$/0/') )); }
# kept CMD: CMD (as the user) twice, the kernel timeouts apart: the
# second time A's kernel asks nothing but the one name CMD uses in the
# mount's root (names in the root are kept entry_timeout only: taken
# back at a break, they would make every path wait for the server).
# Tried three times: anything on this machine may drop the kernel's
# caches meanwhile (drop_caches).
kept() {
	local try q0
	for try in 1 2 3; do
		as_user sh -c "$1" sh "$A" >/dev/null 2>&1
		sleep 1.5                       # past the kernel timeouts
		q0=$(asked "$A")
		as_user sh -c "$1" sh "$A" >/dev/null 2>&1
		[ "$(asked "$A")" -le $((q0 + 1)) ] && return 0
		note "the kernel asked $(( $(asked "$A") - q0 )) times (try $try)"
	done
	return 1
}
settled() {
	[ "$(ctl "$1" lease.objects_called)" -ge "$2" ] &&
		[ "$(ctl "$1" lease.notes_queued)" = 0 ]
}
# settle MNT N: MNT handled N callback objects and told its kernel.
settle() {
	wait_for 20 settled "$1" "$2" ||
		fail "$1 handled $(ctl "$1" lease.objects_called) callback objects, want $2"
}
[ "$(ctl "$A" lease.on)" = 1 ] || fail "callbacks not on for mount A"

# ---- a: a tree walked again costs nothing
SRC=$T/src
mkdir -p "$SRC"
chown "$BR_UID:$BR_GID" "$SRC"
as_user sh -c 'cd "$1" && for d in 1 2 3 4 5; do
	mkdir -p "d$d/sub"
	i=0; while [ $i -lt 30 ]; do
		printf "file %s %s\n" "$d" "$i" >"d$d/f$i"; i=$((i + 1))
	done
	printf "deep\n" >"d$d/sub/g"; ln -s f1 "d$d/link"
done' sh "$SRC" || fail "making the source tree"
nobj=$(find "$SRC" | wc -l)
as_user cp -a "$SRC" "$A/tree" || fail "cp -a onto the mount"
[ "$(as_user sh -c "cd '$A/tree' && find . -printf '%p %y %m %s %l\n' | sort")" = \
  "$(cd "$SRC" && find . -printf '%p %y %m %s %l\n' | sort)" ] || fail "the copy differs"
kept 'find "$1/tree" -printf "%p %m %s\n"' ||
	fail "A's kernel asked again for the names and attributes of a tree it had"
as_user rsync -a "$SRC/" "$A/copy/" || fail "rsync -a"
br_stats_snap "$T/r1"
as_user rsync -a --stats "$SRC/" "$A/copy/" >"$T/rsync.out" || fail "second rsync -a"
br_stats_snap "$T/r2"
grep -q 'Number of regular files transferred: 0' "$T/rsync.out" ||
	fail "the second rsync sent files: $(grep transferred "$T/rsync.out")"
# (A few: the copy's own name in the mount's root, kept entry_timeout.)
br_stats_delta "$T/r1" "$T/r2" "LOOKUP.calls <= 5" "GETATTR.calls <= 5"

# ---- b: B's changes are seen at once
as_user mkdir "$A/w"
for f in mode size name gone; do printf '%s\n' "$f" | as_user tee "$A/w/$f" >/dev/null; done
as_user chmod 644 "$A/w/mode"
kept 'stat -c "%n %a %s" "$1"/w/*; stat "$1/w/new"' ||
	fail "A's kernel did not keep w's names (new's absence too) and attributes"
! as_user stat "$A/w/new" 2>/dev/null || fail "new exists too early"
[ "$(as_user2 cat "$A/w/mode")" = mode ] || fail "user 2 cannot read mode on A"
# step CMD CHECK: A looks at everything in w (so its kernel holds it and
# the server watches it for A), B's user runs CMD, A handles the callback
# (one record per change), and then CHECK, run as A's user, holds.
look() {
	as_user stat -c '%n %a %s %Y' "$A"/w/* >/dev/null
	! as_user stat "$A/w/new" 2>/dev/null || [ -e "$EXPORT/w/new" ] || fail "A sees new too early"
}
step() {
	local n
	look
	n=$(ctl "$A" lease.objects_called)
	as_user sh -c "$1" sh "$B/w" || fail "on B: $1"
	wait_for 20 settled "$A" $((n + 1)) || fail "A was not told of: $1"
	as_user sh -c "$2" sh "$A/w" || fail "A after B's '$1': $2"
}
step 'chmod 600 "$1/mode"' '[ "$(stat -c %a "$1/mode")" = 600 ]'
! as_user2 cat "$A/w/mode" 2>/dev/null || fail "user 2 still reads w/mode on A after chmod 600"
step 'printf "a longer line than before\n" >"$1/size"' \
	'[ "$(stat -c %s "$1/size")" = 26 ] && [ "$(cat "$1/size")" = "a longer line than before" ]'
[ "$(as_user stat -c %Y "$A/w/size")" = "$(stat -c %Y "$EXPORT/w/size")" ] || fail "A's mtime of w/size"
step 'mv "$1/name" "$1/renamed"' '! stat "$1/name" 2>/dev/null && [ "$(cat "$1/renamed")" = name ]'
step 'rm "$1/gone"' '! stat "$1/gone" 2>/dev/null'
step 'printf "new\n" >"$1/new"' '[ "$(cat "$1/new")" = new ]'
[ "$(as_user ls "$A/w" | tr '\n' ' ')" = "mode new renamed size " ] ||
	fail "A's listing of w: $(as_user ls "$A/w" | tr '\n' ' ')"

# ---- c: behind brambled's back: after the lease (D: lease=2)
as_user mkdir "$D/back"
printf 'one\n' | as_user tee "$D/back/f" >/dev/null
as_user stat "$D/back/f" "$D/back/g" >/dev/null 2>&1
sleep 1.2                                       # past the kernel timeouts
printf 'three\n' >"$EXPORT/back/f"              # not through brambled
printf 'g\n' >"$EXPORT/back/g"
chown "$BR_UID:$BR_GID" "$EXPORT/back/g"
[ "$(as_user stat -c %s "$D/back/f")" = 4 ] || note "D saw the size early (allowed)"
sleep 1.2                                       # past the lease
[ "$(as_user stat -c %s "$D/back/f")" = 6 ] || fail "D's size of back/f after its lease"
[ "$(as_user cat "$D/back/g" 2>/dev/null)" = g ] || fail "D does not see back/g after its lease"

# ---- d: a broken connection takes back what the kernel kept
as_user mkdir "$A/r"
for f in x y; do printf '%s\n' "$f" | as_user tee "$A/r/$f" >/dev/null; done
as_user stat "$A/r/x" "$A/r/y" >/dev/null
! as_user stat "$A/r/z" 2>/dev/null || fail "z exists too early"
f0=$(ctl "$A" cb.forgets)
br_kill_server
mv "$EXPORT/r/x" "$EXPORT/r/z"
chmod 600 "$EXPORT/r/y"
br_restart_server
forgot() { [ "$(ctl "$A" cb.forgets)" -gt "$f0" ] && [ "$(ctl "$A" lease.notes_queued)" = 0 ]; }
wait_for 20 forgot || fail "A did not notice the break"
! as_user stat "$A/r/x" 2>/dev/null || fail "A still sees r/x after the break"
[ "$(as_user cat "$A/r/z" 2>/dev/null)" = x ] || fail "A does not see r/z after the break"
[ "$(as_user stat -c %a "$A/r/y")" = 600 ] || fail "A's mode of r/y after the break"
! as_user2 cat "$A/r/y" 2>/dev/null || fail "user 2 still reads r/y after the break"
[ "$(ctl "$A" lease.taken_back)" -gt 0 ] || fail "A took nothing back"
exit 0
