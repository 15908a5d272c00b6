#!/bin/bash
# 65-far-times: timestamps far from now.  An ordinary
# user sets times past 2262 and before 1970 on the mount (touch -d
# @10000000000, @-100, ...), and SETATTR carries the most extreme ones
# (hyper seconds INT64_MIN and INT64_MAX, rawrpc.py).  seconds * 1e9 in
# int64 nanoseconds used to overflow in the chunk index (brambled), the
# mount's kept maps (bramblefs) and `bramble stage`: with
# --enable-sanitizers, lib.sh fails the test on any report in $T/*.log.
# The files still read, chunk-map (CHUNKMAP and READ_CHUNK give the file's
# bytes; a settled map of a file dated 2286 comes from the index, not from
# hashing it again) and stage right; a change made through brambled that
# keeps the size and moves mtime between two such far times is seen.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MiB=1048576
# A tmpfs keeps any 64-bit time (ext4 clamps to 1901..2446); without one
# the times past 2262 still overflow the old code.
if mount -t tmpfs -o size=64m,mode=0755 tmpfs "$EXPORT" 2>/dev/null; then
	br_on_cleanup 'umount "$EXPORT" || umount -l "$EXPORT"'
else
	note "no tmpfs: times beyond ext4's range get clamped"
fi
mkdir "$EXPORT/far"
chown "$BR_UID:$BR_GID" "$EXPORT/far"
br_start_server --chunk-size $MiB
br_mount "$T/m"
D=$T/m/far
E=$EXPORT/far

# ---- the user dates files far away on the mount
NAMES=""
for spec in "future $((3 * MiB + 5)) @10000000000" "past $((MiB + 3)) @-100" \
	    "ancient $((2 * MiB)) @-10000000000" "edge $((MiB / 2)) @9223372036.854775808" \
	    "extreme $((2 * MiB + 1)) -"; do
	set -- $spec
	NAMES="$NAMES $1"
	as_user sh -c 'head -c "$1" /dev/urandom >"$2"' sh "$2" "$D/$1" || fail "writing $1"
	[ "$3" = - ] || as_user touch -d "$3" "$D/$1" || fail "touch -d $3 $D/$1"
done
[ "$(as_user stat -c %Y "$D/future")" = 10000000000 ] ||
	fail "mtime of future on the mount: $(as_user stat -c %Y "$D/future")"
[ "$(as_user stat -c %Y "$D/past")" = -100 ] ||
	fail "mtime of past on the mount: $(as_user stat -c %Y "$D/past")"

# ---- SETATTR's extremes, CHUNKMAP and READ_CHUNK, as the user
python3 - "$top_srcdir/tests/integ" "$PORT" "$E" "$BR_UID" "$BR_GID" <<'EOF' || fail "CHUNKMAP of far-dated files"
import sys, time
sys.path.insert(0, sys.argv[1])
from rawrpc import Client, check, FAILS

port, exp, uid, gid = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
MiB = 1 << 20
BR_SET_ATIME, BR_SET_MTIME = 16, 32
c = Client(port, uid=uid, gid=gid)
st, root, _ = c.mount("")
check(st == 0, "MOUNT")
st, d, _ = c.lookup(root, "far")
check(st == 0, "LOOKUP far")

def fh_of(name):
    st, fh, _ = c.lookup(d, name)
    check(st == 0, "LOOKUP " + name)
    return fh

