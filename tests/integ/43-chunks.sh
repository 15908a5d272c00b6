#!/bin/bash
# 43-chunks: the server's chunk index over the wire.  CHUNKMAP of a 3.5 MiB
# file gives 4 hashes equal to XXH3-128 computed here (python3-xxhash);
# READ_CHUNK returns the bytes; a change behind the server's back gives a
# new version and hashes, and READ_CHUNK of an old hash answers ESTALE; a
# restart serves the map from bramble.db without reading the file again;
# garbage and out-of-range arguments get clear errors.  chunkcli does the
# same through libbramble (bramble_chunkmap, bramble_read_chunk).
# chunks.py calls with an ordinary user's credentials ($BR_UID); the
# process stays root only to bind a reserved source port, as chunkcli
# does (libbramble as root, squashed: no --insecure here).
. "$(dirname "$0")/lib.sh"

PY=python3
$PY -c 'import xxhash' 2>/dev/null || PY=/usr/bin/python3
$PY -c 'import xxhash' 2>/dev/null ||
	skip "python3 with the xxhash module needed (Debian python3-xxhash, scripts/install-deps)"
MiB=1048576
head -c $((3 * MiB + MiB / 2)) /dev/urandom >"$EXPORT/big"
head -c 100 /dev/urandom >"$EXPORT/secret"
chmod 600 "$EXPORT/secret"
br_start_server --log-level=debug --chunk-size $MiB

cat >"$T/chunks.py" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import xxhash
from rawrpc import (Client, P, check, FAILS, CHUNKMAP, READ_CHUNK,
                    GARBAGE_ARGS, HELLO)

port, phase, export, saved = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ESTALE, EINVAL, EISDIR, EACCES = 116, 22, 21, 13
MiB = 1 << 20

def expected(path):
    data = open(path, "rb").read()
    return data, [xxhash.xxh3_128(data[i:i + MiB]).digest()
                  for i in range(0, len(data), MiB)]

c = Client(port)
st, root, _ = c.mount("")
check(st == 0, "MOUNT")
st, fh, _ = c.lookup(root, "big")
check(st == 0, "LOOKUP big")
data, want = expected(export + "/big")
st, m = c.chunkmap(fh)
check(st == 0, "CHUNKMAP -> %s" % st)
if st != 0:
    sys.exit(1)
print("%s: version %d, %d hashes" % (phase, m["version"], len(m["hashes"])))
check(m["chunk_size"] == MiB and m["size"] == len(data) and m["first"] == 0,
      "map describes the file: %r" % {k: m[k] for k in ("chunk_size", "size", "first")})
check(m["hashes"] == want, "CHUNKMAP hashes == XXH3-128 of each chunk")
check(m["eof"] == 1, "eof with the last chunk")

if phase == "first":
    check(len(m["hashes"]) == 4, "3.5 MiB in 4 chunks")
    # HELLO announces the capability.
    r = c.call(HELLO, P().u32(1).u32(3).u64(0).u64(0).string("t").bytes())
    u = r.body
    st_, rev, lo, hi, caps = u.u32(), u.u32(), u.u32(), u.u32(), u.u64()
    check(rev == 3 and caps & 16, "HELLO: revision 3 with BR_CAP_CHUNKS (%d, %#x)" % (rev, caps))
    # Slices.
    st, s = c.chunkmap(fh, 1, 2)
    check(st == 0 and s["first"] == 1 and s["hashes"] == want[1:3] and not s["eof"],
          "CHUNKMAP 1+2 -> %s %r" % (st, s))
    st, s = c.chunkmap(fh, 3, 100)
    check(st == 0 and s["hashes"] == want[3:] and s["eof"], "CHUNKMAP 3+100")
    st, s = c.chunkmap(fh, 10, 1)
    check(st == 0 and s["hashes"] == [] and s["eof"], "CHUNKMAP past the end: empty, eof")
    # READ_CHUNK: the bytes; beyond the end; a wrong hash.
    st, d = c.read_chunk(fh, want[3], 3, m["version"])
    check(st == 0 and d == data[3 * MiB:], "READ_CHUNK 3 -> %s, %s bytes" % (st, d and len(d)))
    st, d = c.read_chunk(fh, want[0], 0, m["version"])
    check(st == 0 and d == data[:MiB], "READ_CHUNK 0")
    st, _ = c.read_chunk(fh, want[0], 4, m["version"])
    check(st == EINVAL, "READ_CHUNK beyond the end -> EINVAL (%s)" % st)
    st, _ = c.read_chunk(fh, b"\0" * 16, 1, m["version"])
    check(st == ESTALE, "READ_CHUNK with a wrong hash -> ESTALE (%s)" % st)
    # Not a regular file; no read permission (root's 0600 file).
    st, _ = c.chunkmap(root)
    check(st == EISDIR, "CHUNKMAP of a directory -> EISDIR (%s)" % st)
    st, sfh, _ = c.lookup(root, "secret")
    st, _ = c.chunkmap(sfh)
    check(st == EACCES, "CHUNKMAP without read permission -> EACCES (%s)" % st)
    st, _ = c.read_chunk(sfh, b"\0" * 16, 0, 1)
    check(st == EACCES, "READ_CHUNK without read permission -> EACCES (%s)" % st)
    # Garbage: arguments cut short, a 65-byte handle, trailing bytes.
    r = c.call(CHUNKMAP, P().opaque(fh).u32(0).bytes())
    check(r.accept_stat == GARBAGE_ARGS, "CHUNKMAP cut short -> GARBAGE_ARGS")
    r = c.call(READ_CHUNK, P().opaque(b"x" * 65).bytes() + b"\0" * 28)
    check(r.accept_stat == GARBAGE_ARGS, "READ_CHUNK 65-byte handle -> GARBAGE_ARGS")
    r = c.call(READ_CHUNK, P().opaque(fh).bytes() + want[0] + P().u32(0).u64(1).u32(9).bytes())
    check(r.accept_stat == GARBAGE_ARGS, "READ_CHUNK trailing bytes -> GARBAGE_ARGS")
    st, _ = c.chunkmap(b"\1" * 40)
    check(st not in (0, "rpc"), "CHUNKMAP of a forged handle refused (%s)" % st)
    json.dump(dict(version=m["version"], hashes=[h.hex() for h in want]), open(saved, "w"))
