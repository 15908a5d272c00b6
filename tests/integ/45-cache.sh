#!/bin/bash
# 45-cache: reads through the chunk index and the node cache.
# The server's counters say what crossed the wire: READ_CHUNK calls are
# chunks transferred.
#  - a cold read (no map on the server yet) is plain READs, whose chunks
#    the mount keeps in the node cache, once for a copy of the file (same
#    bytes: dedup); after a remount the node cache serves all;
#  - corrupted and truncated cache files are repaired on the fly, and the
#    reader never sees wrong bytes;
#  - a file rewritten on one mount (whole, or one chunk in place) and
#    closed is read new on another mount that had it cached; so is a
#    change made behind the server's back;
#  - the quota holds while reading more than it; cache=ram and cache=off;
#  - two mounts sharing one cache at once; kill -9 of bramblefs in the
#    middle of fetching leaves a cache that verifies and serves.
# Reads and writes through the mounts run as an ordinary user (as_user),
# whose files they are; root keeps the node cache (damaging its files,
# counting them, `bramble cache verify`), the mounts and the changes made
# behind the server's back.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
br_start_server

# expect_fetched BEFORE N WHAT: exactly N READ_CHUNKs since BEFORE.
expect_fetched() {
	local now
	now=$(br_calls 'READ_CHUNK*')
	[ "$((now - $1))" -eq "$2" ] || fail "$3: $((now - $1)) chunks fetched, want $2"
}
# same FILE REF WHAT: identical bytes, as the user reads them.
same() {
	as_user cmp -s "$1" "$2" || fail "$3: $1 differs from $2"
}
# cache_chunk_files DIR: the chunk files of a disk cache.
cache_chunk_files() {
	find "$1/chunks" -type f 2>/dev/null | sort
}
remount() {
	br_umount "$1"
	br_mount "$@"
}

# 5.5 MiB: six chunks of the default 1 MiB, the last one short.
head -c $((5 * 1048576 + 524288)) /dev/urandom >"$T/big.ref"
cp "$T/big.ref" "$EXPORT/big"
cp "$T/big.ref" "$EXPORT/big-copy"
chown "$BR_UID:$BR_GID" "$EXPORT/big" "$EXPORT/big-copy"   # the user's files
mkdir "$T/a" "$T/b"

# ---- cold read, dedup, warm after remount
# The server has no map of a file nobody read yet: the cold read is plain
# READs (no chunk transferred), which the server builds the map from, and
# the mount keeps their chunks in the node cache (hashed there).  Files
# changed less than 1 s before the server maps them are not trusted
# (racy timestamps, chunkidx.h): let them settle first.
ctl() { as_user awk -F= -v k="$2" '$1 == k { print $2 }' "$1/.bramble"; }
sleep 1.1
br_mount "$T/a"
c0=$(br_calls 'READ_CHUNK*')
same "$T/a/big" "$T/big.ref" "cold read"
expect_fetched "$c0" 0 "cold read of a 6-chunk file (plain READs)"
[ "$(ctl "$T/a" read.filled)" = 6 ] ||
	fail "read.filled is $(ctl "$T/a" read.filled) after a cold read, want 6"
same "$T/a/big-copy" "$T/big.ref" "read of the copy"
expect_fetched "$c0" 0 "the copy (plain READs too)"
[ "$(cache_chunk_files "$T/nodecache" | wc -l)" -eq 6 ] ||
	fail "the node cache holds $(cache_chunk_files "$T/nodecache" | wc -l) chunk files, want 6 (dedup: same chunks)"
remount "$T/a"
same "$T/a/big" "$T/big.ref" "warm read after a remount"
same "$T/a/big-copy" "$T/big.ref" "warm read of the copy after a remount"
expect_fetched "$c0" 0 "warm read after a remount"
# The mount's own counters (.bramble) agree: every byte from the cache.
[ "$(ctl "$T/a" read.bytes_from_server)" = 0 ] ||
	fail "read.bytes_from_server is $(ctl "$T/a" read.bytes_from_server) after a warm remount"
[ "$(ctl "$T/a" read.cache_hits)" -ge 6 ] ||
	fail "read.cache_hits is $(ctl "$T/a" read.cache_hits), want at least 6"
[ "$(ctl "$T/a" read.bytes_read)" = "$((2 * $(stat -c %s "$T/big.ref")))" ] ||
	fail "read.bytes_read is $(ctl "$T/a" read.bytes_read)"

# ---- corrupted and truncated cache files (root: the node cache is root's)
set -- $(cache_chunk_files "$T/nodecache")
printf 'garbage' | dd of="$1" bs=1 seek=1000 conv=notrunc status=none
truncate -s 4096 "$2"
remount "$T/a"
c0=$(br_calls 'READ_CHUNK*')
same "$T/a/big" "$T/big.ref" "read with a corrupted and a truncated cache file"
expect_fetched "$c0" 2 "repair of two bad cache files"
grep -qi "chunk" "$T/bramblefs.log" || fail "no warning about the bad cache files in the log"
remount "$T/a"
c0=$(br_calls 'READ_CHUNK*')
same "$T/a/big" "$T/big.ref" "read after the repair"
expect_fetched "$c0" 0 "read after the repair"

