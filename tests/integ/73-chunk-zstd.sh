#!/bin/bash
# 73-chunk-zstd: compressed chunks (READ_CHUNK2, doc/staging.md
# "Compressed chunks"), as an ordinary user on a server that squashes root.
# Two files: shared-library bytes (compressible) and random bytes.
#  (1) --compress=on: `bramble stage` of each on node A fetches its chunks
#      with READ_CHUNK2; the library's went zstd (server: wire bytes <=
#      0.6 x file bytes, one compression per chunk), the random one's raw
#      (wire == file, every chunk found incompressible); read back from
#      the node cache they are the export's bytes (cmp).
#  (1b) READ_CHUNK2 on the wire (73-rawzstd.py): raw without BR_RC_ZSTD,
#      one zstd frame with it, a `failed' peer ignored; ESTALE, EINVAL and
#      EACCES as READ_CHUNK.
#  (2) node B (another node cache) reads both cold through its mount:
#      chunks from the server's hot-chunk cache, compressed already (no
#      new compression), the mount's own counters say the same (wire <=
#      0.6 x file for the library), bytes right.
#  (3) --compress=off: READ_CHUNK2 answered raw (wire == file).
#  (4) an old client (-o compress=off: READ_CHUNK only) of a compressing
#      server (the default, auto) reads right, with no READ_CHUNK2.
#  (5) a malformed frame (rpcproxy.py flips its first byte) is refused:
#      the read fails with EIO (transport trouble, as on NFS: fuse/ops.c),
#      bramblefs logs why, and nothing enters the node cache; without the
#      fault the same read is right.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MIB=1048576
E=$EXPORT/z
mkdir -p "$E"
# Shared libraries, whole ones, until 6 MiB (Debian always has these).
find /usr/lib /lib -type f -name '*.so*' -size +64k 2>/dev/null | sort |
	while read -r f; do cat "$f"; done | head -c $((6 * MIB)) >"$E/lib.bin"
