#!/bin/bash
# drc-cost.sh - what keeping the duplicate-request cache in bramble.db
# costs: a create/unlink storm on a bramble mount (NFILES exclusive
# creates, then NFILES unlinks, from one python3 process) against brambled
# with --drc off, --drc memory and --drc disk (the default).  Each mode runs
# RUNS times; the median is printed, in µs per operation.
#
#   sudo bash tests/bench/drc-cost.sh               # run by hand, as root
#
# Environment: BRAMBLE_BUILD (default build/), NFILES=3000, RUNS=3,
# BASE=/tmp/drc-cost (work area, removed afterwards).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BRAMBLE_BUILD=${BRAMBLE_BUILD:-$TOP/build}
NFILES=${NFILES:-3000}
RUNS=${RUNS:-3}
BASE=${BASE:-/tmp/drc-cost}

die() { echo "drc-cost: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (FUSE mounts, reserved ports)"
for f in server/brambled fuse/bramblefs; do
	[ -x "$BRAMBLE_BUILD/$f" ] || die "no $BRAMBLE_BUILD/$f (set BRAMBLE_BUILD)"
done
[ -e "$BASE" ] && die "$BASE exists: remove it first"

pids=""
cleanup() {
	set +e
	mountpoint -q "$BASE/mnt" && fusermount3 -u -z "$BASE/mnt"
	for p in $pids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BASE/export" "$BASE/state" "$BASE/mnt"
cat >"$BASE/storm.py" <<'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
for i in range(n):
    os.close(os.open("%s/f%d" % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
for i in range(n):
    os.unlink("%s/f%d" % (d, i))
print("%.1f" % ((time.perf_counter() - t0) / (2 * n) * 1e6))
EOF

# one_run MODE: a fresh server and mount, one storm; prints µs per op.
one_run() {
	local spid fpid port
	rm -f "$BASE/port"
	"$BRAMBLE_BUILD/server/brambled" --foreground --export "$BASE/export" \
		--state "$BASE/state" --listen 127.0.0.1:0 --port-file "$BASE/port" \
		--drc "$1" --no-root-squash >>"$BASE/brambled.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	for _ in $(seq 100); do [ -s "$BASE/port" ] && break; sleep 0.05; done
	port=$(cat "$BASE/port") || die "brambled did not start"
	"$BRAMBLE_BUILD/fuse/bramblefs" 127.0.0.1:/ "$BASE/mnt" -f -o "port=$port" \
		>>"$BASE/bramblefs.log" 2>&1 &
	fpid=$!
	pids="$pids $fpid"
	for _ in $(seq 100); do mountpoint -q "$BASE/mnt" && break; sleep 0.05; done
	mountpoint -q "$BASE/mnt" || die "bramblefs did not mount"
	mkdir "$BASE/mnt/storm" || die "cannot mkdir in the mount"
	python3 "$BASE/storm.py" "$BASE/mnt/storm" "$NFILES" || die "the storm failed"
	rmdir "$BASE/mnt/storm"
	fusermount3 -u "$BASE/mnt"
	wait "$fpid"
	kill -TERM "$spid"
	wait "$spid"
	pids=""
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Rounds of off, memory, disk: drift of the machine's load hits all three.
declare -A all
for _ in $(seq "$RUNS"); do
	for mode in off memory disk; do
		# Not $(...): a subshell's `die' would leave its daemons behind.
		one_run "$mode" >"$BASE/result"
		all[$mode]="${all[$mode]:-} $(cat "$BASE/result")"
	done
done
printf "%-8s %10s   (%d creates + %d unlinks, median of %d runs)\n" \
	"--drc" "us/op" "$NFILES" "$NFILES" "$RUNS"
for mode in off memory disk; do
	printf "%-8s %10s   runs:%s\n" "$mode" \
		"$(tr ' ' '\n' <<<"${all[$mode]}" | grep . | median)" "${all[$mode]}"
done
