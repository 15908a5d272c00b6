#!/bin/bash
# COPY_RANGE keeps the holes of a sparse source where the destination reads
# as zeros anyway (at or past its end of file), and copies them as zeros
# where the destination holds data.  Copies go through a real mount with
# copy_file_range, in the loop a copying program runs; results are checked
# for content (cmp) and, on the export, for allocated blocks.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "needs python3"
br_start_server --no-root-squash
M=$T/mnt
br_mount "$M"

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
copy() { python3 "$T/copy.py" "$@" || fail "copy $*"; }
blocks() { stat -c %b "$EXPORT/$1"; }
size() { stat -c %s "$EXPORT/$1"; }
MiB=$((1 << 20))

# Data at 10 MiB and 40 MiB, holes around them and to the end: the copy
# must end in a hole and still get the size right.
truncate -s 64M "$M/sparse"
printf x | dd of="$M/sparse" bs=1 seek=$((10 * MiB)) conv=notrunc status=none
head -c 100000 /dev/urandom | dd of="$M/sparse" bs=4096 seek=$((40 * 256)) conv=notrunc status=none
[ "$(blocks sparse)" -lt 1024 ] || skip "the export's filesystem keeps no holes"

# 1. Into a new file: holes kept (10 MiB of copy allowed: far below 64).
copy "$M/sparse" "$M/new"
cmp "$M/sparse" "$M/new" || fail "copy into a new file differs (mount)"
cmp "$EXPORT/sparse" "$EXPORT/new" || fail "copy into a new file differs (export)"
[ "$(size new)" = $((64 * MiB)) ] || fail "size $(size new), not 64 MiB: the trailing hole"
[ "$(blocks new)" -lt 20480 ] || fail "copy has $(blocks new) blocks: holes filled"

# 2. Over a non-sparse file of the same size: every zero must land.
head -c 64M /dev/urandom >"$M/full"
copy "$M/sparse" "$M/full"
cmp "$M/sparse" "$M/full" || fail "copy over a full file differs (mount)"
cmp "$EXPORT/sparse" "$EXPORT/full" || fail "copy over a full file differs (export)"

# 3. Over a shorter full file: zeros up to its end, holes past it.
head -c 20M /dev/urandom >"$M/short"
copy "$M/sparse" "$M/short"
cmp "$EXPORT/sparse" "$EXPORT/short" || fail "copy over a shorter file differs"
b=$(blocks short)
[ "$b" -ge $((20 * 2048)) ] && [ "$b" -lt $((30 * 2048)) ] ||
	fail "copy over a 20 MiB file has $b blocks"

# 4. Over a longer file: what lies past the copied range stays, and the
# trailing hole must not cut the file short or back.
head -c 80M /dev/urandom >"$T/long.ref"
cp "$T/long.ref" "$M/long"
copy "$M/sparse" "$M/long"
[ "$(size long)" = $((80 * MiB)) ] || fail "longer file now $(size long) bytes"
cmp -n $((64 * MiB)) "$EXPORT/sparse" "$EXPORT/long" || fail "copy over a longer file differs"
cmp -i $((64 * MiB)) "$T/long.ref" "$EXPORT/long" || fail "tail of the longer file changed"

# 5. Other offsets: from the middle of a hole, to an unaligned place past
# the end of an existing small file.
printf 'head' >"$M/off"
copy "$M/sparse" "$M/off" $((5 * MiB + 3)) 12345
python3 - "$EXPORT/sparse" "$EXPORT/off" <<'PY' || fail "copy at offsets differs"
import sys
s = open(sys.argv[1], "rb").read()[5 * 2**20 + 3:]
d = open(sys.argv[2], "rb").read()
want = b"head" + bytes(12345 - 4) + s
sys.exit(0 if d == want else f"{len(d)} bytes, want {len(want)}")
PY
[ "$(blocks off)" -lt 20480 ] || fail "copy at offsets has $(blocks off) blocks"

# 6. A source that is one hole, and an empty one.
truncate -s 100M "$M/hole"
copy "$M/hole" "$M/hole2"
[ "$(size hole2)" = $((100 * MiB)) ] || fail "all-hole copy is $(size hole2) bytes"
[ "$(blocks hole2)" -lt 64 ] || fail "all-hole copy has $(blocks hole2) blocks"
: >"$M/empty"
copy "$M/empty" "$M/empty2"
[ "$(size empty2)" = 0 ] || fail "empty copy is $(size empty2) bytes"
exit 0
