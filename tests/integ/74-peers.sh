#!/bin/bash
# 74-peers: peer fan-out (server/peers.h, client/peers.h).  Three "nodes"
# on loopback -- three bramblefs mounts, each with its own node cache --
# on a root-squashing server, the README's mount options.  A tree staged
# on node 1 and then, by an ordinary user, on node 2 comes to node 2 from
# node 1 (the server sends its bytes once), exactly.  A node that serves
# wrong bytes (BRAMBLE_TEST_PEER_CORRUPT) is caught by the strong hash:
# the reader gets the right bytes from the server and its cache holds
# nothing wrong.  A stalled node (SIGSTOP) is routed around.  Only root
# registers a peer service; a forged ticket and malformed requests are
# refused and the service goes on; -o nopeers turns it off.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MIB=1048576
# compression on whatever the link (loopback outruns the codec): chunks
# that compress travel as zstd frames, and peers pass them on as they came
br_start_server --compress=on

# tree DIR: a few files over a chunk and a handful of small ones
tree() {
	mkdir -p "$1/lib"
	head -c $((3 * MIB + 4321)) /dev/urandom >"$1/model.bin"
	head -c $((2 * MIB)) /dev/urandom >"$1/lib/big.so"
	for j in $(seq 1 12); do head -c $((j * 3001)) /dev/urandom >"$1/lib/m$j.py"; done
	chmod -R a+rX "$1"
}
tree "$EXPORT/env1"
tree "$EXPORT/env2"
tree "$EXPORT/env3"
mkdir "$EXPORT/env4"
find /usr/lib -name '*.so*' -type f -size +100k 2>/dev/null | sort | head -40 | xargs cat |
	head -c $((3 * MIB)) >"$EXPORT/env4/libs.bin"
