#!/bin/bash
# 50-bench: `bramble bench`.
#  (a) on a loopback mount, --quick --json measures every layer (positive
#      figures), leaves nothing behind in the export, draws an SVG that
#      parses; BENCH_NET and BENCH_DISK keep their contract on the wire
#      (reply capped, any user for BENCH_NET, root only for BENCH_DISK);
#  (b) through a veth pair shaped to 40 Mbit/s (tc tbf) between two network
#      namespaces made here -- brambled in one, the mount and the bench in
#      the other -- the verdict names the network;
#  (c) with the server's disk throttled to 4 MB/s (the real thing: a
#      blkio cgroup, v1 throttle or v2 io.max, on a loop device holding
#      the export) the verdict names the server's disk.
# Only the bottleneck is asserted: the shaping is extreme (40 Mbit/s or
# 4 MB/s against a loopback link and a local disk), no timing threshold.
# The servers squash root (the default).  The benches run as root, as the
# README's `sudo bramble bench` does: BENCH_DISK is root's (--bench-disk
# root, the default) and the node's cache directory too; through the
# squashing mount root works as nobody, so each bench runs in a 1777
# scratch directory of the export (a squashed mount's root is not
# writable for root).  An ordinary user's bench is test 64's.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW=$top_srcdir/tests/integ/rawrpc.py
mkdir -p "$T/nodecache"

# check_json FILE WANT: every layer measured with a positive figure (WANT
# "all"), or the bottleneck named WANT, clearly.
check_json() {
	python3 - "$@" <<'EOF'
import json, sys
path, want = sys.argv[1], sys.argv[2]
d = json.load(open(path))
layers = ["rtt", "net_down", "net_up", "server_disk_write", "server_disk_read",
          "cache_disk_write", "cache_disk_read", "mount_seq_write",
          "mount_seq_read_cold", "mount_seq_read_warm", "mount_rand_read_cold",
          "mount_rand_read_warm", "meta_create", "meta_stat", "meta_readdir",
          "meta_unlink"]
if sorted(d["layers"]) != sorted(layers):
    sys.exit("layers: %s" % sorted(d["layers"]))
if not d["verdict"] or d["bottleneck"] not in ("network", "server_disk", "cache_disk"):
    sys.exit("no verdict: %s / %s" % (d["bottleneck"], d["verdict"]))
if want == "all":
    for k in layers:
        l = d["layers"][k]
        if not l["measured"] or not l["value"] > 0:
            sys.exit("layer %s: %s" % (k, l))
    print("all %d layers measured; bottleneck %s" % (len(layers), d["bottleneck"]))
    sys.exit(0)
if d["bottleneck"] != want or not d["bottleneck_clear"]:
    sys.exit("bottleneck %s (clear: %s), want %s; verdict: %s"
             % (d["bottleneck"], d["bottleneck_clear"], want, d["verdict"]))
print("verdict:", d["verdict"][0])
EOF
}

# scratch DIR: a directory anyone (squashed root too) may write in.
scratch() { mkdir "$1" && chmod 1777 "$1"; }

# ---- (a) loopback
scratch "$EXPORT/scratch"
br_start_server
br_mount "$T/mnt"
# (the cache directory comes from the mount's .bramble: $T/nodecache)
"$BRAMBLE" bench --quick --json --svg "$T/bench.svg" \
	"$T/mnt/scratch" >"$T/a.json" 2>"$T/a.err" || fail "bench on loopback: $(cat "$T/a.err")"
check_json "$T/a.json" all || fail "(a) loopback: see above ($T/a.json)"
python3 -c '
import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
bars = [e for e in r.iter() if e.tag.endswith("rect")]
assert len(bars) > 16, "%d rects" % len(bars)' "$T/bench.svg" || fail "the SVG does not parse"
# The node cache directory is the mount's own (lib.sh): only ours must go.
left=$(ls -A "$EXPORT/scratch"; ls -A "$T/nodecache" | grep bramble-bench)
[ -z "$left" ] || fail "bench left files behind: $left"
"$BRAMBLE" bench --quick --seconds 1 --files 50 --cache-dir "$T/nodecache" \
	"$T/mnt/scratch" >"$T/a.txt" 2>&1 || fail "text output: $(cat "$T/a.txt")"
