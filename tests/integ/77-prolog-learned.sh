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

chunk_calls() {
	"$BRAMBLE" stats --json "127.0.0.1:$PORT" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["procedures"]["READ_CHUNK"]["calls"])'
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
first_job=$((7700000 + RANDOM * 16))
cat >"$S/stage.conf" <<EOF
BRAMBLE=$BRAMBLE
LOG=$T/stage.log
CANCEL_WAIT=30
EOF
for s in prolog epilog; do
	# slurmd gives the Prolog a fixed environment: the settings file is
	# named by a wrapper.
	# (BR_PROLOG_TIMES: each Prolog's seconds into $T/prolog.times)
	printf '#!/bin/bash\nt0=$(date +%%s.%%N)\nBRAMBLE_SLURM_CONFIG=%s %s\nrc=$?\n[ %s = prolog ] && echo "$SLURM_JOB_ID $(date +%%s.%%N) $t0" >>%s\nexit $rc\n' \
		"$S/stage.conf" "${BR_SLURM_DIR:-$top_builddir/dist/slurm}/slurm-$s" "$s" "$T/prolog.times" >"$S/$s.sh"
	chmod 755 "$S/$s.sh"
done
cat >"$S/slurm.conf" <<EOF
ClusterName=bramble77
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
submit gcjob "touch $O/\$SLURM_JOB_ID.running; cat $U/model.bin >/dev/null
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
