#!/usr/bin/env python3
"""mungerpc.py - MUNGE sessions seen on the wire (tests/integ/35-munge.sh).

    mungerpc.py PORT SOCKET OTHER_SOCKET CHECK...

SOCKET is the munged the server trusts, OTHER_SOCKET one with another key.
Credentials are made with the `munge` command, sealing the payload
libbramble seals (rpcmsg_munge_payload: "brMG", format 1, client id), as
the user given (USER_UID:GID env, default the caller).  Exits 0 (pass) or 1.
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawrpc  # noqa: E402
from rawrpc import (AUTH_BADCRED, AUTH_NONE, AUTH_REJECTEDCRED, AUTH_SHORT,  # noqa: E402
                    AUTH_SYS, AUTH_TOOWEAK, BR_AUTH_MUNGE, GETATTR, NULL, P,
                    Client, check)

CLIENT_ID = 0x0123456789abcdef


def payload(tag=0x62724d47):
    return struct.pack(">IIQ", tag, 1, CLIENT_ID)


def make_cred(sock, data=None, uid=None, gid=None):
    """A MUNGE credential from munged at sock, made as uid/gid."""
    kw = {}
    if uid is not None:
        kw = dict(user=uid, group=gid, extra_groups=[])
    out = subprocess.run(["munge", "-S", sock], input=payload() if data is None else data,
                         stdout=subprocess.PIPE, check=True, **kw).stdout
    return out.strip()


def munge_client(port, cred, reserved=True):
    c = Client(port, reserved=reserved, auth=BR_AUTH_MUNGE)
    c.cred_body = cred
    return c


def open_session(port, cred, reserved=True):
    """NULL with the credential: (client, reply)."""
    c = munge_client(port, cred, reserved)
    return c, c.call(NULL)


def root_fh(port):
    c = Client(port, auth=AUTH_NONE)
    st, fh, _ = c.mount("")
    c.close()
    check(st == 0, "MOUNT with AUTH_NONE works under --auth=munge (%s)" % st)
    return fh


def getattr_with_short(c, handle, fh):
    c.auth, c.cred_body = AUTH_SHORT, handle
    return c.call(GETATTR, P().opaque(fh).bytes())


def check_tooweak(port, sock, other):
    fh = root_fh(port)
    for uid in (0, 1000):
        c = Client(port, uid=uid, gid=uid, auth=AUTH_SYS)
        r = c.call(GETATTR, P().opaque(fh).bytes())
        check(r.denied and r.auth_stat == AUTH_TOOWEAK,
              "AUTH_SYS uid %d: AUTH_TOOWEAK (got denied=%s auth_stat=%s)"
              % (uid, r.denied, r.auth_stat))
        c.close()


def check_session(port, sock, other):
    """A session works, from an ordinary port too; its handle answers."""
    fh = root_fh(port)
    for reserved in (True, False):
        c, r = open_session(port, make_cred(sock), reserved)
        check(r.ok, "NULL with a MUNGE credential accepted (reserved=%s)" % reserved)
        check(r.verf_flavor == AUTH_SHORT and len(r.verf) == 16,
              "answer carries a 16-byte AUTH_SHORT handle (%s, %d)"
              % (r.verf_flavor, len(r.verf)))
        r2 = getattr_with_short(c, r.verf, fh)
        check(r2.ok and r2.body.u32() == 0, "GETATTR on the session works")
        c.close()


def check_vouched(port, sock, other):
    """The server acts as the uid munged saw, made by uid 1000 here."""
    fh = root_fh(port)
    c, r = open_session(port, make_cred(sock, uid=1000, gid=1000))
    check(r.ok, "session of uid 1000 opened")
    c.auth, c.cred_body = AUTH_SHORT, r.verf
    st, pub, _ = c.lookup(fh, "pub")
    check(st == 0, "LOOKUP pub on the session (%s)" % st)
    if st == 0:
        name = "vouched-%d" % os.getpid()
        st, _, attr = c.create(pub, name)
        check(st == 0 and attr["uid"] == 1000 and attr["gid"] == 1000,
              "CREATE on uid 1000's session makes a file of 1000:1000 (%s, %s)"
              % (st, attr and (attr["uid"], attr["gid"])))
    c.close()


def check_badkey(port, sock, other):
    c, r = open_session(port, make_cred(other))
    check(r.denied and r.auth_stat == AUTH_BADCRED,
          "credential of another key: AUTH_BADCRED (auth_stat %s)" % r.auth_stat)
    c.close()


def check_replay(port, sock, other):
    cred = make_cred(sock)
    c1, r = open_session(port, cred)
    check(r.ok, "first use of the credential accepted")
    c2, r = open_session(port, cred)
    check(r.denied and r.auth_stat == AUTH_BADCRED,
          "replayed credential on a new connection: AUTH_BADCRED (%s)" % r.auth_stat)
    c1.close()
    c2.close()


def check_cross(port, sock, other):
    fh = root_fh(port)
    c1, r = open_session(port, make_cred(sock))
    check(r.ok, "session opened")
    c2 = Client(port)
    r2 = getattr_with_short(c2, r.verf, fh)
    check(r2.denied and r2.auth_stat == AUTH_REJECTEDCRED,
          "handle of another connection: AUTH_REJECTEDCRED (%s)" % r2.auth_stat)
    r3 = getattr_with_short(c2, b"\0" * 16, fh)
    check(r3.denied and r3.auth_stat == AUTH_REJECTEDCRED,
          "unknown handle: AUTH_REJECTEDCRED (%s)" % r3.auth_stat)
    r4 = getattr_with_short(c2, r.verf[:8], fh)
    check(r4.denied and r4.auth_stat == AUTH_BADCRED,
          "handle of the wrong size: AUTH_BADCRED (%s)" % r4.auth_stat)
    # The handle still works where it was made.
    r5 = getattr_with_short(c1, r.verf, fh)
    check(r5.ok, "the handle still works on its own connection")
    c1.close()
    c2.close()


def check_misuse(port, sock, other):
    fh = root_fh(port)
    c = munge_client(port, make_cred(sock))
    r = c.call(GETATTR, P().opaque(fh).bytes())
    check(r.denied and r.auth_stat == AUTH_BADCRED,
          "MUNGE credential on GETATTR (not NULL): AUTH_BADCRED (%s)" % r.auth_stat)
    c.close()
    c, r = open_session(port, make_cred(sock, data=payload(tag=0x534c524d)))
    check(r.denied and r.auth_stat == AUTH_BADCRED,
          "MUNGE credential with a foreign payload: AUTH_BADCRED (%s)" % r.auth_stat)
    c.close()


CHECKS = {
    "tooweak": check_tooweak, "session": check_session, "vouched": check_vouched,
    "badkey": check_badkey,
    "replay": check_replay, "cross": check_cross, "misuse": check_misuse,
}


def main():
    port, sock, other = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    for name in sys.argv[4:]:
        CHECKS[name](port, sock, other)
    sys.exit(1 if rawrpc.FAILS else 0)


if __name__ == "__main__":
    main()
