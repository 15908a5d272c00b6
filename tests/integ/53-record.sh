#!/bin/bash
# 53-record: learned input sets (bramblefs -o record=DIR, fuse/record.h).
#  - processes with SLURM_JOB_ID=101 / =102 open different and overlapping
#    files (cat, python3, a file opened twice, names with a space, a
#    newline, a backslash and a leading '#', a file created then renamed,
#    a file known from a listing only); a process without a job opens
#    another: job-101.set and job-102.set list exactly the expected paths
#    in first-open order, escaped per the format;
#  - a job known by its cgroup only (.../job_103/, cgroup v1 pids or v2);
#    a hard link opened by its second name after the first was removed;
#  - opening .bramble writes the sets; without it the writer thread does
#    within RECORD_INTERVAL_S (5 s); a kill -9 of bramblefs keeps what was
#    written, and a new bramblefs goes on with the set;
#  - `bramble record --name` / --rm; bad record= values fail the mount.
# The export's files are an ordinary user's, and the jobs' processes run as
# that user (as_user, as Slurm runs them).  Root keeps what root does on a
# node: the mounts, the sets' directory, reading .bramble (the test's sync
# point), moving a process into a cgroup, `bramble record` (the Epilog's)
# and `bramble stage` (the Prolog's).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
br_start_server                 # root squashed (the default)

REC=$T/rec/sub  # bramblefs makes the missing directories
M=$T/m
mkdir -p "$EXPORT/env/lib" "$EXPORT/data" "$EXPORT/listed/deep"
for f in env/lib/a.py env/lib/b.py data/c.txt data/d.txt data/e.txt \
	"data/with space.txt" "data/back\\slash" "#hash" nojob.txt \
	listed/deep/f cg.txt hl-src; do
	echo "$f" >"$EXPORT/$f"
done
echo nl >"$EXPORT/data/new
line"
chown -R "$BR_UID:$BR_GID" "$EXPORT"

# as JOB CMD...: run CMD as the user with SLURM_JOB_ID=JOB (empty:
# without one).
as() {
	local job=$1
	shift
	if [ -n "$job" ]; then
		as_user env SLURM_JOB_ID="$job" "$@"
	else
		as_user env -u SLURM_JOB_ID "$@"
	fi
}
# expect_set JOB WHAT: $REC/job-JOB.set is the header plus stdin.
expect_set() {
	{ echo "# bramble learned set v1"; cat; } >"$T/want-$1"
	[ -f "$REC/job-$1.set" ] || fail "$2: no $REC/job-$1.set"
	diff -u "$T/want-$1" "$REC/job-$1.set" >"$T/diff.log" ||
		fail "$2: job-$1.set differs: $(cat "$T/diff.log")"
}
ctl_value() {
	sed -n "s/^$1=//p" "$M/.bramble"
}

# ---- bad record= values fail the mount, saying why
mkdir "$T/bad" "$T/second"
out=$("$BRAMBLEFS" 127.0.0.1:/ "$T/bad" -f -o "port=$PORT,record=rel/dir" 2>&1) &&
	fail "record=rel/dir mounted"
echo "$out" | grep -q "record=rel/dir: not an absolute path" ||
	fail "record=rel/dir: unclear message: $out"
touch "$T/afile"
out=$("$BRAMBLEFS" 127.0.0.1:/ "$T/bad" -f -o "port=$PORT,record=$T/afile/x" 2>&1) &&
	fail "record= under a file mounted"
echo "$out" | grep -q "record=$T/afile/x: cannot make it" ||
	fail "record= under a file: unclear message: $out"

br_mount "$M" -o "record=$REC"
[ "$(ctl_value record)" = "$REC" ] || fail ".bramble does not say record=$REC"
[ "$(stat -c %a "$REC")" = 755 ] || fail "$REC is not 0755"

