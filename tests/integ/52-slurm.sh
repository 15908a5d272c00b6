#!/bin/bash
# 52-slurm: the Slurm Prolog/Epilog of dist/slurm against a real Slurm
# (Debian's slurmctld + slurmd, one node "n1" on 127.0.0.1, a munged of
# this test's own) and the real `bramble stage`, with a brambled and a
# bramblefs mount (allow_other) that the jobs read.  Jobs run as the
# ordinary user $BR_USER; the server squashes root (the default), and the
# environment is the user's own, mode 0700 (as envcp made them): the
# Prolog, root, stages it with the user's credentials.
#  (a) `#BRAMBLE stage` lines: while the job runs its inputs are pinned for
#      job:ID in the node cache, and its reads of them transfer no chunk;
#      after it, the Epilog has released the pins (the chunks stay cached);
#  (b) the same declared by `sbatch --comment bramble-stage=A:B`;
#  (g) (when the SPANK plugin is built) `sbatch --stage=A:B`, the same;
#  (f) `#BRAMBLE record NAME`: the Epilog names the set of files the job
#      opened USER.NAME; a later job's `#BRAMBLE stage --learned NAME` has
#      exactly those pinned while it runs;
#  (c) a missing path: the job body never runs; the job is CANCELLED, its
#      stderr file and AdminComment say what was not staged, and the node
#      stays in service;
#  (d) a file the job's user may not read: not staged (the Prolog stages
#      with the user's rights), the job is cancelled the same way;
#  (e) ON_FAIL=drain: the Prolog fails, and Slurm drains the node and
#      requeues the job held (what the README says it does).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurmlib.sh"

# ---- the data: an "environment" tree and a model, on the server
mkdir -p "$EXPORT/env/lib" "$EXPORT/env/bin" "$EXPORT/secret"
head -c $((3 * MIB + 4096)) /dev/urandom >"$EXPORT/env/lib/libbig.so"
head -c $((2 * MIB)) /dev/urandom >"$EXPORT/model.bin"
echo 'print("hi")' >"$EXPORT/env/bin/tool.py"
head -c $((2 * MIB)) /dev/urandom >"$EXPORT/secret/weights"
chmod 700 "$EXPORT/secret"
chmod -R a+rX "$EXPORT/env" "$EXPORT/model.bin"

br_start_server                        # root squashed (the default)
br_mount "$T/mnt" -o allow_other,record="$T/learned"
MNT=$T/mnt
[ "$(cat "$MNT/env/bin/tool.py")" = 'print("hi")' ] || fail "the mount does not show the export"

# The SPANK plugin (sbatch --stage=), built when libslurm-dev is there.
SPANK=$top_builddir/dist/slurm/spank_bramble.so
if [ -f "$SPANK" ]; then
	echo "required $SPANK" >"$S/plugstack.conf"
	SLURM_CONF_EXTRA="PlugStackConfig=$S/plugstack.conf"
fi
slurm_start

