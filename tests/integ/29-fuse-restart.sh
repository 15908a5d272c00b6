#!/bin/bash
# 29-fuse-restart: bramblefs itself dies (kill -9).  The kernel keeps a dead
# mount; the recovery the README and tools/systemd/bramblefs@.service use
# (detach it with fusermount3 -u -z, start bramblefs again) brings the same
# files back, and nothing written and closed before the crash is lost.
. "$(dirname "$0")/lib.sh"

br_start_server --no-root-squash
br_mount "$T/mnt"
mkdir "$T/mnt/d"
head -c 3000000 /dev/urandom >"$T/src"
cp "$T/src" "$T/mnt/d/file"
echo kept >"$T/mnt/d/small"
exec 3<"$T/mnt/d/small"                 # a file held open across the crash

kill -KILL "$FUSE_PID"
wait "$FUSE_PID" 2>/dev/null
# The dead mount: still in the table, every access fails at once.
grep -q " $T/mnt fuse" /proc/mounts || fail "dead mount vanished from /proc/mounts"
if ls "$T/mnt" >/dev/null 2>&1; then fail "a dead mount answered"; fi
cat <&3 >/dev/null 2>&1 && fail "a read on a dead mount succeeded"
exec 3<&-

# What bramblefs@.service does on restart.
fusermount3 -u -z "$T/mnt" || fail "could not detach the dead mount"
br_mount "$T/mnt"
cmp "$T/src" "$T/mnt/d/file" || fail "file differs after bramblefs restarted"
[ "$(cat "$T/mnt/d/small")" = kept ] || fail "small file lost"
echo more >>"$T/mnt/d/small"
[ "$(cat "$EXPORT/d/small")" = "$(printf 'kept\nmore')" ] || fail "write after recovery not on the server"
exit 0
