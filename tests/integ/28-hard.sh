#!/bin/bash
# 28-hard: -o hard waits for the server for ever, yet every wait can be
# interrupted; a mount made while the server is down comes up when it
# appears.
#
# With the server stopped (SIGSTOP) for longer than timeout=1:
#  - a reader blocked on the mount dies on SIGKILL (kill -9, and
#    `timeout -s KILL`), within a generous 10 s;
#  - a reader with a SIGINT handler gets EINTR from its read/open;
#  - a writer blocked in fsync behind write-behind dies on SIGKILL;
#  - readers left alone complete with the right data once the server
#    resumes: hard means no EIO however long the server was away (a soft
#    mount with timeout=1 would have failed them).
# Then: -o bg mounts while no server listens and works once one starts;
# -o hard (fg) waits for the server before mounting; soft fg gives up
# after its timeout with exit status 1.
# The readers and writers are an ordinary user's (as_user), in a 1777
# export; the server squashes root.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"

# gone PID: the process has exited (a zombie waiting for `wait' counts).
gone() {
	[ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
# blocked PID: the process is waiting inside a FUSE request.  Exactly
# that: a signal sent a moment earlier (still in user space) would be
# taken by Python's handler before the system call, and lost.
blocked() {
	grep -q request_wait_answer "/proc/$1/wchan" 2>/dev/null
}

sleep 30 &
sleeper=$!
sleep 0.2
w=$(cat /proc/$sleeper/wchan 2>/dev/null)
kill $sleeper
wait $sleeper 2>/dev/null
case $w in ""|0) skip "this kernel hides /proc/PID/wchan: cannot tell a process waits on FUSE" ;; esac

chmod 1777 "$EXPORT"
br_start_server
for f in a b c d e; do head -c 3000000 /dev/urandom >"$EXPORT/$f"; done
MNT=$T/mnt
br_mount "$MNT" -o hard,timeout=1
as_user ls "$MNT" >/dev/null || fail "ls of the mount"
GO=$T/home1/go                        # the writer's cue (and its answer)
# as_user_bg CMD...: as_user CMD in the background, $! being CMD's own pid
# (`as_user CMD &' forks a shell running the function: signals and
# /proc/PID/wchan must reach CMD itself).
as_user_bg() {
	setpriv --reuid="$BR_UID" --regid="$BR_GID" --init-groups --reset-env -- \
		env HOME="$T/home1" USER="$BR_USER" LOGNAME="$BR_USER" "$@" &
}

# A writer that opens its file now (open needs the server) and writes and
# fsyncs once told to, while the server is stopped.
cat >"$T/fsync.py" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
os.write(fd, b"x" * 65536)
os.fsync(fd)
EOF
as_user_bg python3 "$T/fsync.py" "$MNT/new" "$GO"
wpid=$!
wait_for 20 test -e "$GO.ready" || fail "the writer could not open its file"

kill -STOP "$SERVER_PID"
br_on_cleanup "kill -CONT $SERVER_PID 2>/dev/null"

# SIGKILL of a blocked reader.
as_user_bg cat "$MNT/a" >/dev/null 2>&1
victim=$!
wait_for 20 blocked $victim || fail "the reader never blocked on the mount"
kill -KILL $victim
wait_for 10 gone $victim || fail "a reader blocked on a hard mount survived SIGKILL"
wait $victim 2>/dev/null

# The same through timeout(1).
as_user_bg timeout -s KILL 1 cat "$MNT/b" >/dev/null 2>&1
tpid=$!
wait_for 20 gone $tpid || fail "timeout -s KILL could not end a blocked reader"
wait $tpid && fail "the reader of b finished while the server was stopped"

# SIGINT with a handler: the blocked call fails with EINTR.
cat >"$T/intr.py" <<'EOF'
import os, signal, sys
class Interrupted(Exception):
    pass
def handler(sig, frame):
    raise Interrupted()
signal.signal(signal.SIGINT, handler)
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    os.pread(fd, 1 << 20, 1 << 20)
    print("completed")
except Interrupted:
    print("interrupted")
except OSError as e:
    print("error: %s" % e)
EOF
as_user_bg python3 "$T/intr.py" "$MNT/c" >"$T/intr.out" 2>&1
ipid=$!
wait_for 20 blocked $ipid || fail "the python reader never blocked on the mount"
kill -INT $ipid
wait_for 10 gone $ipid || fail "SIGINT did not end a blocked read"
wait $ipid
[ "$(cat "$T/intr.out")" = interrupted ] ||
	fail "expected EINTR (the handler's exception), got: $(cat "$T/intr.out")"

# The writer: write() returns (write-behind), fsync() waits for it.
touch "$GO"
wait_for 20 blocked $wpid || fail "the writer never blocked on the mount"
kill -KILL $wpid
wait_for 10 gone $wpid || fail "a writer blocked in fsync survived SIGKILL"
wait $wpid 2>/dev/null

# Readers left alone wait through the outage, longer than timeout=1.
as_user_bg cmp "$MNT/d" "$EXPORT/d" >"$T/cmp-d.out" 2>&1
c1=$!
as_user sh -c 'ls -l "$1" >/dev/null && cat "$1/e"' - "$MNT" >"$T/e.copy" 2>"$T/cat-e.err" &
c2=$!
wait_for 20 blocked $c1 || fail "the reader of d never blocked"
sleep 2                               # > timeout=1: soft would have failed
gone $c1 && fail "a reader finished while the server was stopped"
kill -CONT "$SERVER_PID"
wait $c1 || fail "reader of d failed after the server resumed: $(cat "$T/cmp-d.out")"
wait $c2 || fail "reader of e failed after the server resumed: $(cat "$T/cat-e.err")"
cmp "$T/e.copy" "$EXPORT/e" || fail "e read wrong after the outage"
grep -q "Input/output error" "$T"/*.out "$T"/*.err && fail "EIO on a hard mount"
# The mount carries on.
as_user sh -c 'echo after >"$1"' - "$MNT/after" || fail "writing after"
[ "$(cat "$EXPORT/after")" = after ] || fail "the mount does not work after the outage"
br_umount "$MNT"

# ---- mounts made while the server is down
br_stop_server
PORT=$(br_free_port)

# -o bg: mounted at once; a process using it waits for the server.
MNT2=$T/mnt-bg
br_mount_nowait "$MNT2" -o bg,timeout=60
wait_for 20 br_mounted "$MNT2" || fail "-o bg did not mount while the server was down"
as_user_bg cat "$MNT2/a" >"$T/a.copy" 2>"$T/bg.err"
bgr=$!
wait_for 20 blocked $bgr || fail "a reader of the bg mount did not wait"
br_restart_server
wait $bgr || fail "reading through the bg mount failed: $(cat "$T/bg.err")"
cmp "$T/a.copy" "$EXPORT/a" || fail "wrong data through the bg mount"
grep -q "mounting now and connecting in the background" "$T/bramblefs.log" ||
	fail "bramblefs did not say it mounted in the background"
br_umount "$MNT2"
br_stop_server

# -o hard (fg): waits for the server, then mounts.
MNT3=$T/mnt-hard
br_mount_nowait "$MNT3" -o hard,timeout=1
hpid=$FUSE_PID
sleep 1.5                             # > timeout=1: soft would have given up
gone $hpid && fail "a hard mount gave up while the server was down"
br_mounted "$MNT3" && fail "mounted without a server"
br_restart_server
wait_for 20 br_mounted "$MNT3" || fail "the hard mount did not come up with the server"
as_user cmp "$MNT3/b" "$EXPORT/b" || fail "wrong data through the late hard mount"
br_umount "$MNT3"
br_stop_server

# Soft and fg: the mount fails after its timeout, with a message.
mkdir -p "$T/mnt-soft"
"$BRAMBLEFS" 127.0.0.1:/ "$T/mnt-soft" -f -o "port=$PORT,timeout=1" 2>"$T/soft.err" &&
	fail "a soft mount without a server succeeded"
grep -q "cannot connect" "$T/soft.err" || fail "no reason given: $(cat "$T/soft.err")"
exit 0
