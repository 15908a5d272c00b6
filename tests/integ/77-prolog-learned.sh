#!/bin/bash
# 77-prolog-learned: which sets the Slurm Prolog stages and which the
# Epilog keeps (doc/slurm.md), against a real Slurm (slurmctld + slurmd
# "n1" on 127.0.0.1, a munged of the test's own), jobs of the ordinary
# user $BR_USER, a root-squashing server, the mount with the README's
# fstab options and -o record=DIR.
#  (a) a job named probe whose script says '#BRAMBLE record' (no name)
#      and ends well: the Epilog names its set USER.probe (the files it
#      opened) and leaves no job-ID.set;
#  (b) a job that does not ask to record, and (c) one that asks but
#      fails: no set of theirs is left in the record directory;
#  (d) a later job named probe that declares nothing: the Prolog stages
#      USER.probe -- while it runs, exactly the set's chunks are pinned
#      for it (not the rest of the directories the files are in), and its
#      reads fetch no chunk;
#  (e) a file of the set gone since (a scratch file the job made): the
#      job named after the set still runs, the Prolog logs what it skipped;
#  (f) `bramble record --gc`: the set of a job Slurm does not know is
#      removed, that of a running job kept.
# BR_PROLOG_TIMES=N (off by default: tests are not timed) then runs N
# jobs declaring '#BRAMBLE stage DIR' of a tree staged already (STAGE_SRC,
# default /usr/lib/python3.11, and two 50 MiB files) and prints each
# Prolog's seconds and the median; BR_SLURM_DIR names other Prolog and
# Epilog scripts to time (another build's dist/slurm); BR_PROLOG_ONLY=1
# skips (a)-(f).
. "$(dirname "$0")/lib.sh"

FIRST_JOB=$((7700000 + RANDOM * 16))
. "$(dirname "$0")/slurmlib.sh"

# ---- the data: an "environment" and a model, the user's own (0700)
mkdir -p "$EXPORT/u/env/lib" "$EXPORT/u/env/bin"
head -c $((3 * MIB + 4096)) /dev/urandom >"$EXPORT/u/env/lib/libbig.so"
head -c $((2 * MIB)) /dev/urandom >"$EXPORT/u/model.bin"
echo 'print("hi")' >"$EXPORT/u/env/bin/tool.py"
echo 'scratch' >"$EXPORT/u/scratch.txt"
chown -R "$BR_UID:$BR_GID" "$EXPORT/u"
chmod 700 "$EXPORT/u"

br_start_server                        # root squashed (the default)
mkdir -p "$T/learned"
br_mount "$T/mnt" -o record="$T/learned"
MNT=$T/mnt
U=$MNT/u

slurm_start

# run NAME SCRIPT-BODY [sbatch args]: submit, wait until it ended; JOB
run() {
	local name=$1 body=$2
	shift 2
	submit "$name" "$@" "$body"
	wait_state "$JOB" COMPLETED FAILED CANCELLED
}
sets() { (cd "$T/learned" && ls -- *.set 2>/dev/null | sort | tr '\n' ' '); }

# BR_PROLOG_ONLY=1: only the measurement (another build's scripts and tools)
if [ -z "${BR_PROLOG_ONLY:-}" ]; then
# ---- (a) '#BRAMBLE record': the set of the job's name
run probe "#BRAMBLE record
cat $U/model.bin $U/env/bin/tool.py $U/scratch.txt >/dev/null"
[ "$(job_field "$JOB" JobState)" = COMPLETED ] || fail "(a) job $JOB: $(job_field "$JOB" JobState)"
set=$T/learned/$JOBUSER.probe.set
[ -f "$set" ] || fail "(a) no $set: $(sets); $(grep epilog "$T/stage.log")"
[ "$(grep -v '^#' "$set")" = "$(printf 'u/model.bin\nu/env/bin/tool.py\nu/scratch.txt')" ] ||
	fail "(a) the learned set: $(cat "$set")"
[ "$(sets)" = "$JOBUSER.probe.set " ] || fail "(a) sets left: $(sets)"

# ---- (b) no '#BRAMBLE record'; (c) asks, fails
run other "cat $U/env/lib/libbig.so >/dev/null"
[ "$(job_field "$JOB" JobState)" = COMPLETED ] || fail "(b) job $JOB: $(job_field "$JOB" JobState)"
run failing "#BRAMBLE record
cat $U/model.bin >/dev/null; exit 3"
[ "$(job_field "$JOB" JobState)" = FAILED ] || fail "(c) job $JOB: $(job_field "$JOB" JobState)"
[ "$(sets)" = "$JOBUSER.probe.set " ] ||
	fail "(b, c) sets of jobs that did not ask or failed are left: $(sets)"

