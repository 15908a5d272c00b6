#!/bin/bash
# 76-learned-cost: what staging a learned set costs, and which sets are
# kept (doc/staging.md, "Learned input sets").  Root stages for the
# ordinary user whose 0700 tree it is (as a Prolog), on a root-squashing
# server; the mount has the README's fstab options and -o record=DIR.
#  (1) a job (SLURM_JOB_ID) reads 64 files in 8 directories four levels
#      deep, and two lone files; named with `bramble record`, the set is
#      staged into an empty node cache in fewer server calls than files
#      (at most 50 for 66: 39 here, a LOOKUP per directory and a TREE per
#      directory naming two or more; data calls -- READ_CHUNK -- not
#      counted; a LOOKUP per component and a CHUNKMAP per file would be
#      over 400); then
#      reading the set through the mount makes no data call.
#  (2) the same answers as path-by-path staging where listing differs
#      from looking up: a file in a directory the user may search but not
#      list (711) is staged; a file removed since and one made unreadable
#      are "not staged" with their reasons; a symbolic link in the set is
#      followed.
#  (3) `bramble record --discard --job ID` removes the set of a job that
#      did not ask to record; `--gc` with no Slurm to ask removes nothing.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
calls() {   # calls BEFORE AFTER: server calls between two snaps, but STATS, HELLO, data and peer registration
	python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f))["procedures"] for f in sys.argv[1:3])
skip = {"STATS", "HELLO", "READ", "READ_CHUNK", "READ_CHUNK2", "PEER_REGISTER"}
print(sum(v["calls"] - a.get(k, {}).get("calls", 0) for k, v in b.items() if k not in skip))
PY
}

P=$EXPORT/u/proj
for d in 1 2 3 4 5 6 7 8; do
	mkdir -p "$P/lib/site/pkg$d/mod"
	for i in $(seq 1 12); do
		head -c $((RANDOM % 20000 + 10)) /dev/urandom >"$P/lib/site/pkg$d/mod/m$i.py"
	done
done
mkdir -p "$P/models/a" "$P/models/b" "$P/hidden"
head -c 3000000 /dev/urandom >"$P/models/a/w.bin"
head -c 2000000 /dev/urandom >"$P/models/b/w.bin"
echo secret-ish >"$P/hidden/h.txt"
echo more >"$P/hidden/h2.txt"
ln -s ../../models/a/w.bin "$P/lib/site/latest.bin"
echo gone-soon >"$P/lib/site/pkg1/mod/tmp.txt"
chown -R "$BR_UID:$BR_GID" "$EXPORT/u"
chmod 700 "$P"
br_start_server                                    # root squashed
mkdir -p "$T/learned"
br_mount "$T/m" -o record="$T/learned"
M=$T/m
Q=$M/u/proj

# ---- (1) the job, its set, the set staged
as_user env SLURM_JOB_ID=7601 sh -c "
	for d in 1 2 3 4 5 6 7 8; do for i in 1 2 3 4 5 6 7 8; do
		cat '$Q'/lib/site/pkg\$d/mod/m\$i.py; done; done
	cat '$Q/models/a/w.bin' '$Q/models/b/w.bin'" >/dev/null || fail "the job's reads"
"$BRAMBLE" record --name u.probe --rm --job 7601 "$M" >/dev/null || fail "record --name"
n=$(grep -vc '^#' "$T/learned/u.probe.set")
[ "$n" = 66 ] || fail "the set has $n paths, want 66: $(cat "$T/learned/u.probe.set")"
[ ! -e "$T/learned/job-7601.set" ] || fail "--rm left job-7601.set"
learned() {   # learned CACHEDIR JOB: stage u.probe as a Prolog does
	(cd "$M" && SLURM_JOB_ID=$2 SLURM_JOB_UID=$BR_UID SLURM_JOB_GID=$BR_GID \
		"$BRAMBLE" stage -q --json --cache-dir "$1" --learned u.probe >"$T/j$2.json" 2>"$T/err$2")
}
br_stats_snap "$T/s0"
learned "$T/cold" 11 || fail "staging the learned set: $(cat "$T/err11" "$T/j11.json")"
br_stats_snap "$T/s1"
[ "$(json "$T/j11.json" 'd["files"]')" = 66 ] || fail "staged: $(cat "$T/j11.json")"
c=$(calls "$T/s0" "$T/s1")
note "a learned set of 66 files staged cold in $c server calls (data calls not counted)"
[ "$c" -le 50 ] || fail "a learned set of 66 files cost $c calls"
# read through the mount (its own node cache: the one staged into)
br_umount "$M"
br_mount "$M" -o record="$T/learned",cache_dir="$T/cold"
br_stats_snap "$T/s2"
as_user sh -c "cat '$Q'/lib/site/pkg*/mod/m[1-8].py '$Q'/models/*/w.bin" | cmp - \
	<(cat "$P"/lib/site/pkg*/mod/m[1-8].py "$P"/models/*/w.bin) || fail "bytes of the staged set"
br_stats_snap "$T/s3"
br_stats_delta "$T/s2" "$T/s3" "READ_CHUNK*.calls == 0" "CHUNKMAP.calls == 0"

# ---- (2) listing and looking up agree
chmod 711 "$P/hidden"
{ echo "# bramble learned set v1"
  echo "u/proj/hidden/h.txt"; echo "u/proj/hidden/h2.txt"
  echo "u/proj/lib/site/latest.bin"; echo "u/proj/lib/site/pkg1/mod/m1.py"
  echo "u/proj/lib/site/pkg1/mod/tmp.txt"; echo "u/proj/lib/site/pkg1/mod/m2.py"
  echo "u/proj/lib/site/pkg1/mod/m3.py"; } >"$T/learned/u.probe.set"
rm "$P/lib/site/pkg1/mod/tmp.txt"
chmod 000 "$P/lib/site/pkg1/mod/m3.py"
learned "$T/cold" 12
[ $? = 1 ] || fail "staging with a missing file did not fail: $(cat "$T/err12")"
grep -q "not staged: $Q/lib/site/pkg1/mod/tmp.txt: No such file or directory" "$T/err12" &&
	grep -q "not staged: $Q/lib/site/pkg1/mod/m3.py: Permission denied" "$T/err12" ||
	fail "the reasons: $(cat "$T/err12")"
[ "$(grep -c 'not staged' "$T/err12")" = 2 ] || fail "more not staged: $(cat "$T/err12")"
[ "$(json "$T/j12.json" 'd["files"]')" = 5 ] || fail "staged: $(cat "$T/j12.json")"

# ---- (3) sets of jobs that did not ask
as_user env SLURM_JOB_ID=7602 cat "$Q/models/b/w.bin" >/dev/null
"$BRAMBLE" record --job 7602 "$M" >/dev/null || fail "job 7602 has no set"
mkdir -p "$T/noslurm"
env PATH="$T/noslurm" "$BRAMBLE" record --gc "$M" >"$T/gc.out" 2>&1 || fail "gc: $(cat "$T/gc.out")"
[ -e "$T/learned/job-7602.set" ] || fail "--gc without Slurm removed a set: $(cat "$T/gc.out")"
"$BRAMBLE" record --discard --job 7602 "$M" || fail "--discard"
[ ! -e "$T/learned/job-7602.set" ] || fail "--discard left job-7602.set"
"$BRAMBLE" record --discard --job 7602 "$M" || fail "--discard of no set"
ls "$T/learned" >&2
exit 0
