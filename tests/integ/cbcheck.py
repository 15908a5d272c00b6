#!/usr/bin/env python3
"""cbcheck.py PORT - brambled's callbacks (BR_CAP_CALLBACKS) on the wire.

Hand-made clients (rawrpc.py): B asks for callbacks in HELLO and fetches
objects; A (without the capability) changes them.  Checks that B gets one
CB_CHANGED per watched object changed, already in its socket when A's
reply arrives (close-to-open), naming the entries of a changed directory;
that an object is forgotten once called back; that B's own change comes
back as BR_CB_SELF before B's reply; that removing a link of a file tells
the file's watchers; that a client without the capability gets
nothing.  Exit 0, or 1 with FAIL lines."""
import select
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import rawrpc as r  # noqa: E402

CB_PROG, CB_VERS, CB_CHANGED = 0x2062726E, 1, 1
CAP_CALLBACKS = 64
SELF, RACE, ENTRIES = 2, 4, 8


class CbClient(r.Client):
    """A client that sets callback records aside while it waits for
    replies."""
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cbs = []

    def _take(self, rec):
        u = r.U(rec)
        xid, mtype = u.u32(), u.u32()
        if mtype != 0:
            return False
        rpcvers, prog, vers, proc = u.u32(), u.u32(), u.u32(), u.u32()
        u.u32(), u.opaque(), u.u32(), u.opaque()    # cred, verf
        r.check(rpcvers == 2 and prog == CB_PROG and vers == CB_VERS and
                proc == CB_CHANGED, "callback header %x/%d/%d" % (prog, vers, proc))
        seq = u.u64()
        objs = []
        for _ in range(u.u32()):
            fh, flags = bytes(u.opaque()), u.u32()
            names = [u.opaque().decode() for _ in range(u.u32())]
            objs.append((fh, flags, names))
        r.check(u.done(), "callback fully decoded")
        self.cbs.append(dict(seq=seq, objs=objs))
        return True

    def recv_record(self):
        while True:
            rec = super().recv_record()
            if not self._take(rec):
                return rec

    def pending(self, wait=0.0):
        """Read the callbacks already in the socket (or arriving within
        wait seconds); return and clear the list."""
        while select.select([self.s], [], [], wait)[0]:
            if not self._take(super().recv_record()):
                r.check(False, "a reply nobody asked for")
            wait = 0.0
        got, self.cbs = self.cbs, []
        return got


def objs_of(cbs):
    return [o for cb in cbs for o in cb["objs"]]


def main():
    port = int(sys.argv[1])
    a = r.Client(port)
    b = CbClient(port)
    n = CbClient(port)                 # no capability
    h = b.hello(hi=9, caps=CAP_CALLBACKS)
    r.check(h["status"] == 0 and h["caps"] & CAP_CALLBACKS,
            "server announces BR_CAP_CALLBACKS: %s" % (h,))
    n.hello(hi=9, caps=0)
    st, root, _ = a.mount("")
    st, d, _ = a.mkdir(root, "d")
    st, f, _ = a.create(d, "f")
    r.check(st == 0, "setup")
    for c in (b, n):
        st, broot, _ = c.mount("")
        st, bd, _ = c.lookup(broot, "d")
        st, bf, _ = c.lookup(bd, "f")
        r.check(st == 0 and bf == f and bd == d, "same handles for the same objects")
        r.check(c.getattr(bf)[0] == 0, "GETATTR")

    # A writes f: B's callback is in B's socket before A has its reply.
    st, cnt, _ = a.write(f, 0, b"hello")
    got = objs_of(b.pending())
    r.check(got == [(f, 0, [])], "B told of f before A's reply: %s" % (got,))
    r.check(n.pending(0.2) == [], "a client without the capability is told nothing")
    # Forgotten once told: a second write says nothing until B fetches again.
    a.write(f, 5, b"again")
    r.check(b.pending(0.2) == [], "told once, then forgotten")
    b.getattr(f)
    a.setattr(f, 8, size=1)            # BR_SET_SIZE
    r.check(objs_of(b.pending()) == [(f, 0, [])], "SETATTR after a new GETATTR")

    # The directory B looked up in: entries created, renamed, removed.
    a.create(d, "g")
    got = objs_of(b.pending())
    r.check(got == [(d, ENTRIES, ["g"])], "CREATE in a watched directory: %s" % (got,))
    b.lookup(d, "nothere")             # watched again (a negative lookup)
    a.rename(d, "g", d, "h")
    got = objs_of(b.pending())
    r.check(got == [(d, ENTRIES, ["g", "h"])], "RENAME within it: %s" % (got,))
    b.readdirplus(d)                   # watches d and its entries
    st, hfh, _ = a.lookup(d, "h")
    a.remove(d, "h")
    got = objs_of(b.pending())
    r.check(sorted(got) == sorted([(d, ENTRIES, ["h"]), (hfh, 0, [])]),
            "REMOVE after READDIRPLUS: the directory and the file: %s" % (got,))

    # B's own change: BR_CB_SELF, before B's reply.
    b.getattr(f)
    st, cnt, _ = b.write(f, 0, b"mine")
    r.check(st == 0, "B's WRITE")
    got = objs_of(b.cbs)
    r.check(got == [(f, SELF, [])], "B's own change told before its reply: %s" % (got,))
    b.pending()
    # A file that loses a link changed too: its watchers are told.
    st, g, _ = a.create(d, "g2")
    r.check(a.link(g, d, "g3")[0] == 0, "LINK")
    b.getattr(g)
    a.remove(d, "g3")
    got = objs_of(b.pending())
    r.check((g, 0, []) in got, "REMOVE of a second link tells g's watchers: %s" % (got,))
    # A closed connection is forgotten: nothing is sent to it, nothing breaks.
    b.getattr(f)
    b.close()
    a.write(f, 0, b"x")
    r.check(a.getattr(f)[0] == 0, "server fine after a watcher left")
    a.close()
    n.close()
    return 1 if r.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