def mapped_right(name, fh):
    """The map's hashes name the file's chunks: READ_CHUNK gives its bytes."""
    data = open(exp + "/" + name, "rb").read()
    st, m = c.chunkmap(fh)
    if not check(st == 0, "CHUNKMAP %s: status %s" % (name, st)):
        return
    check(m["size"] == len(data), "CHUNKMAP %s: size %d" % (name, m["size"]))
    check(len(m["hashes"]) == (len(data) + MiB - 1) // MiB, "CHUNKMAP %s: count" % name)
    for i, h in enumerate(m["hashes"]):
        st, got = c.read_chunk(fh, h, i, m["version"])
        check(st == 0 and got == data[i * MiB:(i + 1) * MiB],
              "READ_CHUNK %s %d: status %s" % (name, i, st))

fh = fh_of("extreme")
for sec, nsec in ((2**63 - 1, 999999999), (-2**63, 0), (9223372036, 854775808),
                  (-9223372037, 145224191), (1 << 40, 1), (-1, 999999999)):
    st, a = c.setattr(fh, BR_SET_ATIME | BR_SET_MTIME, atime=(sec, nsec),
                      mtime=(sec, nsec))
    check(st == 0, "SETATTR times (%d, %d): status %s" % (sec, nsec, st))
    mapped_right("extreme", fh)
for name in ("future", "past", "ancient", "edge"):
    mapped_right(name, fh_of(name))

# Settled (the server trusts a map 1 s after the file's last change): a
# file dated 2286 is served from the index, not hashed on every CHUNKMAP.
time.sleep(1.2)
fh = fh_of("future")
c.chunkmap(fh)
st, s0 = c.stats(1)
check(st == 0, "STATS")
st, _ = c.chunkmap(fh)
st, s1 = c.stats(1)
if st == 0:
    k = "chunk_files_hashed_total"
    check(s1["counters"][k] == s0["counters"][k],
          "CHUNKMAP of a settled file dated 2286 hashed it again")
sys.exit(1 if FAILS else 0)
EOF

# ---- stage (as a Slurm prolog does), then read as the user: the kept
# maps are checked against the open's size, mtime and ctime
"$BRAMBLE" stage --json "$D" >"$T/stage.json" 2>"$T/stage.log" ||
	fail "stage: $(cat "$T/stage.log")"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["ok"] and d["files"] == 5 and d["maps"] == 5 and not d["not_staged"] else 1)' \
	"$T/stage.json" || fail "stage JSON: $(cat "$T/stage.json")"
for n in $NAMES; do
	as_user cat "$D/$n" | cmp -s - "$E/$n" || fail "$n reads wrong through the mount"
done

# ---- another node changes future through brambled: same size, new
# bytes, mtime moved from one far time to another (2286 -> 2318).  The
# chunk index gives a new map; the mount, called back, reads the new bytes
# (its kept map is keyed by size, mtime and ctime).
python3 - "$top_srcdir/tests/integ" "$PORT" "$E" "$BR_UID" "$BR_GID" <<'EOF2' || fail "changing future"
import sys
sys.path.insert(0, sys.argv[1])
from rawrpc import Client, check, FAILS

port, exp, uid, gid = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
MiB = 1 << 20
c = Client(port, uid=uid, gid=gid, machname="0123456789abcdef")
st, root, _ = c.mount("")
st, d, _ = c.lookup(root, "far")
st, fh, a = c.lookup(d, "future")
check(st == 0, "LOOKUP future")
st, m0 = c.chunkmap(fh)
check(st == 0, "CHUNKMAP before")
st, _, _ = c.write(fh, MiB + 7, b"X")
check(st == 0, "WRITE: status %s" % st)
st, a = c.setattr(fh, 32, mtime=(11000000000, 0))
check(st == 0 and a["mtime"][0] == 11000000000, "SETATTR mtime 2318")
data = open(exp + "/future", "rb").read()
st, m1 = c.chunkmap(fh)
check(st == 0 and m1["version"] != m0["version"], "no new version after the change")
if st == 0:
    check(m1["hashes"][1] != m0["hashes"][1], "chunk 1 has its old hash")
    st, got = c.read_chunk(fh, m1["hashes"][1], 1, m1["version"])
    check(st == 0 and got == data[MiB:2 * MiB], "READ_CHUNK of the new chunk 1")
sys.exit(1 if FAILS else 0)
EOF2
wait_for 10 sh -c "setpriv --reuid=$BR_UID --regid=$BR_GID --init-groups cat '$D/future' |
	cmp -s - '$E/future'" || fail "the change to future (mtime 2286 -> 2318) read old on the mount"
exit 0
