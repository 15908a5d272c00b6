#!/usr/bin/env python3
"""connflood.py - many hostile or idle TCP connections to brambled.

    connflood.py flood PORT READYFILE NSLOW NGARBAGE NIDLE REQ_TIMEOUT IDLE_TIMEOUT
    connflood.py limit PORT MAX
    connflood.py bulk PORT N SERVER_PID

flood: opens NSLOW slowloris connections (a record mark announcing 1 KiB,
then one byte every 0.25 s: never idle, never a whole record), NGARBAGE
connections that send garbage (half a huge record mark, half a record that
is no RPC call), and NIDLE connections that send nothing.  Touches
READYFILE once all are open, then watches every socket until the server
closes it.  Checks, and exits 1 if any fails:
  - every connection gets closed by the server (within a generous bound);
  - a slowloris one no sooner than REQ_TIMEOUT after its first byte, an
    idle one no sooner than IDLE_TIMEOUT after connecting (lower bounds:
    the server must not close them early, whatever the machine's speed);
  - every garbage connection is closed (a huge record mark at once; a
    record that is no call is ignored, so those go at the idle timeout).
limit: opens 2*MAX connections, one after the other; exactly the first
MAX stay open, the others are closed by the server at once.
bulk: N connections each send all but the last byte of a 1 MiB record
(run with the request timeout off).  The server may hold only about
64 MiB of unfinished records in all: at least N - 66 must be closed, and
its VmRSS must stay under 200 MB meanwhile.
"""
import os
import resource
import select
import socket
import struct
import sys
import time

SLACK = 0.2          # the server's clock vs ours: it starts a bit later


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    return s


def closed_by_peer(s):
    try:
        data = s.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b""


def flood(port, ready, nslow, ngarbage, nidle, req_to, idle_to):
    raise_nofile()
    conns = []            # (kind, socket, start time)
    for i in range(nslow):
        s = connect(port)
        s.send(struct.pack(">I", 0x80000000 | 1024) + b"\0\0\0\1")
        conns.append(["slow", s, time.monotonic()])
    for i in range(ngarbage):
        s = connect(port)
        if i % 2:
            s.send(b"\xff\xff\xff\xff" + os.urandom(60))   # 2 GiB record
        else:
            s.send(struct.pack(">I", 0x80000000 | 40) + os.urandom(40))
        conns.append(["garbage", s, time.monotonic()])
    for i in range(nidle):
        conns.append(["idle", connect(port), time.monotonic()])
    open(ready, "w").close()
    print("opened %d connections" % len(conns), flush=True)

    deadline = time.monotonic() + max(req_to, idle_to) + 60
    left = {c[1].fileno(): c for c in conns}
    closed = {"slow": [], "garbage": [], "idle": []}
    next_trickle = time.monotonic()
    while left and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_trickle:
            for c in left.values():
                if c[0] == "slow":
                    try:
                        c[1].send(b"\0")
                    except OSError:
                        pass   # closed: the read below notices
            next_trickle = now + 0.25
        for fd in poll_ready(left):
            c = left[fd]
            if closed_by_peer(c[1]):
                closed[c[0]].append(time.monotonic() - c[2])
                c[1].close()
                del left[fd]
    bad = 0
    for kind, n, low in (("slow", nslow, req_to), ("garbage", ngarbage, 0),
                         ("idle", nidle, idle_to)):
        t = closed[kind]
        print("%s: %d of %d closed by the server, after %.2f..%.2f s" %
              (kind, len(t), n, min(t, default=0), max(t, default=0)))
        if len(t) != n:
            print("FAIL: %d %s connections left open" % (n - len(t), kind))
            bad = 1
        if t and min(t) < low - SLACK:
            print("FAIL: a %s connection was closed after %.2f s, before "
                  "its %g s timeout" % (kind, min(t), low))
            bad = 1
    return bad


def poll_ready(left):
    p = select.poll()
    for fd in left:
        p.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return [fd for fd, _ in p.poll(250)]


def limit(port, mx):
    raise_nofile()
    socks = [connect(port) for _ in range(2 * mx)]
    time.sleep(1.0)
    state = [closed_by_peer(s) for s in socks]
    print("limit %d: open %s" % (mx, "".join("x" if c else "o" for c in state)))
    return 0 if state == [False] * mx + [True] * mx else 1


def bulk(port, n, pid):
    raise_nofile()
    size = 1 << 20
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        try:
            s.sendall(struct.pack(">I", 0x80000000 | size) + b"\0" * (size - 1))
        except OSError:
            pass       # closed while we sent: counted below
        socks.append(s)
    time.sleep(1.0)
    closed = 0
    for s in socks:
        s.setblocking(False)
        closed += closed_by_peer(s)
    with open("/proc/%d/status" % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
    print("bulk: %d of %d closed; server VmRSS %d kB" % (closed, n, rss))
    return 0 if closed >= n - 66 and rss < 200 * 1024 else 1


if __name__ == "__main__":
    if sys.argv[1] == "bulk":
        sys.exit(bulk(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    if sys.argv[1] == "flood":
        a = sys.argv
        sys.exit(flood(int(a[2]), a[3], int(a[4]), int(a[5]), int(a[6]),
                       float(a[7]), float(a[8])))
    sys.exit(limit(int(sys.argv[2]), int(sys.argv[3])))
