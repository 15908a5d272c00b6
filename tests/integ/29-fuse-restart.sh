#!/bin/bash
# 29-fuse-restart: bramblefs itself dies (kill -9).  The kernel keeps a dead
# mount; the recovery the README and dist/systemd/bramblefs@.service use
# (detach it with fusermount3 -u -z, start bramblefs again) brings the same
# files back, and nothing written and closed before the crash is lost.
# The files, and the process holding one open, are an ordinary user's
# (as_user), in a 1777 export; the server squashes root.  Restarting
# bramblefs is root's (as bramblefs@.service does).
. "$(dirname "$0")/lib.sh"

chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/mnt"
as_user mkdir "$T/mnt/d" || fail "mkdir d"
head -c 3000000 /dev/urandom >"$T/src"
as_user cp "$T/src" "$T/mnt/d/file" || fail "cp file"
as_user sh -c 'echo kept >"$1"' - "$T/mnt/d/small" || fail "writing small"
# The user's process holding a file open across the crash: it opens the
# file, says so, and once told reads through that descriptor.
H=$T/home1
as_user sh -c 'exec 3<"$1" || exit 1; : >"$2.ready"
	while [ ! -e "$2" ]; do sleep 0.05; done
	if cat <&3 >/dev/null 2>&1; then echo read; else echo failed; fi' - "$T/mnt/d/small" "$H/go" \
	>"$T/holder.out" 2>&1 &
HOLDER=$!
wait_for 20 test -e "$H/go.ready" || fail "the holder could not open small: $(cat "$T/holder.out")"

kill -KILL "$FUSE_PID"
wait "$FUSE_PID" 2>/dev/null
# The dead mount: still in the table, every access fails at once.
grep -q " $T/mnt fuse" /proc/mounts || fail "dead mount vanished from /proc/mounts"
if as_user ls "$T/mnt" >/dev/null 2>&1; then fail "a dead mount answered"; fi
touch "$H/go"
wait "$HOLDER" || fail "the holder failed: $(cat "$T/holder.out")"
[ "$(cat "$T/holder.out")" = failed ] || fail "a read on a dead mount: $(cat "$T/holder.out")"

# What bramblefs@.service does on restart.
fusermount3 -u -z "$T/mnt" || fail "could not detach the dead mount"
br_mount "$T/mnt"
as_user cmp "$T/src" "$T/mnt/d/file" || fail "file differs after bramblefs restarted"
[ "$(as_user cat "$T/mnt/d/small")" = kept ] || fail "small file lost"
as_user sh -c 'echo more >>"$1"' - "$T/mnt/d/small" || fail "append after recovery"
[ "$(cat "$EXPORT/d/small")" = "$(printf 'kept\nmore')" ] || fail "write after recovery not on the server"
exit 0
