#!/bin/bash
# Write coalescing in write-behind (fuse/wb.h): small sequential writes
# reach the server as few WRITEs of up to max_data, and nothing else
# changes for an application:
#  - `dd bs=4k` of 16 MiB: far fewer than 4096 WRITEs, the bytes exact;
#  - two mounts writing interleaved, disjoint ranges of one file (edges
#    inside pages) keep each other's bytes and the bytes between them:
#    a coalesced WRITE carries exactly the bytes written, no whole page;
#  - a held write reaches the server on its own, soon, without a close;
#  - ENOSPC on a full export is still reported at fsync or close.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
SMALL=$T/small
br_on_cleanup 'umount -l "$SMALL" 2>/dev/null'
chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/a"
br_mount "$T/b"
A=$T/a
B=$T/b

# ctl KEY: a value from mount A's control file.
ctl() { sed -n "s/^$1=//p" "$A/.bramble"; }

# ---- 1. dd bs=4k: 4096 writes, a few WRITEs
max=$(ctl max_data)
[ -n "$max" ] && [ "$max" -gt 0 ] || fail "no max_data in $A/.bramble"
head -c $((16 << 20)) /dev/urandom >"$T/dd.ref"
chmod 644 "$T/dd.ref"
w0=$(br_calls WRITE)
m0=$(ctl wb.merged)
as_user dd if="$T/dd.ref" of="$A/dd" bs=4k count=4096 status=none || fail "dd to the mount"
w=$(($(br_calls WRITE) - w0))
merged=$(($(ctl wb.merged) - m0))
# 16 MiB in WRITEs of max_data is 16 of 1 MiB; the hold timer may cut a
# few short on a slow machine.  Without coalescing: 4096.
limit=$(( (16 << 20) / max * 4 ))
[ "$limit" -lt 16 ] && limit=16
note "dd bs=4k count=4096: $w WRITEs (max_data $max, limit $limit), $merged writes merged"
[ "$w" -le "$limit" ] || fail "dd bs=4k: $w WRITE calls, expected at most $limit"
[ "$merged" -ge $((4096 - limit)) ] || fail "wb.merged grew by $merged only"
cmp "$T/dd.ref" "$EXPORT/dd" || fail "dd: the server's copy differs"
cmp "$T/dd.ref" "$B/dd" || fail "dd: the other mount reads other bytes"

# ---- 2. interleaved writers on two mounts, disjoint ranges of one file
# The file starts as known bytes; A writes the even regions, B the odd
# ones, each region sequentially in 1000-byte writes (so each region is
# one stream that coalesces), both at once.  Regions are 99,999 bytes
# apart from gaps of 77 untouched bytes: every edge falls inside a page.
cat >"$T/inter.py" <<'PY'
import os, sys, random
path, who, nregions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
REG, GAP, BS = 99999, 77, 1000
fd = os.open(path, os.O_WRONLY)
rnd = random.Random(who)
for i in range(who, nregions, 2):
    start = i * (REG + GAP)
    data = bytes([(i * 7 + 1) % 251 + 1]) * REG
    for off in range(0, REG, BS):
        os.pwrite(fd, data[off:off + BS], start + off)
    if rnd.random() < 0.2:
        os.fsync(fd)
os.close(fd)
PY
cat >"$T/inter_check.py" <<'PY'
import sys
path, base, nregions = sys.argv[1], sys.argv[2], int(sys.argv[3])
REG, GAP = 99999, 77
want = bytearray(open(base, "rb").read())
for i in range(nregions):
    start = i * (REG + GAP)
    want[start:start + REG] = bytes([(i * 7 + 1) % 251 + 1]) * REG
got = open(path, "rb").read()
if got != bytes(want):
    bad = next(k for k in range(min(len(got), len(want))) if got[k] != want[k]) \
        if len(got) == len(want) else None
    sys.exit(f"{path}: {len(got)} bytes (want {len(want)}), first difference at {bad}")
PY
NREG=80
head -c $((NREG * (99999 + 77))) /dev/urandom >"$T/inter.base"
as_user cp "$T/inter.base" "$A/inter" || fail "cp the base file"
w0=$(br_calls WRITE)
as_user python3 "$T/inter.py" "$A/inter" 0 $NREG >"$T/inter0.out" 2>&1 &
p0=$!
as_user python3 "$T/inter.py" "$B/inter" 1 $NREG >"$T/inter1.out" 2>&1 &
p1=$!
wait $p0 || fail "writer on $A: $(cat "$T/inter0.out")"
wait $p1 || fail "writer on $B: $(cat "$T/inter1.out")"
note "interleaved: $(($(br_calls WRITE) - w0)) WRITEs for $((NREG * 100)) writes"
python3 "$T/inter_check.py" "$EXPORT/inter" "$T/inter.base" $NREG ||
	fail "interleaved writers clobbered each other's bytes (server copy)"
as_user python3 "$T/inter_check.py" "$A/inter" "$T/inter.base" $NREG ||
	fail "interleaved writers: mount A reads other bytes"

# ---- 3. a held write goes by itself: a stream's tail, no close, no fsync
cat >"$T/trickle.py" <<'PY'
import os, sys, time
mnt, srv = sys.argv[1], sys.argv[2]
fd = os.open(mnt, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * 100)
os.fsync(fd)                      # sent: nothing left to join
os.write(fd, b"b" * 100)          # continues the first: held
t0 = time.monotonic()
while time.monotonic() - t0 < 5:
    if os.path.getsize(srv) == 200:
        break
    time.sleep(0.01)
else:
    sys.exit("a held write did not reach the server in 5 s")
os.close(fd)
PY
t0=$(ctl wb.hold_timeouts)
as_user python3 "$T/trickle.py" "$A/trickle" "$EXPORT/trickle" || fail "hold timer"
[ "$(ctl wb.hold_timeouts)" -gt "$t0" ] || fail "wb.hold_timeouts did not grow"

# ---- 4. ENOSPC: a 2 MiB export, 4 MiB written in 4 KiB writes, with or
# without fsync; then a full disk met by a held stream's tail
mkdir -p "$SMALL"
mount -t tmpfs -o size=2m,mode=1777 tmpfs "$SMALL" || skip "cannot mount a tmpfs"
EXPORT=$SMALL
STATE=$T/state-small
mkdir -p "$STATE"
br_start_server
br_mount "$T/s"
cat >"$T/enospc.py" <<'PY'
import errno, os, sys
p, mode = sys.argv[1], sys.argv[2]
data = os.urandom(4 << 20)
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
err, where, done = None, None, 0
if mode == "tail":
    # 1.75 MiB that fit, then 512 KiB in 4 KiB writes that join one held
    # request: the error comes when close sends it.
    done = os.write(fd, data[:7 << 18])
    os.fsync(fd)
    data = data[:done + (1 << 19)]
try:
    while done < len(data):
        done += os.write(fd, data[done:done + 4096])
except OSError as e:
    err, where = e.errno, "write"
if err is None and mode == "fsync":
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
print(f"{mode}: ENOSPC at {where} after {done} bytes", file=sys.stderr)
PY
for mode in fsync close tail; do
	as_user python3 "$T/enospc.py" "$T/s/full" $mode || fail "ENOSPC ($mode)"
	# brambled's fd cache keeps the removed file's blocks: restart it.
	as_user rm -f "$T/s/full" || fail "rm full"
	br_stop_server
	br_restart_server
done
as_user sh -c 'echo after >"$1"' - "$T/s/ok" || fail "write after ENOSPC"
[ "$(cat "$SMALL/ok")" = after ] || fail "file after ENOSPC differs"
exit 0
