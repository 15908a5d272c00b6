#!/bin/bash
# 49-callbacks: the server calls back what clients cache (BR_CAP_CALLBACKS,
# server/watch.h, fuse/lease.h).
#  0. on the wire (cbcheck.py): who is told what, and when;
#  a. mount B with 60 s kernel timeouts sees at once -- no waiting for a
#     timeout -- what mount A changed: content and size of a rewritten
#     file, a rename, an unlink, a file created in a directory B listed;
#     and a directory B makes itself stays usable as a cwd;
#  b. a warm open/read/close loop over 500 unchanged files costs no OPEN,
#     GETATTR nor LOOKUP call at all (the mounts' own counters), on B and
#     on C whose kernel caches nothing (attr/entry_timeout=0: bramblefs
#     answers from its leases);
#  c. a change made on the server's disk behind brambled's back is seen
#     after the lease (-o lease=1), never called back;
#  d. kill -9 and restart of the server: B forgets everything it trusted
#     and reads what A wrote after the restart.
# The export is an ordinary user's, and everything done through the mounts
# is done as that user (as_user).  Root reads the mounts' counters (their
# .bramble, the test's sync points), changes the export behind the
# server's back, and runs cbcheck.py (reserved source ports; it calls with
# the user's credentials).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
INTEG=$top_srcdir/tests/integ
chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server

RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID python3 "$INTEG/cbcheck.py" "$PORT" ||
	fail "callbacks on the wire (cbcheck.py)"

A=$T/a B=$T/b C=$T/c D=$T/d
br_mount "$A"
br_mount "$B" -o attr_timeout=60,entry_timeout=60
br_mount "$C" -o attr_timeout=0,entry_timeout=0
br_mount "$D" -o attr_timeout=0,entry_timeout=0,lease=1

# put FORMAT FILE: the user writes printf FORMAT to FILE.
put() { as_user sh -c 'printf "$1" >"$2"' sh "$1" "$2" || fail "writing $2"; }
# readall MNT: the user reads many/f1 .. many/f500 on MNT, in order.
readall() {
	as_user sh -c 'i=1; while [ $i -le 500 ]; do cat "$1/many/f$i" || exit 1; i=$((i + 1)); done' sh "$1"
}
# ctl MNT KEY: a counter of the mount's .bramble.
ctl() { sed -n "s/^$2=//p" "$1/.bramble"; }
# settle MNT N: wait until MNT handled N callbacks in all and told its
# kernel about them: the test's sync point (the callbacks themselves are
# already in the mount's socket when the writer's close returns).
settled() {
	[ "$(ctl "$1" lease.objects_called)" -ge "$2" ] &&
		[ "$(ctl "$1" lease.notes_queued)" = 0 ]
}
settle() {
	wait_for 20 settled "$1" "$2" ||
		fail "$1 handled $(ctl "$1" lease.objects_called) callback objects, want $2"
}

[ "$(ctl "$B" lease.on)" = 1 ] || fail "callbacks not on for mount B"

# ---- a: B sees A's changes at once
as_user mkdir "$A/w"
put 'one\n' "$A/w/f"
put 'keep\n' "$A/w/old"
[ "$(as_user cat "$B/w/f")" = one ] || fail "B reads f"
as_user stat "$B/w/old" >/dev/null && as_user ls "$B/w" >/dev/null
! as_user stat "$B/w/new" 2>/dev/null || fail "new exists too early"
n=$(ctl "$B" lease.objects_called)
put 'version two, longer\n' "$A/w/f"
settle "$B" $((n + 1))
[ "$(as_user cat "$B/w/f")" = "version two, longer" ] ||
	fail "B read stale data after A's close: '$(as_user cat "$B/w/f")'"
[ "$(as_user stat -c %s "$B/w/f")" = 20 ] || fail "B's size of f: $(as_user stat -c %s "$B/w/f")"
n=$(ctl "$B" lease.objects_called)
as_user mv "$A/w/old" "$A/w/renamed"
settle "$B" $((n + 1))
! as_user stat "$B/w/old" 2>/dev/null || fail "B still sees the old name after a rename"
[ "$(as_user cat "$B/w/renamed")" = keep ] || fail "B does not see the new name"
n=$(ctl "$B" lease.objects_called)
as_user rm "$A/w/renamed"
settle "$B" $((n + 1))
! as_user stat "$B/w/renamed" 2>/dev/null || fail "B still sees an unlinked file"
# (B's kernel keeps listings of directories under callback: never stale)
! as_user ls "$B/w" | grep -qx renamed || fail "B's listing still has an unlinked file"
n=$(ctl "$B" lease.objects_called)
put 'new\n' "$A/w/new"
settle "$B" $((n + 1))
[ "$(as_user cat "$B/w/new" 2>/dev/null)" = new ] || fail "B does not see a file created by A"
as_user ls "$B/w" | grep -qx new || fail "B's listing lacks the new file"

# B's own changes are not passed back to its kernel (it made them): an
# invalidated entry is unhashed, and a shell that cd'ed into a directory
# B just made would lose its cwd (git init; cd repo).
as_user ls "$B/w" >/dev/null                     # B watches w
n=$(ctl "$B" lease.objects_called) k=$(ctl "$B" lease.kernel_notes)
as_user mkdir "$B/w/d1"
# The user's shell in it: cd, then (once the callback is handled) pwd.
as_user sh -c 'cd "$1" || exit 1; echo in; while [ ! -e "$2" ]; do sleep 0.05; done; /bin/pwd -P' \
	sh "$B/w/d1" "$T/cwd.go" >"$T/cwd.out" 2>&1 &
