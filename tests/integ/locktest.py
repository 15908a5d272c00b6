#!/usr/bin/env python3
"""locktest.py - lock helpers for 33-locks.sh, one action per process.

  locktest.py try  PATH TYPE START LEN [--ofd]      F_SETLK once: prints ok / EAGAIN
  locktest.py get  PATH TYPE START LEN [--ofd]      F_GETLK: prints "unlck" or
                                                    "TYPE START LEN"
  locktest.py hold PATH TYPE START LEN READY [--ofd|--flock] [--wait]
        take the lock (F_SETLKW with --wait), create READY, then sleep until
        killed, or until READY is removed (then unlock through the same fd
        and exit 0).  An interrupted wait prints "EINTR" and exits 3.
        --flock: flock(2) instead (the range is ignored).
  locktest.py sqlite DB N                           N counter increments, each
                                                    its own BEGIN IMMEDIATE

TYPE is r or w.  LEN 0 means to the end of the file.
"""
import errno
import fcntl
import os
import signal
import sqlite3
import struct
import sys
import time

FL = "@hhqqixxxx"  # struct flock on 64-bit Linux


def flock_bytes(typ, start, length):
    t = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}[typ]
    return struct.pack(FL, t, os.SEEK_SET, start, length, 0)


def setlk(fd, typ, start, length, ofd, wait=False):
    if ofd:
        cmd = fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK
    else:
        cmd = fcntl.F_SETLKW if wait else fcntl.F_SETLK
    fcntl.fcntl(fd, cmd, flock_bytes(typ, start, length))


def getlk(fd, typ, start, length, ofd):
    cmd = fcntl.F_OFD_GETLK if ofd else fcntl.F_GETLK
    r = fcntl.fcntl(fd, cmd, flock_bytes(typ, start, length))
    t, _, s, n, pid = struct.unpack(FL, r)
    if t == fcntl.F_UNLCK:
        return "unlck"
    return "%s %d %d" % ("w" if t == fcntl.F_WRLCK else "r", s, n)


def try_lock(fd, typ, start, length, ofd):
    try:
        setlk(fd, typ, start, length, ofd)
        return "ok"
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return "EAGAIN"
        raise


def take(fd, typ, start, length, ofd, wait, use_flock):
    if use_flock:
        op = {"r": fcntl.LOCK_SH, "w": fcntl.LOCK_EX, "u": fcntl.LOCK_UN}[typ]
        fcntl.flock(fd, op | (0 if wait or typ == "u" else fcntl.LOCK_NB))
    else:
        setlk(fd, typ, start, length, ofd, wait)


def hold(path, typ, start, length, ready, ofd, wait, use_flock):
    # First of all (a background job starts with SIGINT ignored): make
    # SIGINT end the wait with an exception, as an application's handler
    # would (Python retries EINTR only when the handler returns).
    def on_int(*_):
        raise InterruptedError()
    signal.signal(signal.SIGINT, on_int)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        take(fd, typ, start, length, ofd, wait, use_flock)
    except InterruptedError:
        print("EINTR", flush=True)
        sys.exit(3)
    open(ready, "w").close()
    while os.path.exists(ready):
        time.sleep(0.05)
    take(fd, "u", start, length, ofd, False, use_flock)
    os.close(fd)


def sqlite_inc(db, n):
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    con.execute("CREATE TABLE IF NOT EXISTS c(id INTEGER PRIMARY KEY, v INTEGER)")
    con.execute("INSERT OR IGNORE INTO c VALUES (1, 0)")
    for _ in range(n):
        while True:
            try:
                con.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e):
                    raise
                time.sleep(0.01)
        v = con.execute("SELECT v FROM c WHERE id = 1").fetchone()[0]
        con.execute("UPDATE c SET v = ? WHERE id = 1", (v + 1,))
        con.execute("COMMIT")
    con.close()


def main():
    a = sys.argv[1:]
    ofd = "--ofd" in a
    wait = "--wait" in a
    a = [x for x in a if not x.startswith("--")]
    cmd = a[0]
    if cmd in ("try", "get"):
        fd = os.open(a[1], os.O_RDWR | os.O_CREAT, 0o644)
        f = try_lock if cmd == "try" else getlk
        print(f(fd, a[2], int(a[3]), int(a[4]), ofd))
    elif cmd == "hold":
        hold(a[1], a[2], int(a[3]), int(a[4]), a[5], ofd, wait, "--flock" in sys.argv)
    elif cmd == "sqlite":
        sqlite_inc(a[1], int(a[2]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
