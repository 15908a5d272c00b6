#!/usr/bin/env python3
"""rpcproxy.py - a TCP proxy between a real bramble client and brambled
that loses one reply on purpose, the way a broken connection does.

    rpcproxy.py CTLDIR UPSTREAM_PORT

Listens on 127.0.0.1 (port 0; the port is written to CTLDIR/port) and
forwards every connection to 127.0.0.1:UPSTREAM_PORT, whole ONC RPC
records at a time (record marking, RFC 5531 section 11).  Control files
in CTLDIR:

  arm   holds a procedure number (e.g. 10 for CREATE).  The next call of
        that procedure is forwarded to the server as usual, arm is
        removed, and the server's reply to it is swallowed; then both
        sockets are closed and the call's XID is written to CTLDIR/cut.
        The client sees a connection that broke with its call unanswered
        and, like after any break, re-sends it on a new connection.
  go    after a cut, new client connections are held (accepted, not yet
        forwarded) until this file appears; it is then removed.  That
        leaves the test time to kill and restart the server first.

  zstd  while it exists, every READ_CHUNK2 reply that carries a zstd
        frame (BR_FROM_SERVER, BR_ENC_ZSTD) reaches the client with the
        frame's first byte flipped (a malformed frame: 73-chunk-zstd).

Every cut, hold and forwarded call of the armed procedure is logged to
stdout.  A thread per direction and per connection: blocking I/O cannot
deadlock the two directions against each other.
"""
import os
import socket
import struct
import sys
import threading
import time

CTL = sys.argv[1]
UPSTREAM = int(sys.argv[2])
LOCK = threading.Lock()
HOLD = threading.Event()


def log(msg):
    with LOCK:
        print(msg, flush=True)


def ctl(name):
    return os.path.join(CTL, name)


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_record(sock):
    """One whole record: (raw bytes with fragment headers, payload)."""
    raw, payload = b"", b""
    while True:
        hdr = read_exact(sock, 4)
        if hdr is None:
            return None, None
        (mark,) = struct.unpack(">I", hdr)
        frag = read_exact(sock, mark & 0x7FFFFFFF)
        if frag is None:
            return None, None
        raw += hdr + frag
        payload += frag
        if mark & 0x80000000:
            return raw, payload


def close_both(pair):
    for s in pair["socks"]:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def take_arm():
    """The armed procedure number, consuming the file, or None."""
    try:
        with open(ctl("arm")) as f:
            proc = int(f.read().strip())
    except (OSError, ValueError):
        return None
    os.unlink(ctl("arm"))
    return proc


def peek_arm():
    try:
        with open(ctl("arm")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


READ_CHUNK2 = 39


def corrupt_zstd(raw, rec):
    """raw with the zstd frame of a READ_CHUNK2 reply (rec) flipped, or
    None when rec carries none.  Reply: xid, REPLY, MSG_ACCEPTED, verf
    (flavor, opaque), SUCCESS, then br_stat, from, enc, len, data<>."""
    if len(rec) < 20:
        return None
    (vlen,) = struct.unpack(">I", rec[16:20])
    body = 20 + (vlen + 3) // 4 * 4 + 4
    if len(rec) < body + 21 or struct.unpack(">I", rec[body - 4:body])[0] != 0:
        return None
    st, frm, enc, _, dlen = struct.unpack(">5I", rec[body:body + 20])
    if st != 0 or frm != 0 or enc != 1 or dlen == 0:
        return None
    out = bytearray(raw)
    # raw = rec with a 4-byte mark before each fragment: the data's first
    # byte is in the first fragment when it is big enough (ours are).
    (mark,) = struct.unpack(">I", raw[:4])
    if (mark & 0x7FFFFFFF) < body + 21:
        return None
    out[4 + body + 20] ^= 0xFF
    return bytes(out)


def calls(pair, client, server):
    """Client -> server: forward records; note the armed call's XID."""
    while True:
        raw, rec = read_record(client)
        if raw is None:
            break
        if len(rec) >= 24:
            xid, mtype, _, _, _, proc = struct.unpack(">6I", rec[:24])
            if mtype == 0 and proc == READ_CHUNK2:
                pair["chunk2"].add(xid)
            if mtype == 0 and pair["target"] is None and peek_arm() == proc:
                take_arm()
                pair["target"] = xid
                log("armed: proc %d xid %08x forwarded; its reply will be lost"
                    % (proc, xid))
            elif mtype == 0 and pair["resent"] == xid:
                log("re-sent: xid %08x forwarded" % xid)
        try:
            server.sendall(raw)
        except OSError:
            break
    close_both(pair)


def replies(pair, client, server):
    """Server -> client: forward records, but lose the armed one's reply."""
    while True:
        raw, rec = read_record(server)
        if raw is None:
            break
        if len(rec) >= 4 and pair["target"] is not None:
            (xid,) = struct.unpack(">I", rec[:4])
            if xid == pair["target"]:
                HOLD.set()
                LAST_CUT[0] = xid
                close_both(pair)
                with open(ctl("cut.tmp"), "w") as f:
                    f.write("%08x\n" % xid)
                os.rename(ctl("cut.tmp"), ctl("cut"))
                log("cut: reply to xid %08x lost, connection closed" % xid)
                return
        if len(rec) >= 4 and struct.unpack(">I", rec[:4])[0] in pair["chunk2"]:
            (xid,) = struct.unpack(">I", rec[:4])
            pair["chunk2"].discard(xid)
            bad = corrupt_zstd(raw, rec) if os.path.exists(ctl("zstd")) else None
            if bad is not None:
                raw = bad
                log("zstd: frame of the reply to xid %08x flipped" % xid)
        try:
            client.sendall(raw)
        except OSError:
            break
    close_both(pair)


LAST_CUT = [None]


def serve(client):
    if HOLD.is_set():
        log("holding a new connection until %s appears" % ctl("go"))
        while HOLD.is_set() and not os.path.exists(ctl("go")):
            time.sleep(0.02)
        try:
            os.unlink(ctl("go"))
            log("released")
        except FileNotFoundError:
            pass
        HOLD.clear()
    try:
        server = socket.create_connection(("127.0.0.1", UPSTREAM))
    except OSError as e:
        log("upstream: %s" % e)
        client.close()
        return
    pair = {"socks": (client, server), "target": None, "resent": LAST_CUT[0],
            "chunk2": set()}
    t = threading.Thread(target=replies, args=(pair, client, server),
                         daemon=True)
    t.start()
    calls(pair, client, server)
    t.join()
    client.close()
    server.close()


def main():
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    with open(ctl("port.tmp"), "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(ctl("port.tmp"), ctl("port"))
    while True:
        client, _ = lsock.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
