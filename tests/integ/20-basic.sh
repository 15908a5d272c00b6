#!/bin/bash
# Every FUSE operation bramblefs implements, through the mount, compared
# with the same operation on a local directory: results and errno values,
# then the resulting trees (types, modes, owners, sizes, link counts,
# times, symlink targets, xattrs, content).  Also: the export dir holds
# what the mount shows, statfs, big files, long directories, silly
# rename, and the .bramble control file.
# Everything runs as an ordinary user on a root-squashing server (the
# export is 1777, like /tmp); at the end the operations run once more as
# root on a --no-root-squash server, for what only root can do (chown to
# another user or group, access() as root).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "needs python3"
chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/mnt"
MNT=$T/mnt

cat >"$T/ops.py" <<'PY'
import ctypes, errno, os, stat, sys

d = sys.argv[1]
os.chdir(d)
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100

def res(name, f, *a):
    try:
        r = f(*a)
        if isinstance(r, bytes):
            r = r[:64]
        print(f"{name}: ok {r!r}" if r is not None else f"{name}: ok")
    except OSError as e:
        print(f"{name}: {errno.errorcode[e.errno]}")

def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

def write(p, data, mode=0o644):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)

def read(p):
    with open(p, "rb") as f:
        return f.read()

# files, modes, owners, times
write("f1", b"hello world\n")
write("f2", b"x" * 5000, 0o600)
res("chmod", os.chmod, "f2", 0o4751)
res("chown", os.chown, "f2", 1000, 1000)
res("chown-gid", os.chown, "f1", -1, 65534)
res("utime", lambda: os.utime("f1", ns=(1000000000123456789, 1200000000987654321)))
res("truncate-grow", os.truncate, "f1", 100000)
res("truncate-shrink", os.truncate, "f1", 5)
res("read-f1", read, "f1")
write("f3", b"abc")
res("utime-now", os.utime, "f3", None)
# O_APPEND, pread/pwrite at offsets, sparse holes
fd = os.open("f3", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"def")
os.close(fd)
fd = os.open("f4", os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"tail", 1 << 20)
os.pwrite(fd, b"head", 0)
res("pread", os.pread, fd, 8, (1 << 20) - 2)
res("fsync", os.fsync, fd)
res("fdatasync", os.fdatasync, fd)
os.close(fd)
res("read-f3", read, "f3")
# O_TRUNC of an existing file
write("f3", b"new")
res("read-f3-trunc", read, "f3")