grep -q "^verdict:" "$T/a.txt" && grep -q "network, server -> node" "$T/a.txt" ||
	fail "text output: $(cat "$T/a.txt")"

# The wire contract, with hand-made calls (root on purpose: BENCH_DISK
# is root's, before the squash; uid 1000 is refused).
python3 - "$RAW" "$PORT" <<'EOF' || fail "BENCH_NET / BENCH_DISK on the wire: see above"
import sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
import rawrpc as r
port = int(sys.argv[2])
BENCH_NET, BENCH_DISK = 34, 35
# BENCH_NET as uid 1000 from port >= 1024: allowed; the reply is capped.
u = r.Client(port, reserved=False, uid=1000, gid=1000)
rep = u.call(BENCH_NET, r.P().u32(3 << 20).opaque(b"x" * 5000).bytes())
assert rep.ok, "BENCH_NET refused"
assert rep.body.u32() == 0, "BENCH_NET status"
data = rep.body.opaque()
assert len(data) == r.BR_DATA_MAX and data == bytes(len(data)), len(data)
# A payload longer than its bound is garbage.
rep = u.call(BENCH_NET, r.P().u32(0).u32(r.BR_DATA_MAX + 4).bytes() + bytes(r.BR_DATA_MAX + 4))
assert rep.ok is False, "an oversized payload was taken"
u.close()
c = r.Client(port, uid=1000, gid=1000)
st, root, _ = c.mount("")
assert st == 0, st
args = r.P().opaque(root).u64(4 << 20).u32(2000).u32(0).bytes()
st = c.call(BENCH_DISK, args).body.u32()
assert st == 1, "BENCH_DISK as uid 1000: status %d, want EPERM" % st
c.close()
c = r.Client(port)                                     # root, reserved port
rep = c.call(BENCH_DISK, args)
st = rep.body.u32()
assert st == 0, "BENCH_DISK as root: status %d" % st
wb, wns, rb, rns, flags, free = (rep.body.u64(), rep.body.u64(), rep.body.u64(),
                                 rep.body.u64(), rep.body.u32(), rep.body.u64())
assert wb == 4 << 20 and rb == wb and wns > 0 and rns > 0 and free > 0, (wb, rb, wns, rns)
assert flags & 2, "not an O_TMPFILE on this filesystem"
st = c.call(BENCH_DISK, r.P().opaque(root).u64(0).u32(0).u32(0).bytes()).body.u32()
assert st == 22, "BENCH_DISK of 0 bytes: %d" % st
c.close()
print("wire: BENCH_NET capped at %d; BENCH_DISK EPERM for uid 1000, %d MiB for root"
      % (len(data), wb >> 20))
EOF
# Counted in STATS like any procedure: BENCH_DISK twice from the two
# benches, three times above (EPERM, OK, EINVAL).
as_user "$BRAMBLE" stats --json "127.0.0.1:$PORT" >"$T/stats.json" || fail "bramble stats"
python3 - "$T/stats.json" <<'EOF' || fail "BENCH_* counters wrong"
import json, sys
p = json.load(open(sys.argv[1]))["procedures"]
d, n = p["BENCH_DISK"], p["BENCH_NET"]
assert (d["calls"], d["errors"]) == (5, 2), "BENCH_DISK %s" % d
assert n["calls"] > 2 and n["errors"] == 1 and n["bytes_out"] > 1 << 20, "BENCH_NET %s" % n
print("stats: BENCH_DISK 5 calls (2 errors), BENCH_NET %d calls" % n["calls"])
EOF
br_umount "$T/mnt"
br_stop_server

# ---- (b) a slow network: 40 Mbit/s between two namespaces of our own
if ! command -v ip >/dev/null || ! command -v tc >/dev/null || ! command -v nsenter >/dev/null; then
	skip "ip, tc and nsenter needed for the shaped-network part"