elif phase == "changed":
    old = json.load(open(saved))
    oldh = [bytes.fromhex(h) for h in old["hashes"]]
    check(m["version"] > old["version"], "new version after the change (%d -> %d)"
          % (old["version"], m["version"]))
    check(m["hashes"][0] != oldh[0] and m["hashes"][1:] == oldh[1:],
          "chunk 0 has a new hash, the others kept theirs")
    st, _ = c.read_chunk(fh, oldh[0], 0, old["version"])
    check(st == ESTALE, "READ_CHUNK of the old hash -> ESTALE (%s)" % st)
    st, d = c.read_chunk(fh, oldh[1], 1, old["version"])
    check(st == 0 and d == data[MiB:2 * MiB], "READ_CHUNK of an unchanged chunk of the old map")
    json.dump(dict(version=m["version"], hashes=[h.hex() for h in want]), open(saved, "w"))
elif phase == "truncated":
    old = json.load(open(saved))
    check(m["version"] > old["version"] and len(m["hashes"]) == 2,
          "truncated: new version, 2 chunks (%d, %d)" % (m["version"], len(m["hashes"])))
    st, _ = c.read_chunk(fh, bytes.fromhex(old["hashes"][3]), 3, old["version"])
    check(st == ESTALE, "READ_CHUNK beyond the new end, old version -> ESTALE (%s)" % st)
    json.dump(dict(version=m["version"], hashes=[h.hex() for h in want]), open(saved, "w"))
elif phase == "same":
    old = json.load(open(saved))
    check(m["version"] == old["version"], "same version (%d, %d)" % (old["version"], m["version"]))
sys.exit(1 if FAILS else 0)
EOF
chunks() { RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID $PY "$T/chunks.py" "$top_srcdir/tests/integ" "$PORT" "$1" "$EXPORT" "$T/saved.json"; }
hashed() { grep -c "chunk index: hashed" "$1" || true; }

chunks first || fail "first map"
# libbramble's side: paged CHUNKMAP, every chunk by its hash, verified.
out=$("$top_builddir/tests/integ/chunkcli" "$PORT" big "$EXPORT/big") || fail "chunkcli: $out"
[ "$out" = "chunks 4 version 1" ] || fail "chunkcli: $out"
[ "$(hashed "$T/brambled.log")" -ge 1 ] || fail "no hashing logged"

# Behind the server's back: same size, chunk 0 changed.
printf 'changed' | dd of="$EXPORT/big" conv=notrunc status=none
chunks changed || fail "after a change behind the server's back"
truncate -s $((2 * MiB)) "$EXPORT/big"
chunks truncated || fail "after a truncate behind the server's back"

# An entry hashed less than 1 s after the file's last change is hashed
# again on next use (racy timestamps, chunkidx.h): let a second pass, then
# hash it once more so the entry is settled before the restart.
sleep 1.2
chunks same || fail "settled map"
before=$(hashed "$T/brambled.log")
chunks same || fail "map from the index"
[ "$(hashed "$T/brambled.log")" = "$before" ] || fail "unchanged file hashed again"

br_stop_server
lines=$(wc -l <"$T/brambled.log")
br_restart_server --log-level=debug --chunk-size $MiB
chunks same || fail "map after a restart"
tail -n +$((lines + 1)) "$T/brambled.log" >"$T/after.log"
[ "$(hashed "$T/after.log")" = 0 ] || fail "the file was hashed again after a restart"
grep -q "from the index" "$T/after.log" || fail "no map from the index logged after the restart"

# Another chunk size: a power of two within 64 KiB .. 1 MiB.
"$BRAMBLED" --export "$EXPORT" --chunk-size 100000 2>"$T/err" && fail "--chunk-size 100000 accepted"
grep -q "power of two" "$T/err" || fail "--chunk-size error unclear: $(cat "$T/err")"
"$BRAMBLED" --export "$EXPORT" --chunk-size $((2 * MiB)) 2>"$T/err" && fail "--chunk-size 2 MiB accepted"
exit 0
