#!/bin/bash
# Write-behind (fuse/wb.h): write() returns before the server has the
# data, yet everything an application can observe stays exact:
#  - interleaved writes, reads through another descriptor, fstat and stat
#    by name, truncates, checked against a reference copy at every step;
#  - close-to-open: a second mount reads the whole file right after close;
#  - ENOSPC on a full export surfaces at the latest at fsync/close, and
#    what was written before the disk filled is intact.
. "$(dirname "$0")/lib.sh"

# The ENOSPC part exports a tmpfs mounted inside $T: unmount it (lazily,
# brambled may still hold it) before lib.sh's cleanup removes $T.
SMALL=$T/small
trap 'rc=$?; umount -l "$SMALL" 2>/dev/null; (exit $rc); br_cleanup' EXIT

# The writers are an ordinary user's (as_user), in 1777 exports; the
# server squashes root.
chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/a"
br_mount "$T/b" -o attr_timeout=30,entry_timeout=30
A=$T/a
B=$T/b

# ---- 1. interleaved operations against a reference
cat >"$T/mix.py" <<'PY'
import os, random, sys
d, seed, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
p = f"{d}/mix{seed}"
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
r = os.open(p, os.O_RDONLY)
ref = bytearray()
pos = 0
def check(what):
    st = os.fstat(w).st_size
    if st != len(ref):
        sys.exit(f"op {n} ({what}): fstat size {st}, expected {len(ref)}")
for n in range(ops):
    op = rnd.random()
    if op < 0.45:        # sequential append, as most programs write
        data = rnd.randbytes(rnd.choice([1, 100, 4096, 8191, 65536, 300000]))
        os.pwrite(w, data, pos)
        ref[pos:pos + len(data)] = data
        pos += len(data)
        check("append")
    elif op < 0.60:      # overwrite somewhere (overlaps writes in flight)
        off = rnd.randrange(0, len(ref) + 1)
        data = rnd.randbytes(rnd.choice([1, 10, 4096, 70000]))
        os.pwrite(w, data, off)
        if off + len(data) > len(ref):
            ref.extend(bytes(off + len(data) - len(ref)))
        ref[off:off + len(data)] = data
        check("overwrite")
    elif op < 0.80:      # read back through the other descriptor
        off = rnd.randrange(0, len(ref) + 1)
        size = rnd.choice([1, 4096, 100000, 1 << 20])
        got = os.pread(r, size, off)
        if got != bytes(ref[off:off + size]):
            sys.exit(f"op {n}: read at {off} size {size} differs")
    elif op < 0.92:      # stat by name: LOOKUP/GETATTR while writes fly
        st = os.stat(p).st_size
        if st != len(ref):
            sys.exit(f"op {n}: stat size {st}, expected {len(ref)}")
    elif op < 0.96:
        t = rnd.randrange(0, len(ref) + 1)
        os.ftruncate(w, t)
        del ref[t:]
        pos = min(pos, t)
        check("truncate")
    else:
        os.fsync(w)
os.close(w)
os.close(r)
with open(p.replace(sys.argv[4], sys.argv[5]), "rb") as f:
    if f.read() != bytes(ref):
        sys.exit("file on the server differs after close")
PY
pids=""
for seed in 1 2 3; do
	as_user python3 "$T/mix.py" "$A" "$seed" 3000 "$A" "$EXPORT" >"$T/mix$seed.out" 2>&1 &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || fail "interleaved run: $(cat "$T"/mix*.out)"
done

# ---- 2. close-to-open: the other mount reads it all right after close
cat >"$T/c2o.py" <<'PY'
import os, sys
a, b, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(rounds):
    data = os.urandom(100000 + i * 37000)
    fd = os.open(f"{a}/c2o", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for off in range(0, len(data), 32768):   # many writes in flight
        os.write(fd, data[off:off + 32768])
    os.close(fd)
    with open(f"{b}/c2o", "rb") as f:
        got = f.read()
    if got != data:
        sys.exit(f"round {i}: other mount read {len(got)} bytes, "
                 f"expected {len(data)}{' (differs)' if len(got) == len(data) else ''}")
PY
as_user python3 "$T/c2o.py" "$A" "$B" 20 || fail "close-to-open after write-behind"

# A big sequential write is whole on the server when close returns.
head -c 50000000 /dev/urandom >"$T/big.ref"
as_user dd if="$T/big.ref" of="$A/big" bs=1M status=none || fail "dd to the mount"
cmp "$T/big.ref" "$EXPORT/big" || fail "server copy differs right after close"
as_user rm -f "$A/big" || fail "rm big"
rm -f "$T/big.ref"

# ---- 3. ENOSPC: a 2 MiB export, 4 MiB written
mkdir -p "$SMALL"
mount -t tmpfs -o size=2m,mode=1777 tmpfs "$SMALL" || skip "cannot mount a tmpfs"
EXPORT=$SMALL
STATE=$T/state-small    # a second brambled: a state directory of its own
mkdir -p "$STATE"
br_start_server
br_mount "$T/s"
cat >"$T/enospc.py" <<'PY'
import errno, os, sys
p, srv, bs = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = os.urandom(4 << 20)
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
err, where, done = None, None, 0
try:
    while done < len(data):
        done += os.write(fd, data[done:done + bs])
except OSError as e:
    err, where = e.errno, "write"
if err is None:
    try:
        os.fsync(fd)
    except OSError as e:
        err, where = e.errno, "fsync"
try:
    os.close(fd)
except OSError as e:
    if err is None:
        err, where = e.errno, "close"
if err != errno.ENOSPC:
    sys.exit(f"expected ENOSPC, got {errno.errorcode.get(err, err)} ({where})")
# What reached the disk is the data, block by block, or holes: requests
# of one file are sent by several writers at once (up to max_data each,
# coalesced), so a later range may take the last free space before an
# earlier one lands, and the earlier one fails (reported: ENOSPC above).
# Nothing is lost while there is room: the disk fills up with the data.
with open(srv, "rb") as f:
    got = f.read()
landed = 0
for off in range(0, len(got), bs):
    blk = got[off:off + bs]
    if blk == data[off:off + len(blk)]:
        landed += len(blk)
    elif blk.count(0) != len(blk):
        sys.exit(f"block at {off} is neither the data nor a hole")
if landed < (1 << 20):
    sys.exit(f"only {landed} bytes of data reached a 2 MiB disk")
print(f"{where}: ENOSPC after {done} bytes; {len(got)} on disk, {landed} of them data", file=sys.stderr)
PY
# brambled's fd cache keeps a removed file's blocks (still open there):
# restart it to get the space back.
free_space() {
	as_user rm -f "$T/s/full" || fail "rm full"
	br_stop_server
	br_restart_server
}
for bs in 65536 1048576; do
	as_user python3 "$T/enospc.py" "$T/s/full" "$SMALL/full" $bs || fail "ENOSPC (bs $bs)"
	free_space
done
# The mount still works once there is room again.
as_user sh -c 'echo after >"$1"' - "$T/s/ok" || fail "write after ENOSPC"
[ "$(cat "$SMALL/ok")" = after ] || fail "file after ENOSPC differs"
exit 0
