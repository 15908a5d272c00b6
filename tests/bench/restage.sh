#!/bin/bash
# restage.sh - what staging costs when it has nothing to do, and what a
# learned set costs per file (doc/staging.md, "What staging costs").
# A copy of STAGE_SRC (/usr/lib/python3.11) plus two STAGE_BIG_MB (50) MiB
# files, owned by the ordinary user $BR_USER, on a root-squashing server,
# mounted with the README's fstab options; staged once cold, then RUNS (5)
# times each, printing every run and the median:
#   restage     `bramble stage` of the tree, as root for the user (what a
#               Prolog runs), for a new job each time: seconds, bytes
#               fetched, server calls;
#   learned     `bramble stage --learned` of a set naming every file of
#               the tree's email/, json/, xml/ and asyncio/ (a learned set:
#               paths, not directories), cold (a new node cache each run): server
#               calls per file (data calls READ/READ_CHUNK not counted).
#   cold        a job reading that set and a 50 MB file on a fresh mount
#               with an empty node cache: the reads alone, against staging
#               its learned set (the Prolog's default) and then the reads.
#   sudo top_builddir=BUILD bash tests/bench/restage.sh   (BUILD: the build to measure)
# OTHER=/path/to/another/bramble: each run also with that bramble (e.g. a
# build of main), alternating, on the same server, mount and node cache.
. "$(dirname "${BASH_SOURCE[0]}")/../integ/lib.sh"
RUNS=${RUNS:-5}
STAGE_SRC=${STAGE_SRC:-/usr/lib/python3.11}
STAGE_BIG_MB=${STAGE_BIG_MB:-50}

json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
calls() {   # calls BEFORE AFTER [EXCLUDED...]: server calls between two snaps
	python3 - "$@" <<'PY'
import json, sys
a, b = (json.load(open(f))["procedures"] for f in sys.argv[1:3])
skip = set(sys.argv[3:]) | {"STATS"}
print(sum(v["calls"] - a.get(k, {}).get("calls", 0) for k, v in b.items() if k not in skip))
PY
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
secs() { local t0=$1; awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

TREE=$EXPORT/tree
cp -rL "$STAGE_SRC" "$TREE" 2>/dev/null
find "$TREE" -name __pycache__ -prune -exec rm -rf {} +
head -c $((STAGE_BIG_MB * 1048576)) /dev/urandom >"$TREE/model-a.bin"
head -c $((STAGE_BIG_MB * 1048576)) /dev/urandom >"$TREE/model-b.bin"
chown -R "$BR_UID:$BR_GID" "$TREE"
NFILES=$(find "$TREE" -type f | wc -l)
mkdir -p "$T/learned"
br_start_server
br_mount "$T/m" -o record="$T/learned"
M=$T/m
export SLURM_JOB_UID=$BR_UID SLURM_JOB_GID=$BR_GID SLURM_JOB_USER=$BR_USER
note "tree: $NFILES files, $(du -sh --apparent-size "$TREE" | cut -f1); build $top_builddir"

SLURM_JOB_ID=1 "$BRAMBLE" stage -q "$M/tree" || fail "cold stage"
: >"$T/t.restage"
SLURM_JOB_ID=2 "$BRAMBLE" stage -q "$M/tree" || fail "second stage"
: >"$T/t.other"
restage() {   # restage BRAMBLE TIMES-FILE JOB
	br_stats_snap "$T/a"
	t0=$(date +%s.%N)
	SLURM_JOB_ID=$3 "$1" stage -q --json "$M/tree" >"$T/j" || fail "restage"
	t=$(secs "$t0")
	br_stats_snap "$T/b"
	echo "$t" >>"$2"
	echo "restage ($1) run $i: ${t}s fetched $(json "$T/j" 'd["fetched_bytes"]') bytes, $(calls "$T/a" "$T/b") calls"
}
for i in $(seq 1 "$RUNS"); do
	restage "$BRAMBLE" "$T/t.restage" $((100 + i))
	[ -n "${OTHER:-}" ] && restage "$OTHER" "$T/t.other" $((150 + i))
done
echo "restage median: $(median <"$T/t.restage") s${OTHER:+; with $OTHER: $(median <"$T/t.other") s}"

[ -n "${NO_LEARNED:-}" ] && exit 0
# a learned set: the files of four packages, as paths
( cd "$TREE" && echo "# bramble learned set v1" &&
  find email json xml asyncio -type f | sort | sed "s,^,tree/," ) >"$T/learned/probe.set"
NSET=$(($(wc -l <"$T/learned/probe.set") - 1))
: >"$T/c.learned"
for i in $(seq 1 "$RUNS"); do
	br_stats_snap "$T/a"
	(cd "$M" && SLURM_JOB_ID=$((300 + i)) "$BRAMBLE" stage -q --json --cache-dir "$T/cold$i" --learned probe >"$T/j") ||
		fail "learned: $(cat "$T/j")"
	br_stats_snap "$T/b"
	c=$(calls "$T/a" "$T/b" READ READ_CHUNK)
	echo "$c $NSET" | awk '{ printf "%.2f\n", $1 / $2 }' >>"$T/c.learned"
	echo "learned run $i: $(json "$T/j" 'd["files"]') files, $c calls (data calls not counted)"
done
echo "learned set: $NSET files, median $(median <"$T/c.learned") calls per file"

# cold: a job reading part of the tree (the set above and one 50 MB
# file), on a fresh mount with an empty node cache, without staging and
# after staging its learned set (the Prolog's default): the staging and
# the reads together, against the reads alone.
[ -n "${NO_COLD:-}" ] && exit 0
( cat "$T/learned/probe.set"; echo "tree/model-a.bin" ) >"$T/learned/probe2.set"
sed -n 's,^tree/,,p' "$T/learned/probe2.set" >"$T/files"
remount() {   # remount CACHEDIR: the mount again, on an empty node cache
	br_umount "$M"
	wait "$FUSE_PID" 2>/dev/null    # its record directory's lock goes with it
	br_mount "$M" -o record="$T/learned",cache_dir="$1"
}
readall() { as_user sh -c 'cd "$1" && while IFS= read -r f; do cat "$f"; done <"$2" >/dev/null' sh "$M/tree" "$T/files"; }
: >"$T/t.plain"; : >"$T/t.staged"
for i in $(seq 1 "$RUNS"); do
	remount "$T/cp$i"
	t0=$(date +%s.%N); readall || fail "reads"; t=$(secs "$t0")
	echo "$t" >>"$T/t.plain"
	remount "$T/cs$i"
	t0=$(date +%s.%N)
	(cd "$M" && SLURM_JOB_ID=$((400 + i)) "$BRAMBLE" stage -q --learned probe2) || fail "stage probe2"
	readall || fail "reads after staging"
	t2=$(secs "$t0")
	echo "$t2" >>"$T/t.staged"
	echo "cold run $i: reads alone ${t}s, staging the learned set then the reads ${t2}s"
done
echo "cold, $(($(wc -l <"$T/files"))) files: reads alone median $(median <"$T/t.plain") s, staged + reads median $(median <"$T/t.staged") s"
