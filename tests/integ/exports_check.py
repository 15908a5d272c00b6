#!/usr/bin/env python3
"""exports_check.py - raw-RPC checks of brambled's several exports (36-exports.sh).

    exports_check.py PORT confine STATE DIR   handles and MOUNT paths stay in
                                              their export; allow= per export
    exports_check.py PORT handle PATH [NAME]  print the hex handle of MOUNT PATH
                                              (then LOOKUP NAME in it)
    exports_check.py PORT getattr HEX         print the status of GETATTR HEX
    exports_check.py PORT mount PATH          print the status of MOUNT PATH

DIR holds the exports of the test's file: data/ (rw), pub/ (ro), lab/
(allow=127.0.0.2/32).  Exits 0, or 1 with the failed checks on stderr.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawrpc  # noqa: E402
from rawrpc import Client, check, forge, export_id  # noqa: E402

EACCES, ENOENT, ESTALE, EXDEV, EROFS = 13, 2, 116, 18, 30


def with_id(fh, name):
    """fh with its export id bytes replaced by those of export name."""
    return fh[:1] + export_id(name) + fh[3:]


def check_confine(port, state, top):
    c = Client(port)
    st, data, _ = c.mount("data")
    check(st == 0, "MOUNT data -> %s" % st)
    st, pub, _ = c.mount("pub")
    check(st == 0, "MOUNT pub -> %s" % st)
    st, sub, _ = c.mount("data/sub")
    check(st == 0, "MOUNT data/sub -> %s" % st)
    st, sub2, _ = c.mount(os.path.join(top, "data", "sub"))
    check(st == 0 and sub2 == sub, "MOUNT by absolute path = by name (%s)" % st)
    check(data[1:3] == export_id("data"), "handle carries data's id")
    check(pub[1:3] == export_id("pub"), "handle carries pub's id")

    # paths that name no export, or leave one
    for path, want in (("", ENOENT), ("/", ENOENT), ("nope", ENOENT),
                       ("nope/sub", ENOENT), ("data/../pub", EACCES),
                       ("data/sub/../../pub", EACCES), ("/etc", ENOENT),
                       (os.path.join(top, "data", "..", "pub"), EACCES)):
        st = c.mount(path)[0]
        check(st == want, "MOUNT %r -> %s, want %s" % (path, st, want))

    # a handle of data relabelled as pub's (or as an unknown export's)
    st, f, _ = c.lookup(sub, "file")
    check(st == 0, "LOOKUP data/sub/file")
    check(c.getattr(with_id(f, "pub"))[0] == ESTALE, "data's handle with pub's id -> ESTALE")
    check(c.lookup(with_id(sub, "pub"), "file")[0] == ESTALE,
          "LOOKUP with a relabelled directory handle -> ESTALE")
    check(c.getattr(with_id(f, "no-such-export"))[0] == ESTALE, "unknown export id -> ESTALE")
    check(c.getattr(bytes([1]) + f[3:])[0] == ESTALE, "version 1 handle -> ESTALE")
    # a genuine MAC for data over a directory outside data: the ancestor
    # walk refuses it (pub is data's sibling)
    fh = forge(state, os.path.join(top, "data"), os.path.join(top, "pub"), "data")
    check(c.getattr(fh)[0] == ESTALE, "data handle of a dir outside data -> ESTALE")
    inside = forge(state, os.path.join(top, "data"), os.path.join(top, "data", "sub"), "data")
    check(inside == sub, "forged data/sub equals the server's (test sanity)")
    # both handles of one call must belong to one export
    st = c.rename(sub, "file", pub, "stolen")
    check(st == EXDEV, "RENAME from data into pub -> EXDEV (%s)" % st)
    st = c.link(f, pub, "hard")[0]
    check(st == EXDEV, "LINK data's file into pub -> EXDEV (%s)" % st)
    st, pf, _ = c.lookup(pub, "file")
    st = c.copy_range(pf, 0, f, 0, 1)[0]
    check(st == EXDEV, "COPY_RANGE from pub to data -> EXDEV (%s)" % st)
    check(not os.path.exists(os.path.join(top, "pub", "stolen")), "nothing moved")
    # read-only export: EROFS, also through OPEN for writing
    check(c.create(pub, "new")[0] == EROFS, "CREATE in pub -> EROFS")
    check(c.write(pf, 0, b"x")[0] == EROFS, "WRITE in pub -> EROFS")
    check(c.open(pf, 2)[0] == EROFS, "OPEN pub/file for writing -> EROFS")
    check(c.read(pf, 0, 10)[0] == 0, "READ in pub works")

    # allow=127.0.0.2/32: refused from 127.0.0.1 at MOUNT and on every call
    st = c.mount("lab")[0]
    check(st == EACCES, "MOUNT lab from 127.0.0.1 -> EACCES (%s)" % st)
    lab = forge(state, os.path.join(top, "lab"), os.path.join(top, "lab"), "lab")
    check(c.getattr(lab)[0] == EACCES, "GETATTR of a lab handle from 127.0.0.1 -> EACCES")
    info = c.info()
    check("data=" in info["export"] and "lab=" not in info["export"],
          "INFO lists data, not lab, to 127.0.0.1: %r" % info["export"])
    c2 = Client(port, src="127.0.0.2")
    st, lab2, _ = c2.mount("lab")
    check(st == 0 and lab2 == lab, "MOUNT lab from 127.0.0.2 works (%s)" % st)
    check(c2.getattr(lab)[0] == 0, "GETATTR of lab from 127.0.0.2 works")
    check("lab=" in c2.info()["export"], "INFO lists lab to 127.0.0.2")


def main():
    port, what, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if what == "confine":
        check_confine(port, *args)
    elif what == "handle":
        c = Client(port)
        st, fh, _ = c.mount(args[0])
        check(st == 0, "MOUNT %s -> %s" % (args[0], st))
        if st == 0 and len(args) > 1:
            st, fh, _ = c.lookup(fh, args[1])
            check(st == 0, "LOOKUP %s -> %s" % (args[1], st))
        if st == 0:
            print(fh.hex())
    elif what == "getattr":
        print(Client(port).getattr(bytes.fromhex(args[0]))[0])
    elif what == "mount":
        print(Client(port).mount(args[0])[0])
    else:
        print("unknown check", what, file=sys.stderr)
        return 2
    return 1 if rawrpc.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
