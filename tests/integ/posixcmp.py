#!/usr/bin/env python3
"""posixcmp.py - run one sequence of POSIX operations in a directory and
print one line per step: the step's name and its outcome (a value or an
errno name).  The integration test runs it on a local directory and on a
bramble mount and requires the two transcripts to be identical, so every
errno, link count, mode and ordering that a local filesystem gets right,
the mount must get right too.

Usage: posixcmp.py DIR   (DIR must be empty; runs as root, uses uid 1000
for the sticky-directory steps)
"""
import ctypes
import errno
import os
import stat
import sys

libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100

out = []


def rec(name, fn):
    try:
        v = fn()
        out.append("%s: %s" % (name, "ok" if v is None else v))
    except OSError as e:
        out.append("%s: %s" % (name, errno.errorcode.get(e.errno, e.errno)))


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def put(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def kind(path):
    m = os.lstat(path).st_mode
    for t, n in ((stat.S_ISREG, "reg"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "lnk"),
                 (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "sock")):
        if t(m):
            return n
    return "other"


def as_user(uid, fn):
    """Run fn in a child process as uid/gid; return its outcome string."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            v = fn()
            msg = "ok" if v is None else str(v)
        except OSError as e:
            msg = errno.errorcode.get(e.errno, str(e.errno))
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return msg


def main(root):
    os.chdir(root)
    os.umask(0o022)
    # --- directories
    rec("mkdir d", lambda: os.mkdir("d"))
    rec("mkdir d again", lambda: os.mkdir("d"))
    rec("mode d", lambda: oct(os.stat("d").st_mode))
    rec("nlink d", lambda: os.stat("d").st_nlink)
    rec("mkdir d/sub", lambda: os.mkdir("d/sub", 0o700))
    rec("nlink d after sub", lambda: os.stat("d").st_nlink)
    rec("mode d/sub", lambda: oct(os.stat("d/sub").st_mode))
    rec("rmdir missing", lambda: os.rmdir("nope"))
    rec("rmdir non-empty", lambda: os.rmdir("d"))
    rec("mkdir in missing", lambda: os.mkdir("nope/x"))
    rec("long name", lambda: os.mkdir("x" * 256))
    rec("name 255", lambda: os.mkdir("y" * 255))
    # --- regular files
    rec("create f", lambda: put("f", b"hello world\n"))
    rec("read f", lambda: get("f"))
    rec("size f", lambda: os.stat("f").st_size)
    rec("excl create f", lambda: os.close(os.open("f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)))
    rec("open missing", lambda: os.open("missing", os.O_RDONLY))
    rec("open dir for write", lambda: os.open("d", os.O_WRONLY))
    rec("f as dir", lambda: os.mkdir("f/x"))
    rec("unlink dir", lambda: os.unlink("d"))
    rec("rmdir file", lambda: os.rmdir("f"))

    def append():
        fd = os.open("f", os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"more\n")
        os.close(fd)
        return get("f")
    rec("append", append)

    def trunc():
        os.truncate("f", 5)
        a = get("f")
        os.truncate("f", 3 * 1024 * 1024)
        st = os.stat("f")
        return (a, st.st_size, get("f")[5:10])
    rec("truncate shrink/extend", trunc)

    def pwrite_hole():
        fd = os.open("sparse", os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(fd, b"end", 5 * 1024 * 1024)
        v = (os.fstat(fd).st_size, os.pread(fd, 4, 1024 * 1024), os.pread(fd, 10, 5 * 1024 * 1024))
        os.close(fd)
        return v
    rec("sparse write", pwrite_hole)
    rec("chmod f 600", lambda: os.chmod("f", 0o600))
    rec("mode f", lambda: oct(os.stat("f").st_mode))
    rec("chmod setgid+sticky", lambda: (os.chmod("d", 0o3775), oct(os.stat("d").st_mode))[1])
    rec("chown f", lambda: (os.chown("f", 1000, 1000), os.stat("f").st_uid, os.stat("f").st_gid)[1:])
    rec("chown f back", lambda: os.chown("f", 0, 0))

    def times():
        os.utime("f", ns=(1000000000123456789, 1100000000987654321))
        st = os.stat("f")
        return (st.st_atime_ns, st.st_mtime_ns)
    rec("utime ns", times)

    def mtime_moves():
        before = os.stat("f").st_mtime_ns
        put("f", b"new content")
        return os.stat("f").st_mtime_ns > before
    rec("write moves mtime", mtime_moves)

    def ctime_moves():
        before = os.stat("f").st_ctime_ns
        os.utime("f", ns=(1, 1))  # ctime changes to now even when times go back
        return os.stat("f").st_ctime_ns >= before
    rec("setattr moves ctime", ctime_moves)
    # --- links
    rec("link f g", lambda: os.link("f", "g"))
    rec("nlink after link", lambda: (os.stat("f").st_nlink, os.stat("g").st_ino == os.stat("f").st_ino))
    rec("link to existing", lambda: os.link("f", "g"))
    rec("link dir", lambda: os.link("d", "dlink"))
    rec("unlink g", lambda: os.unlink("g"))
    rec("nlink after unlink", lambda: os.stat("f").st_nlink)
    rec("unlink missing", lambda: os.unlink("g"))
    # --- symlinks
    rec("symlink abs", lambda: os.symlink("/usr/bin/python3", "py"))
    rec("readlink abs", lambda: os.readlink("py"))
    rec("lstat kind", lambda: kind("py"))
    rec("symlink rel", lambda: os.symlink("d/sub", "rel"))
    rec("stat through rel", lambda: kind("rel/.") if os.path.isdir("rel") else "notdir")
    rec("symlink dangling", lambda: os.symlink("no/such/target", "dangle"))
    rec("open dangling", lambda: os.open("dangle", os.O_RDONLY))
    rec("readlink regular", lambda: os.readlink("f"))
    rec("symlink exists", lambda: os.symlink("x", "py"))
    rec("symlink long target", lambda: os.symlink("t" * 4000, "longlink") or len(os.readlink("longlink")))
    # --- special files
    rec("mkfifo", lambda: os.mkfifo("fifo", 0o640))
    rec("fifo kind", lambda: (kind("fifo"), oct(os.stat("fifo").st_mode & 0o777)))
    # --- rename
    rec("prep rename", lambda: (put("a", b"A"), put("b", b"B"), os.mkdir("e"), os.mkdir("e2"),
                                put("e2/x", b"x")) and None)
    rec("rename over file", lambda: (os.rename("a", "b"), get("b"), os.path.exists("a"))[1:])
    rec("rename dir over non-empty", lambda: os.rename("e", "e2"))
    rec("rename dir over file", lambda: os.rename("e", "b"))
    rec("rename file over dir", lambda: os.rename("b", "e"))
    rec("rename dir into itself", lambda: os.rename("e2", "e2/inner"))
    rec("rename dir over empty dir", lambda: (os.rename("e2", "e"), sorted(os.listdir("e")))[1])
    rec("rename missing", lambda: os.rename("zzz", "yyy"))
    rec("prep c", lambda: put("c", b"C"))
    rec("noreplace existing", lambda: renameat2("b", "c", RENAME_NOREPLACE))
    rec("noreplace new", lambda: (renameat2("b", "b2", RENAME_NOREPLACE), get("b2"))[1])
    rec("exchange", lambda: (renameat2("b2", "c", RENAME_EXCHANGE), get("b2"), get("c"))[1:])
    rec("exchange missing", lambda: renameat2("b2", "nothere", RENAME_EXCHANGE))
    rec("rename same", lambda: os.rename("c", "c"))
    rec("rename hardlink pair", lambda: (os.link("c", "c2"), os.rename("c", "c2"),
                                         sorted(n for n in os.listdir(".") if n.startswith("c")))[2])
    # --- open-unlinked file keeps working
    def unlinked():
        put("u", b"still here")
        fd = os.open("u", os.O_RDWR)
        os.unlink("u")
        os.pwrite(fd, b"STILL", 0)
        v = (os.path.exists("u"), os.pread(fd, 20, 0), os.fstat(fd).st_size)
        os.close(fd)
        return v
    rec("open unlinked", unlinked)
    # --- xattrs (user namespace)
    rec("setxattr", lambda: os.setxattr("f", "user.color", b"blue"))
    rec("getxattr", lambda: os.getxattr("f", "user.color"))
    rec("getxattr missing", lambda: os.getxattr("f", "user.none"))
    rec("setxattr create existing", lambda: os.setxattr("f", "user.color", b"red", os.XATTR_CREATE))
    rec("setxattr replace missing", lambda: os.setxattr("f", "user.shape", b"x", os.XATTR_REPLACE))
    rec("listxattr", lambda: sorted(n for n in os.listxattr("f") if n.startswith("user.")))
    rec("removexattr", lambda: (os.removexattr("f", "user.color"),
                                [n for n in os.listxattr("f") if n.startswith("user.")])[1])
    rec("removexattr missing", lambda: os.removexattr("f", "user.color"))
    rec("big xattr", lambda: (os.setxattr("f", "user.big", b"z" * 3000), len(os.getxattr("f", "user.big")))[1])
    # --- copy_file_range
    def cfr():
        put("src", bytes(range(256)) * 4096)
        s = os.open("src", os.O_RDONLY)
        d = os.open("dst", os.O_WRONLY | os.O_CREAT, 0o644)
        n = 0
        while True:
            k = os.copy_file_range(s, d, 1 << 20)
            if k == 0:
                break
            n += k
        os.close(s)
        os.close(d)
        return (n, get("dst") == get("src"))
    rec("copy_file_range", cfr)
    # --- permissions as an ordinary user (uid 1000)
    rec("prep perms", lambda: (os.mkdir("pub", 0o777), os.chmod("pub", 0o777), os.mkdir("tmp", 0o1777),
                               os.chmod("tmp", 0o1777), put("secret", b"s", 0o600)) and None)
    rec("user reads 0600 root file", lambda: as_user(1000, lambda: get("secret")))
    rec("user writes in 0777 dir", lambda: as_user(1000, lambda: put("pub/mine", b"m")))
    rec("owner of user file", lambda: os.stat("pub/mine").st_uid)
    rec("user creates in root dir", lambda: as_user(1000, lambda: put("d/nope", b"n")))
    rec("user chmods root file", lambda: as_user(1000, lambda: os.chmod("f", 0o777)))
    rec("root file in sticky dir", lambda: put("tmp/rootfile", b"r"))
    rec("user deletes root file in sticky dir", lambda: as_user(1000, lambda: os.unlink("tmp/rootfile")))
    rec("user deletes own file in sticky dir",
        lambda: as_user(1000, lambda: (put("tmp/userfile", b"u"), os.unlink("tmp/userfile"))[1]))
    rec("user access W on 0600", lambda: as_user(1000, lambda: os.access("secret", os.W_OK)))
    rec("user access R on 0644", lambda: as_user(1000, lambda: os.access("c2", os.R_OK)))
    rec("user utime on root file", lambda: as_user(1000, lambda: os.utime("c2", None)))
    # --- listing
    rec("listdir", lambda: sorted(os.listdir(".")))
    rec("listdir d", lambda: sorted(os.listdir("d")))
    rec("scandir kinds", lambda: sorted((e.name, e.is_dir(follow_symlinks=False),
                                         e.is_symlink()) for e in os.scandir(".")))
    # --- many entries (several READDIRPLUS replies)
    def many():
        os.mkdir("many")
        for i in range(2500):
            open("many/file-%04d-%s" % (i, "n" * 60), "w").close()
        return (len(os.listdir("many")), sorted(os.listdir("many"))[1234][:9])
    rec("2500 entries", many)
    rec("rm many", lambda: [os.unlink("many/" + n) for n in os.listdir("many")] and os.rmdir("many"))
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
