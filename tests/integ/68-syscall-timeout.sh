#!/bin/bash
# 68-syscall-timeout: on a soft mount, `timeout=' bounds a whole system
# call, not each of the calls it makes to the server.
# brambled is stopped (SIGSTOP: the connection stays up, nothing is
# answered); then, as an ordinary user, system calls that need several
# round trips each fail with EIO within timeout + 5 s:
#  - fsync after 24 writes behind (eight writer threads: three rounds of
#    WRITEs, then COMMIT);
#  - a read of a file with writes behind (wait for them, then READ).  The
#    kernel makes this one system call up to three requests (GETATTR, READ
#    for readahead, READ of the page): they share one deadline (each had
#    its own before: 9 s seen);
#  - open of a name the mount has not seen, and open(O_CREAT) of a new one;
#  - unlink, and rename over a name, with writes behind (each waits for
#    them first);
#  - a stat, for comparison (one call);
#  - cp -r of a small tree (the command as a whole).
# Then the server goes on (SIGCONT) and the mount works again.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "needs /usr/bin/python3"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
TMO=3
LIMIT=$((TMO + 5))

mkdir -p "$EXPORT/u/tree/sub"
for f in a b c sub/d; do echo "$f" >"$EXPORT/u/tree/$f"; done
for f in victim old target fa; do echo x >"$EXPORT/u/$f"; done
head -c 1048576 /dev/urandom >"$EXPORT/u/fb"
chown -R "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server
M=$T/mnt
# Names and attributes stay in the kernel for a minute: unlink and rename
# reach bramblefs's handlers at once, which wait for the writes behind.
br_mount "$M" -o "timeout=$TMO,entry_timeout=60,attr_timeout=60"
# The server must go on whatever happens: stopped, it would ignore the
# TERM of the cleanup.
br_on_cleanup 'kill -CONT "$SERVER_PID" 2>/dev/null'
fail() { kill -CONT "$SERVER_PID" 2>/dev/null; echo "FAIL: $*" >&2; exit 1; }

# The timed system calls: files are opened (and names looked up) while the
# server answers; "go" on stdin starts the clock.  One line per call:
# name, errno name (OK: success), seconds.
cat >"$T/sc.py" <<'EOF'
import errno, os, sys, time
d, ready = sys.argv[1], sys.argv[2]
fa = os.open(d + "/fa", os.O_WRONLY)
fb = os.open(d + "/fb", os.O_RDWR)
for n in ("victim", "old", "target"):
    os.stat(d + "/" + n)
open(ready, "w").close()
sys.stdin.readline()
blk = b"w" * 4096  # small: the socket to the stopped server must not fill

def timed(name, fn):
    # Separate system calls: a request of a process that follows within
    # 50 ms one that used most of its time keeps that one's deadline
    # (intr.h), which is what bounds a read's several requests.
    time.sleep(0.2)
    t0 = time.monotonic()
    try:
        fn()
        res = "OK"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    print(name, res, "%.1f" % (time.monotonic() - t0), flush=True)

def writes(fd, base):
    time.sleep(0.2)
    for i in range(24):
        try:
            os.pwrite(fd, blk, base + i * len(blk))
        except OSError:
            pass  # an earlier write behind that failed, reported once

writes(fa, 0)
timed("fsync", lambda: os.fsync(fa))
writes(fb, 1 << 20)   # unlink and rename wait for writes behind
timed("unlink", lambda: os.unlink(d + "/victim"))
writes(fb, 2 << 20)
timed("rename", lambda: os.rename(d + "/old", d + "/target"))
writes(fb, 3 << 20)
timed("read", lambda: os.pread(fb, 4096, 0))
timed("open-unseen", lambda: os.close(os.open(d + "/unseen", os.O_RDONLY)))
timed("create", lambda: os.close(os.open(d + "/new", os.O_WRONLY | os.O_CREAT, 0o644)))
timed("stat", lambda: os.stat(d + "/tree/a"))
EOF
mkfifo "$T/go"
as_user "$PY" "$T/sc.py" "$M/u" "$T/home1/ready" <"$T/go" >"$T/calls.out" 2>&1 &
py=$!
exec 3>"$T/go"
wait_for 20 test -e "$T/home1/ready" || fail "the user's files did not open: $(cat "$T/calls.out")"

kill -STOP "$SERVER_PID"
echo go >&3
exec 3>&-
wait "$py"
t0=$(date +%s%N)
as_user cp -r "$M/u/tree" "$M/u/copy" >"$T/cp.out" 2>&1 && res=OK || res=failed
ms=$((($(date +%s%N) - t0) / 1000000))
printf 'cp-r %s %d.%d\n' "$res" $((ms / 1000)) $((ms % 1000 / 100)) >>"$T/calls.out"
sed 's/^/  /' "$T/calls.out" >&2
[ "$(grep -c . "$T/calls.out")" = 8 ] || fail "expected 8 results: $(cat "$T/calls.out")"
bad=$(awk -v lim="$LIMIT" '$3 + 0 > lim || $2 == "OK"' "$T/calls.out")
[ -z "$bad" ] || fail "not an error within timeout + 5 s ($LIMIT s):
$bad"
bad=$(awk '$1 != "cp-r" && $2 != "EIO"' "$T/calls.out")
[ -z "$bad" ] || fail "not EIO: $bad"

# The server goes on: the mount works again.
kill -CONT "$SERVER_PID"
wait_for 30 as_user stat -c %s "$M/u/tree/a" >/dev/null || fail "the mount does not answer after SIGCONT"
as_user sh -c "echo back >'$M/u/after' && sync '$M/u/after'" || fail "write after SIGCONT"
[ "$(cat "$EXPORT/u/after")" = back ] || fail "after SIGCONT, the export has: $(cat "$EXPORT/u/after")"
as_user cp -r "$M/u/tree" "$M/u/copy2" || fail "cp -r after SIGCONT"
diff -r "$EXPORT/u/tree" "$EXPORT/u/copy2" || fail "the copy differs"
as_user rm "$M/u/after" || fail "unlink after SIGCONT"
exit 0