# directories, errno values
res("mkdir", os.mkdir, "d1", 0o750)
res("mkdir-exist", os.mkdir, "d1")
res("mkdir-nested", os.makedirs, "d1/a/b/c")
res("rmdir-notempty", os.rmdir, "d1")
res("rmdir-file", os.rmdir, "f1")
res("unlink-dir", os.unlink, "d1")
res("open-missing", os.open, "nope", os.O_RDONLY)
res("open-dir-write", os.open, "d1", os.O_WRONLY)
res("open-excl", os.open, "f1", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
res("open-notdir", os.open, "f1/x", os.O_RDONLY)
res("stat-missing", os.stat, "d1/missing")
res("longname", os.open, "n" * 256, os.O_WRONLY | os.O_CREAT)
res("link-dir", os.link, "d1", "d1link")
res("rename-into-self", os.rename, "d1", "d1/a/x")
res("readlink-file", os.readlink, "f1")
res("listdir-missing", os.listdir, "nope")
res("rmdir-missing", os.rmdir, "nope")
res("unlink-missing", os.unlink, "nope")

# links
res("symlink-rel", os.symlink, "f1", "s1")
res("symlink-abs", os.symlink, "/usr/bin/python3", "s2")
res("symlink-dangling", os.symlink, "../nowhere/at/all", "d1/s3")
res("symlink-exist", os.symlink, "x", "s1")
res("readlink", os.readlink, "s2")
res("read-via-symlink", read, "s1")
res("link", os.link, "f1", "h1")
res("link-exist", os.link, "f1", "h1")
res("nlink", lambda: os.stat("f1").st_nlink)
res("mkfifo", os.mkfifo, "fifo", 0o640)
res("mknod-sock", os.mknod, "sock", stat.S_IFSOCK | 0o600)
res("lstat-fifo", lambda: stat.S_IFMT(os.lstat("fifo").st_mode))

# rename, renameat2 flags
write("r1", b"one")
write("r2", b"two")
write("r3", b"three")
res("rename", os.rename, "r1", "r1b")
res("rename-over", os.rename, "r1b", "r2")
res("rename-noreplace", renameat2, "r2", "r3", 1)
res("rename-noreplace-ok", renameat2, "r2", "r4", 1)
res("rename-exchange", renameat2, "r3", "r4", 2)
res("rename-exchange-missing", renameat2, "r3", "nope", 2)
res("read-r3", read, "r3")
res("read-r4", read, "r4")
res("rename-dir", os.rename, "d1/a", "da")
res("rename-missing", os.rename, "nope", "x")

# xattrs (user. namespace)
res("setxattr", os.setxattr, "f1", "user.color", b"blue")
res("setxattr-create-exist", os.setxattr, "f1", "user.color", b"red",
    os.XATTR_CREATE)
res("setxattr-replace-missing", os.setxattr, "f1", "user.size", b"1",
    os.XATTR_REPLACE)
res("setxattr-big", os.setxattr, "f1", "user.big", b"z" * 3000)
res("getxattr", os.getxattr, "f1", "user.color")
res("getxattr-missing", os.getxattr, "f1", "user.nope")
res("listxattr", lambda: sorted(os.listxattr("f1")))
res("removexattr", os.removexattr, "f1", "user.big")
res("removexattr-missing", os.removexattr, "f1", "user.big")
res("xattr-dir", os.setxattr, "d1", "user.dir", b"yes")

# access (as root: the root run at the end)
res("access-r", os.access, "f2", os.R_OK)
res("access-x", os.access, "f1", os.X_OK)
res("access-missing", os.access, "nope", os.F_OK)

# copy_file_range (server-side copy through the mount)
write("src", bytes(range(256)) * 4096)
fi = os.open("src", os.O_RDONLY)
fo = os.open("dst", os.O_WRONLY | os.O_CREAT, 0o644)
n = 0
while n < 4096 * 256:
    c = os.copy_file_range(fi, fo, 4096 * 256 - n, n, n)
    if c == 0:
        break
    n += c
os.close(fi)
os.close(fo)
res("copy_file_range", lambda: (n, read("dst") == read("src")))

# a long directory (several readdir buffers)
os.mkdir("many")
for i in range(700):
    write(f"many/entry-with-a-longish-name-{i:04d}", b"")
res("listdir-many", lambda: len(os.listdir("many")))
res("scandir-many", lambda: sum(1 for _ in os.scandir("many")))

# unlink and rmdir
res("unlink", os.unlink, "h1")
res("nlink-after", lambda: os.stat("f1").st_nlink)
res("rmdir", os.rmdir, "d1/a" if os.path.exists("d1/a") else "da/b/c")
# exact times, set last so nothing else moves them
write("tm", b"t")
res("utime-tm", lambda: os.utime("tm", ns=(1000000000123456789, 1200000000987654321)))
res("utime-symlink", lambda: os.utime("s1", ns=(5, 1300000000000000001), follow_symlinks=False))
res("stat-tm", lambda: (os.stat("tm").st_atime_ns, os.stat("tm").st_mtime_ns))
print("listing:", sorted(os.listdir(".")))
PY

# walk.py: a comparable description of a tree (no dir times, no atime).
cat >"$T/walk.py" <<'PY'
import hashlib, os, stat, sys
top = sys.argv[1]
for root, dirs, files in os.walk(top):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, top)
        line = [rel, oct(st.st_mode), st.st_uid, st.st_gid]
        if not stat.S_ISDIR(st.st_mode):
            line += [st.st_size, st.st_nlink, st.st_mtime_ns if rel in ("tm", "s1") else ""]
        if stat.S_ISLNK(st.st_mode):
            line.append(os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                line.append(hashlib.sha256(f.read()).hexdigest()[:16])
        if not stat.S_ISLNK(st.st_mode):
            line.append(sorted((x, os.getxattr(p, x, follow_symlinks=False))
                               for x in os.listxattr(p, follow_symlinks=False)
                               if x.startswith("user.")))
        print(*line)
PY

# compare_ops WHO REF MNT EXPORT [RUNNER]: ops.py in REF/w (local) and in
# MNT/w, run by RUNNER (as_user) or root; same transcripts, then the same
# trees in REF/w, MNT/w and EXPORT/w.
compare_ops() {
	local who=$1 ref=$2 mnt=$3 exp=$4 run=${5:-}
	$run mkdir -p "$ref/w" "$mnt/w" || fail "$who: mkdir"
	$run python3 "$T/ops.py" "$ref/w" >"$T/ops.$who.ref" 2>&1 ||
		fail "$who: ops on the local dir: $(cat "$T/ops.$who.ref")"
	$run python3 "$T/ops.py" "$mnt/w" >"$T/ops.$who.mnt" 2>&1 ||
		fail "$who: ops on the mount: $(tail "$T/ops.$who.mnt")"
	diff -u "$T/ops.$who.ref" "$T/ops.$who.mnt" ||
		fail "$who: operations differ between a local dir and the mount"

	$run python3 "$T/walk.py" "$ref/w" >"$T/walk.$who.ref" || fail "$who: walk $ref/w"
	$run python3 "$T/walk.py" "$mnt/w" >"$T/walk.$who.mnt" || fail "$who: walk $mnt/w"
	python3 "$T/walk.py" "$exp/w" >"$T/walk.$who.exp" || fail "$who: walk $exp/w"
	diff -u "$T/walk.$who.ref" "$T/walk.$who.mnt" ||
		fail "$who: tree through the mount differs from the local one"
	diff -u "$T/walk.$who.exp" "$T/walk.$who.mnt" || fail "$who: mount and export dir disagree"
}
compare_ops user "$T/home1/ref" "$MNT" "$EXPORT" as_user
grep -q '^chown: EPERM$' "$T/ops.user.mnt" || fail "the user gave a file away: $(grep '^chown' "$T/ops.user.mnt")"

# st_ino is the server's.
[ "$(as_user stat -c %i "$MNT/w/f1")" = "$(stat -c %i "$EXPORT/w/f1")" ] || fail "st_ino is not the server's"

# RENAME_WHITEOUT and other flags are refused.
as_user python3 - "$MNT/w" <<'PY' || fail "renameat2 with RENAME_WHITEOUT must give EINVAL"
import ctypes, sys, os
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
r = libc.renameat2(-100, b"f3", -100, b"f3w", 4)
sys.exit(0 if r != 0 and ctypes.get_errno() == 22 else 1)
PY

# Big file: written through the mount, byte for byte on the server.
head -c 5000000 /dev/urandom >"$T/big"
as_user cp "$T/big" "$MNT/big" || fail "cp big"
cmp "$T/big" "$EXPORT/big" || fail "big file differs on the server"
as_user cmp "$T/big" "$MNT/big" || fail "big file reads back differently"
as_user dd if="$MNT/big" bs=1M skip=2 count=1 status=none | cmp - <(dd if="$T/big" bs=1M skip=2 count=1 status=none) ||
	fail "read at an offset differs"

# statfs: the export's filesystem.
[ "$(as_user stat -f -c '%S %b' "$MNT")" = "$(stat -f -c '%S %b' "$EXPORT")" ] || fail "statfs differs"
as_user df "$MNT" >/dev/null || fail "df failed"

# Changes made on the server side show up (after the attribute timeout).
echo "from the server" >"$EXPORT/w/server-side"
sleep 1.1
[ "$(as_user cat "$MNT/w/server-side")" = "from the server" ] || fail "file created on the export not visible"

# Unlink of a file open here: still readable and writable, gone at last
# close.  The server keeps it nameless (REMOVE_OPEN, server/orphans.h),
# st_nlink 0, as Linux does: no name is left in the directory.
as_user python3 - "$MNT/w" "$EXPORT/w" <<'PY' || fail "unlink of an open file"
import os, sys
m, e = sys.argv[1], sys.argv[2]
fd = os.open(f"{m}/open-file", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"still here")
os.unlink(f"{m}/open-file")
assert not os.path.exists(f"{m}/open-file"), "name still there"
assert sorted(os.listdir(e)) == sorted(os.listdir(m)), (os.listdir(e), os.listdir(m))
assert not [n for n in os.listdir(e) if n.startswith(".bramble")], os.listdir(e)
assert os.fstat(fd).st_nlink == 0, "st_nlink %d" % os.fstat(fd).st_nlink
assert os.pread(fd, 10, 0) == b"still here"
os.pwrite(fd, b"STILL", 0)
assert os.pread(fd, 10, 0) == b"STILL here"
os.close(fd)
PY
# ... and the server kept no orphan either (its directory is root's).
orphans() { [ -z "$(ls -A "$EXPORT/.bramble-orphans" 2>/dev/null)" ]; }
wait_for 5 orphans || fail "orphans left at last close: $(ls -A "$EXPORT/.bramble-orphans")"

# The control file: found by name, not listed, read-only, root's.
as_user cat "$MNT/.bramble" >"$T/bramble.ctl" || fail "the user cannot read .bramble"
grep -q "^server=127.0.0.1$" "$T/bramble.ctl" || fail ".bramble lacks server"
grep -q "^port=$PORT$" "$T/bramble.ctl" || fail ".bramble lacks port"
grep -q "^export=127.0.0.1:/$" "$T/bramble.ctl" || fail ".bramble lacks export"
grep -q "^pid=$FUSE_PID$" "$T/bramble.ctl" || fail ".bramble lacks pid"
grep -q "^timeout=60$" "$T/bramble.ctl" || fail ".bramble lacks timeout"
[ "$(as_user stat -c '%a %U %s' "$MNT/.bramble")" = "444 root $(as_user sh -c 'wc -c <"$1"' - "$MNT/.bramble")" ] ||
	fail ".bramble attributes: $(as_user stat -c '%a %U %s' "$MNT/.bramble")"
as_user ls -a "$MNT" | grep -q '^\.bramble$' && fail ".bramble is listed"
as_user sh -c 'echo x >"$1"' - "$MNT/.bramble" 2>/dev/null && fail ".bramble is writable"
as_user cp -a "$MNT" "$T/home1/copy"
[ -e "$T/home1/copy/.bramble" ] && fail "cp -a copied .bramble"

# Subdirectory mount.
mkdir -p "$EXPORT/sub/deeper"
echo inner >"$EXPORT/sub/deeper/file"
SRC=127.0.0.1:/sub br_mount "$T/mnt2"
[ "$(as_user cat "$T/mnt2/deeper/file")" = inner ] || fail "subdir mount"
as_user grep -q "^export=127.0.0.1:/sub$" "$T/mnt2/.bramble" || fail ".bramble of subdir mount"

# As fstab mounts it: mount.fuse3 with generic options.
if command -v mount.fuse3 >/dev/null; then
	mkdir -p "$T/mnt3"
	_br_mounts="$_br_mounts $T/mnt3"
	PATH=$(dirname "$BRAMBLEFS"):$PATH mount.fuse3 127.0.0.1:/ "$T/mnt3" -t fuse.bramblefs \
		-o "port=$PORT,rw,nosuid,nodev,_netdev,allow_other,nofail,noauto,user,defaults,x-systemd.automount,comment=x" \
		>>"$T/bramblefs.log" 2>&1 || fail "mount.fuse3 (fstab style) failed"
	mount | grep -q "^127.0.0.1:/ on $T/mnt3 type fuse.bramblefs (rw,nosuid,nodev" || fail "fstab mount options"
	[ "$(as_user cat "$T/mnt3/w/f3")" = new ] || fail "fstab mount content"
	umount "$T/mnt3" || fail "umount of the fstab mount"
fi

# Usage errors exit 2, naming the option.
mkdir -p "$T/mnt4"
"$BRAMBLEFS" 127.0.0.1:/ "$T/mnt4" -o "port=$PORT,frobnicate" >"$T/usage.out" 2>&1
[ $? = 2 ] || fail "an unknown option must exit 2"
grep -q "unknown option 'frobnicate'" "$T/usage.out" || fail "unknown option not named: $(cat "$T/usage.out")"
"$BRAMBLEFS" --help | grep -q "attr_timeout" || fail "--help"
"$BRAMBLEFS" --version | grep -q "^bramblefs " || fail "--version"
"$BRAMBLEFS" 127.0.0.1:/nonexistent "$T/mnt4" -o "port=$PORT" >"$T/usage.out" 2>&1
[ $? = 1 ] || fail "mounting a missing directory must exit 1"
grep -q "No such file or directory" "$T/usage.out" || fail "missing dir error: $(cat "$T/usage.out")"

br_umount "$T/mnt2"
br_umount "$MNT"

# Root, unsquashed, on a server of its own: the same operations include
# chown to another user and group and access() as root, which only an
# unsquashed root can do; the transcripts must match a local dir's too.
EXPORT=$T/export-root
STATE=$T/state-root
mkdir -p "$EXPORT" "$STATE"
br_start_server --no-root-squash
br_mount "$T/mnt-root"
compare_ops root "$T/ref-root" "$T/mnt-root" "$EXPORT"
grep -q '^chown: ok$' "$T/ops.root.mnt" || fail "root's chown to another user: $(grep '^chown' "$T/ops.root.mnt")"
br_umount "$T/mnt-root"
exit 0
