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

for c in slurmctld slurmd sbatch scontrol scancel sinfo; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
		skip "$c not installed (Debian packages slurmctld slurmd slurm-client)"
done
command -v munged >/dev/null || skip "munged not installed (Debian package munge)"
command -v setpriv >/dev/null || skip "setpriv needed (util-linux)"
command -v python3 >/dev/null || skip "python3 needed"
PATH=$PATH:/usr/sbin
PROLOG=$top_builddir/dist/slurm/slurm-prolog
EPILOG=$top_builddir/dist/slurm/slurm-epilog
[ -x "$PROLOG" ] && [ -x "$EPILOG" ] || fail "no $PROLOG or $EPILOG (make builds them)"
"$BRAMBLE" stage --release 0 --cache-dir "$T/no-cache" >/dev/null 2>"$T/err" ||
	fail "this bramble cannot 'stage --release': $(cat "$T/err")"

# json FILE EXPR: EXPR (Python, over `d') of the JSON in FILE
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
MIB=1048576
CACHE=$T/nodecache
JOBUSER=$BR_USER
S=$T/slurm
O=$T/out
mkdir -p "$S/state" "$S/spool/n1" "$O" "$T/jobs"
chmod 1777 "$O"
chmod 755 "$T/jobs"

# ---- munged of our own (its socket named in slurm.conf: AuthInfo)
dd if=/dev/urandom of="$S/munge.key" bs=1 count=1024 status=none
chmod 600 "$S/munge.key"
munged --foreground --force --key-file="$S/munge.key" --socket="$S/munge.sock" \
	--pid-file="$S/munged.pid" --log-file="$T/munged.log" --seed-file="$S/munge.seed" \
	2>>"$T/munged.log" &
MUNGED_PID=$!
br_on_cleanup "kill $MUNGED_PID 2>/dev/null; wait $MUNGED_PID 2>/dev/null"
wait_for 10 test -S "$S/munge.sock" || skip "munged cannot run here (see $T/munged.log)"

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

chunk_calls() {
	"$BRAMBLE" stats --json "127.0.0.1:$PORT" |
		python3 -c 'import json, sys; d = json.load(sys.stdin)["procedures"]; print(sum(d.get(p, {}).get("calls", 0) for p in ("READ_CHUNK", "READ_CHUNK2")))'
}
# pins_of OWNER: "CHUNKS BYTES" pinned by OWNER in the node cache ("0 0": none)
pins_of() {
	"$BRAMBLE" cache --dir "$CACHE" ls --json >"$T/ls.json" || fail "bramble cache ls"
	json "$T/ls.json" "' '.join(str(x) for x in next(((p['chunks'], p['bytes']) for p in d['pins'] if p['owner'] == '$1'), (0, 0)))"
}

# ---- Slurm: slurmctld + one slurmd, ports of our own, everything under $S
p_ctld=$(br_free_port)
p_node=$(br_free_port)
# Job ids of our own: the Epilog releases job:ID in every mount's cache of
# this machine, and other tests may pin for small ids.
first_job=$((5200000 + RANDOM * 16))
cat >"$S/stage.conf" <<EOF
BRAMBLE=$BRAMBLE
LOG=$T/stage.log
CANCEL_WAIT=30
EOF
for s in prolog epilog; do
	# slurmd gives the Prolog a fixed environment: the settings file is
	# named by a wrapper.
	printf '#!/bin/sh\nBRAMBLE_SLURM_CONFIG=%s exec %s\n' "$S/stage.conf" \
		"$top_builddir/dist/slurm/slurm-$s" >"$S/$s.sh"
	chmod 755 "$S/$s.sh"
done
cat >"$S/slurm.conf" <<EOF
ClusterName=bramble52
FirstJobId=$first_job
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$p_ctld
AuthType=auth/munge
AuthInfo=socket=$S/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/%n
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd-%n.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
Prolog=$S/prolog.sh
Epilog=$S/epilog.sh
PrologFlags=Alloc
PrologEpilogTimeout=120
BatchStartTimeout=120
NodeName=n1 NodeHostname=n1 NodeAddr=127.0.0.1 Port=$p_node CPUs=2 RealMemory=500 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# The SPANK plugin (sbatch --stage=), built when libslurm-dev is there.
SPANK=$top_builddir/dist/slurm/spank_bramble.so
if [ -f "$SPANK" ]; then
	echo "required $SPANK" >"$S/plugstack.conf"
	echo "PlugStackConfig=$S/plugstack.conf" >>"$S/slurm.conf"
fi
export SLURM_CONF=$S/slurm.conf
slurmctld -D -f "$SLURM_CONF" >>"$T/slurmctld.log" 2>&1 &
CTLD_PID=$!
slurmd -D -f "$SLURM_CONF" -N n1 >>"$T/slurmd-n1.log" 2>&1 &
SLURMD_PID=$!
# Stopped before the mount goes (lib.sh's cleanup runs hooks after its own
# daemons; a job still running would hold the mount): scancel, then TERM.
stop_slurm() {
	scancel --full --quiet --partition=debug 2>/dev/null
	# the jobs' slurmstepd end with them: wait before slurmd goes
	wait_for 15 sh -c '[ -z "$(squeue -h 2>/dev/null)" ]'
	kill "$SLURMD_PID" "$CTLD_PID" 2>/dev/null
	wait "$SLURMD_PID" "$CTLD_PID" 2>/dev/null
}
trap 'rc_=$?; stop_slurm; (exit $rc_); br_cleanup' EXIT
node_state() { sinfo -h -N -n n1 -o %T 2>/dev/null; }
wait_for 30 sh -c '[ "$(sinfo -h -N -n n1 -o %T 2>/dev/null)" = idle ]' ||
	fail "Slurm did not come up (node n1: '$(node_state)'; see $T/slurmctld.log)"

# submit NAME [sbatch args] SCRIPT-BODY: sbatch as $JOBUSER; sets JOB (the id)
submit() {
	local name=$1 body
	shift
	body=${*: -1}
	printf '#!/bin/sh\n%s\n' "$body" >"$T/jobs/$name.sh"
	chmod 755 "$T/jobs/$name.sh"
	set -- "${@:1:$(($# - 1))}"
	JOB=$(cd "$O" && runuser -u "$JOBUSER" -- sbatch --parsable -J "$name" -o "$O/$name.out" "$@" \
		"$T/jobs/$name.sh" 2>"$T/sbatch.err")
	[ -n "$JOB" ] || fail "sbatch $name: $(cat "$T/sbatch.err")"
}
job_field() {       # job_field ID FIELD (one word; AdminComment: the whole line)
	if [ "$2" = AdminComment ]; then
		scontrol show job "$1" 2>/dev/null | sed -n 's/^ *AdminComment=//p'
	else
		scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"
	fi
}
# wait_state ID STATE...: until the job is in one of STATEs (60 s)
wait_state() {
	local id=$1
	shift
	local i=0 s
	while :; do
		s=$(job_field "$id" JobState)
		for w in "$@"; do [ "$s" = "$w" ] && return 0; done
		i=$((i + 1))
		[ "$i" -gt 600 ] && fail "job $id: state '$s', want $*"
		sleep 0.1
	done
}
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
