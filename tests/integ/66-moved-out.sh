#!/bin/bash
# 66-moved-out: a directory the administrator moves out of the export (mv
# on the server's disk) is stale through the handles brambled has cached.
# An ordinary user works in two directories of the mount and keeps an fd
# of each open; the administrator moves one out of the export and the
# other to another place inside it.  Then creating a
# file or a directory through the old fd (openat, mkdirat) or through the
# path the kernel has cached fails, and nothing appears outside the
# export; through the fd of the directory moved within, it still works.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
mkdir "$EXPORT/d" "$EXPORT/w" "$EXPORT/x" "$T/outside"
chown "$BR_UID:$BR_GID" "$EXPORT/d" "$EXPORT/w"
br_start_server
br_mount "$T/m"
M=$T/m

cat >"$T/user.py" <<'EOF'
import errno, os, sys, time
m, flag = sys.argv[1], sys.argv[2]
dfd = os.open(m + "/d", os.O_RDONLY | os.O_DIRECTORY)
wfd = os.open(m + "/w", os.O_RDONLY | os.O_DIRECTORY)
for fd in (dfd, wfd):       # the server decodes (and caches) both handles
    os.close(os.open("before", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    os.stat("before", dir_fd=fd)
print("ready", flush=True)
while not os.path.exists(flag):
    time.sleep(0.05)
time.sleep(0.3)             # past the server's 100 ms recheck of a directory
bad = 0
def attempt(what, f):
    global bad
    try:
        f()
        print("FAIL: %s worked in the directory moved out" % what)
        bad = 1
    except OSError as e:
        print("ok: %s: %s" % (what, errno.errorcode.get(e.errno, e.errno)))
attempt("openat(O_CREAT)", lambda: os.close(
    os.open("after", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=dfd)))
attempt("mkdirat", lambda: os.mkdir("subdir", 0o755, dir_fd=dfd))
attempt("echo x > d/newfile", lambda: open(m + "/d/newfile", "w").write("x"))
attempt("renameat into it", lambda: os.rename("before", "moved", src_dir_fd=wfd,
                                            dst_dir_fd=dfd))
try:
    os.close(os.open("after", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=wfd))
    os.mkdir("subdir", 0o755, dir_fd=wfd)
except OSError as e:
    print("FAIL: the directory moved within the export: %s" % e)
    bad = 1
sys.exit(bad)
EOF

as_user python3 "$T/user.py" "$M" "$T/moved" >"$T/user.out" 2>&1 &
UPID=$!
wait_for 20 grep -q ready "$T/user.out" || fail "user side: $(cat "$T/user.out")"
[ -f "$EXPORT/d/before" ] && [ -f "$EXPORT/w/before" ] || fail "files before the move missing"
mv "$EXPORT/d" "$T/outside/d"
mv "$EXPORT/w" "$EXPORT/x/w"
touch "$T/moved"
wait "$UPID"
rc=$?
while read -r line; do note "$line"; done <"$T/user.out"
[ "$rc" = 0 ] || fail "writes through the old handle: $(grep FAIL "$T/user.out")"
left=$(cd "$T/outside/d" && ls -A | grep -v '^before$')
[ -z "$left" ] || fail "created outside the export: $left"
[ -f "$EXPORT/x/w/after" ] && [ -d "$EXPORT/x/w/subdir" ] ||
	fail "nothing created in the directory moved within the export"
[ -f "$EXPORT/x/w/before" ] || fail "rename took a file out of the export"
exit 0
