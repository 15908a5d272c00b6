#!/bin/bash
# 47-hotcache: the server's hot-chunk cache (--cache-mem, chunkcache.h).
# Eight readers at once (chunkcli: CHUNKMAP + READ_CHUNK of every chunk,
# bytes checked) of a 6 MiB file: the STATS counters show the file was
# hashed once and its chunks read from disk once (misses == chunks, hits
# == 7 x chunks, READ_CHUNK disk bytes == file size); a small file's
# chunks enter the cache while it is hashed, so its readers never read it
# again; a change behind the server's back gives ESTALE for the old
# version's chunk (though its bytes are still in the cache), the unchanged
# chunks of the old version still read, and the new map reads the new
# bytes; `bramble stats' shows the counters as a table, JSON and
# Prometheus text; with --cache-mem 0 every READ_CHUNK reads the disk.
# The server squashes root (the default); `bramble stats` runs as an
# ordinary user (STATS is anyone's), the raw checks call with that user's
# credentials.  chunkcli (libbramble) and the python processes stay root:
# they bind reserved source ports (no --insecure), and the change behind
# the server's back is made on the server's side.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MiB=1048576
SIZE=$((6 * MiB + 12345))       # 7 chunks of 1 MiB, the last short
NCH=7
head -c $SIZE /dev/urandom >"$EXPORT/big"
head -c 100000 /dev/urandom >"$EXPORT/small"
# An entry hashed less than 1 s after its file changed is not trusted
# (racy timestamps, chunkidx.h): the cache would not answer for it.  Let
# the files settle so the counts below are exact.
sleep 1.1
br_start_server --cache-mem 32M --chunk-size $MiB --threads 4
grep -q "hot-chunk cache: 32.0 MiB" "$T/brambled.log" || fail "no cache size logged"

# readers N NAME: N chunkcli readers of NAME at once, each checking bytes.
readers() {
	local n=$1 name=$2 pids="" i
	for i in $(seq "$n"); do
		"$top_builddir/tests/integ/chunkcli" "$PORT" "$name" "$EXPORT/$name" read \
			>"$T/reader.$i" 2>&1 &
		pids="$pids $!"
	done
	i=0
	for p in $pids; do
		i=$((i + 1))
		wait "$p" || fail "reader $i of $name: $(cat "$T/reader.$i")"
		grep -q "^chunks " "$T/reader.$i" || fail "reader $i: $(cat "$T/reader.$i")"
	done
}

# 1. Eight readers of a 6 MiB file, cold: one hashing, one disk read per chunk.
br_stats_snap "$T/s0.json"
readers 8 big
br_stats_snap "$T/s1.json"
note "8 readers of a $SIZE-byte file ($NCH chunks), --cache-mem 32M:"
br_stats_delta "$T/s0.json" "$T/s1.json" \
	"READ_CHUNK*.calls == 8*$NCH" \
	"chunk_cache_misses_total == $NCH" \
	"chunk_cache_hits_total == 7*$NCH" \
	"chunk_cache_hit_bytes_total == 7*$SIZE" \
	"chunk_reads_total == $NCH" \
	"chunk_read_bytes_total == $SIZE" \
	"chunk_files_hashed_total == 1" \
	"chunk_hashed_bytes_total == $SIZE" \
	"disk.read_bytes == 2*$SIZE" \
	"now:chunk_cache_entries == $NCH" \
	"now:chunk_cache_used_bytes >= $SIZE" \
	"now:chunk_cache_used_bytes <= 32*$MiB" \
	"now:chunk_cache_bound_bytes == 32*$MiB"

# 2. A small file: its chunk is kept while it is hashed; no READ_CHUNK
# reads the disk for it.
readers 8 small
br_stats_snap "$T/s2.json"
note "8 readers of a 100000-byte file (kept while hashed):"
br_stats_delta "$T/s1.json" "$T/s2.json" \
	"chunk_cache_misses_total == 0" \
	"chunk_cache_hits_total == 8" \
	"chunk_reads_total == 0" \
	"chunk_files_hashed_total == 1" \
	"disk.read_bytes == 100000"

# 3. A change behind the server's back: chunk 0 of the old version is
# still in the cache, but READ_CHUNK of it is ESTALE; an unchanged chunk of
# the old version reads; the new map reads the new bytes.
RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID python3 - "$top_srcdir/tests/integ" "$PORT" "$EXPORT/big" \
	<<'EOF' || fail "ESTALE after a change"
