#!/bin/bash
# killnine.sh - the outage target (nothing lost, no error, no hang): kill
# -9 brambled again and again during a mixed read/write/metadata workload
# on a bramble mount, and count what an application would notice:
#   - bytes lost that an fsync had acknowledged (every file whose fsync
#     returned is checked on the export at the end),
#   - ESTALE (or any other error) seen by the workload,
#   - hung processes (workers still running 60 s after being told to stop).
#
#   sudo bash tests/bench/killnine.sh          # by hand, as root
#
# Environment: BRAMBLE_BUILD (default build/), WORKERS=4, KILLS=10,
# UP=3 (seconds the server runs between kills), DOWN=1 (seconds it stays
# dead).  Uses tests/integ/lib.sh for the daemons (cleaned up on exit).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${BRAMBLE_BUILD:-$here/../../build}
top_builddir=$(cd "$top_builddir" && pwd)
top_srcdir=$(cd "$here/../.." && pwd)
. "$top_srcdir/tests/integ/lib.sh"
WORKERS=${WORKERS:-4}
KILLS=${KILLS:-10}
UP=${UP:-3}
DOWN=${DOWN:-1}

br_start_server --no-root-squash
br_mount "$T/mnt"
pids=""
for i in $(seq 1 "$WORKERS"); do
	python3 "$here/killnine_work.py" "$T/mnt/w$i" "$T/journal$i" "$T/errors$i" \
		"$T/stop" "$i" 2>>"$T/workers.err" &
	pids="$pids $!"
done
start=$(date +%s)
for k in $(seq 1 "$KILLS"); do
	sleep "$UP"
	br_kill_server
	sleep "$DOWN"
	br_restart_server --no-root-squash
done
sleep "$UP"
touch "$T/stop"
hung=0
for p in $pids; do
	for _ in $(seq 1 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$p" 2>/dev/null; then hung=$((hung + 1)); kill -KILL "$p"; fi
done
secs=$(($(date +%s) - start))

python3 - "$T" "$EXPORT" "$WORKERS" "$KILLS" "$secs" "$hung" <<'PY'
import hashlib, json, os, sys
T, export, workers, kills, secs, hung = sys.argv[1:7]
lost_files = lost_bytes = checked = checked_bytes = ops = 0
errors = {}
for i in range(1, int(workers) + 1):
    try:
        live = json.load(open("%s/journal%d" % (T, i)))
        res = json.load(open("%s/errors%d" % (T, i)))
    except OSError:
        print("worker %d left no journal (hung or crashed)" % i)
        continue
    ops += res["ops"]
    for k, v in res["errors"].items():
        errors[k] = errors.get(k, 0) + v
    for name, (size, sha) in live.items():
        checked += 1
        checked_bytes += size
        try:
            data = open("%s/w%d/%s" % (export, i, name), "rb").read()
        except OSError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            lost_files += 1
            lost_bytes += size
print("kill -9 of brambled: %s kills in %s s, %s workers, %d operations" % (kills, secs, workers, ops))
print("fsync-acknowledged files checked: %d (%.1f MB)" % (checked, checked_bytes / 1e6))
print("bytes lost after fsync: %d (%d files)" % (lost_bytes, lost_files))
print("ESTALE seen: %d" % errors.get("ESTALE", 0))
print("other errors seen: %s" % (", ".join("%s %d" % kv for kv in sorted(errors.items()) if kv[0] != "ESTALE") or "none"))
print("hung processes: %s" % hung)
PY
if [ -s "$T/workers.err" ]; then
	echo "errors the workload saw:"
	sed 's/^/  /' "$T/workers.err"
fi