# ---- two jobs, overlapping, and a process without a job
as 101 cat "$M/env/lib/a.py" >/dev/null
as 102 cat "$M/data/c.txt" >/dev/null
as 101 python3 -c 'import sys; open(sys.argv[1]).read()' "$M/data/with space.txt"
as 102 cat "$M/env/lib/a.py" "$M/env/lib/b.py" >/dev/null
as 101 cat "$M/env/lib/a.py" >/dev/null               # again: once in the set
as 101 python3 -c 'import sys; [open(p).read() for p in sys.argv[1:]]' \
	"$M/data/new
line" "$M/data/back\\slash" "$M/#hash" "$M/env/lib/a.py"
as "" cat "$M/nojob.txt" >/dev/null
# created, then renamed, then opened under its new name
as 102 python3 -c '
import os, sys
d = sys.argv[1]
with open(d + "/tmp-out", "w") as f:
    f.write("x")
os.rename(d + "/tmp-out", d + "/out")
open(d + "/out").read()' "$M/data"
# known to the kernel from a listing (READDIRPLUS) rather than a lookup
as_user ls -l "$M/listed/deep" >/dev/null
as 102 cat "$M/listed/deep/f" >/dev/null
as 102 cat "$M/data/c.txt" >/dev/null                 # again

# Reading .bramble writes the changed sets first.
[ "$(ctl_value record.jobs)" = 2 ] || fail "record.jobs=$(ctl_value record.jobs), want 2"
expect_set 101 "job 101" <<'EOF'
env/lib/a.py
data/with space.txt
data/new\nline
data/back\\slash
./#hash
EOF
expect_set 102 "job 102" <<'EOF'
data/c.txt
env/lib/a.py
env/lib/b.py
data/tmp-out
data/out
listed/deep/f
EOF
if grep -q "/job_" /proc/self/cgroup; then
	note "this test runs in a job_ cgroup: the no-job process has one too"
else
	[ "$(ctl_value record.no_job)" -ge 1 ] || fail "the open without a job was not counted"
	! grep -rq nojob "$REC" || fail "an open without a job was recorded"
fi

# ---- a job known by its cgroup only
cg=""
for base in /sys/fs/cgroup/pids /sys/fs/cgroup/unified /sys/fs/cgroup; do
	if [ -w "$base/cgroup.procs" ] && mkdir -p "$base/bramble-53-$$/job_103" 2>/dev/null; then
		cg=$base/bramble-53-$$
		br_on_cleanup "rmdir '$cg/job_103' '$cg' 2>/dev/null"
		break
	fi
done
if [ -n "$cg" ]; then
	# (root moves the subshell into the cgroup; its child, the user's
	# cat, is born there)
	( echo "$BASHPID" >"$cg/job_103/cgroup.procs" && as "" cat "$M/cg.txt" >/dev/null ) ||
		fail "cannot run in $cg/job_103"
	cat "$M/.bramble" >/dev/null
	expect_set 103 "job 103 (cgroup)" <<<"cg.txt"
else
	note "no writable cgroup hierarchy: the cgroup-only job is not tested"
fi

# ---- a hard link whose first name is gone: recorded by the name it has
as_user ln "$M/hl-src" "$M/hl-dst" || fail "ln on the mount"
as_user rm "$M/hl-src" || fail "rm on the mount"
as 104 cat "$M/hl-dst" >/dev/null
cat "$M/.bramble" >/dev/null
expect_set 104 "job 104 (hard link)" <<<"hl-dst"

# ---- the writer thread, kill -9, and a new bramblefs going on
as 101 cat "$M/data/d.txt" >/dev/null
wait_for 15 grep -qx "data/d.txt" "$REC/job-101.set" ||
	fail "job-101.set was not written within 15 s of an open"
