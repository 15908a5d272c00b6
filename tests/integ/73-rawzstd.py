"""73-rawzstd.py - READ_CHUNK2 on the wire, for 73-chunk-zstd.sh:

    python3 73-rawzstd.py INTEGDIR PORT EXPORT

against a --compress=on server whose export has z/lib.bin (compressible,
at least 3 chunks of 1 MiB) and z/secret (root's, 0600).  Checks that
HELLO announces BR_CAP_CHUNK_ZSTD; that READ_CHUNK2 answers raw without
BR_RC_ZSTD and one zstd frame (smaller, of the chunk's length) with it; a
`failed' peer named is ignored (the server answers itself); and
READ_CHUNK's checks: ESTALE for a wrong hash, EINVAL beyond the end,
EACCES without read permission (root is squashed)."""
import sys

sys.path.insert(0, sys.argv[1])
from rawrpc import Client, P, check, FAILS, HELLO  # noqa: E402

READ_CHUNK2, ESTALE, EINVAL, EACCES, MiB = 39, 116, 22, 13, 1 << 20
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
port, export = int(sys.argv[2]), sys.argv[3]
c = Client(port)


def read_chunk2(fh, h, idx, version, flags, failed=None):
    """(status, (from, enc, len, data, fully decoded)) or (status, None)."""
    body = P().opaque(fh)
    body.b += h                               # br_chunk_hash: 16 bytes
    body.u32(idx).u64(version).u32(flags)
    if failed:
        body.u32(1).opaque(failed).u32(7049)  # one br_peer_addr
    else:
        body.u32(0)
    u = c.call(READ_CHUNK2, body.bytes()).body
    st = u.u32()
    if st != 0:
        return st, None
    frm = u.u32()
    if frm == 1:                              # BR_FROM_PEER: a br_peer_ref
        addr, port = bytes(u.opaque()), u.u32()
        return 0, (frm, addr, port)
    enc, ln = u.u32(), u.u32()
    return 0, (frm, enc, ln, bytes(u.opaque()), u.done())


u = c.call(HELLO, P().u32(1).u32(3).u64(0).u64(0).string("t").bytes()).body
u.u32(), u.u32(), u.u32(), u.u32()
check(u.u64() & 4096, "HELLO announces BR_CAP_CHUNK_ZSTD")
st, root, _ = c.mount("")
st, d, _ = c.lookup(root, "z")
st, fh, _ = c.lookup(d, "lib.bin")
st, m = c.chunkmap(fh)
check(st == 0, "CHUNKMAP lib.bin (%s)" % st)
if st != 0:
    sys.exit(1)
data = open(export + "/z/lib.bin", "rb").read()
want = data[MiB:2 * MiB]

st, a = read_chunk2(fh, m["hashes"][1], 1, m["version"], 0)
check(st == 0 and a[:3] == (0, 0, MiB) and a[3] == want and a[4],
      "without BR_RC_ZSTD: BR_FROM_SERVER, BR_ENC_RAW, the bytes")
st, a = read_chunk2(fh, m["hashes"][1], 1, m["version"], 1)
check(st == 0 and a[:3] == (0, 1, MiB) and a[3][:4] == ZSTD_MAGIC and
      len(a[3]) < 0.6 * MiB and a[4], "with BR_RC_ZSTD: one zstd frame, len the chunk's")
try:
    import zstandard
    check(zstandard.ZstdDecompressor().decompress(a[3]) == want,
          "the frame decodes to the chunk")
except ImportError:
    pass
st, a = read_chunk2(fh, m["hashes"][2], 2, m["version"], 3, failed=bytes([127, 0, 0, 9]))
# the server may also send it to the mount that fetched the chunk
# (peer fan-out, 74-peers): either answer, never an error
check(st == 0 and ((a[0] == 0 and a[2] == MiB) or a[0] == 1),
      "BR_RC_PEERS and a failed peer: answered by the server or sent to a peer")
st, _ = read_chunk2(fh, b"\0" * 16, 1, m["version"], 1)
check(st == ESTALE, "a wrong hash -> ESTALE (%s)" % st)
st, _ = read_chunk2(fh, m["hashes"][0], 9, m["version"], 1)
check(st == EINVAL, "beyond the end -> EINVAL (%s)" % st)
st, sfh, _ = c.lookup(d, "secret")
st, _ = read_chunk2(sfh, b"\0" * 16, 0, 1, 1)
check(st == EACCES, "no read permission (root squashed) -> EACCES (%s)" % st)
sys.exit(1 if FAILS else 0)
