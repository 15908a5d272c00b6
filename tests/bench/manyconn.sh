#!/bin/bash
# manyconn.sh - does a crowd of idle connections slow the one client that
# is working?  Median NULL round trip of `bramble ping -c CALLS` against
# brambled with 0 and then NCONN idle TCP connections open (a python3
# process holding them), RUNS runs each; prints both medians (the median
# of the runs' medians) and their ratio.  Target: within 2x.
#
#   sudo bash tests/bench/manyconn.sh          # run by hand, as root
#
# Environment: BRAMBLE_BUILD (default build/), NCONN=1000, CALLS=2000,
# RUNS=3, BASE=/tmp/manyconn (work area, removed afterwards).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BRAMBLE_BUILD=${BRAMBLE_BUILD:-$TOP/build}
NCONN=${NCONN:-1000}
CALLS=${CALLS:-2000}
RUNS=${RUNS:-3}
BASE=${BASE:-/tmp/manyconn}

die() { echo "manyconn: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (brambled)"
for f in server/brambled tools/bramble; do
	[ -x "$BRAMBLE_BUILD/$f" ] || die "no $BRAMBLE_BUILD/$f (set BRAMBLE_BUILD)"
done
[ -e "$BASE" ] && die "$BASE exists: remove it first"

pids=""
cleanup() {
	set +e
	for p in $pids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$BASE/export" "$BASE/state"
"$BRAMBLE_BUILD/server/brambled" --foreground --export "$BASE/export" \
	--state "$BASE/state" --listen 127.0.0.1:0 --port-file "$BASE/port" \
	--max-conns $((NCONN + 100)) >"$BASE/brambled.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do [ -s "$BASE/port" ] && break; sleep 0.05; done
port=$(cat "$BASE/port") || die "brambled did not start"

# medians: RUNS pings, the median of their medians, in µs.
medians() {
	local all=""
	for _ in $(seq "$RUNS"); do
		all="$all $("$BRAMBLE_BUILD/tools/bramble" ping -c "$CALLS" "127.0.0.1:$port" |
			sed -n 's/.*median \([0-9.]*\) us.*/\1/p')"
	done
	tr ' ' '\n' <<<"$all" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

m0=$(medians)
python3 - "$port" "$NCONN" "$BASE/held" <<'EOF' &
import resource, socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
open(ready, "w").close()
time.sleep(3600)
EOF
pids="$! $pids"
for _ in $(seq 600); do [ -e "$BASE/held" ] && break; sleep 0.1; done
[ -e "$BASE/held" ] || die "could not open $NCONN connections"
m1=$(medians)
printf "NULL round trip, median of %d runs of %d calls:\n" "$RUNS" "$CALLS"
printf "  %5d idle connections: %s us\n" 0 "$m0"
printf "  %5d idle connections: %s us\n" "$NCONN" "$m1"
awk -v a="$m0" -v b="$m1" 'BEGIN { printf "  ratio: %.2fx (target: within 2x)\n", b / a }'
