#!/usr/bin/env python3
"""rawrpc.py - talk to brambled with hand-made ONC RPC (stdlib only).

Used by tests/integ/1*-*.sh.  Everything is built by hand -- XDR, record
marking, call headers -- so a test can send exactly the malformed thing it
wants.  As a library: Client(port).call(proc, body); as a script:

    rawrpc.py PORT CHECK [ARGS...]

runs one of the CHECKS below and exits 0 (pass) or 1 (with messages).
"""
import ctypes
import errno
import hashlib
import os
import socket
import stat
import struct
import sys
import time

PROG, VERS = 0x2062726D, 1
(NULL, INFO, MOUNT, GETATTR, SETATTR, LOOKUP, ACCESS, READLINK, READ, WRITE,
 CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK, READDIRPLUS,
 STATFS, COMMIT, OPEN, GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR,
 COPY_RANGE, HELLO, LOCK, TESTLOCK, CHUNKMAP, READ_CHUNK, STATS) = range(33)
BR_DATA_MAX = 1048576
AUTH_NONE, AUTH_SYS, AUTH_SHORT = 0, 1, 2
BR_AUTH_MUNGE = 390400
# accept_stat / auth_stat values
SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS = range(5)
AUTH_BADCRED, AUTH_REJECTEDCRED, AUTH_TOOWEAK = 1, 2, 5

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg, file=sys.stderr)
    return cond


# ---- XDR

