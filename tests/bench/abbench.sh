#!/bin/bash
# abbench.sh - `make bench`'s rows for two or more builds of bramble,
# alternating: run 1 of every build, then run 2 of every build... so the
# machine's drift falls on all of them alike.  Prints each row's median
# per build and its ratio to the first build (for a row where less is
# better, a ratio above 1 is slower; for MB/s and IOPS, below 1).  For
# checking that a change makes no old row worse.
#
#   bash tests/bench/abbench.sh [-n RUNS] [-s SETS] BUILD BUILD...
#   e.g. bash tests/bench/abbench.sh -s "peers warmread" /tmp/old/build build
#
# BUILD is a build directory (server/brambled, fuse/bramblefs,
# tools/bramble in it).  SETS (default "peers"): peers (peers.sh's own
# workloads a-e through bramble-peer.sh) and any of make bench's workload
# scripts (tree10k importstorm warmread stagebench), each run with
# BENCH_RUNS=1 per round.  As root; loopback only.  Default 5 runs.
# peers.sh's parameters (SEQ_MB, NFILES, RAND_RUNTIME...) and the scripts'
# (WARM_MB, STAGE_BIG_MB...) pass through the environment; BENCH_BASE is
# the work area (default /tmp/bramble-abbench); each build's raw results
# are in BENCH_BASE/abN.tsv.
set -u
runs=5 sets=peers
while getopts n:s: o; do
	case $o in
	n) runs=$OPTARG ;;
	s) sets=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
PEERS_SH=${PEERS_SH:-$here/../../../shared/bench/peers.sh}
[ -f "$PEERS_SH" ] || { echo "abbench: $PEERS_SH not found" >&2; exit 1; }
base=${BENCH_BASE:-/tmp/bramble-abbench}
mkdir -p "$base"
builds=()
for b in "$@"; do
	b=$(cd "$b" && pwd) || exit 1
	[ -x "$b/server/brambled" ] && [ -x "$b/fuse/bramblefs" ] ||
		{ echo "abbench: $b is not a build directory" >&2; exit 1; }
	builds+=("$b")
done
for i in "${!builds[@]}"; do : >"$base/ab$i.tsv"; done

# one_set SET BUILD_INDEX RUN: that set's rows of one run, appended to
# abN.tsv (peers.sh's results format: PEER METRIC VALUE NOTE).
one_set() {
	local set=$1 i=$2 r=$3 log=$base/run-$3-$2-$1.log
	case $set in
	peers)
		BASE=$base/peers RESULTS_TSV=$base/ab$i.tsv RESULTS_MD=$base/ab$i.md \
			BRAMBLE_BUILD=${builds[$i]} PLUGINS=$here/bramble-peer.sh \
			bash "$PEERS_SH" run bramble >"$log" 2>&1 ;;
	tree10k | importstorm | warmread | stagebench)
		BENCH_BASE=$base/w BENCH_RUNS=1 BRAMBLE_BUILD=${builds[$i]} PEERS_SH=$PEERS_SH \
			bash "$here/$set.sh" bramble >"$log" 2>&1 &&
			cat "$base/w-$set/results.tsv" >>"$base/ab$i.tsv" ;;
	*) echo "abbench: unknown set $set" >&2; return 1 ;;
	esac
}

for r in $(seq 1 "$runs"); do
	for i in "${!builds[@]}"; do
		for set in $sets; do
			echo "== run $r/$runs: $set, ${builds[$i]}" >&2
			one_set "$set" "$i" "$r" ||
				echo "abbench: run $r of $set with ${builds[$i]} failed (see $base/run-$r-$i-$set.log)" >&2
		done
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
