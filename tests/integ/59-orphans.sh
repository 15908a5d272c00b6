#!/bin/bash
# 59-orphans: a file removed while open on a node lives on the server in
# the export's orphan directory (server/orphans.h): nameless, st_nlink 0,
# across a server restart (kill -9), freed at the node's last close, and
# freed when its node never comes back; the orphan directory's name is
# reserved (never listed, found, made or removed through bramble).
. "$(dirname "$0")/lib.sh"

O=$EXPORT/.bramble-orphans
orphans() { find "$O" -type f 2>/dev/null | wc -l; }
no_orphans() { [ "$(orphans)" = 0 ]; }     # for wait_for: counted each poll

# A short lease: a node gone for 2 s loses what the server held for it.
br_start_server --lock-lease 2
chmod 1777 "$EXPORT"
br_mount "$T/mnt"
M=$T/mnt

# ---- removed while open, across a kill -9 of the server
mkfifo -m 0666 "$T/go" "$T/done"
as_user python3 - "$M" "$T/go" "$T/done" <<'PY' &
import os, sys
m, go, done = sys.argv[1:4]
fd = os.open(m + "/f", os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"before")
os.unlink(m + "/f")
assert os.fstat(fd).st_nlink == 0, os.fstat(fd).st_nlink
assert "f" not in os.listdir(m), os.listdir(m)
open(go, "w").close()               # the test kills and restarts the server
open(done).read()
os.lseek(fd, 0, 0)
got = os.read(fd, 100)
assert got == b"before", got
os.write(fd, b"+after")
os.fsync(fd)
assert os.fstat(fd).st_nlink == 0
os.close(fd)
print("open unlinked file survived the restart")
PY
user=$!
cat "$T/go"
[ "$(orphans)" = 1 ] || fail "no orphan kept on the server: $(ls -la "$O" 2>&1)"
[ "$(stat -c %a:%U "$O")" = "700:root" ] || fail "orphan directory is not 0700 root: $(stat -c %a:%U "$O")"
ls -a "$M" | grep -q bramble && fail "a bramble name is listed: $(ls -a "$M")"
br_kill_server
br_restart_server --lock-lease 2
echo >"$T/done"
wait "$user" || fail "the open, unlinked file broke across the restart"
wait_for 5 no_orphans || fail "orphan not freed at the last close: $(ls -la "$O")"

# ---- the name is reserved
as_user stat "$M/.bramble-orphans" 2>/dev/null && fail ".bramble-orphans found by lookup"
out=$(as_user mkdir "$M/sub" 2>&1) || fail "mkdir sub: $out"
out=$(as_user touch "$M/sub/.bramble-orphans" 2>&1) && fail "a file named .bramble-orphans was made"
case $out in *"not permitted"*) ;; *) fail "touch .bramble-orphans: $out" ;; esac
rm -rf "$M/.bramble-orphans" 2>/dev/null
[ -d "$O" ] || fail "root removed the orphan directory through the mount"

# ---- a node that never comes back: its orphans go after its lease
as_user python3 -c "
import os, sys
fd = os.open('$M/g', os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b'x' * 4096)
os.unlink('$M/g')
sys.stdout.write('held\n'); sys.stdout.flush()
os.kill(os.getpid(), 9)             # never closes: the mount's release will
" >/dev/null 2>&1
# The process died: the kernel released its file, and the mount said so.
wait_for 5 no_orphans || fail "orphan of a dead process not freed"
mkfifo -m 0666 "$T/go2"
as_user python3 -c "
import os
fd = os.open('$M/h', os.O_CREAT | os.O_RDWR, 0o644)
os.unlink('$M/h')
open('$T/go2', 'w').close()
import time; time.sleep(60)
" &
holder=$!
cat "$T/go2"
[ "$(orphans)" = 1 ] || fail "no orphan for h"
# The whole node goes away (bramblefs killed): after its lease (2 s) the
# server frees what it kept for it.
kill -9 "$FUSE_PID"
wait "$FUSE_PID" 2>/dev/null
kill "$holder" 2>/dev/null
fusermount3 -u -z "$M" 2>/dev/null
wait_for 15 no_orphans || fail "orphan of a node gone for its lease not freed"
echo "59-orphans: ok"