class P:
    """XDR packer."""
    def __init__(self):
        self.b = bytearray()

    def u32(self, v):
        self.b += struct.pack(">I", v & 0xffffffff)
        return self

    def u64(self, v):
        self.b += struct.pack(">Q", v & 0xffffffffffffffff)
        return self

    def opaque(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.u32(len(data))
        self.b += data + b"\0" * ((4 - len(data) % 4) % 4)
        return self

    string = opaque

    def time(self, sec, nsec):
        return self.u64(sec).u32(nsec)

    def bytes(self):
        return bytes(self.b)


class U:
    """XDR unpacker."""
    def __init__(self, b):
        self.b, self.o = b, 0

    def u32(self):
        v, = struct.unpack_from(">I", self.b, self.o)
        self.o += 4
        return v

    def u64(self):
        v, = struct.unpack_from(">Q", self.b, self.o)
        self.o += 8
        return v

    def opaque(self):
        n = self.u32()
        d = self.b[self.o:self.o + n]
        self.o += (n + 3) & ~3
        return d

    def raw(self, n):
        """Fixed-length opaque of n bytes (n a multiple of 4)."""
        d = self.b[self.o:self.o + n]
        self.o += n
        return d

    def attr(self):
        a = {}
        for k in ("ino",):
            a[k] = self.u64()
        for k in ("mode", "nlink", "uid", "gid"):
            a[k] = self.u32()
        for k in ("size", "blocks", "rdev"):
            a[k] = self.u64()
        a["blksize"] = self.u32()
        for k in ("atime", "mtime", "ctime"):
            a[k] = (self.u64(), self.u32())
        return a

    def done(self):
        return self.o == len(self.b)


# ---- RPC

class Reply:
    def __init__(self, rec):
        u = U(rec)
        self.xid = u.u32()
        assert u.u32() == 1, "not a reply"
        self.denied = u.u32() == 1
        self.accept_stat = self.auth_stat = self.reject_stat = None
        if self.denied:
            self.reject_stat = u.u32()
            if self.reject_stat == 1:
                self.auth_stat = u.u32()
            else:
                self.low, self.high = u.u32(), u.u32()
            return
        self.verf_flavor = u.u32()
        self.verf = u.opaque()
        self.accept_stat = u.u32()
        if self.accept_stat == PROG_MISMATCH:
            self.low, self.high = u.u32(), u.u32()
        self.body = U(rec[u.o:])

    @property
    def ok(self):
        return not self.denied and self.accept_stat == SUCCESS


class Closed(Exception):
    pass


class Client:
    def __init__(self, port, reserved=True, uid=None, gid=None, groups=(),
                 auth=AUTH_SYS, host="127.0.0.1", machname="rawrpc",
                 src="127.0.0.1"):
        # uid/gid not given: RAWRPC_UID/RAWRPC_GID, else root's (a test
        # sends an ordinary user's credentials by setting them; binding a
        # reserved port still needs this process to be root)
        if uid is None:
            uid = int(os.environ.get("RAWRPC_UID", 0))
        if gid is None:
            gid = int(os.environ.get("RAWRPC_GID", 0))
        self.uid, self.gid, self.groups, self.auth = uid, gid, list(groups), auth
        # the opaque body of any other flavor (AUTH_SHORT, BR_AUTH_MUNGE)
        self.cred_body = b""
        # 16 hex digits make it a client id the server's duplicate-request
        # cache keys on (as libbramble sends); "rawrpc" is no id
        self.machname = machname
        self.xid = int(time.time()) & 0xffff
        self.s = None
        last = None
        ports = range(1023, 600, -1) if reserved else [0]
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((src, p))
                s.connect((host, port))
                self.s = s
                break
            except OSError as e:
                last = e
                s.close()
        if not self.s:
            raise last
        self.s.settimeout(10)

    def close(self):
        self.s.close()

    def cred(self, auth=None):
        auth = self.auth if auth is None else auth
        if auth == AUTH_SYS:
            body = P().u32(0).string(self.machname).u32(self.uid).u32(self.gid)
            body.u32(len(self.groups))
            for g in self.groups:
                body.u32(g)
            return P().u32(AUTH_SYS).opaque(body.bytes()).bytes()
        body = self.cred_body if auth == self.auth else b""
        return P().u32(auth).opaque(body).bytes()

    def header(self, proc, prog=PROG, vers=VERS, rpcvers=2, auth=None, xid=None):
        """xid: send this one again (a retransmission) instead of the next."""
        if xid is None:
            self.xid += 1
        else:
            self.xid = xid
        return (P().u32(self.xid).u32(0).u32(rpcvers).u32(prog).u32(vers)
                .u32(proc).bytes() + self.cred(auth) + P().u32(0).u32(0).bytes())

    def send_raw(self, data):
        self.s.sendall(data)

    def send_record(self, rec):
        self.s.sendall(struct.pack(">I", 0x80000000 | len(rec)) + rec)

    def recv_exact(self, n):
        b = bytearray()
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise Closed()
            b += chunk
        return bytes(b)

    def recv_record(self):
        rec = b""
        while True:
            m, = struct.unpack(">I", self.recv_exact(4))
            rec += self.recv_exact(m & 0x7fffffff)
            if m & 0x80000000:
                return rec

    def call(self, proc, body=b"", **kw):
        self.send_record(self.header(proc, **kw) + body)
        r = Reply(self.recv_record())
        assert r.xid == self.xid, "xid mismatch"
        return r

    def is_closed(self, timeout=5):
        """True if the server closed the connection."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    # ---- procedures: each returns (status, ...) or raises on RPC errors

    def _status_call(self, proc, body):
        r = self.call(proc, body)
        if not r.ok:
            return ("rpc", r)
        return r.body.u32(), r.body

    def info(self):
        r = self.call(INFO, auth=AUTH_NONE)
        u = r.body
        return dict(version=u.opaque().decode(), export=u.opaque().decode(),
                    proto=u.u32(), start=u.u64(), uptime=u.u64(),
                    max_data=u.u32(), read_only=u.u32())

    def hello(self, lo=1, hi=2, caps=0, need=0, client="rawrpc"):
        r = self.call(HELLO, P().u32(lo).u32(hi).u64(caps).u64(need)
                      .string(client).bytes(), auth=AUTH_NONE)
        check(r.ok, "HELLO accepted by the RPC layer")
        u = r.body
        return dict(status=u.u32(), revision=u.u32(), min=u.u32(), max=u.u32(),
                    caps=u.u64(), instance=u.u64(), grace=u.u32(),
                    server=u.opaque().decode(), message=u.opaque().decode())

    def stats(self, flags=0, **kw):
        """STATS: (status, dict) as `bramble stats --json' has it."""
        r = self.call(STATS, P().u32(flags).bytes(), **kw)
        if not r.ok:
            return ("rpc", r)
        u = r.body
        st = u.u32()
        if st != 0:
            return st, None
        d = dict(start_time=u.u64(), uptime_ms=u.u64(), procedures={})
        for _ in range(u.u32()):
            name = u.opaque().decode()
            d["procedures"][name] = dict(zip(
                ("calls", "errors", "bytes_in", "bytes_out", "p50_us",
                 "p90_us", "p99_us", "max_us", "sum_us"),
                [u.u64() for _ in range(9)]))
        d["connections"] = dict(current=u.u64(), total=u.u64(), refused=u.u64())
        d["disk"] = dict(read_bytes=u.u64(), write_bytes=u.u64(),
                         read_ns=u.u64(), write_ns=u.u64())
        if flags & 1:   # BR_STATS_COUNTERS: the named counters follow
            d["counters"] = {}
            for _ in range(u.u32()):
                name = u.opaque().decode()
                d["counters"][name] = u.u64()
        check(u.done(), "STATS reply fully decoded")
        return 0, d

    def chunkmap(self, fh, first=0, max_=0, **kw):
        """CHUNKMAP: (status, dict(version, size, chunk_size, first,
        hashes=[16-byte bytes...], eof)) or ("rpc", reply)."""
        r = self.call(CHUNKMAP, P().opaque(fh).u32(first).u32(max_).bytes(), **kw)
        if not r.ok:
            return ("rpc", r)
        u = r.body
        st = u.u32()
        if st != 0:
            return st, None
        d = dict(version=u.u64(), size=u.u64(), chunk_size=u.u32(), first=u.u32())
        d["hashes"] = [bytes(u.raw(16)) for _ in range(u.u32())]
        d["eof"] = u.u32()
        check(u.done(), "CHUNKMAP reply fully decoded")
        return 0, d

    def read_chunk(self, fh, hash_, idx, version, **kw):
        """READ_CHUNK: (status, data) or ("rpc", reply)."""
        body = P().opaque(fh)
        body.b += hash_          # br_chunk_hash: fixed 16 bytes, no length
        r = self.call(READ_CHUNK, body.u32(idx).u64(version).bytes(), **kw)
        if not r.ok:
            return ("rpc", r)
        st = r.body.u32()
        return (0, bytes(r.body.opaque())) if st == 0 else (st, None)

    def mount(self, path):
        st, u = self._status_call(MOUNT, P().string(path).bytes())
        if st == 0:
            return 0, u.opaque(), u.attr()
        return st, None, None

    def entry(self, proc, body):
        st, u = self._status_call(proc, body)
        if st == 0:
            return 0, u.opaque(), u.attr()
        return st, None, None

    def lookup(self, d, name):
        return self.entry(LOOKUP, P().opaque(d).string(name).bytes())

    def getattr(self, fh):
        st, u = self._status_call(GETATTR, P().opaque(fh).bytes())
        return (0, u.attr()) if st == 0 else (st, None)

    def setattr(self, fh, valid, mode=0, uid=0, gid=0, size=0, atime=(0, 0),
                mtime=(0, 0)):
        body = (P().opaque(fh).u32(valid).u32(mode).u32(uid).u32(gid).u64(size)
                .time(*atime).time(*mtime).bytes())
        st, u = self._status_call(SETATTR, body)
        return (0, u.attr()) if st == 0 else (st, None)

    def create(self, d, name, mode=0o644, flags=1):
        return self.entry(CREATE, P().opaque(d).string(name).u32(mode).u32(flags).bytes())

    def mkdir(self, d, name, mode=0o755):
        return self.entry(MKDIR, P().opaque(d).string(name).u32(mode).bytes())

    def symlink(self, d, name, target):
        return self.entry(SYMLINK, P().opaque(d).string(name).string(target).bytes())

    def readlink(self, fh):
        st, u = self._status_call(READLINK, P().opaque(fh).bytes())
        return (0, u.opaque().decode()) if st == 0 else (st, None)

    def write(self, fh, off, data, flags=0):
        st, u = self._status_call(WRITE, P().opaque(fh).u64(off).u32(flags).opaque(data).bytes())
        return (0, u.u32(), u.attr()) if st == 0 else (st, None, None)

    def read(self, fh, off, count):
        st, u = self._status_call(READ, P().opaque(fh).u64(off).u32(count).bytes())
        return (0, u.opaque(), u.u32()) if st == 0 else (st, None, None)

    def remove(self, d, name):
        return self._status_call(REMOVE, P().opaque(d).string(name).bytes())[0]

    def rmdir(self, d, name):
        return self._status_call(RMDIR, P().opaque(d).string(name).bytes())[0]

    def rename(self, fd, fname, td, tname, flags=0):
        return self._status_call(RENAME, P().opaque(fd).string(fname).opaque(td)
                                 .string(tname).u32(flags).bytes())[0]

    def link(self, fh, d, name):
        return self.entry(LINK, P().opaque(fh).opaque(d).string(name).bytes())

    def access(self, fh, mask):
        return self._status_call(ACCESS, P().opaque(fh).u32(mask).bytes())[0]

    def open(self, fh, flags):
        st, u = self._status_call(OPEN, P().opaque(fh).u32(flags).bytes())
        return (0, u.attr()) if st == 0 else (st, None)

    def readdirplus(self, d, cookie=0, max_entries=4096, max_bytes=1 << 20):
        st, u = self._status_call(READDIRPLUS, P().opaque(d).u64(cookie)
                                  .u32(max_entries).u32(max_bytes).bytes())
        if st != 0:
            return st, None, None
        n = u.u32()
        ents = []
        for _ in range(n):
            name = u.opaque().decode()
            ck = u.u64()
            fh = u.opaque()
            ents.append((name, ck, fh, u.attr()))
        return 0, ents, u.u32()

    def readdir_all(self, d, chunk=3):
        cookie, out = 0, []
        while True:
            st, ents, eof = self.readdirplus(d, cookie, chunk)
            if st != 0:
                return st, None
            out += ents
            if eof or not ents:
                return 0, out
            cookie = ents[-1][1]

    def statfs(self, fh):
        return self._status_call(STATFS, P().opaque(fh).bytes())[0]

    def commit(self, fh, flags=0):
        return self._status_call(COMMIT, P().opaque(fh).u32(flags).bytes())[0]

    def getxattr(self, fh, name, size):
        st, u = self._status_call(GETXATTR, P().opaque(fh).string(name).u32(size).bytes())
        return (0, u.opaque(), u.u32()) if st == 0 else (st, None, None)

    def setxattr(self, fh, name, value, flags=0):
        return self._status_call(SETXATTR, P().opaque(fh).string(name).opaque(value)
                                 .u32(flags).bytes())[0]

    def listxattr(self, fh, size):
        st, u = self._status_call(LISTXATTR, P().opaque(fh).u32(size).bytes())
        return (0, u.opaque(), u.u32()) if st == 0 else (st, None, None)

    def removexattr(self, fh, name):
        return self._status_call(REMOVEXATTR, P().opaque(fh).string(name).bytes())[0]

    def copy_range(self, src, soff, dst, doff, count):
        st, u = self._status_call(COPY_RANGE, P().opaque(src).u64(soff).opaque(dst)
                                  .u64(doff).u64(count).u32(0).bytes())
        return (0, u.u64(), u.attr()) if st == 0 else (st, None, None)


# ---- forging genuine-format handles (the test knows the server's key)

class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]


def kernel_handle(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fh = FileHandle()
    fh.handle_bytes = 128
    mnt = ctypes.c_int()
    AT_FDCWD = -100
    if libc.name_to_handle_at(AT_FDCWD, path.encode(), ctypes.byref(fh),
                              ctypes.byref(mnt), 0) != 0:
        raise OSError(ctypes.get_errno(), "name_to_handle_at " + path)
    return fh.handle_type, bytes(fh.f_handle[:fh.handle_bytes])


def export_id(name):
    """The handle id of an export named name (server/exports.c)."""
    return hashlib.blake2b(name.encode(), digest_size=16).digest()[:2]


def forge(state_dir, export_dir, target, name=None):
    """A wire handle for target with a valid MAC, as brambled makes them:
    version 2, the export's id (from its name; --export DIR: the dir's
    basename), type, kernel bytes, BLAKE2b-16 keyed over root kh + those."""
    key = open(os.path.join(state_dir, "handle.key"), "rb").read()
    rtype, rbytes = kernel_handle(export_dir)
    ttype, tbytes = kernel_handle(target)
    xid = export_id(name or os.path.basename(export_dir.rstrip("/")))
    body = bytes([2]) + xid + bytes([ttype]) + tbytes
    mac = hashlib.blake2b(bytes([rtype]) + rbytes + body, digest_size=16,
                          key=key).digest()
    return body + mac


# ---- checks

EINVAL, ENOENT, EACCES, EEXIST, ENOTDIR, ESTALE, EROFS, EPERM = (
    22, 2, 13, 17, 20, 116, 30, 1)


def snapshot(path):
    """Names, modes, sizes and mtimes of a tree: to prove it unchanged."""
    out = []
    for root, dirs, files in os.walk(path):
        for n in sorted(dirs + files):
            p = os.path.join(root, n)
            st = os.lstat(p)
            out.append((p, st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid))
    st = os.lstat(path)
    out.append((path, st.st_mode, st.st_mtime_ns))
    return sorted(out)


def check_hostile(port, export, sentinel, state):
    """Names, paths, handles and records a client must not get away with."""
    before = snapshot(sentinel)
    c = Client(port)
    st, root, _ = c.mount("")
    check(st == 0, "MOUNT '' -> %s" % st)
    check(c.mount("/")[0] == 0, "MOUNT '/' works")
    for path, want in (("../..", EACCES), ("..", EACCES), ("sub/../..", EACCES),
                       ("/etc", ENOENT), ("escape", EACCES), ("file", ENOTDIR),
                       ("/../" + os.path.basename(sentinel), EACCES)):
        st = c.mount(path)[0]
        check(st == want, "MOUNT %r -> %s, want %s" % (path, st, want))
    st, sub, _ = c.mount("sub")
    check(st == 0, "MOUNT 'sub'")

    for name in ("..", ".", "a/b", "", "/etc"):
        for what, st in (("LOOKUP", c.lookup(root, name)[0]),
                         ("CREATE", c.create(root, name)[0]),
                         ("MKDIR", c.mkdir(root, name)[0]),
                         ("SYMLINK", c.symlink(root, name, "/etc")[0]),
                         ("REMOVE", c.remove(root, name)),
                         ("RENAME to", c.rename(root, "file", root, name)),
                         ("RENAME from", c.rename(root, name, root, "x")),
                         ("LINK", c.link(c.lookup(root, "file")[1], root, name)[0])):
            check(st == EINVAL, "%s %r -> %s, want EINVAL" % (what, name, st))
    check(c.rename(sub, "..", root, "stolen") == EINVAL, "RENAME sub/.. refused")

    # a name over BR_NAME_MAX does not even decode
    r = c.call(LOOKUP, P().opaque(root).string("x" * 300).bytes())
    check(r.accept_stat == GARBAGE_ARGS, "300-byte name -> GARBAGE_ARGS")
    r = c.call(LOOKUP, P().opaque(b"\1" * 65).string("x").bytes())
    check(r.accept_stat == GARBAGE_ARGS, "65-byte handle -> GARBAGE_ARGS")
    r = c.call(GETATTR, P().opaque(root).bytes() + b"\0\0\0\0")
    check(r.accept_stat == GARBAGE_ARGS, "trailing bytes -> GARBAGE_ARGS")
    r = c.call(99)
    check(r.accept_stat == PROC_UNAVAIL, "proc 99 -> PROC_UNAVAIL")
    r = c.call(NULL, vers=2)
    check(r.accept_stat == PROG_MISMATCH and (r.low, r.high) == (1, 1),
          "version 2 -> PROG_MISMATCH 1..1")
    r = c.call(NULL, prog=100003)
    check(r.accept_stat == PROG_UNAVAIL, "NFS program -> PROG_UNAVAIL")
    r = c.call(NULL, rpcvers=3)
    check(r.denied and r.reject_stat == 0, "rpcvers 3 -> RPC_MISMATCH")
    r = c.call(GETATTR, P().opaque(root).bytes(), auth=AUTH_NONE)
    check(r.denied and r.auth_stat == AUTH_TOOWEAK, "AUTH_NONE GETATTR -> TOOWEAK")

    # forged, tampered, truncated handles
    check(c.getattr(os.urandom(26))[0] == ESTALE, "random handle -> ESTALE")
    for i in (0, 1, 2, len(root) - 1):
        t = bytearray(root)
        t[i] ^= 0x40
        check(c.lookup(bytes(t), "file")[0] == ESTALE, "tampered byte %d -> ESTALE" % i)
    check(c.getattr(root[:-1])[0] == ESTALE, "truncated handle -> ESTALE")
    check(c.getattr(b"")[0] == ESTALE, "empty handle -> ESTALE")

    # genuine-format handles with a valid MAC for directories outside the
    # export: the ancestor walk must refuse them
    inside = forge(state, export, os.path.join(export, "sub"))
    check(inside == sub, "forged handle of sub equals the server's (test sanity)")
    for target in (sentinel, os.path.dirname(export), "/"):
        fh = forge(state, export, target)
        check(c.getattr(fh)[0] == ESTALE, "handle of %s -> ESTALE" % target)
        check(c.lookup(fh, "x")[0] == ESTALE, "LOOKUP in %s -> ESTALE" % target)
        check(c.create(fh, "pwned")[0] == ESTALE, "CREATE in %s -> ESTALE" % target)

    # symlinks are stored, never followed
    st, lfh, la = c.lookup(root, "escape")
    check(st == 0 and stat.S_ISLNK(la["mode"]), "LOOKUP escape is the symlink")
    check(c.readlink(lfh) == (0, "../" + os.path.basename(sentinel)), "READLINK escape")
    check(c.lookup(lfh, "x")[0] == ENOTDIR, "LOOKUP through a symlink -> ENOTDIR")
    check(c.create(lfh, "x")[0] == ENOTDIR, "CREATE through a symlink -> ENOTDIR")
    st = c.write(lfh, 0, b"x")[0]
    check(st == EINVAL, "WRITE to a symlink -> EINVAL (%s)" % st)
    st, afh, _ = c.symlink(root, "abs", "/etc/passwd")
    check(st == 0, "SYMLINK to an absolute target is stored")
    check(os.readlink(os.path.join(export, "abs")) == "/etc/passwd", "target kept")
    check(c.read(afh, 0, 100)[0] == EINVAL, "READ of a symlink -> EINVAL")
    check(c.create(root, "abs", flags=0)[0] != 0, "CREATE over a symlink fails")
    check(c.setattr(lfh, 1, mode=0o777)[0] != 0, "chmod of a symlink refused")

    # data bigger than BR_DATA_MAX does not decode
    st, ffh, _ = c.lookup(root, "file")
    r = c.call(WRITE, P().opaque(ffh).u64(0).u32(0).opaque(b"x" * (BR_DATA_MAX + 1)).bytes())
    check(r.accept_stat == GARBAGE_ARGS, "WRITE > BR_DATA_MAX -> GARBAGE_ARGS")
    st, data, _ = c.read(ffh, 0, 0xffffffff)
    check(st == 0 and len(data) <= BR_DATA_MAX, "READ count is capped")
    c.close()

    # records that must close the connection
    c = Client(port)
    c.send_raw(struct.pack(">I", 0x80000000 | (2 << 30) - 1))
    check(c.is_closed(), "2 GiB record mark -> connection closed")
    c = Client(port)
    c.send_raw(struct.pack(">I", 0x80000000 | (BR_DATA_MAX + 65536 + 1)) + b"\0" * 64)
    check(c.is_closed(), "record just over BR_RECORD_MAX -> closed")
    c = Client(port)
    c.send_raw(struct.pack(">I", 0x80000002) + b"\xde\xad")
    check(c.is_closed(), "2-byte record -> closed")
    c = Client(port)
    c.send_raw(os.urandom(64 * 1024))
    check(c.is_closed(), "random bytes -> closed")
    c = Client(port)
    c.send_record(struct.pack(">II", 1, 7) + os.urandom(40))   # not a call: ignored
    r = c.call(NULL)
    check(r.ok, "server answers after a non-call message")
    c.close()

    # and it still serves
    c = Client(port)
    check(c.call(NULL).ok and c.getattr(root)[0] == 0, "server still serving")
    c.close()
    check(snapshot(sentinel) == before, "sentinel next to the export unchanged")
    check(not os.path.exists(os.path.join(os.path.dirname(export), "stolen")),
          "nothing created beside the export")


def check_smoke(port, export):
    """Ordinary operations, compared with the export directory."""
    c = Client(port, uid=0)
    st, root, _ = c.mount("")
    st, d, _ = c.mkdir(root, "smoke")
    check(st == 0 and os.path.isdir(os.path.join(export, "smoke")), "MKDIR")
    names = []
    for i in range(10):
        n = "f%02d" % i
        st, fh, a = c.create(d, n, 0o640)
        check(st == 0 and a["mode"] == 0o100640, "CREATE %s (%s)" % (n, st))
        data = (n * 1000).encode()
        st, cnt, a = c.write(fh, 0, data, 1)
        check(st == 0 and cnt == len(data) and a["size"] == len(data), "WRITE %s" % n)
        check(open(os.path.join(export, "smoke", n), "rb").read() == data,
              "file %s on disk" % n)
        st, got, eof = c.read(fh, 0, 65536)
        check(st == 0 and got == data and eof, "READ %s" % n)
        st, got, eof = c.read(fh, 2, 3)
        check(st == 0 and got == data[2:5] and not eof, "READ middle of %s" % n)
        names.append(n)
    check(c.create(d, "f00")[0] == EEXIST, "CREATE EXCL of an existing name")
    st, fh, a = c.create(d, "f00", flags=2)
    check(st == 0 and a["size"] == 0, "CREATE TRUNC of an existing file")
    st, ents = c.readdir_all(d)
    check(st == 0 and sorted(e[0] for e in ents) == sorted(os.listdir(os.path.join(export, "smoke"))),
          "READDIRPLUS lists what the directory holds")
    for name, _, efh, a in ents:
        st2, lfh, la = c.lookup(d, name)
        check(lfh == efh and la["ino"] == a["ino"], "READDIRPLUS handle of %s = LOOKUP's" % name)
    check(c.rename(d, "f01", d, "renamed") == 0, "RENAME")
    check(os.path.exists(os.path.join(export, "smoke", "renamed")) and
          not os.path.exists(os.path.join(export, "smoke", "f01")), "RENAME on disk")
    check(c.rename(d, "f02", d, "renamed", 1) == EEXIST, "RENAME NOREPLACE")
    check(c.rename(d, "f02", d, "f03", 2) == 0, "RENAME EXCHANGE")
    check(open(os.path.join(export, "smoke", "f03"), "rb").read()[:3] == b"f02", "exchanged")
    check(c.remove(d, "f04") == 0 and not os.path.exists(os.path.join(export, "smoke", "f04")), "REMOVE")
    check(c.remove(d, "f04") == ENOENT, "REMOVE again -> ENOENT")
    st, fh5, _ = c.lookup(d, "f05")
    check(c.remove(d, "f05") == 0 and c.getattr(fh5)[0] == ESTALE, "handle of a removed file -> ESTALE")
    check(c.rmdir(root, "smoke") == 39, "RMDIR of a non-empty dir -> ENOTEMPTY")
    st, f6, _ = c.lookup(d, "f06")
    st, _, la = c.link(f6, d, "hard")
    check(st == 0 and la["nlink"] == 2 and os.stat(os.path.join(export, "smoke", "hard")).st_nlink == 2, "LINK")
    st, a = c.setattr(f6, 8 | 1, mode=0o600, size=5)
    check(st == 0 and a["size"] == 5 and a["mode"] & 0o7777 == 0o600, "SETATTR size+mode")
    st, a = c.setattr(f6, 16 | 32, atime=(1000, 5), mtime=(2000, 7))
    check(st == 0 and a["mtime"] == (2000, 7) and int(os.stat(os.path.join(export, "smoke", "f06")).st_mtime) == 2000,
          "SETATTR times")
    st, a = c.setattr(f6, 2 | 4, uid=1234, gid=4321)
    check(st == 0 and (a["uid"], a["gid"]) == (1234, 4321), "SETATTR owner (root)")
    check(c.access(f6, 4) == 0, "ACCESS")
    check(c.open(f6, 3)[0] == 0, "OPEN rw")
    check(c.open(f6, 4)[0] == 0 and c.getattr(f6)[1]["size"] == 0,
          "OPEN TRUNC without WRITE truncates (O_RDONLY|O_TRUNC on Linux)")
    st, a = c.open(f6, 2 | 4)
    check(st == 0 and a["size"] == 0, "OPEN TRUNC")
    check(c.statfs(root) == 0, "STATFS")
    check(c.commit(f6) == 0 and c.commit(d, 1) == 0, "COMMIT")
    check(c.setxattr(f6, "user.k", b"v1") == 0, "SETXATTR")
    check(os.getxattr(os.path.join(export, "smoke", "f06"), "user.k") == b"v1", "xattr on disk")
    check(c.getxattr(f6, "user.k", 0)[2] == 2, "GETXATTR size query")
    check(c.getxattr(f6, "user.k", 100)[1] == b"v1", "GETXATTR")
    check(c.getxattr(f6, "user.k", 1)[0] == 34, "GETXATTR small buffer -> ERANGE")
    check(c.getxattr(f6, "trusted.k", 100)[0] == 95, "trusted.* -> EOPNOTSUPP")
    check(c.setxattr(f6, "security.k", b"x") == 95, "security.* -> EOPNOTSUPP")
    os.setxattr(os.path.join(export, "smoke", "f06"), "trusted.hidden", b"x")
    st, lst, size = c.listxattr(f6, 1000)
    check(st == 0 and lst == b"user.k\0" and size == 7, "LISTXATTR shows only user.* (%r)" % lst)
    check(c.listxattr(f6, 3)[0] == 34, "LISTXATTR small buffer -> ERANGE")
    check(c.removexattr(f6, "user.k") == 0 and c.getxattr(f6, "user.k", 0)[0] == 61, "REMOVEXATTR")
    st, src, _ = c.lookup(d, "f07")
    st, dst, _ = c.create(d, "copy")
    st, n, a = c.copy_range(src, 0, dst, 0, 1 << 40)
    check(st == 0 and n == 3000 and a["size"] == 3000, "COPY_RANGE to EOF (%s %s)" % (st, n))
    check(open(os.path.join(export, "smoke", "copy"), "rb").read() ==
          open(os.path.join(export, "smoke", "f07"), "rb").read(), "copy on disk")
    st, lfh, la = c.symlink(d, "ln", "f07")
    check(st == 0 and c.readlink(lfh) == (0, "f07"), "SYMLINK + READLINK")
    st, fifo, fa = c.entry(MKNOD, P().opaque(d).string("fifo").u32(0o10644).u64(0).bytes())
    check(st == 0 and stat.S_ISFIFO(fa["mode"]), "MKNOD fifo")
    check(c.open(fifo, 1)[0] == 0, "OPEN of a fifo does not block")
    st = c.entry(MKNOD, P().opaque(d).string("dev").u32(0o20644).u64(0x0103).bytes())[0]
    check(st == 0, "MKNOD char device as unsquashed root (%s)" % st)
    # big data: one full-size write and read
    big = os.urandom(BR_DATA_MAX)
    st, bfh, _ = c.create(d, "big")
    check(c.write(bfh, 0, big)[1] == BR_DATA_MAX, "1 MiB WRITE")
    check(c.read(bfh, 0, BR_DATA_MAX)[1] == big, "1 MiB READ")
    # pipelining: many calls in flight, replies matched by xid
    xids = {}
    for i in range(200):
        hdr = c.header(GETATTR)
        xids[c.xid] = i
        c.send_record(hdr + P().opaque(bfh).bytes())
    seen = set()
    for _ in range(200):
        r = Reply(c.recv_record())
        check(r.ok and r.body.u32() == 0, "pipelined GETATTR ok")
        seen.add(r.xid)
    check(seen == set(xids), "every pipelined call answered once")
    # READDIRPLUS with tiny max_bytes still makes progress
    st, ents, eof = c.readdirplus(d, 0, 100, 1)
    check(st == 0 and len(ents) == 1, "READDIRPLUS max_bytes=1 returns one entry")
    st, ents, eof = c.readdirplus(d, 0, 2)
    check(st == 0 and len(ents) == 2 and not eof, "READDIRPLUS max_entries=2")
    c.close()


def check_stress(port, export, nconn=8, ncalls=300):
    """Many connections, each with hundreds of calls in flight (more than
    the server's per-connection cap), replies in any order."""
    import threading
    c = Client(port)
    st, root, _ = c.mount("")
    st, d, _ = c.mkdir(root, "stress")
    check(st == 0, "MKDIR stress")
    errors = []

    def worker(n):
        try:
            k = Client(port)
            st, fh, _ = k.create(d, "f%d" % n)
            want = {}
            for i in range(ncalls):              # pipelined writes
                blk = bytes([(n * 31 + i) & 0xff]) * 4096
                want[i] = blk
                hdr = k.header(WRITE)
                k.send_record(hdr + P().opaque(fh).u64(i * 4096).u32(0).opaque(blk).bytes())
            got = set()
            for _ in range(ncalls):
                r = Reply(k.recv_record())
                if not (r.ok and r.body.u32() == 0 and r.body.u32() == 4096):
                    errors.append("conn %d: a WRITE failed" % n)
                got.add(r.xid)
            if len(got) != ncalls:
                errors.append("conn %d: %d distinct write replies" % (n, len(got)))
            xid_blk = {}
            for i in range(ncalls):              # pipelined reads + noise
                hdr = k.header(READ)
                xid_blk[k.xid] = i
                k.send_record(hdr + P().opaque(fh).u64(i * 4096).u32(4096).bytes())
                k.send_record(k.header(GETATTR) + P().opaque(d).bytes())
            for _ in range(2 * ncalls):
                r = Reply(k.recv_record())
                if r.xid in xid_blk:
                    if not (r.ok and r.body.u32() == 0 and
                            r.body.opaque() == want[xid_blk.pop(r.xid)]):
                        errors.append("conn %d: READ returned wrong data" % n)
            if xid_blk:
                errors.append("conn %d: %d reads unanswered" % (n, len(xid_blk)))
            k.close()
        except Exception as e:      # noqa: BLE001 - report, do not hang
            errors.append("conn %d: %r" % (n, e))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(nconn)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for e in errors[:10]:
        check(False, e)
    for n in range(nconn):
        check(os.path.getsize(os.path.join(export, "stress", "f%d" % n)) == ncalls * 4096,
              "stress file %d complete" % n)
    st, ents = c.readdir_all(d, 3)
    check(st == 0 and len(ents) == nconn, "READDIRPLUS in chunks sees every file")


def check_creds(port, export, squash):
    """Root squash, another user's permissions."""
    os.chmod(export, 0o1777)    # so squashed root (nobody) may create too
    c = Client(port, uid=0, gid=0)
    st, root, _ = c.mount("")
    st, fh, a = c.create(root, "byroot", 0o600)
    check(st == 0, "CREATE as root (%s)" % st)
    owner = os.stat(os.path.join(export, "byroot")).st_uid
    want = 65534 if squash else 0
    check(owner == want and a["uid"] == want, "root's file owned by %d (is %d)" % (want, owner))
    c.close()
    # a 0600 root file, and an ordinary user
    secret = os.path.join(export, "secret")
    with open(secret, "w") as f:
        f.write("top secret")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    u = Client(port, uid=1000, gid=1000, groups=[1000])
    st, root, _ = u.mount("")
    st, sfh, _ = u.lookup(root, "secret")
    check(st == 0, "user can LOOKUP the secret file")
    check(u.read(sfh, 0, 100)[0] == EACCES, "user cannot READ a 0600 root file")
    check(u.write(sfh, 0, b"x")[0] == EACCES, "user cannot WRITE it")
    check(u.open(sfh, 1)[0] == EACCES, "user cannot OPEN it")
    check(u.access(sfh, 4) == EACCES, "ACCESS R_OK -> EACCES")
    check(u.setattr(sfh, 1, mode=0o666)[0] == EPERM, "user cannot chmod it")
    check(u.setattr(sfh, 8, size=0)[0] == EACCES, "user cannot truncate it")
    check(u.getxattr(sfh, "user.x", 10)[0] in (EACCES, 61), "xattr read of it")
    # a directory only root can enter
    priv = os.path.join(export, "private")
    os.mkdir(priv, 0o700)
    open(os.path.join(priv, "inside"), "w").close()
    st, pfh, _ = u.lookup(root, "private")
    check(u.lookup(pfh, "inside")[0] == EACCES, "user cannot LOOKUP in a 0700 dir")
    check(u.readdirplus(pfh)[0] == EACCES, "user cannot list a 0700 dir")
    check(u.create(pfh, "user-file")[0] == EACCES, "user cannot create in a 0700 root dir")
    check(u.mkdir(pfh, "d")[0] == EACCES and u.remove(pfh, "inside") == EACCES,
          "nor mkdir or remove there")
    # the user's own things work, in a world-writable dir
    st, ufh, a = u.create(root, "mine", 0o600)
    check(st == 0 and a["uid"] == 1000 and os.stat(os.path.join(export, "mine")).st_uid == 1000,
          "user's file owned by 1000")
    check(u.write(ufh, 0, b"hello")[0] == 0 and u.read(ufh, 0, 10)[1] == b"hello", "user r/w own file")
    # A new 0444 file: its owner cannot OPEN it for writing (permission
    # is checked at open), but a WRITE that carries no open state is
    # done as the owner (knfsd's owner override); another user's is not.
    st, rofh, _ = u.create(root, "mine-ro", 0o444)
    check(st == 0 and u.open(rofh, 2)[0] == EACCES, "creator cannot OPEN a new 0444 file for writing")
    check(u.write(rofh, 0, b"x")[0] == 0, "creator WRITEs a new 0444 file (owner override)")
    check(Client(port, uid=1001, gid=1001).write(rofh, 0, b"y")[0] == EACCES,
          "another user cannot WRITE it")
    # a file removed behind a cached fd is stale for READ, WRITE and OPEN
    st, gfh, _ = u.create(root, "mine-gone", 0o600)
    check(st == 0 and u.write(gfh, 0, b"bye")[0] == 0 and u.read(gfh, 0, 3)[1] == b"bye",
          "user r/w a new file")
    os.unlink(os.path.join(export, "mine-gone"))
    check(u.read(gfh, 0, 3)[0] == ESTALE and u.write(gfh, 0, b"x")[0] == ESTALE and
          u.open(gfh, 1)[0] == ESTALE, "removed file: READ/WRITE/OPEN say ESTALE")
    # the fd cache is keyed by credentials: uid 1001 must not read uid 1000's file
    v = Client(port, uid=1001, gid=1001)
    check(v.read(ufh, 0, 10)[0] == EACCES, "uid 1001 cannot use uid 1000's cached fd")
    check(v.write(ufh, 0, b"x")[0] == EACCES, "nor write through it")
    check(v.open(ufh, 1)[0] == EACCES, "nor OPEN it")
    check(v.remove(root, "mine") == EPERM, "sticky dir: 1001 cannot remove 1000's file")
    # supplementary groups count
    os.chown(os.path.join(export, "mine"), 1000, 2000)
    os.chmod(os.path.join(export, "mine"), 0o640)
    w = Client(port, uid=1002, gid=1002, groups=[2000])
    check(w.read(ufh, 0, 10)[1] == b"hello", "group 2000 member reads a 0640 file")
    w2 = Client(port, uid=1002, gid=1002, groups=[])
    check(w2.read(ufh, 0, 10)[0] == EACCES, "same uid without the group cannot")
    check(u.entry(MKNOD, P().opaque(root).string("dev").u32(0o20644).u64(0x0103).bytes())[0] == EPERM,
          "user cannot MKNOD a device")
    for x in (u, v, w, w2):
        x.close()


def check_readonly(port):
    c = Client(port)
    st, root, _ = c.mount("")
    check(c.info()["read_only"] == 1, "INFO says read-only")
    check(c.create(root, "x")[0] == EROFS, "CREATE -> EROFS")
    check(c.mkdir(root, "x")[0] == EROFS, "MKDIR -> EROFS")
    st, fh, _ = c.lookup(root, "file")
    check(c.write(fh, 0, b"x")[0] == EROFS, "WRITE -> EROFS")
    check(c.setattr(fh, 1, mode=0o777)[0] == EROFS, "SETATTR -> EROFS")
    check(c.remove(root, "file") == EROFS, "REMOVE -> EROFS")
    check(c.rename(root, "file", root, "y") == EROFS, "RENAME -> EROFS")
    check(c.open(fh, 2)[0] == EROFS, "OPEN for writing -> EROFS")
    check(c.open(fh, 1)[0] == 0, "OPEN for reading works")
    check(c.read(fh, 0, 10)[0] == 0, "READ works")
    c.close()


def drc_send(port, machname, proc, body, xid):
    """One call with a client id and a chosen XID on its own connection,
    as libbramble re-sends after a reconnect; returns the reply."""
    k = Client(port, machname=machname)
    k.send_record(k.header(proc, xid=xid) + body)
    r = Reply(k.recv_record())
    k.close()
    check(r.xid == xid and r.ok, "reply to xid %08x" % xid)
    return r


def check_drc_crash(port, export, step):
    """The window between doing a call and storing its reply (drc.h): the
    test kills brambled and drops the reply rows from bramble.db, leaving
    the intents, between step "do" and step "resend"; "do-lost" and
    "resend-lost" are the control (other XIDs), with the intent rows
    dropped too."""
    cid = "%016x" % 0x00c0ffee00c0ffee
    c = Client(port)
    st, root, _ = c.mount("")
    check(st == 0, "MOUNT")
    mk = P().opaque(root).string("crash-new").u32(0o644).u32(1).bytes()  # EXCL
    rm = P().opaque(root).string("crash-old").bytes()
    xid = 0xc0de0011 if step.endswith("-lost") else 0xc0de0001
    if step.startswith("do"):
        open(os.path.join(export, "crash-old"), "w").close()
        check(drc_send(port, cid, CREATE, mk, xid).body.u32() == 0, "CREATE")
        check(drc_send(port, cid, REMOVE, rm, xid + 1).body.u32() == 0, "REMOVE")
        return
    st_c = drc_send(port, cid, CREATE, mk, xid).body
    st_r = drc_send(port, cid, REMOVE, rm, xid + 1).body.u32()
    want_c, want_r = (0, 0) if step == "resend" else (EEXIST, ENOENT)
    got_c = st_c.u32()
    check(got_c == want_c, "re-sent CREATE after the crash -> %s, want %s" % (got_c, want_c))
    check(st_r == want_r, "re-sent REMOVE after the crash -> %s, want %s" % (st_r, want_r))
    if step == "resend" and got_c == 0:
        fh = st_c.opaque()
        st, fh2, _ = c.lookup(root, "crash-new")
        check(st == 0 and fh == fh2, "the settled CREATE returns the file's handle")


def check_drc(port, export):
    """Duplicate-request cache: a non-idempotent call sent again with the
    same XID and client id, on a new connection (as libbramble does after a
    reconnect), gets the first execution's reply; another client id with
    the same XID is another call and really runs."""
    cid, other = "%016x" % 0x0123456789abcdef, "%016x" % 0xfedcba9876543210
    xid = 0x5eed0000 | (os.getpid() & 0xffff)

    def once(machname, proc, body, xid):
        k = Client(port, machname=machname)
        k.send_record(k.header(proc, xid=xid) + body)
        r = Reply(k.recv_record())
        k.close()
        check(r.xid == xid and r.ok, "reply to xid %08x" % xid)
        return r

    c = Client(port)
    st, root, _ = c.mount("")
    check(st == 0, "MOUNT")
    mk = P().opaque(root).string("drc-dir").u32(0o755).bytes()
    r1 = once(cid, MKDIR, mk, xid)
    st1 = r1.body.u32()
    check(st1 == 0, "first MKDIR -> %s" % st1)
    r2 = once(cid, MKDIR, mk, xid)
    st2 = r2.body.u32()
    check(st2 == 0, "MKDIR re-sent with the same XID -> %s, want 0 (not EEXIST)" % st2)
    check(r1.body.b == r2.body.b, "the re-sent MKDIR gets the same reply bytes")
    check(os.path.isdir(os.path.join(export, "drc-dir")), "drc-dir exists")
    st3 = once(other, MKDIR, mk, xid).body.u32()
    check(st3 == EEXIST, "same XID, other client id: MKDIR runs -> %s, want EEXIST" % st3)
    st4 = once(cid, MKDIR, mk, xid + 1).body.u32()
    check(st4 == EEXIST, "same client, next XID: MKDIR runs -> %s, want EEXIST" % st4)

    open(os.path.join(export, "drc-file"), "w").close()
    rm = P().opaque(root).string("drc-file").bytes()
    for n in (1, 2):
        st = once(cid, REMOVE, rm, xid + 2).body.u32()
        check(st == 0, "REMOVE #%d with the same XID -> %s, want 0" % (n, st))
    check(not os.path.exists(os.path.join(export, "drc-file")), "drc-file removed")
    st = once(other, REMOVE, rm, xid + 2).body.u32()
    check(st == ENOENT, "same XID, other client id: REMOVE runs -> %s, want ENOENT" % st)

    # without a client id nothing is cached: the raw tests' "rawrpc"
    st = once("rawrpc", RMDIR, P().opaque(root).string("drc-dir").bytes(), xid + 3).body.u32()
    check(st == 0, "RMDIR without a client id -> %s" % st)
    st = once("rawrpc", RMDIR, P().opaque(root).string("drc-dir").bytes(), xid + 3).body.u32()
    check(st == ENOENT, "RMDIR again without a client id runs again -> %s" % st)
    c.close()


def check_port(port, want):
    """want: 'refused' (AUTH_TOOWEAK from a port >= 1024) or 'accepted'."""
    c = Client(port, reserved=False)
    r = c.call(NULL, auth=AUTH_NONE)
    check(r.ok, "NULL from any port")
    check(c.call(INFO, auth=AUTH_NONE).ok, "INFO from any port")
    r = c.call(MOUNT, P().string("").bytes())
    if want == "refused":
        check(r.denied and r.auth_stat == AUTH_TOOWEAK, "MOUNT from port >= 1024 -> AUTH_TOOWEAK")
    else:
        check(r.ok and r.body.u32() == 0, "MOUNT from port >= 1024 accepted")
    c.close()


def check_allow_refused(port):
    try:
        c = Client(port)
    except OSError:
        return
    try:
        c.send_record(c.header(NULL))
        check(c.is_closed(), "connection from outside --allow closed")
    except (BrokenPipeError, ConnectionResetError):
        pass


def main():
    port = int(sys.argv[1])
    what = sys.argv[2]
    args = sys.argv[3:]
    if what == "hostile":
        check_hostile(port, *args)
    elif what == "smoke":
        check_smoke(port, *args)
    elif what == "stress":
        check_stress(port, *args)
    elif what == "creds":
        check_creds(port, args[0], args[1] == "squash")
    elif what == "readonly":
        check_readonly(port)
    elif what == "port":
        check_port(port, args[0])
    elif what == "drc":
        check_drc(port, *args)
    elif what == "drc-crash":
        check_drc_crash(port, *args)
    elif what == "allow-refused":
        check_allow_refused(port)
    elif what == "tree":        # EXPORT STATE UID GID (48-tree.sh)
        check_tree(port, *args)
    elif what == "handle":      # print the hex handle of a path
        c = Client(port)
        st, fh, _ = c.mount("")
        for comp in [p for p in args[0].split("/") if p]:
            st, fh, _ = c.lookup(fh, comp)
            check(st == 0, "LOOKUP %s" % comp)
        print(fh.hex())
    elif what == "getattr":     # GETATTR a hex handle: prints size
        c = Client(port)
        st, a = c.getattr(bytes.fromhex(args[0]))
        check(st == 0, "GETATTR of the saved handle -> %s" % st)
        if st == 0:
            print(a["size"])
    elif what == "info":
        print(Client(port).info())
    elif what == "stats":       # STATS as uid 1000 from any port: JSON
        import json
        st, d = Client(port, reserved=False, uid=1000, gid=1000).stats()
        check(st == 0, "STATS -> %s" % (st,))
        print(json.dumps(d))
    elif what == "hello":       # HELLO LO HI [NEED]: prints the answer
        lo, hi = int(args[0]), int(args[1])
        need = int(args[2], 0) if len(args) > 2 else 0
        h = Client(port, reserved=False).hello(lo, hi, need=need)
        print(" ".join("%s=%s" % kv for kv in sorted(h.items())))
    else:
        print("unknown check", what, file=sys.stderr)
        return 2
    return 1 if FAILS else 0


# ---- TREE (procedure 33, revision 4): decoding, and check_tree()

TREE = 33
BR_TREE_CHUNKS, BR_TREE_HASH = 1, 2
BR_TREE_ENTRIES_MAX, BR_TREE_BYTES_MAX = 8192, 786432


def tree(c, d, cookie=b"", flags=0, max_depth=0, max_entries=0, max_bytes=0,
         body=None):
    """TREE on Client c: (status, dict(entries=[dict...], cookie, eof, size))
    or ("rpc", reply).  Paths, targets and cookies are bytes."""
    if body is None:
        body = (P().opaque(d).opaque(cookie).u32(flags).u32(max_depth)
                .u32(max_entries).u32(max_bytes).bytes())
    r = c.call(TREE, body)
    if not r.ok:
        return ("rpc", r)
    u = r.body
    st = u.u32()
    if st != 0:
        return st, None
    ents = []
    for _ in range(u.u32()):
        e = dict(path=bytes(u.opaque()), status=u.u32(), fh=bytes(u.opaque()),
                 attr=u.attr(), target=bytes(u.opaque()), chunks=None)
        if u.u32():
            ch = dict(status=u.u32(), version=u.u64(), size=u.u64(),
                      chunk_size=u.u32())
            ch["hashes"] = [bytes(u.raw(16)) for _ in range(u.u32())]
            e["chunks"] = ch
        ents.append(e)
    d = dict(entries=ents, cookie=bytes(u.opaque()), eof=u.u32(), size=len(u.b))
    check(u.done(), "TREE reply fully decoded")
    return 0, d


def tree_key(path):
    """The walk's order: component by component, bytewise."""
    return path.split(b"/")


def check_tree(port, export, state, uid, gid):
    """Malformed TREE arguments, limits, and a walk resumed while the tree
    changes under it (the changes made between calls, so the outcome does
    not depend on timing).  Runs as uid/gid, the tree's owner."""
    uid, gid = int(uid), int(gid)
    c = Client(port, uid=uid, gid=gid)
    st, root, _ = c.mount("")
    check(st == 0, "MOUNT")
    st, fh_file, _ = c.lookup(root, "hard")
    check(st == 0, "LOOKUP hard")

    # Bad cookies: not a path of valid components.
    for bad in (b"../x", b"/abs", b"a//b", b"d0/", b".", b"d0/..", b"x" * 256,
                b"d0/\0"):
        st, _ = tree(c, root, bad)
        check(st == EINVAL, "TREE cookie %r -> EINVAL (%s)" % (bad[:20], st))
    st, _ = tree(c, root, b"d0/s0/f00", max_depth=2)
    check(st == EINVAL, "cookie deeper than max_depth -> EINVAL (%s)" % (st,))
    r = c.call(TREE, P().opaque(root).opaque(b"a" * 4097).u32(0).u32(0).u32(0)
               .u32(0).bytes())
    check(r.accept_stat == GARBAGE_ARGS, "cookie over BR_PATH_MAX -> GARBAGE_ARGS")
    r = c.call(TREE, P().opaque(root).opaque(b"").u32(0).bytes())
    check(r.accept_stat == GARBAGE_ARGS, "TREE cut short -> GARBAGE_ARGS")
    st, _ = tree(c, root, flags=0x100)
    check(st == EINVAL, "unknown flags -> EINVAL (%s)" % (st,))
    # A cookie naming nothing that exists is fine: the walk goes on after it.
    st, d = tree(c, root, b"d0/zzz/nothing")
    check(st == 0 and d["entries"] and tree_key(d["entries"][0]["path"]) >
          tree_key(b"d0/zzz/nothing"), "cookie of a missing path resumes after it")

    # Bad handles: a file, forged, empty, tampered, outside the export.
    st, _ = tree(c, fh_file)
    check(st == ENOTDIR, "TREE of a file -> ENOTDIR (%s)" % (st,))
    st, _ = tree(c, b"\1" * 40)
    check(st == ESTALE, "TREE of a forged handle -> ESTALE (%s)" % (st,))
    st, _ = tree(c, b"")
    check(st == ESTALE, "TREE of an empty handle -> ESTALE (%s)" % (st,))
    st, _ = tree(c, root[:-1] + bytes([root[-1] ^ 1]))
    check(st == ESTALE, "TREE of a tampered handle -> ESTALE (%s)" % (st,))
    outside = os.path.join(os.path.dirname(export.rstrip("/")), "outside")
    st, _ = tree(c, forge(state, export, outside))
    check(st == ESTALE, "TREE of a valid-MAC handle outside the export -> ESTALE (%s)" % (st,))
    st, locked, _ = c.lookup(root, "locked")
    st, _ = tree(c, locked)
    check(st == EACCES, "TREE of an unreadable directory -> EACCES (%s)" % (st,))

    # Huge limits are clamped: the reply stays under BR_TREE_BYTES_MAX
    # (plus one entry) and BR_TREE_ENTRIES_MAX.
    st, d = tree(c, root, max_entries=0xffffffff, max_bytes=0xffffffff)
    check(st == 0 and len(d["entries"]) <= BR_TREE_ENTRIES_MAX and
          d["size"] <= BR_TREE_BYTES_MAX + 10240,
          "huge limits clamped (%s, %s entries, %s bytes)" %
          (st, d and len(d["entries"]), d and d["size"]))
    st, d = tree(c, root, max_entries=1, max_bytes=1)
    check(st == 0 and len(d["entries"]) == 1 and not d["eof"] and
          d["cookie"] == d["entries"][0]["path"],
          "max_entries 1, max_bytes 1: one entry, its path the cookie")
    st, d = tree(c, root, max_bytes=4096)
    check(st == 0 and d["size"] <= 4096 + 64 and len(d["entries"]) > 1,
          "max_bytes 4096 honoured (%s bytes, %s entries)" %
          (d and d["size"], d and len(d["entries"])))

    # A walk resumed while the tree changes: never a repeat, never a step
    # back, it ends, and what was not touched is all there.
    base = os.path.join(export, "chg")
    os.mkdir(base)
    for dn in "abcdefgh":
        os.mkdir(os.path.join(base, dn))
        for i in range(20):
            open(os.path.join(base, dn, "%02d" % i), "w").close()
    st, chg, _ = c.lookup(root, "chg")
    check(st == 0, "LOOKUP chg")
    seen, cookie, calls, eof = [], b"", 0, False
    while not eof and calls < 100:
        st, d = tree(c, chg, cookie, max_entries=25)
        if not check(st == 0, "TREE of a changing tree -> %s" % (st,)):
            break
        calls += 1
        seen += [e["path"] for e in d["entries"]]
        cookie, eof = d["cookie"], d["eof"]
        if calls == 1:          # remove the cookie itself; add before and after
            os.unlink(os.path.join(base, cookie.decode()))
            open(os.path.join(base, "a", "zz"), "w").close()
            open(os.path.join(base, "h", "new"), "w").close()
        elif calls == 2:        # rename the cookie's directory away
            top = cookie.split(b"/")[0].decode()
            os.rename(os.path.join(base, top), os.path.join(base, top + "2"))
        elif calls == 3:        # the cookie's directory becomes a file
            top = cookie.split(b"/")[0].decode()
            p = os.path.join(base, top)
            if os.path.isdir(p):
                for n in os.listdir(p):
                    os.unlink(os.path.join(p, n))
                os.rmdir(p)
                open(p, "w").close()
    check(eof, "the walk of a changing tree ended (%d calls)" % calls)
    check(len(seen) == len(set(seen)), "no entry repeated")
    check(all(tree_key(x) < tree_key(y) for x, y in zip(seen, seen[1:])),
          "entries in strictly increasing walk order")
    for dn in "fg":
        for i in range(20):
            check(("%s/%02d" % (dn, i)).encode() in seen,
                  "untouched chg/%s/%02d was walked" % (dn, i))
    check(b"h/new" in seen, "an entry added after the cookie was walked")
    st, d = tree(c, root)
    check(st == 0, "the server still answers")


if __name__ == "__main__":
    sys.exit(main())
