#!/bin/bash
# zstdbench.sh - compressed chunks (READ_CHUNK2, doc/staging.md
# "Compressed chunks"): a cold sequential read (cat) of a SIZE_MB (200)
# MiB file through a fresh mount whose node cache is empty, on a server
# that already has the file's chunk map (another node read it: the
# realistic second-node case; a file no node read yet goes by plain READ),
# brambled --compress=auto against --compress=off, alternating, RUNS (5)
# runs each, for two files: shared-library bytes (compressible) and
# random bytes.  Each run starts a new server, so its hot-chunk cache is
# cold and every chunk is compressed in the run.  Prints per run the MB/s
# (10^6 bytes/s), the server's chunk wire/file bytes and its codec speed
# (compressed input bytes per CPU second), then the medians.
#
#   bash tests/bench/zstdbench.sh [-n RUNS] [-s SIZE_MB] [-r RATE] [-w stage]
#
# -w stage: time `bramble stage` of the file (as root, through the mount)
# instead of the cat.
# -r RATE (e.g. 200mbit): server and client in two network namespaces of
# our own, joined by a veth pair shaped with tc tbf to RATE each way (no
# other address is ever used); default: loopback.  As root.
set -u
runs=5 size=200 rate= work=cat
while getopts n:s:r:w: o; do
	case $o in
	w) work=$OPTARG ;;
	n) runs=$OPTARG ;;
	s) size=$OPTARG ;;
	r) rate=$OPTARG ;;
	*) exit 2 ;;
	esac
done
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
: "${top_builddir:=$top_srcdir/build}"
. "$top_srcdir/tests/integ/lib.sh"

MIB=1048576
mkdir -p "$EXPORT/z"
find /usr/lib /lib -type f -name '*.so*' -size +64k 2>/dev/null | sort |
	while read -r f; do cat "$f"; done | head -c $((size * MIB)) >"$EXPORT/z/lib.bin"
