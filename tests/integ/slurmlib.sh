# slurmlib.sh - a real Slurm for integration tests (Debian's slurmctld and
# slurmd, one node "n1" on 127.0.0.1, a munged of the test's own, every
# file under $T/slurm), with dist/slurm's Prolog and Epilog.  Source it
# after lib.sh; it skips the test when Slurm or munge is not installed and
# starts munged.  Then, once the server and the mount are up:
#   slurm_start        write slurm.conf (plus $SLURM_CONF_EXTRA lines) and
#                      stage.conf (BRAMBLE, LOG=$T/stage.log, CANCEL_WAIT)
#                      and start the daemons; stopped (jobs cancelled
#                      first) at exit, before lib.sh's cleanup
#   submit NAME [sbatch args] BODY   sbatch as $JOBUSER, -J NAME, -o $O/NAME.out; JOB
#   job_field ID FIELD / wait_state ID STATE...
#   pins_of OWNER      "CHUNKS BYTES" pinned by OWNER in $CACHE
#   chunk_calls        READ_CHUNK and READ_CHUNK2 calls the server answered
# The Prolog and Epilog run through wrappers that name stage.conf (slurmd
# gives them a fixed environment) and append "JOBID END START" (seconds)
# of each Prolog to $T/prolog.times; BR_SLURM_DIR names other scripts to
# run (another build's dist/slurm).  Job ids start at $FIRST_JOB.

for c in slurmctld slurmd sbatch scontrol scancel sinfo; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
		skip "$c not installed (Debian packages slurmctld slurmd slurm-client)"
done
command -v munged >/dev/null || skip "munged not installed (Debian package munge)"
command -v setpriv >/dev/null || skip "setpriv needed (util-linux)"
command -v python3 >/dev/null || skip "python3 needed"
PATH=$PATH:/usr/sbin
PROLOG=${BR_SLURM_DIR:-$top_builddir/dist/slurm}/slurm-prolog
EPILOG=${BR_SLURM_DIR:-$top_builddir/dist/slurm}/slurm-epilog
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

# Job ids of our own: the Epilog releases job:ID in every mount's cache of
# this machine, and other tests may pin for small ids.
FIRST_JOB=${FIRST_JOB:-$((5200000 + RANDOM * 16))}

chunk_calls() {
	"$BRAMBLE" stats --json "127.0.0.1:$PORT" |
		python3 -c 'import json, sys; d = json.load(sys.stdin)["procedures"]; print(sum(d.get(p, {}).get("calls", 0) for p in ("READ_CHUNK", "READ_CHUNK2")))'
}
# pins_of OWNER: "CHUNKS BYTES" pinned by OWNER in the node cache ("0 0": none)
pins_of() {
	"$BRAMBLE" cache --dir "$CACHE" ls --json >"$T/ls.json" || fail "bramble cache ls"
	json "$T/ls.json" "' '.join(str(x) for x in next(((p['chunks'], p['bytes']) for p in d['pins'] if p['owner'] == '$1'), (0, 0)))"
}

# slurm_start: slurmctld + one slurmd on ports of their own (CTLD_PID,
# SLURMD_PID), up when it returns.
slurm_start() {
	p_ctld=$(br_free_port)
	p_node=$(br_free_port)
	cat >"$S/stage.conf" <<EOF
BRAMBLE=$BRAMBLE
LOG=$T/stage.log
CANCEL_WAIT=30
EOF
	for s in prolog epilog; do
		# slurmd gives the Prolog a fixed environment: the settings file is
		# named by a wrapper.
		printf '#!/bin/bash\nt0=$(date +%%s.%%N)\nBRAMBLE_SLURM_CONFIG=%s %s\nrc=$?\n[ %s = prolog ] && echo "$SLURM_JOB_ID $(date +%%s.%%N) $t0" >>%s\nexit $rc\n' \
			"$S/stage.conf" "${BR_SLURM_DIR:-$top_builddir/dist/slurm}/slurm-$s" "$s" "$T/prolog.times" >"$S/$s.sh"
		chmod 755 "$S/$s.sh"
	done
	cat >"$S/slurm.conf" <<EOF
ClusterName=bramble${TEST_NAME%%-*}
FirstJobId=$FIRST_JOB
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
	[ -n "${SLURM_CONF_EXTRA:-}" ] && printf '%s\n' "$SLURM_CONF_EXTRA" >>"$S/slurm.conf"
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
}

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
