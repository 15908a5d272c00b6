#!/bin/bash
# 81-lease-refetch: a tree walked again after its lease ran out
# (fuse/lease.h, lease_dir_refetch) costs a listing per directory, not a
# LOOKUP per name -- and still shows what changed behind brambled's back
# meanwhile (the lease bound), and what another mount changed (callbacks).
# Mount A: README options, -o lease=2; B is another node.
#  a. A makes 3 directories of 40 files (cp -a); after the lease, a stat
#     of every name (as rsync does) makes a few LOOKUPs per directory and
#     one READDIRPLUS per directory (not 120 LOOKUPs),
#     and what it shows is the disk's, although meanwhile a file was
#     rewritten, chmod'ed and removed on the server's disk and another
#     created there (not through brambled);
#  b. then B renames and rewrites: A sees it at once.
. "$(dirname "$0")/lib.sh"

chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server
A=$T/a B=$T/b
br_mount "$A" -o lease=2
br_mount "$B"
ctl() { sed -n "s/^$2=//p" "$1/.bramble"; }
[ "$(ctl "$A" lease.on)" = 1 ] || fail "callbacks not on for mount A"

SRC=$T/src
mkdir -p "$SRC"
chown "$BR_UID:$BR_GID" "$SRC"
as_user sh -c 'cd "$1" && for d in 1 2 3; do
	mkdir "d$d"
	i=0; while [ $i -lt 40 ]; do printf "%s %s\n" "$d" "$i" >"d$d/f$i"; i=$((i + 1)); done
done' sh "$SRC" || fail "making the source tree"
as_user cp -a "$SRC" "$A/tree" || fail "cp -a onto the mount"
# What the user sees on a mount, and on the disk.
view() { as_user sh -c 'cd "$1" && find . -printf "%p %y %m %s %T@\n" | sort' sh "$1"; }
[ "$(view "$A/tree")" = "$(view "$EXPORT/tree")" ] || fail "the copy differs on A"

# ---- a: after the lease, a listing per directory
sleep 2.5                                        # past A's lease
printf 'rewritten behind the server\n' >"$EXPORT/tree/d1/f3"
chmod 600 "$EXPORT/tree/d2/f4"
rm "$EXPORT/tree/d3/f5"
printf 'made behind the server\n' >"$EXPORT/tree/d3/new"
chown -R "$BR_UID:$BR_GID" "$EXPORT/tree"
# As rsync does: a stat of each name (no listing), here the disk's names.
paths=$(cd "$EXPORT/tree" && find . -mindepth 1 | sort)
stats() { (cd "$1" && as_user stat -c '%n %F %a %s %Y' $paths); }
br_stats_snap "$T/s1"
got=$(stats "$A/tree")
br_stats_snap "$T/s2"
[ "$got" = "$(stats "$EXPORT/tree")" ] ||
	fail "A after its lease differs from the disk: $(diff <(echo "$got") <(stats "$EXPORT/tree") | head -5)"
! as_user stat "$A/tree/d3/f5" 2>/dev/null || fail "A still sees d3/f5, removed on the disk"
[ "$(as_user cat "$A/tree/d1/f3")" = "rewritten behind the server" ] || fail "A reads the old d1/f3"
br_stats_delta "$T/s1" "$T/s2" "LOOKUP.calls <= 12" "READDIRPLUS.calls >= 3" "READDIRPLUS.calls <= 12"

# ---- b: another node's changes, seen at once
n=$(ctl "$A" lease.objects_called)
as_user mv "$B/tree/d1/f1" "$B/tree/d1/moved" || fail "mv on B"
printf 'changed on B\n' | as_user tee "$B/tree/d2/f2" >/dev/null || fail "write on B"
settled() { [ "$(ctl "$A" lease.objects_called)" -gt "$n" ] && [ "$(ctl "$A" lease.notes_queued)" = 0 ]; }
wait_for 20 settled || fail "A was not told of B's changes"
sleep 0.2                                        # the second callback, if apart
wait_for 20 settled || fail "A did not tell its kernel"
! as_user stat "$A/tree/d1/f1" 2>/dev/null || fail "A still sees d1/f1 after B moved it"
[ "$(as_user cat "$A/tree/d1/moved")" = "1 1" ] || fail "A does not see d1/moved"
[ "$(as_user cat "$A/tree/d2/f2")" = "changed on B" ] || fail "A reads the old d2/f2"
[ "$(as_user stat -c %s "$A/tree/d2/f2")" = 13 ] || fail "A's size of d2/f2"
exit 0