# ---- another node rewrites the file: never stale
BR_CACHE_DIR=$T/nodecache-b br_mount "$T/b" -o attr_timeout=3600,entry_timeout=3600
same "$T/b/big" "$T/big.ref" "mount b caches the file"
# A whole new content, written and closed on a.
head -c $((3 * 1048576)) /dev/urandom >"$T/big2.ref"
as_user cp "$T/big2.ref" "$T/a/big" || fail "cp onto a/big"
same "$T/b/big" "$T/big2.ref" "b after a rewrote the file"
# One chunk changed in place (size kept), on a.
cp "$T/big2.ref" "$T/big3.ref"
head -c 100 /dev/urandom | dd of="$T/big3.ref" bs=1 seek=$((1048576 + 77)) conv=notrunc status=none
as_user dd if="$T/big3.ref" of="$T/a/big" bs=1M skip=1 seek=1 count=1 conv=notrunc status=none ||
	fail "dd into a/big"
c0=$(br_calls 'READ_CHUNK*')
same "$T/b/big" "$T/big3.ref" "b after a changed one chunk in place"
expect_fetched "$c0" 1 "one changed chunk (the others are cached)"
# Behind the server's back: the export itself, same size.
cp "$T/big.ref" "$T/big4.ref"
printf 'behind its back' | dd of="$T/big4.ref" bs=1 seek=3000000 conv=notrunc status=none
cp "$T/big4.ref" "$EXPORT/big-copy"
touch -d '+1 second' "$EXPORT/big-copy"   # a new mtime even on a coarse clock
same "$T/b/big-copy" "$T/big4.ref" "b after a change behind the server's back"
same "$T/a/big-copy" "$T/big4.ref" "a after a change behind the server's back"
br_umount "$T/b"

# ---- two mounts on one cache, reading at once
BR_CACHE_DIR=$T/nodecache br_mount "$T/b"
for i in 1 2 3; do head -c $((2 * 1048576 + i)) /dev/urandom >"$EXPORT/f$i"; done
(for i in 1 2 3; do as_user cat "$T/a/f$i" >"$T/a-f$i" || exit 1; done) & pa=$!
(for i in 3 2 1; do as_user cat "$T/b/f$i" >"$T/b-f$i" || exit 1; done) & pb=$!
wait "$pa" || fail "reading on a"
wait "$pb" || fail "reading on b"
for i in 1 2 3; do
	same "$T/a-f$i" "$EXPORT/f$i" "f$i read on a"
	same "$T/b-f$i" "$EXPORT/f$i" "f$i read on b"
done
"$BRAMBLE" cache --dir "$T/nodecache" verify >"$T/verify.out" 2>&1 ||
	fail "the shared cache does not verify: $(cat "$T/verify.out")"
br_umount "$T/b"

# ---- the quota holds while reading more than it
head -c $((10 * 1048576)) /dev/urandom >"$EXPORT/ten"
BR_CACHE_DIR=$T/nodecache-q br_mount "$T/b" -o cache_size=3M
same "$T/b/ten" "$EXPORT/ten" "a read of 10 MiB through a 3 MiB cache"
used=$(find "$T/nodecache-q/chunks" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
[ "$used" -le $((3 * 1048576)) ] || fail "the 3 MiB cache holds $used bytes"
[ "$used" -gt 0 ] || fail "the 3 MiB cache holds nothing"
br_umount "$T/b"

# ---- cache=ram, cache=off
br_mount "$T/b" -o cache=ram
same "$T/b/ten" "$EXPORT/ten" "cache=ram"
br_umount "$T/b"
br_mount "$T/b" -o cache=off
c0=$(br_calls 'READ_CHUNK*')
same "$T/b/ten" "$EXPORT/ten" "cache=off"
expect_fetched "$c0" 0 "cache=off (plain reads)"
br_umount "$T/b"
br_mount_nowait "$T/b" -o cache=floppy
wait "$FUSE_PID" && fail "cache=floppy accepted"
grep -q "cache=floppy" "$T/bramblefs.log" || fail "no message naming cache=floppy"

# ---- kill -9 in the middle of fetching
head -c $((48 * 1048576)) /dev/urandom >"$EXPORT/large"
BR_CACHE_DIR=$T/nodecache-k br_mount "$T/b"
kpid=$FUSE_PID
(as_user cat "$T/b/large" >/dev/null 2>&1) & rpid=$!
wait_for 20 sh -c "[ \$(find '$T/nodecache-k/chunks' -type f 2>/dev/null | wc -l) -ge 2 ]" ||
	fail "no chunk was fetched"
kill -9 "$kpid"
wait "$rpid" 2>/dev/null
fusermount3 -u -z "$T/b" 2>/dev/null || umount -l "$T/b"
"$BRAMBLE" cache --dir "$T/nodecache-k" verify >"$T/verify.out" 2>&1 ||
	fail "the cache after kill -9 does not verify: $(cat "$T/verify.out")"
BR_CACHE_DIR=$T/nodecache-k br_mount "$T/b"
same "$T/b/large" "$EXPORT/large" "read after kill -9 mid-fetch"
echo "ok"