kill -KILL "$FUSE_PID"
wait "$FUSE_PID" 2>/dev/null
fusermount3 -u -z "$M"
expect_set 101 "job 101 after kill -9" <<'EOF'
env/lib/a.py
data/with space.txt
data/new\nline
data/back\\slash
./#hash
data/d.txt
EOF
br_mount "$M" -o "record=$REC"  # the dead one's lock is gone with it
as 101 cat "$M/data/e.txt" "$M/env/lib/a.py" >/dev/null
br_umount "$M"
wait "$FUSE_PID"
expect_set 101 "job 101 after a new bramblefs and an unmount" <<'EOF'
env/lib/a.py
data/with space.txt
data/new\nline
data/back\\slash
./#hash
data/d.txt
data/e.txt
EOF

# ---- naming a set
br_mount "$M" -o "record=$REC"
"$BRAMBLE" record --job 101 "$M" >"$T/out" || fail "bramble record --job 101 failed"
[ "$(cat "$T/out")" = "$REC/job-101.set" ] || fail "bramble record printed $(cat "$T/out")"
"$BRAMBLE" record --name train-v1 --job 102 "$M" >"$T/out" ||
	fail "bramble record --name failed"
grep -q "train-v1.set: 6 paths" "$T/out" || fail "bramble record said: $(cat "$T/out")"
cmp -s "$REC/train-v1.set" "$REC/job-102.set" || fail "train-v1.set is not job 102's set"
"$BRAMBLE" record --name again --rm --job 102 "$M" >/dev/null || fail "--rm failed"
[ ! -e "$REC/job-102.set" ] && [ -f "$REC/again.set" ] || fail "--rm: wrong files left"
"$BRAMBLE" record --job 999 "$M" 2>"$T/err" && fail "a job without a set succeeded"
grep -q "job 999 has no learned set" "$T/err" || fail "unclear: $(cat "$T/err")"
"$BRAMBLE" record --name ../x --job 101 "$M" 2>/dev/null
[ $? = 2 ] || fail "--name ../x is not a usage error"
mkdir "$T/plain"
"$BRAMBLE" record --job 101 "$T/plain" 2>/dev/null && fail "a non-mount succeeded"

# A second mount cannot record into the same directory.
out=$("$BRAMBLEFS" 127.0.0.1:/ "$T/second" -f -o "port=$PORT,record=$REC" 2>&1) &&
	fail "a second mount recorded into $REC"
echo "$out" | grep -q "another bramblefs records there" || fail "second mount: $out"

# ---- staging a learned set by name (bramble stage --learned)
if "$BRAMBLE" stage --help 2>&1 | grep -q -- "--learned"; then
	"$BRAMBLE" record --name inputs-101 --job 101 "$M" >/dev/null ||
		fail "bramble record --name inputs-101 failed"
	"$BRAMBLE" stage -q --job 4242 --learned inputs-101 "$M" >"$T/stage.out" 2>&1 ||
		fail "bramble stage --learned inputs-101 failed: $(cat "$T/stage.out")"
	# job 101's 7 files, all different: 7 chunks of their total size, pinned.
	want_bytes=0
	for f in env/lib/a.py "data/with space.txt" "data/new
line" "data/back\\slash" "#hash" data/d.txt data/e.txt; do
		want_bytes=$((want_bytes + $(stat -c %s "$EXPORT/$f")))
	done
	pins() {
		"$BRAMBLE" cache --dir "$T/nodecache" ls --json | python3 -c '
import json, sys
p = [x for x in json.load(sys.stdin)["pins"] if x["owner"] == "job:4242"]
print(*(p[0]["chunks"], p[0]["bytes"]) if p else (0, 0))'
	}
	[ "$(pins)" = "7 $want_bytes" ] ||
		fail "job:4242 pins $(pins) (chunks bytes), want 7 $want_bytes"
	"$BRAMBLE" stage --release 4242 --cache-dir "$T/nodecache" >/dev/null ||
		fail "stage --release failed"
	[ "$(pins)" = "0 0" ] || fail "job:4242 still pins $(pins) after --release"
else
	note "bramble stage --learned is not there yet: staging not tested"
fi
exit 0
