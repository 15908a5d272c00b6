#!/bin/bash
# 72-readpath: which way a mount reads a big file, as the server's
# counters see it (client/bramble_reader.h, "the read path";
# server/chunkscan.h).
#  - A cold read of a file the server has no map of starts at once: the
#    mount asks CHUNKMAP_KNOWN, which never hashes; nothing is hashed, no
#    CHUNKMAP is made, the bytes come by READ, and the server reads the
#    file once, building its map from those READs.
#  - The mount kept those READs' chunks: after a remount with the node
#    cache kept the file is read with no data call at all.
#  - A node with a cache of its own reads the file by chunks, by the map
#    the server built (READ_CHUNK; still nothing hashed).
#  - Small random O_DIRECT reads of that file on a node whose cache lacks
#    its chunks are READs: never whole chunks.
#  - Changed on one node, the file reads new on another that had it
#    cached (close-to-open).
# Reads as an ordinary user; the server squashes root.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MiB=1048576
SIZE=$((24 * MiB + 4321))       # 25 chunks of 1 MiB, the last short
NCH=25
head -c $SIZE /dev/urandom >"$T/big.ref"
cp "$T/big.ref" "$EXPORT/big"
chown "$BR_UID:$BR_GID" "$EXPORT/big"
# A map made less than 1 s after its file changed is not trusted (racy
# timestamps, chunkidx.h): let the file settle, so the counts are exact.
sleep 1.1
br_start_server --chunk-size $MiB
ctl() { as_user awk -F= -v k="$2" '$1 == k { print $2 }' "$1/.bramble"; }
same() { as_user cmp -s "$1" "$2" || fail "$3: $1 differs from $2"; }

# 1. Cold: streams at once, the server reads the file once.
br_mount "$T/a"
br_stats_snap "$T/s0.json"
same "$T/a/big" "$T/big.ref" "cold read"
br_stats_snap "$T/s1.json"
note "cold read of a $SIZE-byte file nobody mapped yet:"
br_stats_delta "$T/s0.json" "$T/s1.json" \
	"CHUNKMAP.calls == 0" \
	"CHUNKMAP_KNOWN.calls >= 1" \
	"READ_CHUNK*.calls == 0" \
	"READ.calls >= $NCH" \
	"chunk_files_hashed_total == 0" \
	"chunk_files_from_reads_total == 1" \
	"chunk_bytes_from_reads_total == $SIZE" \
	"disk.read_bytes >= $SIZE" \
	"disk.read_bytes <= $((SIZE + SIZE / 4))"
[ "$(ctl "$T/a" read.filled)" = $NCH ] ||
	fail "read.filled is $(ctl "$T/a" read.filled), want $NCH"

# 2. Warm from the node cache after a remount: no data call.
br_umount "$T/a"
br_mount "$T/a"
same "$T/a/big" "$T/big.ref" "read after a remount"
br_stats_snap "$T/s2.json"
note "the same file after a remount, node cache kept:"
br_stats_delta "$T/s1.json" "$T/s2.json" \
	"READ.calls == 0" \
	"READ_CHUNK*.calls == 0" \
	"CHUNKMAP.calls == 0" \
	"chunk_files_hashed_total == 0"
[ "$(ctl "$T/a" read.bytes_from_server)" = 0 ] ||
	fail "read.bytes_from_server is $(ctl "$T/a" read.bytes_from_server) after a remount"
[ "$(ctl "$T/a" read.cache_hits)" = $NCH ] ||
	fail "read.cache_hits is $(ctl "$T/a" read.cache_hits), want $NCH"

# 3. Another node (a cache of its own): chunks, by the server's map.
BR_CACHE_DIR=$T/nodecache-b br_mount "$T/b"
same "$T/b/big" "$T/big.ref" "read on a second node"
br_stats_snap "$T/s3.json"
note "the file on a second node:"
br_stats_delta "$T/s2.json" "$T/s3.json" \
	"READ_CHUNK*.calls == $NCH" \
	"READ.calls == 0" \
	"chunk_files_hashed_total == 0"
br_umount "$T/b"

# 4. Small random O_DIRECT reads on a node that lacks the chunks, several
# near each other: READs, no whole chunk.
BR_CACHE_DIR=$T/nodecache-c br_mount "$T/c"
as_user python3 - "$T/c/big" "$T/big.ref" <<'PY' || fail "random O_DIRECT reads"
import mmap, os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
ref = open(sys.argv[2], "rb").read()
buf = mmap.mmap(-1, 4096)
random.seed(70)
offs = [3 * 4096, 8192] + [random.randrange(1, len(ref) // 4096) * 4096 for _ in range(40)]
for off in offs:
    n = os.preadv(fd, [buf], off)
    if buf[:n] != ref[off:off + n]:
        sys.exit("wrong bytes at %d" % off)
PY
br_stats_snap "$T/s4.json"
note "42 random 4 KiB O_DIRECT reads on a node without the chunks:"
br_stats_delta "$T/s3.json" "$T/s4.json" \
	"READ_CHUNK*.calls == 0" \
	"READ.calls >= 42"

# 5. Changed on c, read on a (which cached it): the new bytes.
head -c 100 /dev/urandom >"$T/patch"
cp "$T/big.ref" "$T/big2.ref"
dd if="$T/patch" of="$T/big2.ref" bs=1 seek=$((5 * MiB + 7)) conv=notrunc status=none
as_user dd if="$T/patch" of="$T/c/big" bs=1 seek=$((5 * MiB + 7)) conv=notrunc status=none ||
	fail "dd into c/big"
same "$T/a/big" "$T/big2.ref" "a after c changed the file"
same "$T/c/big" "$T/big2.ref" "c after its own change"
br_umount "$T/c"
exit 0