cwdpid=$!
wait_for 10 grep -qx in "$T/cwd.out" || fail "cannot cd into $B/w/d1: $(cat "$T/cwd.out")"
settle "$B" $((n + 1))
touch "$T/cwd.go"
wait "$cwdpid" && [ "$(sed 1d "$T/cwd.out")" = "$B/w/d1" ] ||
	fail "B's cwd broke after B made it: $(cat "$T/cwd.out")"
[ "$(ctl "$B" lease.kernel_notes)" = "$k" ] ||
	fail "B's own change was passed to its kernel"

# ---- b: a warm loop over 500 unchanged files: no OPEN, GETATTR, LOOKUP
as_user mkdir "$A/many"
as_user sh -c 'i=1; while [ $i -le 500 ]; do printf "file %d\n" $i >"$1/many/f$i"; i=$((i + 1)); done' \
	sh "$A" || fail "writing many/"
for m in "$B" "$C"; do readall "$m" >/dev/null; done    # cold: fetched
# The kernel may still be told of A's creations (its notes run on their
# own thread, and a directory's attributes it then drops are fetched
# again, once: a LOOKUP watches a directory without giving them): let
# them land, and warm up once more, directories included.
# (Functions, so wait_for reads the counters at each poll.)
notes_done() { [ "$(ctl "$1" lease.notes_queued)" = 0 ]; }
forgot_since() { [ "$(ctl "$1" cb.forgets)" -gt "$2" ]; }
for m in "$B" "$C"; do
	wait_for 20 notes_done "$m" || fail "$m: notes pending"
	as_user stat "$m" "$m/many" >/dev/null
	readall "$m" >/dev/null
done
# The metadata calls B and C made, from their own counters: a stat of a
# mount point by anything else on this machine (df, a desktop) is not
# theirs.  (READs are not counted: the kernel may drop cached pages under
# memory pressure.)
rpcs() {
	local n=0 m p
	for m in "$B" "$C"; do
		for p in OPEN GETATTR LOOKUP ACCESS; do
			n=$((n + $(ctl "$m" "rpc.$p.calls" | sed 's/^$/0/')))
		done
	done
	echo "$n"
}
mine() { ctl "$B" "rpc.$1.calls" | sed 's/^$/0/'; ctl "$C" "rpc.$1.calls" | sed 's/^$/0/'; }
r0=$(rpcs) o0=$(mine OPEN) g0=$(mine GETATTR) l0=$(mine LOOKUP)
s0=$(ctl "$C" lease.open_saved)
for m in "$B" "$C"; do
	readall "$m" >"$T/warm.out"
	[ "$(wc -l <"$T/warm.out")" = 500 ] || fail "warm loop on $m read $(wc -l <"$T/warm.out") lines"
done
r1=$(rpcs) o1=$(mine OPEN) g1=$(mine GETATTR) l1=$(mine LOOKUP)
note "warm loop, 2 x 500 files: $((r1 - r0)) OPEN/GETATTR/LOOKUP/ACCESS calls; C saved $(( $(ctl "$C" lease.open_saved) - s0 )) opens; in all $(ctl "$C" lease.lookup_saved) lookups, $(ctl "$C" lease.getattr_saved) getattrs"
[ "$o1" = "$o0" ] || fail "the warm loop made OPEN calls (B, C: $o0 -> $o1)"
[ "$g1" = "$g0" ] || fail "the warm loop made GETATTR calls (B, C: $g0 -> $g1)"
[ "$l1" = "$l0" ] || fail "the warm loop made LOOKUP calls (B, C: $l0 -> $l1)"
[ "$r1" = "$r0" ] || fail "the warm loop made $((r1 - r0)) metadata calls"
[ $(( $(ctl "$C" lease.open_saved) - s0 )) -ge 500 ] || fail "C did not answer its opens itself"
# ... and a changed file among them is still read fresh on C.
put 'changed\n' "$A/many/f7"
[ "$(as_user cat "$C/many/f7")" = changed ] || fail "C read a stale f7"

# ---- c: behind the server's back: seen after the lease (lease=1)
put 'disk one\n' "$A/w/disk"
[ "$(as_user cat "$D/w/disk")" = "disk one" ] || fail "D reads disk"
printf 'disk two!\n' >"$EXPORT/w/disk"       # not through brambled
sleep 1.5                                      # > the lease
[ "$(as_user cat "$D/w/disk")" = "disk two!" ] ||
	fail "D did not see a change behind the server's back after its lease"

# ---- d: server restart: B forgets what it trusted
[ "$(as_user cat "$B/w/f")" = "version two, longer" ] || fail "B reads f before the restart"
f0=$(ctl "$B" cb.forgets)
br_kill_server
br_restart_server
wait_for 20 forgot_since "$B" "$f0" ||
	fail "B did not forget after the server died"
put 'after restart\n' "$A/w/f"
[ "$(as_user cat "$B/w/f")" = "after restart" ] ||
	fail "B read stale data after a server restart: '$(as_user cat "$B/w/f")'"
# Callbacks work again on the new connection.
n=$(ctl "$B" lease.objects_called)
put 'and again\n' "$A/w/f"
settle "$B" $((n + 1))
[ "$(as_user cat "$B/w/f")" = "and again" ] || fail "B after a change following the restart"
exit 0