[ "$(stat -c %s "$E/lib.bin")" = $((6 * MIB)) ] || skip "not 6 MiB of shared libraries here"
head -c $((4 * MIB + 4321)) /dev/urandom >"$E/rnd.bin"
chmod 644 "$E"/*.bin
echo secret >"$E/secret"
chmod 600 "$E/secret"
# Old enough that their maps are settled at once (chunkidx.h: racy
# entries, 1 s after the last change): node B finds them (CHUNKMAP_KNOWN).
sleep 1.2

# ctl MNT KEY: the mount's own counter (read.KEY, its control file)
ctl() { sed -n "s/^read\.$2=//p" "$1/.bramble"; }
# ratio SNAP_BEFORE SNAP_AFTER MAX: the server's chunk wire/file bytes
# between two snaps, printed; fails above MAX.
ratio() {
	python3 - "$@" <<'EOF' || fail "wire/file bytes: see above"
import json, sys
a, b = (json.load(open(f))["counters"] for f in sys.argv[1:3])
d = lambda k: b[k] - a[k]
w, f = d("chunk_wire_bytes_total"), d("chunk_file_bytes_total")
print("server: chunk wire %d / file %d bytes = %.3f" % (w, f, w / max(f, 1)))
sys.exit(0 if f > 0 and w <= float(sys.argv[3]) * f else 1)
EOF
}
readcmp() {  # readcmp MNTFILE EXPORTFILE: read as the user, compare
	as_user cat "$1" >"$T/got" 2>"$T/cat.err" || fail "reading $1: $(cat "$T/cat.err")"
	cmp -s "$T/got" "$2" || fail "$1: bytes differ from the export's"
}
LIBCH=6
RNDCH=5

# ---- (1) stage with --compress=on
br_start_server --compress=on
# Every node here takes its chunks from the server (-o nopeers): what
# goes through the server is what this test counts; chunks that peers pass
# on, compressed as they came, are 74-peers's.
BR_CACHE_DIR=$T/ncA br_mount "$T/a" -o nopeers
br_stats_snap "$T/s0"
as_user "$BRAMBLE" stage -q "$T/a/z/lib.bin" || fail "stage lib.bin"
br_stats_snap "$T/s1"
br_stats_delta "$T/s0" "$T/s1" "READ_CHUNK2.calls == $LIBCH" "READ_CHUNK.calls == 0" \
	"chunk_sent_zstd_total == $LIBCH" "chunk_compressed_total == $LIBCH" \
	"chunk_incompressible_total == 0"
ratio "$T/s0" "$T/s1" 0.6
as_user "$BRAMBLE" stage -q "$T/a/z/rnd.bin" || fail "stage rnd.bin"
br_stats_snap "$T/s2"
br_stats_delta "$T/s1" "$T/s2" "READ_CHUNK2.calls == $RNDCH" "chunk_sent_raw_total == $RNDCH" \
	"chunk_sent_zstd_total == 0" "chunk_incompressible_total == $RNDCH"
ratio "$T/s1" "$T/s2" 1.0
readcmp "$T/a/z/lib.bin" "$E/lib.bin"
readcmp "$T/a/z/rnd.bin" "$E/rnd.bin"
br_stats_snap "$T/s3"
br_stats_delta "$T/s2" "$T/s3" "READ_CHUNK*.calls == 0" "READ.calls == 0"

# ---- (1b) READ_CHUNK2 on the wire
python3 "$top_srcdir/tests/integ/73-rawzstd.py" "$top_srcdir/tests/integ" "$PORT" "$EXPORT" ||
	fail "READ_CHUNK2 on the wire: see above"
br_stats_snap "$T/s3"

# ---- (2) node B reads both cold: compressed once, sent compressed again
BR_CACHE_DIR=$T/ncB br_mount "$T/b" -o nopeers
readcmp "$T/b/z/lib.bin" "$E/lib.bin"
br_stats_snap "$T/s4"
br_stats_delta "$T/s3" "$T/s4" "READ_CHUNK2.calls == $LIBCH" "chunk_sent_zstd_total == $LIBCH" \
	"chunk_compressed_total == 0" "now:chunk_cache_zstd_entries >= $LIBCH"
ratio "$T/s3" "$T/s4" 0.6
w=$(ctl "$T/b" wire_from_server) f=$(ctl "$T/b" bytes_from_server) z=$(ctl "$T/b" zstd_fetches)
note "node B (mount counters): wire $w / file $f bytes, $z zstd fetches"
[ "$f" = $((6 * MIB)) ] && [ "$z" = $LIBCH ] && [ $((w * 10)) -le $((f * 6)) ] ||
	fail "node B's counters: wire $w file $f zstd $z"
# `bramble stats MOUNT` shows both sides' wire lines.
as_user "$BRAMBLE" stats "$T/b" >"$T/table" 2>&1 || fail "bramble stats: $(cat "$T/table")"
[ "$(grep -c '^chunk wire: ' "$T/table")" = 2 ] || fail "no chunk wire lines: $(cat "$T/table")"
readcmp "$T/b/z/rnd.bin" "$E/rnd.bin"
w2=$(ctl "$T/b" wire_from_server) f2=$(ctl "$T/b" bytes_from_server)
[ $((w2 - w)) = $((f2 - f)) ] && [ $((f2 - f)) = $((4 * MIB + 4321)) ] ||
	fail "rnd.bin should come raw: wire $((w2 - w)) file $((f2 - f))"
br_umount "$T/b"
br_umount "$T/a"

# ---- (3) --compress=off: raw answers
br_stop_server
br_start_server --compress=off
BR_CACHE_DIR=$T/ncC br_mount "$T/c" -o nopeers
br_stats_snap "$T/s5"
readcmp "$T/c/z/lib.bin" "$E/lib.bin"
br_stats_snap "$T/s6"
br_stats_delta "$T/s5" "$T/s6" "READ_CHUNK2.calls == $LIBCH" "chunk_sent_raw_total == $LIBCH" \
	"chunk_sent_zstd_total == 0" "chunk_compressed_total == 0"
ratio "$T/s5" "$T/s6" 1.0
br_umount "$T/c"

# ---- (4) an old client (READ_CHUNK) of a compressing server
br_stop_server
br_start_server
BR_CACHE_DIR=$T/ncD br_mount "$T/d" -o compress=off,nopeers
br_stats_snap "$T/s7"
readcmp "$T/d/z/lib.bin" "$E/lib.bin"
br_stats_snap "$T/s8"
br_stats_delta "$T/s7" "$T/s8" "READ_CHUNK.calls == $LIBCH" "READ_CHUNK2.calls == 0"
ratio "$T/s7" "$T/s8" 1.0
br_umount "$T/d"

# ---- (5) a malformed frame: refused, never cached
# (--compress=on: over loopback auto would rather send raw bytes.  The
# proxy connects from an ordinary port: --insecure.)
br_stop_server
br_start_server --compress=on --insecure
CTL=$T/proxy
mkdir -p "$CTL"
python3 "$top_srcdir/tests/integ/rpcproxy.py" "$CTL" "$PORT" >>"$T/proxy.log" 2>&1 &
PROXY_PID=$!
br_on_cleanup "kill $PROXY_PID 2>/dev/null; wait $PROXY_PID 2>/dev/null"
wait_for 10 test -s "$CTL/port" || fail "rpcproxy did not start"
touch "$CTL/zstd"
BR_CACHE_DIR=$T/ncE br_mount "$T/e" -o "port=$(cat "$CTL/port"),nopeers"
as_user cat "$T/e/z/lib.bin" >"$T/got" 2>"$T/cat.err" && fail "a malformed frame was accepted"
grep -q "Input/output error" "$T/cat.err" || fail "not EIO: $(cat "$T/cat.err")"
grep -q "refused: its zstd encoding .* does not decode" "$T/bramblefs.log" ||
	fail "bramblefs did not say why: $(tail -5 "$T/bramblefs.log")"
grep -q "frame of the reply" "$T/proxy.log" || fail "the proxy flipped nothing: $(cat "$T/proxy.log")"
"$BRAMBLE" cache --dir "$T/ncE" stats --json >"$T/cs.json" || fail "cache stats"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(d["chunks"] != 0)' \
	"$T/cs.json" || fail "a bad chunk entered the node cache: $(cat "$T/cs.json")"
rm "$CTL/zstd"
readcmp "$T/e/z/lib.bin" "$E/lib.bin"
"$BRAMBLE" cache --dir "$T/ncE" stats --json >"$T/cs.json" || fail "cache stats"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(d["chunks"] != 6)' \
	"$T/cs.json" || fail "node cache after a good read: $(cat "$T/cs.json")"
note "malformed frame: $(grep -m1 refused "$T/bramblefs.log")"
exit 0