head -c $((size * MIB)) /dev/urandom >"$EXPORT/z/rnd.bin"
chmod 644 "$EXPORT"/z/*.bin
sleep 1.2   # past the chunk index's racy window (chunkidx.h)

SRV_ADDR=127.0.0.1
if [ -n "$rate" ]; then
	NS_S=brzb-s$$ NS_C=brzb-c$$ VS=brz${$}s VC=brz${$}c
	ip netns add "$NS_S" || fail "ip netns add"
	br_on_cleanup "ip netns del $NS_S 2>/dev/null; ip netns del $NS_C 2>/dev/null"
	ip netns add "$NS_C" || fail "ip netns add"
	ip link add "$VS" type veth peer name "$VC" || fail "veth"
	ip link set "$VS" netns "$NS_S" && ip link set "$VC" netns "$NS_C" || fail "veth into namespaces"
	ip -n "$NS_S" addr add 10.251.9.1/24 dev "$VS" && ip -n "$NS_C" addr add 10.251.9.2/24 dev "$VC" &&
		ip -n "$NS_S" link set "$VS" up && ip -n "$NS_C" link set "$VC" up &&
		ip -n "$NS_S" link set lo up && ip -n "$NS_C" link set lo up || fail "addresses"
	ip netns exec "$NS_S" tc qdisc add dev "$VS" root tbf rate "$rate" burst 64kb latency 50ms &&
		ip netns exec "$NS_C" tc qdisc add dev "$VC" root tbf rate "$rate" burst 64kb latency 50ms ||
		fail "tc tbf"
	SRV_ADDR=10.251.9.1
	export BR_WRAP_SERVER="nsenter --net=/run/netns/$NS_S"
	export BR_WRAP_FUSE="nsenter --net=/run/netns/$NS_C"
	export SRC=$SRV_ADDR:/
fi

start() {   # start MODE
	if [ -n "$rate" ]; then
		br_start_server --compress="$1" --listen "$SRV_ADDR:0" --allow 10.251.9.0/24
	else
		br_start_server --compress="$1"
	fi
}
snap() {    # snap FILE: the server's counters (from the server's side)
	if [ -n "$rate" ]; then
		nsenter --net="/run/netns/$NS_C" "$BRAMBLE" stats --json "$SRV_ADDR:$PORT" >"$1"
	else
		"$BRAMBLE" stats --json "127.0.0.1:$PORT" >"$1"
	fi || fail "stats"
}

# The server maps both files once (as a first node would): its index
# keeps the maps in the state dir for every later run.
start off
BR_CACHE_DIR=$T/nc0 br_mount "$T/m0"
# (The tool may talk to the server itself: from the client's namespace.)
${BR_WRAP_FUSE:-} "$BRAMBLE" stage -q --job 1 "$T/m0/z" || fail "priming stage"
br_umount "$T/m0"
br_stop_server
rm -rf "$T/nc0"

# one FILE MODE: one cold read; prints "MB/s wire/file codecMB/s"
one() {
	local t0 t1
	start "$2"
	rm -rf "$T/nc"
	BR_CACHE_DIR=$T/nc br_mount "$T/m"
	snap "$T/a.json"
	t0=$(date +%s.%N)
	if [ "$work" = stage ]; then
		${BR_WRAP_FUSE:-} "$BRAMBLE" stage -q --job 2 "$T/m/z/$1" || fail "stage $1"
	else
		cat "$T/m/z/$1" >/dev/null || fail "cat $1"
	fi
	t1=$(date +%s.%N)
	snap "$T/b.json"
	br_umount "$T/m"
	br_stop_server
	python3 - "$T/a.json" "$T/b.json" "$t0" "$t1" "$size" <<'EOF'
import json, sys
a, b = (json.load(open(f))["counters"] for f in sys.argv[1:3])
d = lambda k: b[k] - a[k]
secs = float(sys.argv[4]) - float(sys.argv[3])
mb = int(sys.argv[5]) * 1048576 / 1e6
ns = d("chunk_codec_ns_total")
codec = d("chunk_codec_in_bytes_total") / ns * 1e3 if ns else 0
print("%.1f %.3f %.0f %d link=%.0fMB/s codecnow=%.0fMB/s" % (mb / secs, d("chunk_wire_bytes_total") / max(d("chunk_file_bytes_total"), 1),
                            codec, d("chunk_sent_zstd_total"), b["chunk_link_bytes_per_second"] / 1e6, b["chunk_codec_bytes_per_second"] / 1e6))
EOF
}

echo "# zstdbench: $work of ${size} MiB, $runs runs, link ${rate:-loopback}; columns: MB/s wire/file codec-MB/s zstd-chunks"
for f in lib.bin rnd.bin; do
	: >"$T/auto.$f" ; : >"$T/off.$f"
	for r in $(seq 1 "$runs"); do
		for m in auto off; do
			line=$(one "$f" "$m")
			echo "$f $m run $r: $line"
			echo "$line" >>"$T/$m.$f"
		done
	done
	for m in auto off; do
		sort -n "$T/$m.$f" | awk -v f="$f" -v m="$m" '{ v[NR] = $1; w[NR] = $2; c[NR] = $3 }
			END { h = int((NR + 1) / 2); printf "%s %-4s median %.1f MB/s (of %d)\n", f, m, v[h], NR }'
		awk '{ print $2 }' "$T/$m.$f" | sort -n | awk -v f="$f" -v m="$m" '{ v[NR] = $1 }
			END { printf "%s %-4s median wire/file %.3f\n", f, m, v[int((NR + 1) / 2)] }'
		awk '$3 > 0 { print $3 }' "$T/$m.$f" | sort -n | awk -v f="$f" -v m="$m" '{ v[NR] = $1 }
			END { if (NR) printf "%s %-4s median codec %.0f MB/s (CPU)\n", f, m, v[int((NR + 1) / 2)] }'
	done
done
