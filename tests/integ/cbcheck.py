#!/usr/bin/env python3
"""cbcheck.py PORT - brambled's callbacks (BR_CAP_CALLBACKS) on the wire.

Hand-made clients (rawrpc.py): B asks for callbacks in HELLO and fetches
objects; A (without the capability) changes them.  Checks that B gets one
CB_CHANGED per watched object changed, already in its socket when A's
reply arrives (close-to-open), naming the entries of a changed directory;
that an object is forgotten once called back; that B's own change comes
back as BR_CB_SELF before B's reply; that removing a link of a file tells
the file's watchers; that a client without the capability gets
nothing.  Exit 0, or 1 with FAIL lines.

cbcheck.py --attrs PORT - BR_CAP_CB_ATTRS: a client's own changes come
back as version 2 records whose SELF objects carry the attributes after
the change; the objects stay watched (another client's later change is
called back); a removed file's notice has none and ends its watch.  (The
plain run checks that a client without the capability gets version 1.)"""
import select
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import rawrpc as r  # noqa: E402

CB_PROG, CB_VERS, CB_VERS_ATTRS, CB_CHANGED = 0x2062726E, 1, 2, 1
CAP_CALLBACKS, CAP_CB_ATTRS = 64, 1024
SELF, RACE, ENTRIES = 2, 4, 8


class CbClient(r.Client):
    """A client that sets callback records aside while it waits for
    replies."""
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cbs = []
        self.versions = set()           # of every record received

    def _take(self, rec):
        u = r.U(rec)
        xid, mtype = u.u32(), u.u32()
        if mtype != 0:
            return False
        rpcvers, prog, vers, proc = u.u32(), u.u32(), u.u32(), u.u32()
        u.u32(), u.opaque(), u.u32(), u.opaque()    # cred, verf
        r.check(rpcvers == 2 and prog == CB_PROG and vers in (CB_VERS, CB_VERS_ATTRS)
                and proc == CB_CHANGED, "callback header %x/%d/%d" % (prog, vers, proc))
        seq = u.u64()
        objs, attrs = [], []
        for _ in range(u.u32()):
            fh, flags = bytes(u.opaque()), u.u32()
            names = [u.opaque().decode() for _ in range(u.u32())]
            objs.append((fh, flags, names))
            attrs.append(u.attr() if vers == CB_VERS_ATTRS and u.u32() else None)
        r.check(u.done(), "callback fully decoded")
        self.versions.add(vers)
        self.cbs.append(dict(seq=seq, objs=objs, attrs=attrs))
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


def attrs_of(cbs):
    return [(o[0], o[1], a) for cb in cbs for o, a in zip(cb["objs"], cb["attrs"])]


def same_attr(x, y):
    keys = ("ino", "mode", "nlink", "uid", "gid", "size", "mtime", "ctime")
    return x is not None and y is not None and all(x[k] == y[k] for k in keys)


def check_attrs(port):
    a = r.Client(port)
    b = CbClient(port)
    h = b.hello(hi=9, caps=CAP_CALLBACKS | CAP_CB_ATTRS)
    r.check(h["status"] == 0 and h["caps"] & CAP_CB_ATTRS,
            "server announces BR_CAP_CB_ATTRS: %s" % (h,))
    st, root, _ = a.mount("")
    st, d, _ = a.mkdir(root, "da")
    st, f, _ = a.create(d, "f")
    r.check(st == 0, "setup")
    st, broot, _ = b.mount("")
    st, bd, _ = b.lookup(broot, "da")
    st, bf, _ = b.lookup(bd, "f")
    r.check(st == 0 and bd == d and bf == f, "B looks d and f up")

    # B's WRITE: SELF with the attributes after it, before B's reply.
    st, cnt, _ = b.write(f, 0, b"mine")
    got = attrs_of(b.cbs)
    r.check(len(got) == 1 and got[0][:2] == (f, SELF) and got[0][2] is not None,
            "B's own WRITE told with attributes: %s" % (got,))
    r.check(same_attr(got[0][2], a.getattr(f)[1]) and got[0][2]["size"] == 4,
            "the attributes after the write: %s" % (got,))
    b.pending()
    # Still watched: A's change is called back, without attributes.
    a.write(f, 0, b"theirs")
    got = attrs_of(b.pending())
    r.check(got == [(f, 0, None)], "A's later write told to B: %s" % (got,))
    r.check(b.pending(0.2) == [], "then forgotten")

    # B creates in d (watched by its LOOKUP): d's attributes come back;
    # A's create afterwards is called back.
    st, x, _ = b.create(d, "x")
    got = attrs_of(b.cbs)
    r.check(len(got) == 1 and got[0][:2] == (d, SELF | ENTRIES) and
            same_attr(got[0][2], a.getattr(d)[1]),
            "B's CREATE: d with its attributes after: %s" % (got,))
    b.pending()
    a.create(d, "y")
    got = attrs_of(b.pending())
    r.check(got == [(d, ENTRIES, None)], "A's create in d told to B: %s" % (got,))
    # B removes x (watched by a GETATTR): d with attributes, x without
    # (its last link went), and x no longer watched.
    b.getattr(x)
    b.getattr(d)
    r.check(b.remove(d, "x") == 0, "B's REMOVE")
    got = attrs_of(b.cbs)
    dattr = [t[2] for t in got if t[0] == d]
    r.check(len(got) == 2 and (x, SELF, None) in got and len(dattr) == 1 and
            same_attr(dattr[0], a.getattr(d)[1]),
            "B's REMOVE: d with attributes, x without: %s" % (got,))
    b.pending()
    # A SETATTR through B: the new mode comes back; f stays watched.
    b.getattr(f)
    st, _ = b.setattr(f, 1, mode=0o600)   # BR_SET_MODE
    got = attrs_of(b.cbs)
    r.check(len(got) == 1 and got[0][2] is not None and got[0][2]["mode"] & 0o7777 == 0o600,
            "B's chmod told with the new mode: %s" % (got,))
    b.pending()
    a.setattr(f, 1, mode=0o640)
    r.check(attrs_of(b.pending()) == [(f, 0, None)], "A's chmod told to B")
    r.check(b.versions == {CB_VERS_ATTRS}, "version 2 records only")
    a.close()
    b.close()
    return 1 if r.FAILS else 0


def main():
    if sys.argv[1] == "--attrs":
        return check_attrs(int(sys.argv[2]))
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
    r.check(b.versions == {CB_VERS},
            "a client without BR_CAP_CB_ATTRS gets version 1 records: %s" % (b.versions,))
    a.close()
    n.close()
    return 1 if r.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
