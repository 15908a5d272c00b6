#!/bin/bash
# The same sequence of POSIX operations (errno values, link counts, modes,
# rename rules, sticky directories, open-unlinked files, xattrs, an ordinary
# user's permissions) on a local directory and on the mount: the two
# transcripts must be identical.  First as an ordinary user (as_user) on a
# root-squashing server; then as root on a --no-root-squash server, for
# the steps only root can do (chown to another user, and acting as uid
# 1000 to check an ordinary user's permissions on root's files).
. "$(dirname "$0")/lib.sh"

tree() { (cd "$1" && find . -printf '%P %y %m %s %U %l\n' | sort); }
# same_tree LOCAL EXPORTDIR: the export holds exactly what the mount
# showed: same names, types, modes, sizes, owners, link targets, contents.
same_tree() {
	tree "$1" >"$T/local.tree"
	tree "$2" >"$T/export.tree"
	diff -u "$T/local.tree" "$T/export.tree" >"$T/tree.log" ||
		fail "export differs from the local result: $(cat "$T/tree.log")"
	(cd "$1" && find . -type f -print0) | while IFS= read -r -d '' f; do
		cmp -s "$1/$f" "$2/$f" || fail "content of $f differs"
	done || exit 1
}

# The user's run, in its directory u on the export.
mkdir "$EXPORT/u"
chown "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server
br_mount "$T/mnt"
br_posix_compare "$T/home1/local" "$T/mnt/u/cmp" as_user
same_tree "$T/home1/local" "$EXPORT/u/cmp"
br_umount "$T/mnt"
br_stop_server

# Root's run, unsquashed (see above), on a server of its own.
EXPORT=$T/export-root
STATE=$T/state-root
mkdir -p "$EXPORT" "$STATE"
br_start_server --no-root-squash
br_mount "$T/mnt-root"
br_posix_compare "$T/local" "$T/mnt-root/cmp"
same_tree "$T/local" "$EXPORT/cmp"
exit 0