# The body of jobs (a) and (b): say it runs, wait until the test has looked
# at the cache, read the inputs, say what it read.
body() {
	cat <<EOF
touch "$O/\$SLURM_JOB_ID.running"
i=0; while [ ! -e "$O/\$SLURM_JOB_ID.go" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done
cksum <"$MNT/env/lib/libbig.so" >"$O/\$SLURM_JOB_ID.sums"
cksum <"$MNT/model.bin" >>"$O/\$SLURM_JOB_ID.sums"
echo "body ran as \$(id -un)"
EOF
}
want_sums=$( (cksum <"$EXPORT/env/lib/libbig.so"; cksum <"$EXPORT/model.bin") )
# 3 MiB + 4 KiB -> 4 chunks, 2 MiB -> 2 chunks (1 MiB chunks), tool.py -> 1
WANT_CHUNKS_MIN=6

# check_staged ID NAME WHAT: the job is running with its inputs pinned; its reads
# transfer no chunk; after it, the pins are released and the chunks cached.
check_staged() {
	local id=$1 name=$2 what=$3 pins c0
	wait_for 60 test -e "$O/$id.running" ||
		fail "$what: job $id did not start (state $(job_field "$id" JobState); $(cat "$O"/*.out 2>/dev/null))"
	pins=$(pins_of "job:$id")
	[ "${pins% *}" -ge "$WANT_CHUNKS_MIN" ] ||
		fail "$what: while job $id runs, job:$id pins '$pins' (chunks bytes), want >= $WANT_CHUNKS_MIN chunks"
	[ "${pins#* }" -ge $((5 * MIB)) ] || fail "$what: job:$id pins only ${pins#* } bytes"
	note "$what: job $id running, job:$id pins $pins (chunks bytes)"
	c0=$(chunk_calls)
	touch "$O/$id.go"
	wait_state "$id" COMPLETED FAILED CANCELLED
	[ "$(job_field "$id" JobState)" = COMPLETED ] ||
		fail "$what: job $id ended $(job_field "$id" JobState): $(cat "$O/$name.out" 2>/dev/null)"
	[ "$(cat "$O/$id.sums")" = "$want_sums" ] || fail "$what: the job read other bytes"
	[ "$(chunk_calls)" = "$c0" ] ||
		fail "$what: the job's reads of staged files fetched $(($(chunk_calls) - c0)) chunk(s)"
	# COMPLETED comes after the Epilog has run (COMPLETING until then)
	[ "$(pins_of "job:$id")" = "0 0" ] || fail "$what: after job $id, job:$id still pins $(pins_of "job:$id")"
	grep -q "bramble-epilog: job $id on n1: released job:$id" "$T/stage.log" ||
		fail "$what: no release logged: $(cat "$T/stage.log")"
	[ "$(json "$T/ls.json" 'd["chunks"] >= 6')" = True ] || fail "$what: chunks gone after release"
}

# ---- (a) #BRAMBLE stage lines: a relative path (from the job's workdir),
# a glob, a manifest (read as the user)
printf '# models\n\n%s\n' "$MNT/model.bin" >"$T/jobs/inputs.txt"
chmod 644 "$T/jobs/inputs.txt"
submit a "#SBATCH --chdir=$MNT
#BRAMBLE stage env/bin     # the tools
#BRAMBLE stage $MNT/env/lib/*.so
#BRAMBLE stage --manifest $T/jobs/inputs.txt
$(body)"
ida=$JOB
check_staged "$ida" a "(a) #BRAMBLE lines"
grep -q "body ran as $JOBUSER" "$O/a.out" || fail "(a) output: $(cat "$O/a.out")"
grep -q "bramble-prolog: job $ida on n1: staged 3 path(s)" "$T/stage.log" ||
	fail "(a) Prolog log: $(cat "$T/stage.log")"

# ---- (b) sbatch --comment (both forms cached now: evict first so the
# Prolog really fetches)
"$BRAMBLE" cache --dir "$CACHE" evict >/dev/null || fail "evict"
submit b --comment "run-7 bramble-stage=$MNT/env:$MNT/model.bin" "$(body)"
idb=$JOB
check_staged "$idb" b "(b) --comment"

# ---- (g) sbatch --stage= (SPANK plugin)
if [ -f "$SPANK" ]; then
	"$BRAMBLE" cache --dir "$CACHE" evict >/dev/null || fail "evict"
	submit g --stage="$MNT/env:$MNT/model.bin" "$(body)"
	check_staged "$JOB" g "(g) sbatch --stage"
else
	note "(g) sbatch --stage: not tested, no $SPANK (configure found no slurm/spank.h: libslurm-dev)"
fi

# ---- (f) learned sets: a job that opens two files and asks for its set to
# be named; then a job staging that set
submit f1 "#BRAMBLE record train
cat $MNT/model.bin $MNT/env/bin/tool.py >/dev/null"
wait_state "$JOB" COMPLETED FAILED CANCELLED
[ "$(job_field "$JOB" JobState)" = COMPLETED ] || fail "(f) job $JOB: $(job_field "$JOB" JobState)"
set=$T/learned/$JOBUSER.train.set
[ -f "$set" ] || fail "(f) no $set: $(ls "$T/learned"; grep epilog "$T/stage.log")"
[ "$(grep -v '^#' "$set")" = "$(printf 'model.bin\nenv/bin/tool.py')" ] ||
	fail "(f) the learned set: $(cat "$set")"
[ -e "$T/learned/job-$JOB.set" ] && fail "(f) job-$JOB.set left beside the named set"
"$BRAMBLE" cache --dir "$CACHE" evict >/dev/null || fail "evict"
submit f2 "#BRAMBLE stage --learned train
touch $O/f2.running
i=0; while [ ! -e $O/f2.go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done"
wait_for 60 test -e "$O/f2.running" || fail "(f) job $JOB did not start: $(cat "$O/f2.out")"
# model.bin: 2 chunks of 1 MiB, tool.py: 1 chunk of 12 bytes
[ "$(pins_of "job:$JOB")" = "3 $((2 * MIB + 12))" ] ||
	fail "(f) job:$JOB pins $(pins_of "job:$JOB"), want the learned set's 3 chunks"
note "(f) learned set $JOBUSER.train: $(grep -vc '^#' "$set") files; job $JOB ran with job:$JOB pinning $(pins_of "job:$JOB")"
touch "$O/f2.go"
wait_state "$JOB" COMPLETED FAILED CANCELLED
[ "$(pins_of "job:$JOB")" = "0 0" ] || fail "(f) job:$JOB not released"

# ---- (c) a declared path that does not exist
expect_cancelled() {   # ID NAME WHAT PATTERN
	local id=$1 name=$2 what=$3 pat=$4
	wait_state "$id" CANCELLED COMPLETED FAILED
	[ "$(job_field "$id" JobState)" = CANCELLED ] ||
		fail "$what: job $id is $(job_field "$id" JobState), not CANCELLED"
	[ -e "$O/$name.ran" ] && fail "$what: the job body ran"
	grep -q "not started" "$O/$name.out" && grep -q "$pat" "$O/$name.out" ||
		fail "$what: the job's output file does not say why: $(cat "$O/$name.out" 2>&1)"
	job_field "$id" AdminComment | grep -q "$pat" ||
		fail "$what: AdminComment: $(scontrol show job "$id" | grep -i comment)"
	[ "$(node_state)" = idle ] || fail "$what: node n1 is '$(node_state)' after the cancel"
	note "$what: job $id $(job_field "$id" JobState) reason $(job_field "$id" Reason); $(grep -m1 'not staged' "$O/$name.out")"
}
submit c "#BRAMBLE stage $MNT/env $MNT/no-such-model
touch $O/c.ran"
idc=$JOB
expect_cancelled "$idc" c "(c) missing path" "not staged: $MNT/no-such-model"
grep -q "bramble-prolog: job $idc on n1: job cancelled" "$T/stage.log" ||
	fail "(c) Prolog log: $(cat "$T/stage.log")"

# ---- (d) a path the job's user may not read (mode 700, owned by root)
submit d "#BRAMBLE stage $MNT/secret/weights
touch $O/d.ran"
idd=$JOB
expect_cancelled "$idd" d "(d) unreadable path" "not staged: $MNT/secret/weights: Permission denied"
[ "$(pins_of "job:$idd")" = "0 0" ] || fail "(d) something was pinned for job:$idd"

# ---- (e) ON_FAIL=drain: Slurm's own handling of a failed Prolog
echo ON_FAIL=drain >>"$S/stage.conf"
submit e "#BRAMBLE stage $MNT/gone
touch $O/e.ran"
ide=$JOB
wait_for 60 sh -c "sinfo -h -N -n n1 -o %T | grep -q drain" || fail "(e) node not drained: $(node_state)"
wait_state "$ide" PENDING
[ "$(job_field "$ide" Reason)" = launch_failed_requeued_held ] ||
	fail "(e) job $ide: reason $(job_field "$ide" Reason)"
[ -e "$O/e.ran" ] && fail "(e) the job body ran"
note "(e) ON_FAIL=drain: node n1 $(node_state) ($(sinfo -h -N -n n1 -o %E)), job $ide PENDING $(job_field "$ide" Reason)"
scancel "$ide"
scontrol update nodename=n1 state=resume
exit 0
