#!/bin/bash
# A removed file's space comes back at once: brambled's fd cache and
# handle cache must not keep the removed inode open.  The export is a
# 4 MiB tmpfs; 3 MiB written, removed (or replaced by RENAME), then 3 MiB
# written again, without restarting anything: no ENOSPC.
. "$(dirname "$0")/lib.sh"

mount -t tmpfs -o size=4m,mode=0755 tmpfs "$EXPORT" 2>/dev/null ||
	skip "cannot mount a tmpfs"
br_on_cleanup 'umount "$EXPORT" || umount -l "$EXPORT"'
br_start_server --no-root-squash
M=$T/mnt
br_mount "$M"

# put NAME WHAT: 3 MiB into the mount's NAME, after WHAT freed the space.
put() {
	dd if=/dev/urandom of="$M/$1" bs=1M count=3 conv=fsync status=none ||
		fail "writing 3 MiB to $1 (after: $2)"
	# Read it back too: READs go through the fd cache as well.
	cmp -s "$M/$1" "$EXPORT/$1" || fail "$1 differs in the export"
}

put a "nothing"
rm "$M/a"
put b "rm"
# RENAME over b replaces it: its space must come back as well.
echo small >"$M/c"
mv "$M/c" "$M/b"
put d "mv over"
[ "$(cat "$M/b")" = small ] || fail "renamed file lost"
rm "$M/d"
# A directory's cached handle goes with RMDIR (no space to speak of, but
# the same path): then the space of a file inside it came back too.
mkdir "$M/dir"
put dir/e "mkdir"
rm "$M/dir/e"
rmdir "$M/dir"
put f "rm, rmdir"
exit 0
