#!/bin/bash
# A removed file's space comes back at once: brambled's fd cache and
# handle cache must not keep the removed inode open.  The export is a
# 4 MiB tmpfs; 3 MiB written, removed (or replaced by RENAME), then 3 MiB
# written again, without restarting anything: no ENOSPC.
. "$(dirname "$0")/lib.sh"

mount -t tmpfs -o size=4m,mode=0755 tmpfs "$EXPORT" 2>/dev/null ||
	skip "cannot mount a tmpfs"
br_on_cleanup 'umount "$EXPORT" || umount -l "$EXPORT"'
# An ordinary user writes and removes, in its directory u on the export;
# the server squashes root.
mkdir "$EXPORT/u"
chown "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server
br_mount "$T/mnt"
M=$T/mnt/u
E=$EXPORT/u

# put NAME WHAT: 3 MiB into the mount's NAME, after WHAT freed the space.
put() {
	as_user dd if=/dev/urandom of="$M/$1" bs=1M count=3 conv=fsync status=none ||
		fail "writing 3 MiB to $1 (after: $2)"
	# Read it back too: READs go through the fd cache as well.
	as_user cmp -s "$M/$1" "$E/$1" || fail "$1 differs in the export"
}

put a "nothing"
as_user rm "$M/a" || fail "rm a"
put b "rm"
# RENAME over b replaces it: its space must come back as well.
as_user sh -c 'echo small >"$1" && mv "$1" "$2"' - "$M/c" "$M/b" || fail "mv over"
put d "mv over"
[ "$(as_user cat "$M/b")" = small ] || fail "renamed file lost"
as_user rm "$M/d" || fail "rm d"
# A directory's cached handle goes with RMDIR (no space to speak of, but
# the same path): then the space of a file inside it came back too.
as_user mkdir "$M/dir" || fail "mkdir"
put dir/e "mkdir"
as_user rm "$M/dir/e" || fail "rm dir/e"
as_user rmdir "$M/dir" || fail "rmdir"
put f "rm, rmdir"
exit 0