fi
NS_S=brbench-s$$
NS_C=brbench-c$$
VS=brb${$}s
VC=brb${$}c
ip netns add "$NS_S" 2>"$T/ns.err" || skip "cannot make network namespaces: $(cat "$T/ns.err")"
br_on_cleanup "ip netns del $NS_S 2>/dev/null; ip netns del $NS_C 2>/dev/null"
ip netns add "$NS_C" || fail "ip netns add $NS_C"
ip link add "$VS" type veth peer name "$VC" || fail "cannot make a veth pair"
ip link set "$VS" netns "$NS_S" && ip link set "$VC" netns "$NS_C" || fail "veth into namespaces"
ip -n "$NS_S" addr add 10.251.7.1/24 dev "$VS" && ip -n "$NS_C" addr add 10.251.7.2/24 dev "$VC" &&
	ip -n "$NS_S" link set "$VS" up && ip -n "$NS_C" link set "$VC" up &&
	ip -n "$NS_S" link set lo up && ip -n "$NS_C" link set lo up || fail "addresses"
for side in "$NS_S $VS" "$NS_C $VC"; do
	set -- $side
	ip netns exec "$1" tc qdisc add dev "$2" root tbf rate 40mbit burst 64kb latency 100ms ||
		fail "tc tbf on $2"
done
BR_WRAP_SERVER="nsenter --net=/run/netns/$NS_S" br_start_server \
	--listen 10.251.7.1:0 --allow 10.251.7.0/24
BR_WRAP_FUSE="nsenter --net=/run/netns/$NS_C" SRC=10.251.7.1:/ br_mount "$T/mnt2"
nsenter --net="/run/netns/$NS_C" "$BRAMBLE" bench --quick --json --cache-dir "$T/nodecache" \
	"$T/mnt2/scratch" >"$T/b.json" 2>"$T/b.err" || fail "bench over the shaped link: $(cat "$T/b.err")"
check_json "$T/b.json" network || fail "(b) 40 Mbit/s: the verdict does not name the network"
br_umount "$T/mnt2"
br_stop_server

# ---- (c) a slow server disk: blkio throttle on a loop device
command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null || skip "losetup, mkfs.ext4 needed"
if [ -d /sys/fs/cgroup/blkio ]; then
	CG=/sys/fs/cgroup/blkio/bramble-bench-$$
elif grep -qw io /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	CG=/sys/fs/cgroup/bramble-bench-$$
	grep -qw io /sys/fs/cgroup/cgroup.subtree_control ||
		echo +io >/sys/fs/cgroup/cgroup.subtree_control || skip "cannot enable the io controller"
else
	skip "no blkio (v1) or io (v2) cgroup controller"
fi
truncate -s 256M "$T/disk.img"
LOOP=$(losetup -f --show "$T/disk.img" 2>"$T/loop.err") || skip "no loop device: $(cat "$T/loop.err")"
SLOW=$T/slowexport
mkdir -p "$SLOW"
br_on_cleanup "rmdir $CG 2>/dev/null; umount $SLOW 2>/dev/null; losetup -d $LOOP"
mkfs.ext4 -q "$LOOP" && mount "$LOOP" "$SLOW" && scratch "$SLOW/scratch" ||
	fail "cannot make the slow filesystem"
DEV=$(cat "/sys/class/block/$(basename "$LOOP")/dev")
mkdir "$CG" || skip "cannot make a cgroup"
if [ -f "$CG/blkio.throttle.write_bps_device" ]; then
	echo "$DEV 4194304" >"$CG/blkio.throttle.write_bps_device" &&
		echo "$DEV 4194304" >"$CG/blkio.throttle.read_bps_device" || fail "blkio throttle"
else
	echo "$DEV rbps=4194304 wbps=4194304" >"$CG/io.max" || fail "io.max"
fi
EXPORT=$SLOW br_start_server
echo "$SERVER_PID" >"$CG/cgroup.procs" || fail "cannot move brambled into $CG"
br_mount "$T/mnt3"
"$BRAMBLE" bench --quick --json --cache-dir "$T/nodecache" "$T/mnt3/scratch" >"$T/c.json" \
	2>"$T/c.err" || fail "bench on the slow disk: $(cat "$T/c.err")"
check_json "$T/c.json" server_disk || fail "(c) 4 MB/s disk: the verdict does not name the server's disk"
[ -z "$(ls -A "$SLOW/scratch")" ] || fail "bench left files in the slow export"
br_umount "$T/mnt3"
br_stop_server
exit 0
