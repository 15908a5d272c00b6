#!/bin/bash
# A long random write/read run (several processes, several files, odd
# sizes and offsets, truncates, fsyncs) checked against a reference copy
# kept in memory, then the files on the server against the same copy.
# The processes are an ordinary user's (as_user), in a 1777 export; the
# server squashes root.
. "$(dirname "$0")/lib.sh"

chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/mnt"

cat >"$T/rio.py" <<'PY'
import os, random, sys
d, seed, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
MAX = 6 << 20
files = {}
for i in range(3):
    p = f"{d}/r{seed}-{i}"
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    files[p] = [fd, bytearray()]
for n in range(ops):
    p = rnd.choice(list(files))
    fd, ref = files[p]
    op = rnd.random()
    size = rnd.choice([1, 7, 512, 4095, 4096, 4097, 65536, 131073, 1 << 20, (1 << 20) + 3, 2500000])
    off = rnd.randrange(0, MAX)
    if op < 0.45:
        data = rnd.randbytes(size)
        os.pwrite(fd, data, off)
        if off > len(ref):
            ref.extend(bytes(off - len(ref)))
        ref[off:off + size] = data
    elif op < 0.85:
        got = os.pread(fd, size, off)
        want = bytes(ref[off:off + size])
        if got != want:
            sys.exit(f"op {n}: read {p} at {off} size {size}: got {len(got)} bytes, differs")
    elif op < 0.92:
        t = rnd.randrange(0, MAX)
        os.ftruncate(fd, t)
        if t < len(ref):
            del ref[t:]
        else:
            ref.extend(bytes(t - len(ref)))
    elif op < 0.96:
        os.fsync(fd)
    else:
        # close and reopen: close-to-open on the same mount
        os.close(fd)
        fd = os.open(p, os.O_RDWR)
        files[p][0] = fd
    if os.fstat(fd).st_size != len(ref):
        sys.exit(f"op {n}: size of {p} is {os.fstat(fd).st_size}, expected {len(ref)}")
for p, (fd, ref) in files.items():
    os.close(fd)
    with open(p, "rb") as f:
        if f.read() != bytes(ref):
            sys.exit(f"{p} differs at the end")
    with open(p.replace(sys.argv[4], sys.argv[5]), "rb") as f:
        if f.read() != bytes(ref):
            sys.exit(f"{p} differs on the server")
PY

pids=""
for seed in 1 2 3 4; do
	as_user python3 "$T/rio.py" "$T/mnt" "$seed" 2500 "$T/mnt" "$EXPORT" >"$T/rio$seed.out" 2>&1 &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || fail "random I/O run failed: $(cat "$T"/rio*.out)"
done

# Offsets past 4 GiB (a 32-bit server must use 64-bit file offsets): a
# sparse file with data at 5 GiB, written and read back through the mount
# and checked on the server.
big=$((5 * 1024 * 1024 * 1024))
as_user python3 - "$T/mnt/big" "$EXPORT/big" "$big" <<'PY' || fail "I/O past 4 GiB"
import os, sys
path, server, off = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = b"past four gigabytes\n"
fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, data, off)
os.fsync(fd)
if os.pread(fd, len(data), off) != data:
    sys.exit("read back at 5 GiB differs")
os.close(fd)
for p in (path, server):
    st = os.stat(p)
    if st.st_size != off + len(data):
        sys.exit("%s: size %d, expected %d" % (p, st.st_size, off + len(data)))
with open(server, "rb") as f:
    f.seek(off)
    if f.read() != data:
        sys.exit("server copy differs at 5 GiB")
PY
exit 0
