#!/usr/bin/env python3
"""opensem.py - what open(2), write(2) and ftruncate(2) may do through a
descriptor, and what a later open(2) may do, for an ordinary user: cases in
the spirit of pjdfstest open/06, open/07, chmod/12, ftruncate/00 and
unlink/14.  56-open-semantics.sh and 57-open-unlinked.sh run each case as
an ordinary user (setpriv), on a local directory and then on a bramble
mount; the local run is Linux's answer.

Prints one line per check, "ok: WHAT = VALUE" or "FAIL: WHAT = GOT, want
WANT" (an outcome is a value or an errno name), and exits 1 when any
check failed (later checks of the case still run, so one run shows every
difference).

Usage: opensem.py CASE DIR [ARGS...]   (see CASES at the end)
"""
import errno
import os
import stat
import sys

failed = False
DATA = bytes(range(256)) * 400            # 102400 bytes: "100 kB"


def outcome(fn):
    try:
        v = fn()
        return "ok" if v is None else v
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def check(what, fn, want):
    """Run fn; its outcome (value, "ok" for None, or errno name) must be want."""
    global failed
    got = outcome(fn)
    if got == want:
        print("ok: %s = %s" % (what, short(got)))
    else:
        failed = True
        print("FAIL: %s = %s, want %s" % (what, short(got), short(want)))
    sys.stdout.flush()
    return got


def opened(what, fn):
    """An open that must succeed: the descriptor, or None (a failed check)."""
    global failed
    got = outcome(fn)
    if isinstance(got, int) and not isinstance(got, bool):
        print("ok: %s" % what)
        sys.stdout.flush()
        return got
    failed = True
    print("FAIL: %s = %s, want a descriptor" % (what, got))
    sys.stdout.flush()
    return None


def short(v):
    s = repr(v) if isinstance(v, bytes) else str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def must(what, fn):
    """A step the rest of the case needs: stop the case when it fails."""
    got = check(what, fn, "ok")
    if got != "ok":
        sys.exit(1)


