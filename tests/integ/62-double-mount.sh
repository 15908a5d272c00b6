#!/bin/bash
# 62-double-mount: bramblefs refuses to mount over a bramble mount (by
# absolute, relative or slash-ended path; with the first mount's server
# stopped; over an -o bg mount still waiting for its server), at once and
# saying what is there; mounting over another filesystem (tmpfs) is fine.
. "$(dirname "$0")/lib.sh"

br_start_server
chmod 777 "$EXPORT"     # before mounting: the mount caches its mode
M=$T/mnt
br_mount "$M"
FIRST=$FUSE_PID

# second_mount PATH [OPTS]: bramblefs on PATH in the foreground; it must
# fail within 3 s with the message (output in $T/second.log).
second_mount() {
	local t0 ms
	t0=$(date +%s%N)
	timeout 20 "$BRAMBLEFS" 127.0.0.1:/ "$1" -f \
		-o "port=$PORT,cache_dir=$T/nodecache${2:+,$2}" >"$T/second.log" 2>&1 &&
		fail "a second bramblefs mounted over $1"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -le 3000 ] || fail "the refusal of $1 took $ms ms"
	grep -q "$3 is already a bramble mount of 127.0.0.1:/; unmount it first" "$T/second.log" ||
		fail "no clear refusal for $1: $(cat "$T/second.log")"
}

second_mount "$M" "" "$M"
(cd "$T" && second_mount mnt "" "$M") || exit 1
second_mount "$M/" "" "$M"
[ "$(awk -v m="$M" '$2 == m' /proc/mounts | wc -l)" = 1 ] || fail "two mounts at $M: $(grep "$M" /proc/mounts)"
kill -0 "$FIRST" || fail "the first bramblefs died"
as_user sh -c "echo still >$M/f" && [ "$(cat "$EXPORT/f")" = still ] ||
	fail "the first mount no longer works"

# Its server stopped: the check does not touch the mount, so it is as quick.
kill -STOP "$SERVER_PID"
(second_mount "$M" "" "$M") || { kill -CONT "$SERVER_PID"; exit 1; }
kill -CONT "$SERVER_PID"

# An -o bg mount whose server is not there (yet): refused too, at once.
SAVED=$PORT
PORT=$(br_free_port)
br_mount_nowait "$T/bgmnt" -o bg
wait_for 10 br_mounted "$T/bgmnt" || fail "-o bg did not mount"
second_mount "$T/bgmnt" "" "$T/bgmnt"
PORT=$SAVED

# Over another filesystem: mounted as usual.
mkdir -p "$T/tmpfs"
mount -t tmpfs -o size=1m brtmp "$T/tmpfs" || skip "cannot mount a tmpfs"
br_on_cleanup "umount -l '$T/tmpfs'"
br_mount_nowait "$T/tmpfs"     # (mountpoint(1) is true already: the tmpfs)
tmpfs_covered() { grep -q " $T/tmpfs fuse.bramblefs " /proc/mounts; }
wait_for 20 tmpfs_covered || fail "bramblefs did not mount over a tmpfs: $(tail -3 "$T/bramblefs.log")"
as_user sh -c "echo over-tmpfs >$T/tmpfs/g" && [ "$(cat "$EXPORT/g")" = over-tmpfs ] ||
	fail "the mount over a tmpfs does not work"
exit 0