# ---- (d) the Prolog stages the set of the job's name
"$BRAMBLE" cache --dir "$CACHE" evict >/dev/null || fail "evict"
rm "$EXPORT/u/scratch.txt"
submit probe "touch $O/\$SLURM_JOB_ID.running
i=0; while [ ! -e $O/\$SLURM_JOB_ID.go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done
cat $U/model.bin $U/env/bin/tool.py >/dev/null"
wait_for 60 test -e "$O/$JOB.running" ||
	fail "(d) job $JOB did not start: $(job_field "$JOB" JobState) $(cat "$O/probe.out")"
# model.bin: 2 chunks of 1 MiB, tool.py: 1 of 12 bytes; not libbig.so
[ "$(pins_of "job:$JOB")" = "3 $((2 * MIB + 12))" ] ||
	fail "(d) job:$JOB pins $(pins_of "job:$JOB"), want the set's 3 chunks"
# (e) scratch.txt is gone: logged, not fatal
grep -q "bramble-prolog: job $JOB on n1: staged 0 path(s) and 0 learned set(s) and the learned set $JOBUSER.probe of the job's name (1 path(s) of it not staged: .*scratch.txt: No such file" "$T/stage.log" ||
	fail "(d, e) the Prolog's log: $(grep "job $JOB" "$T/stage.log")"
c0=$(chunk_calls)
touch "$O/$JOB.go"
wait_state "$JOB" COMPLETED FAILED CANCELLED
[ "$(job_field "$JOB" JobState)" = COMPLETED ] || fail "(d) job $JOB: $(job_field "$JOB" JobState)"
[ "$(chunk_calls)" = "$c0" ] || fail "(d) the job's reads fetched $(($(chunk_calls) - c0)) chunk(s)"
[ "$(pins_of "job:$JOB")" = "0 0" ] || fail "(d) job:$JOB not released"
note "(d) job $JOB ran with the learned set $JOBUSER.probe staged by the Prolog"

# ---- (f) record --gc
submit gcjob "cat $U/model.bin >/dev/null; touch $O/\$SLURM_JOB_ID.running
i=0; while [ ! -e $O/\$SLURM_JOB_ID.go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done"
wait_for 60 test -e "$O/$JOB.running" || fail "(f) job $JOB did not start"
printf '# bramble learned set v1\nu/model.bin\n' >"$T/learned/job-4242.set"
"$BRAMBLE" record --gc "$MNT" >"$T/gc.out" 2>&1 || fail "(f) record --gc: $(cat "$T/gc.out")"
[ -e "$T/learned/job-$JOB.set" ] || fail "(f) --gc removed the running job's set: $(cat "$T/gc.out")"
[ ! -e "$T/learned/job-4242.set" ] || fail "(f) --gc kept a gone job's set: $(cat "$T/gc.out")"
touch "$O/$JOB.go"
wait_state "$JOB" COMPLETED FAILED CANCELLED
[ "$(sets)" = "$JOBUSER.probe.set " ] || fail "(f) sets left: $(sets)"

fi

# ---- measurement (BR_PROLOG_TIMES=N): the Prolog of a job declaring a
# tree staged already
if [ "${BR_PROLOG_TIMES:-0}" -gt 0 ]; then
	src=${STAGE_SRC:-/usr/lib/python3.11}
	cp -rL "$src" "$EXPORT/u/tree" 2>/dev/null
	find "$EXPORT/u/tree" -name __pycache__ -prune -exec rm -rf {} +
	head -c $((50 * MIB)) /dev/urandom >"$EXPORT/u/tree/model-a.bin"
	head -c $((50 * MIB)) /dev/urandom >"$EXPORT/u/tree/model-b.bin"
	chown -R "$BR_UID:$BR_GID" "$EXPORT/u/tree"
	run warm "#BRAMBLE stage $U/tree
true"
	run warm "#BRAMBLE stage $U/tree
true"
	: >"$T/prolog.times"
	for i in $(seq 1 "$BR_PROLOG_TIMES"); do
		run timed "#BRAMBLE stage $U/tree
true"
		[ "$(job_field "$JOB" JobState)" = COMPLETED ] || fail "timed job $JOB: $(job_field "$JOB" JobState)"
	done
	awk '{ printf "%.3f\n", $2 - $3 }' "$T/prolog.times" >"$T/secs"
	echo "# Prolog seconds, tree staged already: $(tr '\n' ' ' <"$T/secs")median $(sort -g "$T/secs" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')" >&2
fi
exit 0