import sys
sys.path.insert(0, sys.argv[1])
from rawrpc import Client, check, FAILS
port, path = int(sys.argv[2]), sys.argv[3]
ESTALE, MiB = 116, 1 << 20
c = Client(port)
st, root, _ = c.mount("")
st, fh, _ = c.lookup(root, "big")
st, m = c.chunkmap(fh)
check(st == 0 and len(m["hashes"]) == 7, "map of big: %s" % st)
v1, h1 = m["version"], m["hashes"]
st, d = c.read_chunk(fh, h1[0], 0, v1)
check(st == 0 and d == open(path, "rb").read(MiB), "chunk 0 before the change")
with open(path, "r+b") as f:
    f.write(b"changed behind the server's back")
new = open(path, "rb").read()
st, _ = c.read_chunk(fh, h1[0], 0, v1)
check(st == ESTALE, "old chunk 0 after the change -> ESTALE (%s)" % st)
st, d = c.read_chunk(fh, h1[1], 1, v1)
check(st == 0 and d == new[MiB:2 * MiB], "unchanged chunk 1 of the old version (%s)" % st)
st, m = c.chunkmap(fh)
check(st == 0 and m["version"] > v1 and m["hashes"][0] != h1[0]
      and m["hashes"][1:] == h1[1:], "new map: new version, new hash of chunk 0 only")
st, d = c.read_chunk(fh, m["hashes"][0], 0, m["version"])
check(st == 0 and d == new[:MiB], "new chunk 0 has the new bytes (%s)" % st)
st, _ = c.read_chunk(fh, h1[0], 0, v1)
check(st == ESTALE, "old chunk 0 still ESTALE (%s)" % st)
sys.exit(1 if FAILS else 0)
EOF

# 4. The table and Prometheus text show the cache.
as_user "$BRAMBLE" stats "127.0.0.1:$PORT" >"$T/table" || fail "bramble stats"
grep -E "^chunk cache: [0-9]+ hits, [0-9]+ misses" "$T/table" ||
	fail "no chunk cache line: $(cat "$T/table")"
grep -Eq "^chunk index: [0-9]+ files hashed" "$T/table" || fail "no chunk index line: $(cat "$T/table")"
as_user "$BRAMBLE" stats --prometheus "127.0.0.1:$PORT" >"$T/prom" || fail "bramble stats --prometheus"
grep -q "^# TYPE bramble_server_chunk_cache_hits_total counter" "$T/prom" || fail "prometheus TYPE"
grep -q "^# TYPE bramble_server_chunk_cache_used_bytes gauge" "$T/prom" || fail "prometheus gauge"
grep -Eq "^bramble_server_chunk_cache_hits_total\{server=\"[^\"]+\"\} [0-9]+$" "$T/prom" ||
	fail "prometheus sample: $(grep chunk_cache_hits "$T/prom")"

# The wire: STATS flags 0 is exactly the older reply (rawrpc checks every
# byte is decoded), BR_STATS_COUNTERS appends the named list, other flags
# are refused.
RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID python3 - "$top_srcdir/tests/integ" "$PORT" \
	<<'EOF' || fail "STATS on the wire"
import sys
sys.path.insert(0, sys.argv[1])
from rawrpc import Client, check, FAILS
c = Client(int(sys.argv[2]))
st, d = c.stats(0)
check(st == 0 and "counters" not in d, "STATS flags 0: the older reply (%s)" % st)
st, d = c.stats(1)
check(st == 0 and d["counters"]["chunk_cache_bound_bytes"] == 32 << 20
      and d["counters"]["chunk_cache_hits_total"] >= 57,
      "STATS BR_STATS_COUNTERS: named counters (%s)" % (d and d.get("counters")))
st, _ = c.stats(2)
check(st == 22, "STATS unknown flag -> EINVAL (%s)" % st)
sys.exit(1 if FAILS else 0)
EOF

# 5. --cache-mem 0: nothing kept, every READ_CHUNK reads the disk.
br_stop_server
br_restart_server --cache-mem 0 --chunk-size $MiB --threads 4
grep -q "hot-chunk cache: 0.0 MiB (off)" "$T/brambled.log" || fail "cache off not logged"
br_stats_snap "$T/z0.json"
readers 8 big
br_stats_snap "$T/z1.json"
note "8 readers, --cache-mem 0:"
br_stats_delta "$T/z0.json" "$T/z1.json" \
	"chunk_cache_misses_total == 8*$NCH" \
	"chunk_cache_hits_total == 0" \
	"chunk_read_bytes_total == 8*$SIZE" \
	"now:chunk_cache_used_bytes == 0" \
	"now:chunk_cache_bound_bytes == 0"

# 6. Sizes: suffixes, a bad one refused with a clear message.
"$BRAMBLED" --export "$EXPORT" --cache-mem 12X 2>"$T/err" && fail "--cache-mem 12X accepted"
grep -q "cache-mem" "$T/err" || fail "--cache-mem error unclear: $(cat "$T/err")"
"$BRAMBLED" --export "$EXPORT" --cache-mem -1 2>"$T/err" && fail "--cache-mem -1 accepted"
exit 0