def put(path, data, mode=0o644):
    """Make a file with data, then give it mode (by chmod: neither the
    umask nor a read-only creation mode gets in the way)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def get(path):
    with open(path, "rb") as f:
        return f.read()


def mode(path):
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def fmode(fd):
    return oct(stat.S_IMODE(os.fstat(fd).st_mode))


def try_open(path, flags):
    os.close(os.open(path, flags))


def write_all(fd, data):
    n = 0
    while n < len(data):
        n += os.write(fd, data[n:])
    return n


# ---- 1. a file created read-only is writable through the creating
# descriptor (git's packs and objects, cp and tar of 0444 files).
def case_create_ro(d):
    for name, flags in (("ro-rdwr-excl", os.O_RDWR | os.O_CREAT | os.O_EXCL),
                        ("ro-wronly-trunc", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        p = os.path.join(d, name)
        fd = opened("%s: create mode 0444" % name, lambda: os.open(p, flags, 0o444))
        if fd is None:
            continue
        check("%s: write 100 kB through the creating fd" % name, lambda: write_all(fd, DATA), len(DATA))
        check("%s: fsync" % name, lambda: os.fsync(fd), "ok")
        check("%s: fstat size" % name, lambda: os.fstat(fd).st_size, len(DATA))
        if flags & os.O_RDWR:
            check("%s: pread back" % name, lambda: os.pread(fd, len(DATA), 0) == DATA, True)
        check("%s: close" % name, lambda: os.close(fd), "ok")
        check("%s: size after close" % name, lambda: os.stat(p).st_size, len(DATA))
        check("%s: content" % name, lambda: get(p) == DATA, True)
        check("%s: mode" % name, lambda: mode(p), "0o444")
        check("%s: owner's new open O_WRONLY" % name, lambda: try_open(p, os.O_WRONLY), "EACCES")
        check("%s: owner's new open O_RDONLY" % name, lambda: try_open(p, os.O_RDONLY), "ok")


# ---- 2. ftruncate through the creating descriptor of a mode-0 file
# (pjdfstest ftruncate/00).
def case_ftrunc_mode0(d):
    p = os.path.join(d, "mode0")
    fd = opened("create mode 0 O_RDWR", lambda: os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0))
    if fd is None:
        sys.exit(1)
    check("ftruncate to 1234", lambda: os.ftruncate(fd, 1234), "ok")
    check("fstat size", lambda: os.fstat(fd).st_size, 1234)
    check("pwrite at 2000", lambda: os.pwrite(fd, b"x", 2000), 1)
    check("fstat size after pwrite", lambda: os.fstat(fd).st_size, 2001)
    check("ftruncate to 0", lambda: os.ftruncate(fd, 0), "ok")
    check("fstat size after ftruncate 0", lambda: os.fstat(fd).st_size, 0)
    check("close", lambda: os.close(fd), "ok")
    check("mode", lambda: mode(p), "0o0")
    check("size", lambda: os.stat(p).st_size, 0)
    check("owner's new open O_RDONLY", lambda: try_open(p, os.O_RDONLY), "EACCES")
    check("owner's truncate(path)", lambda: os.truncate(p, 10), "EACCES")
    q = os.path.join(d, "mode0-wronly")
    fd = opened("create mode 0 O_WRONLY", lambda: os.open(q, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0))
    if fd is not None:
        check("O_WRONLY: ftruncate to 4096", lambda: os.ftruncate(fd, 4096), "ok")
        check("O_WRONLY: write", lambda: os.write(fd, b"abc"), 3)
        check("O_WRONLY: close", lambda: os.close(fd), "ok")
        check("O_WRONLY: size", lambda: os.stat(q).st_size, 4096)


# ---- 0477: no owner override at open (pjdfstest open/06): the owner
# class's bits decide, though group and others may write.
def case_perm_0477(d):
    p = os.path.join(d, "m0477")
    must("create with data", lambda: put(p, b"keep", 0o477))
    check("mode", lambda: mode(p), "0o477")
    check("owner's open O_WRONLY", lambda: try_open(p, os.O_WRONLY), "EACCES")
    check("owner's open O_RDWR", lambda: try_open(p, os.O_RDWR), "EACCES")
    check("owner's open O_WRONLY|O_APPEND", lambda: try_open(p, os.O_WRONLY | os.O_APPEND), "EACCES")
    check("owner's open O_WRONLY|O_TRUNC", lambda: try_open(p, os.O_WRONLY | os.O_TRUNC), "EACCES")
    check("owner's truncate(path)", lambda: os.truncate(p, 0), "EACCES")
    check("owner's access(W_OK)", lambda: os.access(p, os.W_OK), False)
    check("owner's open O_RDONLY", lambda: try_open(p, os.O_RDONLY), "ok")
    check("content unchanged", lambda: get(p), b"keep")


# ---- 3. a chmod takes away write permission for new opens at once; a
# descriptor opened for writing before keeps working.  Owner A:
# chmod-prep, chmod, chmod-verify; other user B: hold (in the
# background, the descriptor opened before the chmod), open-after-chmod.
CH = "shared-f"


def case_chmod_prep(d):
    p = os.path.join(d, CH)
    must("A creates %s 0666" % CH, lambda: put(p, b"A\n", 0o666))
    check("mode", lambda: mode(p), "0o666")


def case_hold(d):
    """B: open for append, write, say "ready", wait for a line on stdin
    (A's chmod done), then write again through the same descriptor."""
    p = os.path.join(d, CH)
    fd = opened("B opens %s O_WRONLY|O_APPEND before the chmod" % CH, lambda: os.open(p, os.O_WRONLY | os.O_APPEND))
    if fd is None:
        print("ready")
        sys.exit(1)
    check("B writes before the chmod", lambda: os.write(fd, b"B before\n"), 9)
    check("B fsyncs before the chmod", lambda: os.fsync(fd), "ok")
    print("ready")
    sys.stdout.flush()
    sys.stdin.readline()
    check("B writes through the earlier fd after the chmod", lambda: os.write(fd, b"B after\n"), 8)
    check("B fsyncs that fd after the chmod", lambda: os.fsync(fd), "ok")
    check("B closes that fd", lambda: os.close(fd), "ok")


def case_chmod(d):
    p = os.path.join(d, CH)
    must("A chmods %s 0444" % CH, lambda: os.chmod(p, 0o444))
    check("mode", lambda: mode(p), "0o444")


def case_open_after_chmod(d):
    p = os.path.join(d, CH)
    check("B's new open O_WRONLY|O_APPEND right after the chmod",
          lambda: try_open(p, os.O_WRONLY | os.O_APPEND), "EACCES")
    check("B's new open O_RDWR", lambda: try_open(p, os.O_RDWR), "EACCES")
    check("B's access(W_OK)", lambda: os.access(p, os.W_OK), False)
    check("B's new open O_RDONLY", lambda: try_open(p, os.O_RDONLY), "ok")


def case_chmod_verify(d):
    p = os.path.join(d, CH)
    check("content: A's, then B's two writes", lambda: get(p), b"A\nB before\nB after\n")
    check("mode still 0444", lambda: mode(p), "0o444")


# ---- 4. writing clears the set-id bits (pjdfstest chmod/12): owner A
# makes the files (setid-prep), a writer checks each one (setid-write).
SETID = (("sid-4777", 0o4777), ("sid-2777", 0o2777), ("sid-6777", 0o6777))


def case_setid_prep(d, prefix="sid"):
    for name, m in SETID:
        p = os.path.join(d, name.replace("sid", prefix))
        must("create %s %s" % (os.path.basename(p), oct(m)), lambda: put(p, b"0123456789", m))
        check("mode of %s" % os.path.basename(p), lambda: mode(p), oct(m))


def case_setid_write(d, *specs):
    """specs: NAME=MODE, the mode each file must have after one write."""
    for spec in specs:
        name, want = spec.split("=")
        p = os.path.join(d, name)
        fd = opened("%s: open O_WRONLY" % name, lambda: os.open(p, os.O_WRONLY))
        if fd is None:
            continue
        check("%s: pwrite" % name, lambda: os.pwrite(fd, b"w", 3), 1)
        check("%s: fstat mode on the fd right after the write" % name, lambda: fmode(fd), want)
        check("%s: close" % name, lambda: os.close(fd), "ok")
        check("%s: stat mode after close" % name, lambda: mode(p), want)
        check("%s: content" % name, lambda: get(p), b"012w456789")


# ---- 5. open(O_RDONLY|O_TRUNC) truncates where the caller may write,
# else EACCES (pjdfstest open/07).
def case_otrunc_owner(d):
    p = os.path.join(d, "trunc-own")
    must("create trunc-own 0644", lambda: put(p, b"0123456789", 0o644))

    def rdonly_trunc():
        fd = os.open(p, os.O_RDONLY | os.O_TRUNC)
        try:
            return (os.fstat(fd).st_size, os.read(fd, 10))
        finally:
            os.close(fd)
    check("owner: open O_RDONLY|O_TRUNC of a 0644 file (size, read)", rdonly_trunc, (0, b""))
    check("size after", lambda: os.stat(p).st_size, 0)
    q = os.path.join(d, "trunc-ro")
    must("create trunc-ro 0444", lambda: put(q, b"0123456789", 0o444))
    check("owner: open O_RDONLY|O_TRUNC of a 0444 file", lambda: try_open(q, os.O_RDONLY | os.O_TRUNC), "EACCES")
    check("0444 file unchanged", lambda: get(q), b"0123456789")


def case_otrunc_prep(d):
    must("A creates trunc-644 0644", lambda: put(os.path.join(d, "trunc-644"), b"0123456789", 0o644))
    must("A creates trunc-666 0666", lambda: put(os.path.join(d, "trunc-666"), b"0123456789", 0o666))


def case_otrunc_other(d):
    p = os.path.join(d, "trunc-644")
    q = os.path.join(d, "trunc-666")
    check("B: open O_RDONLY|O_TRUNC of A's 0644 file", lambda: try_open(p, os.O_RDONLY | os.O_TRUNC), "EACCES")
    check("A's 0644 file unchanged", lambda: get(p), b"0123456789")
    check("B: open O_RDONLY|O_TRUNC of A's 0666 file", lambda: try_open(q, os.O_RDONLY | os.O_TRUNC), "ok")
    check("A's 0666 file truncated", lambda: os.stat(q).st_size, 0)


# ---- 6. an open, unlinked file (pjdfstest unlink/14): st_nlink 0, no
# name left behind, its directory can go.
def case_unlinked(d):
    sub = os.path.join(d, "unl")
    must("mkdir unl", lambda: os.mkdir(sub))
    p = os.path.join(sub, "f")
    must("create unl/f", lambda: put(p, b"still here", 0o644))
    fd = opened("open unl/f O_RDWR", lambda: os.open(p, os.O_RDWR))
    if fd is None:
        sys.exit(1)
    check("fstat nlink before unlink", lambda: os.fstat(fd).st_nlink, 1)
    must("unlink unl/f", lambda: os.unlink(p))
    check("fstat nlink after unlink", lambda: os.fstat(fd).st_nlink, 0)
    check("unl/f gone", lambda: os.path.exists(p), False)
    check("listing of unl (no name left, no .bramble-silly.*)", lambda: sorted(os.listdir(sub)), [])
    check("pwrite through the fd", lambda: os.pwrite(fd, b"STILL", 0), 5)
    check("pread through the fd", lambda: os.pread(fd, 20, 0), b"STILL here")
    check("fstat size", lambda: os.fstat(fd).st_size, 10)
    check("rmdir unl while the file is open", lambda: os.rmdir(sub), "ok")
    check("unl gone", lambda: os.path.exists(sub), False)
    check("fstat nlink after rmdir", lambda: os.fstat(fd).st_nlink, 0)
    check("pread after rmdir", lambda: os.pread(fd, 5, 0), b"STILL")
    check("close", lambda: os.close(fd), "ok")
    check("listing of the parent after close", lambda: sorted(n for n in os.listdir(d) if n.startswith((".bramble", "unl"))), [])
    # A file with two names: unlinking one leaves st_nlink 1 on the fd.
    a, b = os.path.join(d, "two-a"), os.path.join(d, "two-b")
    must("create two-a, link two-b", lambda: (put(a, b"2", 0o644), os.link(a, b)) and None)
    fd = os.open(a, os.O_RDONLY)
    must("unlink two-a", lambda: os.unlink(a))
    check("fstat nlink with one name left", lambda: os.fstat(fd).st_nlink, 1)
    must("unlink two-b", lambda: os.unlink(b))
    check("fstat nlink with no name left", lambda: os.fstat(fd).st_nlink, 0)
    check("read after both unlinks", lambda: os.pread(fd, 5, 0), b"2")
    os.close(fd)
    check("listing (no names left)", lambda: sorted(n for n in os.listdir(d) if n.startswith((".bramble", "two-"))), [])


CASES = {
    "create-ro": case_create_ro,            # DIR
    "ftrunc-mode0": case_ftrunc_mode0,      # DIR
    "perm-0477": case_perm_0477,            # DIR
    "chmod-prep": case_chmod_prep,          # DIR (A)
    "hold": case_hold,                      # DIR (B, background)
    "chmod": case_chmod,                    # DIR (A)
    "open-after-chmod": case_open_after_chmod,  # DIR (B)
    "chmod-verify": case_chmod_verify,      # DIR (A)
    "setid-prep": case_setid_prep,          # DIR [PREFIX] (owner)
    "setid-write": case_setid_write,        # DIR NAME=MODE...
    "otrunc-owner": case_otrunc_owner,      # DIR
    "otrunc-prep": case_otrunc_prep,        # DIR (A)
    "otrunc-other": case_otrunc_other,      # DIR (B)
    "unlinked": case_unlinked,              # DIR
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in CASES:
        sys.exit("usage: opensem.py {%s} DIR [ARGS]" % "|".join(CASES))
    os.umask(0o022)
    CASES[sys.argv[1]](sys.argv[2], *sys.argv[3:])
    sys.exit(1 if failed else 0)
