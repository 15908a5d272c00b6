#!/bin/bash
# Deferred SETATTRs (fuse/wb.h, wb_setattr): the chmod and utimes that
# cp -a, tar and install issue after writing go behind the file's
# writes, merged into one SETATTR, and nothing else changes for a user:
#  - `cp -a` of files as their owner: modes and times exact on the
#    server, at most one SETATTR per file, fewer than before;
#  - what was set is seen at once on the same mount (stat, ls), and on
#    another mount after the close;
#  - order holds: a write after a utimes moves mtime on again, a utimes
#    after a write sticks;
#  - errors a caller must see are not deferred: a chmod by root (squashed
#    by the server) or by another user fails at the call.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/a"
br_mount "$T/b"
A=$T/a
B=$T/b

ctl() { sed -n "s/^$1=//p" "$A/.bramble"; }
# attrs DIR: "name mode mtime(ns) size" of every file under DIR, sorted
attrs() {
	(cd "$1" && find . -type f -printf '%P %m %T@ %s\n' | sort)
}

# ---- 1. cp -a as the files' owner
src=$T/home1/src
mkdir -p "$src/sub"
for i in $(seq 1 40); do
	head -c $((i * 997)) /dev/urandom >"$src/f$i"
	chmod $((i % 2 ? 640 : 755)) "$src/f$i"
	touch -d "2021-0$((i % 9 + 1))-11 10:1$((i % 10)):0$((i % 7)).$((i * 12345))" "$src/f$i"
done
echo small >"$src/sub/g"
chmod 600 "$src/sub/g"
chown -R "$BR_UID:$BR_GID" "$src"
s0=$(br_calls SETATTR)
d0=$(ctl wb.attrs)
as_user cp -a "$src" "$A/copy" || fail "cp -a to the mount"
n=$(($(br_calls SETATTR) - s0))
deferred=$(($(ctl wb.attrs) - d0))
note "cp -a of 41 files: $n SETATTRs, $deferred deferred"
[ "$deferred" -ge 41 ] || fail "only $deferred SETATTRs deferred of cp -a's 41 files"
# one per file, and up to three per directory (not deferred: cp sets
# them after the directory's files), not two or three per file
[ "$n" -le $((41 + 2 * 3)) ] || fail "cp -a sent $n SETATTRs for 41 files"
[ "$(attrs "$src")" = "$(attrs "$EXPORT/copy")" ] ||
	{ diff <(attrs "$src") <(attrs "$EXPORT/copy") >&2; fail "cp -a: the server's modes or times differ"; }
[ "$(attrs "$src")" = "$(attrs "$B/copy")" ] || fail "cp -a: the other mount sees other modes or times"
as_user diff -r "$src" "$A/copy" >/dev/null || fail "cp -a: contents differ"

# ---- 2. seen at once on this mount, on the other after close
cat >"$T/seen.py" <<'PY'
import os, stat, sys
path = sys.argv[1]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, b"x" * 5000)
os.utime(fd, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
os.fchmod(fd, 0o640)
st = os.stat(path)              # this mount, file still open
if (stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size) != (0o640, 1_500_000_000_987_654_321, 5000):
    sys.exit(f"open: stat shows {oct(st.st_mode)} {st.st_mtime_ns} {st.st_size}")
os.close(fd)
# an existing file opened with O_TRUNC: the size answered is the new one
with open(path + ".t", "wb") as f:
    f.write(b"y" * 300000)
fd = os.open(path + ".t", os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"z" * 10)
os.fchmod(fd, 0o600)
if os.fstat(fd).st_size != 10:
    sys.exit(f"O_TRUNC, write 10, fchmod: size {os.fstat(fd).st_size}")
os.close(fd)
if os.stat(path + ".t").st_size != 10:
    sys.exit(f"after close: size {os.stat(path + '.t').st_size}")
PY
as_user python3 "$T/seen.py" "$A/seen" || fail "attributes set while open not seen"
[ "$(stat -c '%a %Y %s' "$B/seen")" = "640 1500000000 5000" ] ||
	fail "the other mount sees $(stat -c '%a %Y %s' "$B/seen") after close"
[ "$(stat -c '%a %y' "$EXPORT/seen")" = "640 $(date -d @1500000000.987654321 '+%F %T.%N %z')" ] ||
	fail "the server has $(stat -c '%a %y' "$EXPORT/seen")"

# ---- 3. order: write after utimes moves mtime; utimes after write sticks
cat >"$T/order.py" <<'PY'
import os, sys
a, b = sys.argv[1], sys.argv[2]
fd = os.open(a, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"1" * 100)
os.utime(fd, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
os.write(fd, b"2" * 100)        # after the utimes: mtime is now again
os.close(fd)
fd = os.open(b, os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(50):
    os.write(fd, b"3" * 4096)
os.utime(fd, ns=(1_100_000_000_000_000_000, 1_100_000_000_000_000_000))
os.close(fd)
PY
as_user python3 "$T/order.py" "$A/o1" "$A/o2" || fail "order.py"
[ "$(stat -c %Y "$EXPORT/o1")" -gt 1600000000 ] ||
	fail "a write after utimes left mtime at $(stat -c %Y "$EXPORT/o1")"
[ "$(stat -c '%Y %s' "$EXPORT/o2")" = "1100000000 204800" ] ||
	fail "utimes after writes: the server has $(stat -c '%Y %s' "$EXPORT/o2")"

# ---- 4. errors a caller must see come at the call
as_user sh -c 'echo data >"$1"; chmod 644 "$1"' _ "$A/mine" || fail "create mine"
if chmod 600 "$A/mine" 2>/dev/null; then
	fail "root's chmod of a user's file succeeded on a root-squashing server"
fi
as_user2 chmod 600 "$A/mine" 2>/dev/null && fail "another user's chmod succeeded"
# ... also while the owner holds the file open for writing
as_user python3 - "$A/mine" <<'PY' || fail "owner's open file"
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"more")
r = subprocess.run(["chmod", "600", sys.argv[1]])   # the owner: fine
os.close(fd)
sys.exit(r.returncode)
PY
[ "$(stat -c %a "$EXPORT/mine")" = 600 ] || fail "owner's chmod: $(stat -c %a "$EXPORT/mine")"
exit 0