chmod -R a+rX "$EXPORT/env4"
# The server sends nobody to a peer for a file it cannot vouch for: one
# changed less than a second before it was hashed (doc/staging.md).
sleep 1.2
BYTES1=$(find "$EXPORT/env1" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")

# mount_node I [args]: node I, its own node cache
mount_node() {
	local i=$1
	shift
	BR_CACHE_DIR=$T/cache$i br_mount "$T/n$i" "$@"
}
mount_node 1
mount_node 2
BRAMBLE_TEST_PEER_CORRUPT=1 mount_node 3
PID3=$FUSE_PID
mount_node 4 -o nopeers
for i in 1 2 3; do
	p=$(sed -n 's/^peers=//p' "$T/n$i/.bramble")
	[ -n "$p" ] && [ "$p" -gt 0 ] || fail "node $i runs no peer service (peers=$p)"
done
[ "$(stat -c %a "$T/cache1/peer.key")" = 600 ] || fail "peer.key is not 0600"

same() { # same DIR NODE: every file of the export's DIR reads the same on NODE (as the user)
	(cd "$EXPORT/$1" && find . -type f) | while read -r f; do
		as_user cmp "$EXPORT/$1/$f" "$T/n$2/$1/$f" || echo "differs: $1/$f on node $2"
	done >"$T/cmp.out"
	[ -s "$T/cmp.out" ] && fail "$(cat "$T/cmp.out")"
	true
}

# ---- node 1 stages from the server; node 2's user stages from node 1
br_stats_snap "$T/s0"
"$BRAMBLE" stage -q "$T/n1/env1" || fail "stage on node 1"
br_stats_snap "$T/s1"
br_stats_delta "$T/s0" "$T/s1" "peer_server_bytes_total >= $BYTES1" "peer_redirects_total == 0"
as_user "$BRAMBLE" stage -q "$T/n2/env1" || fail "the user's stage on node 2"
br_stats_snap "$T/s2"
# 5 chunks of the big files and 12 small ones: all from node 1, none of
# the bytes from the server again
br_stats_delta "$T/s1" "$T/s2" "peer_redirects_total >= 17" "peer_server_bytes_total == 0" \
	"peer_failures_total == 0" "now:peer_services >= 3"
same env1 2
served=$(sed -n 's/^peer\.served=//p' "$T/n1/.bramble")
[ "${served:-0}" -ge 17 ] || fail "node 1's counters say it served ${served:-no} chunks"

# ---- a lying node: node 3 fetches env2 first, node 1 is sent to it
"$BRAMBLE" stage -q "$T/n3/env2" || fail "stage on node 3"
br_stats_snap "$T/s3"
"$BRAMBLE" stage -q "$T/n1/env2" 2>"$T/lie.err" || fail "stage on node 1 (node 3 lies)"
br_stats_snap "$T/s4"
br_stats_delta "$T/s3" "$T/s4" "peer_failures_total >= 1" "peer_server_bytes_total >= 1"
same env2 1
"$BRAMBLE" cache --dir "$T/cache1" verify >"$T/verify.out" 2>&1 ||
	fail "node 1's cache does not verify: $(cat "$T/verify.out")"
grep -q "not the chunk it was asked for: routed around" "$T/lie.err" ||
	fail "no word about the wrong bytes: $(cat "$T/lie.err")"

# ---- a cold read through a mount fans out too: node 2 reads a file node 1
# staged (nodes 1 and 3 have it; node 3's bytes are wrong and dropped)
as_user cmp "$EXPORT/env2/model.bin" "$T/n2/env2/model.bin" || fail "node 2 reads env2/model.bin wrong"
got=$(sed -n 's/^peer\.from_peers=//p' "$T/n2/.bramble")
[ "${got:-0}" -ge 1 ] || fail "node 2's read took nothing from its peers (peer.from_peers=${got:-none})"

# ---- compressed chunks are passed on as they came: env4 is mapped (a
# stage on node 4, which takes no part in fan-out), node 1 reads it
# through its mount (compressed, from the server), node 2 from node 1
"$BRAMBLE" stage -q "$T/n4/env4" || fail "stage env4 on node 4"
as_user cmp "$EXPORT/env4/libs.bin" "$T/n1/env4/libs.bin" || fail "node 1 reads env4/libs.bin wrong"
z0=$(sed -n 's/^read\.zstd_fetches=//p' "$T/n2/.bramble")
p0=$(sed -n 's/^peer\.from_peers=//p' "$T/n2/.bramble")
as_user cmp "$EXPORT/env4/libs.bin" "$T/n2/env4/libs.bin" || fail "node 2 reads env4/libs.bin wrong"
z1=$(sed -n 's/^read\.zstd_fetches=//p' "$T/n2/.bramble")
p1=$(sed -n 's/^peer\.from_peers=//p' "$T/n2/.bramble")
[ $((p1 - p0)) -ge 3 ] && [ $((z1 - z0)) -ge 3 ] ||
	fail "node 2 took $((p1 - p0)) chunks from peers, $((z1 - z0)) compressed (want 3 and 3)"

# ---- a stalled node: node 2 fetches env3, stops; node 1 is routed around
"$BRAMBLE" stage -q "$T/n2/env3" || fail "stage on node 2"
PID2=$(sed -n 's/^pid=//p' "$T/n2/.bramble")
kill -STOP "$PID2"
br_on_cleanup "kill -CONT $PID2 2>/dev/null"
br_stats_snap "$T/s5"
start=$(date +%s)
"$BRAMBLE" stage -q "$T/n1/env3" || { kill -CONT "$PID2"; fail "stage on node 1 (node 2 stalled)"; }
took=$(($(date +%s) - start))
kill -CONT "$PID2"
br_stats_snap "$T/s6"
br_stats_delta "$T/s5" "$T/s6" "peer_failures_total >= 1"
[ "$took" -le 30 ] || fail "staging around a stalled node took $took s"
same env3 1

# ---- who may register, forged tickets, malformed requests
P1=$(sed -n 's/^peers=//p' "$T/n1/.bramble")
RAWDIR=$top_srcdir/tests/integ python3 - "$PORT" "$P1" "$BR_UID" "$BR_GID" <<'EOF' || fail "peer protocol checks (above)"
import os, sys
sys.path.insert(0, os.environ["RAWDIR"])
import rawrpc
from rawrpc import P, Client, AUTH_NONE, AUTH_SYS, GARBAGE_ARGS, check
port, pport, uid, gid = (int(a) for a in sys.argv[1:5])
PEER_REGISTER, PEER_PROG, PEER_CHUNK = 40, 0x2062726F, 1
BR_EPERM, BR_EACCES = 1, 13
reg = P().u32(4242).bytes() + b"k" * 32      # port, key (fixed opaque)
for who, c in (("an ordinary user", Client(port, uid=uid, gid=gid)),
               ("AUTH_NONE", Client(port, auth=AUTH_NONE))):
    st, r = c._status_call(PEER_REGISTER, reg)
    # EPERM from the procedure, or the call denied before it (AUTH_NONE)
    check(st == BR_EPERM or (st == "rpc" and r.denied),
          "%s registered a peer service (status %s)" % (who, st))
p = Client(pport, reserved=False, auth=AUTH_NONE)
r = p.call(PEER_CHUNK, b"h" * 16 + b"t" * 32 + bytes(4), prog=PEER_PROG)
check(r.ok and r.body.u32() == BR_EACCES, "a forged ticket was not refused")
r = p.call(PEER_CHUNK, b"h" * 7, prog=PEER_PROG)
check(not r.ok and r.accept_stat == GARBAGE_ARGS, "short arguments were not GARBAGE_ARGS")
r = p.call(PEER_CHUNK, b"h" * 16 + b"t" * 32 + bytes(4), prog=PEER_PROG)
check(r.ok and r.body.u32() == BR_EACCES, "the service stopped answering after garbage")
sys.exit(1 if rawrpc.FAILS else 0)
EOF

# ---- -o nopeers
grep -qx "peers=0" "$T/n4/.bramble" || fail "-o nopeers: $(grep peers "$T/n4/.bramble")"
true
