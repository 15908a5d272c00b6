#!/bin/bash
# COPY_RANGE keeps the holes of a sparse source where the destination reads
# as zeros anyway (at or past its end of file), and copies them as zeros
# where the destination holds data.  Copies go through a real mount with
# copy_file_range, in the loop a copying program runs; results are checked
# for content (cmp) and, on the export, for allocated blocks.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "needs python3"
# The copies run as an ordinary user, in the user's directory u on the
# export; the server squashes root.
mkdir "$EXPORT/u"
chown "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server
br_mount "$T/mnt"
M=$T/mnt/u

# copy SRC DST [SRC_OFF DST_OFF]: copy_file_range from SRC_OFF to the end
# of SRC, into DST (created, never truncated) at DST_OFF.
cat >"$T/copy.py" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
soff = int(sys.argv[3]) if len(sys.argv) > 3 else 0
doff = int(sys.argv[4]) if len(sys.argv) > 4 else 0
fi = os.open(src, os.O_RDONLY)
fo = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
n = os.fstat(fi).st_size - soff
done = 0
while done < n:
    c = os.copy_file_range(fi, fo, n - done, soff + done, doff + done)
    if c == 0:
        sys.exit(f"copy_file_range: 0 after {done} of {n} bytes")
    done += c
os.close(fi)
os.close(fo)
PY
copy() { as_user python3 "$T/copy.py" "$@" || fail "copy $*"; }
E=$EXPORT/u
blocks() { stat -c %b "$E/$1"; }
size() { stat -c %s "$E/$1"; }
MiB=$((1 << 20))

# Data at 10 MiB and 40 MiB, holes around them and to the end: the copy
# must end in a hole and still get the size right.
as_user truncate -s 64M "$M/sparse" || fail "truncate"
printf x | as_user dd of="$M/sparse" bs=1 seek=$((10 * MiB)) conv=notrunc status=none || fail "dd"
head -c 100000 /dev/urandom |
	as_user dd of="$M/sparse" bs=4096 seek=$((40 * 256)) conv=notrunc status=none || fail "dd"
[ "$(blocks sparse)" -lt 1024 ] || skip "the export's filesystem keeps no holes"

# 1. Into a new file: holes kept (10 MiB of copy allowed: far below 64).
copy "$M/sparse" "$M/new"
as_user cmp "$M/sparse" "$M/new" || fail "copy into a new file differs (mount)"
cmp "$E/sparse" "$E/new" || fail "copy into a new file differs (export)"
[ "$(size new)" = $((64 * MiB)) ] || fail "size $(size new), not 64 MiB: the trailing hole"
[ "$(blocks new)" -lt 20480 ] || fail "copy has $(blocks new) blocks: holes filled"

# 2. Over a non-sparse file of the same size: every zero must land.
head -c 64M /dev/urandom | as_user dd of="$M/full" bs=1M status=none || fail "writing full"
copy "$M/sparse" "$M/full"
as_user cmp "$M/sparse" "$M/full" || fail "copy over a full file differs (mount)"
cmp "$E/sparse" "$E/full" || fail "copy over a full file differs (export)"

# 3. Over a shorter full file: zeros up to its end, holes past it.
head -c 20M /dev/urandom | as_user dd of="$M/short" bs=1M status=none || fail "writing short"
copy "$M/sparse" "$M/short"
cmp "$E/sparse" "$E/short" || fail "copy over a shorter file differs"
b=$(blocks short)
[ "$b" -ge $((20 * 2048)) ] && [ "$b" -lt $((30 * 2048)) ] ||
	fail "copy over a 20 MiB file has $b blocks"

# 4. Over a longer file: what lies past the copied range stays, and the
# trailing hole must not cut the file short or back.
head -c 80M /dev/urandom >"$T/long.ref"
as_user cp "$T/long.ref" "$M/long" || fail "cp long"
copy "$M/sparse" "$M/long"
[ "$(size long)" = $((80 * MiB)) ] || fail "longer file now $(size long) bytes"
cmp -n $((64 * MiB)) "$E/sparse" "$E/long" || fail "copy over a longer file differs"
cmp -i $((64 * MiB)) "$T/long.ref" "$E/long" || fail "tail of the longer file changed"

# 5. Other offsets: from the middle of a hole, to an unaligned place past
# the end of an existing small file.
printf 'head' | as_user dd of="$M/off" status=none || fail "writing off"
copy "$M/sparse" "$M/off" $((5 * MiB + 3)) 12345
python3 - "$E/sparse" "$E/off" <<'PY' || fail "copy at offsets differs"
import sys
s = open(sys.argv[1], "rb").read()[5 * 2**20 + 3:]
d = open(sys.argv[2], "rb").read()
want = b"head" + bytes(12345 - 4) + s
sys.exit(0 if d == want else f"{len(d)} bytes, want {len(want)}")
PY
[ "$(blocks off)" -lt 20480 ] || fail "copy at offsets has $(blocks off) blocks"

# 6. A source that is one hole, and an empty one.
as_user truncate -s 100M "$M/hole" || fail "truncate hole"
copy "$M/hole" "$M/hole2"
[ "$(size hole2)" = $((100 * MiB)) ] || fail "all-hole copy is $(size hole2) bytes"
[ "$(blocks hole2)" -lt 64 ] || fail "all-hole copy has $(blocks hole2) blocks"
as_user touch "$M/empty" || fail "touch empty"
copy "$M/empty" "$M/empty2"
[ "$(size empty2)" = 0 ] || fail "empty copy is $(size empty2) bytes"
exit 0
