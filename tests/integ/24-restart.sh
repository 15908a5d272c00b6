#!/bin/bash
# The server is killed (kill -9) and restarted on the same port while a
# process reads and writes on the mount: the process carries on, with no
# error and no ESTALE, through an fd opened before the restart too.  Then
# with -o timeout=2 a server down for longer gives EIO after about 2 s,
# and the same mount recovers when the server is back.
# The workload is an ordinary user's (as_user), in a 1777 export; the
# server squashes root.
. "$(dirname "$0")/lib.sh"

chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/mnt"
M=$T/mnt
as_user mkdir "$M/work" || fail "mkdir work"
for i in 0 1 2 3 4 5 6 7; do
	head -c 200000 /dev/urandom | as_user dd of="$M/work/f$i" status=none || fail "writing f$i"
done

# The worker: idempotent operations only (a call re-sent after a
# reconnect may run twice on the server; there is no duplicate request
# cache yet).  It runs until $T/stop appears, checking everything.
cat >"$T/worker.py" <<'PY'
import os, sys, time, random
d, stop = sys.argv[1], sys.argv[2]
held = os.open(f"{d}/held", os.O_RDWR | os.O_CREAT, 0o644)
ref = {}
for i in range(8):
    with open(f"{d}/f{i}", "rb") as f:
        ref[i] = bytearray(f.read())
n = 0
rnd = random.Random(7)
while not os.path.exists(stop) or n < 50:
    i = rnd.randrange(8)
    off = rnd.randrange(len(ref[i]) - 100)
    data = os.urandom(100)
    fd = os.open(f"{d}/f{i}", os.O_RDWR)
    os.pwrite(fd, data, off)
    ref[i][off:off + 100] = data
    got = os.pread(fd, len(ref[i]), 0)
    os.close(fd)
    assert got == bytes(ref[i]), f"f{i} differs after write {n}"
    os.pwrite(held, n.to_bytes(8, "little"), 8 * n)
    assert os.pread(held, 8, 8 * n) == n.to_bytes(8, "little")
    assert len(os.listdir(d)) == 9
    os.stat(f"{d}/f{(i + 1) % 8}")
    n += 1
    time.sleep(0.01)
os.fsync(held)
os.close(held)
print(n)
PY
as_user python3 "$T/worker.py" "$M/work" "$T/stop" >"$T/worker.out" 2>&1 &
WORKER=$!
sleep 1
for round in 1 2; do
	br_kill_server
	sleep 1
	br_restart_server
	sleep 1
done
touch "$T/stop"
wait "$WORKER" || fail "the worker failed across restarts: $(cat "$T/worker.out")"
note "worker did $(cat "$T/worker.out") iterations across 2 restarts"
grep -qi stale "$T/bramblefs.log" && fail "ESTALE seen"
# The mount still works for everything, without a remount.
as_user sh -c 'echo after >"$1"' - "$M/after" && [ "$(as_user cat "$M/after")" = after ] || fail "mount unusable after restarts"

# Down longer than the call timeout: EIO in about 2 s, then recovery.
br_mount "$T/mnt2" -o timeout=2
as_user sh -c 'echo before >"$1"' - "$T/mnt2/t2" || fail "writing t2"
br_kill_server
t0=$(date +%s%N)
out=$(as_user cat "$T/mnt2/t2" 2>&1) && fail "read succeeded with the server down"
t1=$(date +%s%N)
echo "$out" | grep -q "Input/output error" || fail "expected EIO, got: $out"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 1500 ] && [ "$ms" -le 8000 ] || fail "EIO after $ms ms, expected about 2000"
as_user ls "$T/mnt2/missing-name" >/dev/null 2>&1 && fail "lookup succeeded with the server down"
br_restart_server
[ "$(as_user cat "$T/mnt2/t2")" = before ] || fail "mount did not recover after the server returned"
[ "$(as_user cat "$M/after")" = after ] || fail "first mount did not recover"
exit 0
