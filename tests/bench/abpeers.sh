#!/bin/bash
# abpeers.sh - `make bench`'s peer rows (../shared/bench/peers.sh's
# workloads through tests/bench/bramble-peer.sh) for two or more builds of
# bramble, alternating: run 1 of every build, then run 2 of every build...
# so the machine's drift falls on all of them alike.  Prints each row's
# median per build and its ratio to the first build (for a row where less
# is better, a ratio above 1 is slower; for MB/s and IOPS, below 1).  For
# checking that a change makes no old row worse.
#
#   bash tests/bench/abpeers.sh [-n RUNS] BUILD BUILD...
#   e.g. bash tests/bench/abpeers.sh /tmp/old/build build
#
# BUILD is a build directory (server/brambled, fuse/bramblefs in it).  As
# root; loopback only.  Default 5 runs.  peers.sh's parameters (SEQ_MB,
# NFILES, RAND_RUNTIME...) pass through the environment; BENCH_BASE is the
# work area (default /tmp/bramble-abpeers); each build's raw results are in
# BENCH_BASE/abN.tsv.
set -u
runs=5
while getopts n: o; do
	case $o in
	n) runs=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
PEERS_SH=${PEERS_SH:-$here/../../../shared/bench/peers.sh}
[ -f "$PEERS_SH" ] || { echo "abpeers: $PEERS_SH not found" >&2; exit 1; }
base=${BENCH_BASE:-/tmp/bramble-abpeers}
mkdir -p "$base"
builds=()
for b in "$@"; do
	b=$(cd "$b" && pwd) || exit 1
	[ -x "$b/server/brambled" ] && [ -x "$b/fuse/bramblefs" ] ||
		{ echo "abpeers: $b is not a build directory" >&2; exit 1; }
	builds+=("$b")
done
for i in "${!builds[@]}"; do : >"$base/ab$i.tsv"; done

for r in $(seq 1 "$runs"); do
	for i in "${!builds[@]}"; do
		echo "== run $r/$runs: ${builds[$i]}" >&2
		BASE=$base/peers RESULTS_TSV=$base/ab$i.tsv RESULTS_MD=$base/ab$i.md \
			BRAMBLE_BUILD=${builds[$i]} PLUGINS=$here/bramble-peer.sh \
			bash "$PEERS_SH" run bramble >"$base/run-$r-$i.log" 2>&1 ||
			echo "abpeers: run $r of ${builds[$i]} failed (see $base/run-$r-$i.log)" >&2
	done
done

python3 - "$base" "${builds[@]}" <<'EOF'
import statistics, sys
base, builds = sys.argv[1], sys.argv[2:]
vals = []          # per build: metric -> [values]
order = []
for i in range(len(builds)):
    m = {}
    for line in open(f"{base}/ab{i}.tsv"):
        f = line.rstrip("\n").split("\t")
        if len(f) < 3 or f[0] != "bramble":
            continue
        try:
            v = float(f[2])
        except ValueError:
            continue
        m.setdefault(f[1], []).append(v)
        if f[1] not in order:
            order.append(f[1])
    vals.append(m)
print("| row | " + " | ".join(f"build {i} median (n)" for i in range(len(builds)))
      + " | " + " | ".join(f"{i}/0" for i in range(1, len(builds))) + " |")
print("|---" * (1 + 2 * len(builds) - 1) + "|")
for k in order:
    med = [statistics.median(m[k]) if m.get(k) else None for m in vals]
    cells = [f"{x:.4g} ({len(m.get(k, []))})" if x is not None else "-" for x, m in zip(med, vals)]
    ratios = [f"{x / med[0]:.2f}" if x is not None and med[0] else "-" for x in med[1:]]
    print(f"| {k} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
for i, b in enumerate(builds):
    print(f"build {i}: {b}")
EOF
