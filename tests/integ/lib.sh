# lib.sh - shared setup for integration tests.  Source it, then:
#
#   br_start_server [BRAMBLED ARGS...]   start brambled on 127.0.0.1 (port 0);
#                                        sets PORT, SERVER_PID; exports
#                                        $EXPORT, state in $STATE
#   br_stop_server / br_kill_server      SIGTERM and wait / SIGKILL
#   br_mount MNT [-o OPTS]               mount bramblefs (foreground daemon in
#                                        the background), wait until mounted;
#                                        sets FUSE_PID (last mount)
#   br_mount_nowait MNT [ARGS]           start bramblefs, do not wait for it
#                                        (both use the node cache
#                                        ${BR_CACHE_DIR:-$T/nodecache})
#   br_mounted MNT                       MNT is in /proc/mounts
#   br_free_port                         print a free port on 127.0.0.1
#   br_posix_compare LOCAL MNTDIR [RUNNER]
#                                        same POSIX transcript (posixcmp.py)
#                                        in a local dir and on a mount, run
#                                        by root or by RUNNER (as_user)
#   br_umount MNT                        unmount and wait for the daemon
#   br_calls PROC                        the calls of procedure PROC (WRITE,
#                                        READ_CHUNK...) the server answered;
#                                        READ_CHUNK*: READ_CHUNK + READ_CHUNK2
#                                        (also as READ_CHUNK*.calls in
#                                        br_stats_delta)
#   skip MSG / fail MSG                  exit 77 / exit 1 with a message
#   br_on_cleanup CMD                    run CMD (a shell string) at exit, after
#                                        the daemons are stopped and before $T
#                                        is removed (e.g. umount a tmpfs)
#   as_user CMD... / as_user2 CMD...     run CMD as the ordinary users
#                                        $BR_USER / $BR_USER2 (uids $BR_UID,
#                                        $BR_UID2; HOME under $T), as jobs run
#   br_stats_snap FILE                   the server's counters (bramble stats
#                                        --json, as $BR_USER) into FILE
#   br_stats_delta BEFORE AFTER CHECK... each CHECK "NAME OP VALUE" on a
#                                        counter's growth between two snaps
#
# Tests run as users run bramble: the server squashes root (pass
# --no-root-squash only where a test is about root), mounts get the
# README's fstab options ($BR_MOUNT_OPTS), and workloads run as_user.
#
# Every test gets its own directory $T (export, state, mounts, logs); an EXIT
# trap unmounts and stops everything it started, even when the test fails.
# Environment: top_builddir, top_srcdir (set by `make check`); BR_WRAP_SERVER
# and BR_WRAP_FUSE prefix the daemons' command lines, e.g.
#   BR_WRAP_SERVER="valgrind --error-exitcode=99 --leak-check=full"

set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# BRAMBLED may name another build's server (scripts/check-armhf runs a 32-bit
# one under qemu against this build's client).
: "${BRAMBLED:=$top_builddir/server/brambled}"
BRAMBLEFS=$top_builddir/fuse/bramblefs
BRAMBLE=$top_builddir/tools/bramble
TEST_NAME=$(basename "$0" .sh)

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

[ "$(id -u)" = 0 ] || skip "needs root (FUSE mounts, setpriv)"
[ -x "$BRAMBLED" ] || fail "no brambled at $BRAMBLED"

T=$(mktemp -d "/tmp/bramble-$TEST_NAME.XXXXXX")
chmod 755 "$T"
EXPORT=$T/export
STATE=$T/state
mkdir -p "$EXPORT" "$STATE"
_br_mounts=""
_br_pids=""
_br_hooks=""

br_cleanup() {
	local rc=$?
	set +e
	for m in $_br_mounts; do
		# /proc/mounts, not mountpoint(1): a stat of a mount whose
		# server is stopped would wait (for ever with -o hard).
		br_mounted "$m" && fusermount3 -u -z "$m" 2>/dev/null
	done
	for p in $_br_pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $_br_pids; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# After the daemons: brambled holds fds in the export until it exits.
	[ -n "$_br_hooks" ] && eval "$_br_hooks"
	# Under --enable-sanitizers the daemons report leaks and UB at exit:
	# any report fails the test, whatever the test itself concluded.
	if [ "$rc" = 0 ] && grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
		"$T"/*.log >/dev/null 2>&1; then
		echo "FAIL: sanitizer report in $(grep -l "Sanitizer\|runtime error:" "$T"/*.log)" >&2
		rc=1
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
	fi
	# Keep the directory of a failed test for a look; remove a passed one.
	if [ "$rc" = 0 ] || [ "$rc" = 77 ]; then
		rm -rf "$T"
	else
		echo "# test files left in $T" >&2
	fi
	exit "$rc"
}
trap br_cleanup EXIT
trap 'exit 130' INT TERM

# The ordinary users workloads run as (scripts/install-deps makes them).
BR_USER=bramble-u1
BR_USER2=bramble-u2
BR_UID=$(id -u "$BR_USER" 2>/dev/null) || fail "no user $BR_USER: run scripts/install-deps"
BR_UID2=$(id -u "$BR_USER2" 2>/dev/null) || fail "no user $BR_USER2: run scripts/install-deps"
BR_GID=$(id -g "$BR_USER")
BR_GID2=$(id -g "$BR_USER2")
# The README's fstab options (_netdev is mount(8)'s; bramblefs accepts it).
BR_MOUNT_OPTS=_netdev,allow_other
mkdir -p "$T/home1" "$T/home2"
chown "$BR_UID:$BR_GID" "$T/home1"
chown "$BR_UID2:$BR_GID2" "$T/home2"

# br_stats_snap FILE: the server's counters as `bramble stats --json`
# gives them (STATS is anyone's).
br_stats_snap() {
	as_user "$BRAMBLE" stats --json "127.0.0.1:$PORT" >"$1" 2>"$T/stats.err" ||
		fail "bramble stats --json: $(cat "$T/stats.err")"
}

# br_stats_delta BEFORE AFTER CHECK...: each check is "NAME OP VALUE" (OP
# one of == <= >=, VALUE a Python expression) on the growth of a named
# counter, of PROC.calls (a procedure's calls) or disk.read_bytes between
# the snaps BEFORE and AFTER, or "now:NAME OP VALUE" on its value in
# AFTER.  Prints every check; fails the test when one does not hold.
br_stats_delta() {
	python3 - "$@" <<'EOF' || fail "counters: see above"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
def calls(d, proc):   # READ_CHUNK*: READ_CHUNK and READ_CHUNK2
    procs = ["READ_CHUNK", "READ_CHUNK2"] if proc == "READ_CHUNK*" else [proc]
    return sum(d["procedures"].get(p, {}).get("calls", 0) for p in procs)
def val(d, name):
    if name.endswith(".calls"):
        return calls(d, name[:-6])
    if name == "disk.read_bytes":
        return d["disk"]["read_bytes"]
    return d["counters"][name]
bad = 0
for chk in sys.argv[3:]:
    name, op, want = chk.split()
    got = val(b, name[4:]) if name.startswith("now:") else val(b, name) - val(a, name)
    want = eval(want)
    ok = {"==": got == want, "<=": got <= want, ">=": got >= want}[op]
    print("%-34s %12d %s %d%s" % (name, got, op, want, "" if ok else "   <-- WRONG"))
    bad += not ok
sys.exit(1 if bad else 0)
EOF
}

# as_user CMD...: CMD as $BR_USER with its own groups, in a clean
# environment (HOME of its own, a PATH, no root's variables).
as_user() {
	setpriv --reuid="$BR_UID" --regid="$BR_GID" --init-groups --reset-env -- \
		env HOME="$T/home1" USER="$BR_USER" LOGNAME="$BR_USER" "$@"
}
as_user2() {
	setpriv --reuid="$BR_UID2" --regid="$BR_GID2" --init-groups --reset-env -- \
		env HOME="$T/home2" USER="$BR_USER2" LOGNAME="$BR_USER2" "$@"
}

br_on_cleanup() {
	_br_hooks="$_br_hooks$1
"
}

# wait_for SECONDS CMD... : poll CMD until it succeeds, or fail.
wait_for() {
	local t=$1 i=0
	shift
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -gt $((t * 20)) ] && return 1
		sleep 0.05
	done
}

br_start_server() {
	rm -f "$T/port"
	${BR_WRAP_SERVER:-} "$BRAMBLED" --foreground --export "$EXPORT" --state "$STATE" \
		--listen 127.0.0.1:0 --port-file "$T/port" "$@" >>"$T/brambled.log" 2>&1 &
	SERVER_PID=$!
	_br_pids="$_br_pids $SERVER_PID"
	wait_for 30 test -s "$T/port" || fail "brambled did not start (see $T/brambled.log)"
	PORT=$(cat "$T/port")
}

br_stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
}

br_kill_server() {
	kill -KILL "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
}

# br_restart_server [ARGS]: start again on the same port.
br_restart_server() {
	local p=$PORT
	rm -f "$T/port"
	${BR_WRAP_SERVER:-} "$BRAMBLED" --foreground --export "$EXPORT" --state "$STATE" \
		--listen "127.0.0.1:$p" --port-file "$T/port" "$@" >>"$T/brambled.log" 2>&1 &
	SERVER_PID=$!
	_br_pids="$_br_pids $SERVER_PID"
	wait_for 10 test -s "$T/port" || fail "brambled did not restart"
}

# br_mount_nowait MNT [bramblefs args...]: start bramblefs on 127.0.0.1:/
# (or SRC=host:/sub) and return at once (a mount made while the server is
# down: -o bg, or -o hard waiting for it).  Sets FUSE_PID.
br_mount_nowait() {
	local mnt=$1
	shift
	mkdir -p "$mnt"
	# Each test's mounts share one node cache of its own (BR_CACHE_DIR),
	# not the machine's /var/cache/bramble.
	${BR_WRAP_FUSE:-} "$BRAMBLEFS" "${SRC:-127.0.0.1:/}" "$mnt" -f \
		-o "$BR_MOUNT_OPTS,port=$PORT,cache_dir=${BR_CACHE_DIR:-$T/nodecache}" "$@" \
		>>"$T/bramblefs.log" 2>&1 &
	FUSE_PID=$!
	_br_pids="$_br_pids $FUSE_PID"
	_br_mounts="$_br_mounts $mnt"
}

# br_mount MNT [bramblefs args...]: the same, and wait until it is mounted.
br_mount() {
	br_mount_nowait "$@"
	wait_for 30 mountpoint -q "$1" || fail "bramblefs did not mount $1 (see $T/bramblefs.log)"
}

# br_mounted MNT: MNT is in /proc/mounts (without touching the mount, whose
# operations may block while its server is away).
br_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

# br_posix_compare LOCAL MNTDIR [RUNNER]: run posixcmp.py's sequence of
# POSIX operations in a new local directory and in a new directory on a
# mount (made here); the two transcripts must be identical.  RUNNER
# (as_user, as_user2) runs it all as that ordinary user: then the parents
# of LOCAL and MNTDIR must be that user's to create in.
br_posix_compare() {
	local run=${3:-}
	$run mkdir "$1" "$2" || fail "cannot make $1 and $2${run:+ ($run)}"
	$run python3 "$top_srcdir/tests/integ/posixcmp.py" "$1" >"$T/local.out" 2>&1 ||
		fail "posixcmp failed on the local dir: $(tail -5 "$T/local.out")"
	$run python3 "$top_srcdir/tests/integ/posixcmp.py" "$2" >"$T/mount.out" 2>&1 ||
		fail "posixcmp failed on the mount: $(tail -5 "$T/mount.out")"
	diff -u "$T/local.out" "$T/mount.out" >"$T/diff.log" ||
		fail "the mount differs from a local directory: $(cat "$T/diff.log")"
}

# br_free_port: a TCP port on 127.0.0.1 that was free a moment ago.
br_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

br_umount() {
	fusermount3 -u "$1" || fusermount3 -u -z "$1"
}

# br_calls PROC: how many PROC calls the server has answered so far (its
# counters, `bramble stats --json`, read as the ordinary user).  READ_CHUNK
# counts READ_CHUNK2 too, as br_stats_delta does.
br_calls() {
	as_user "$BRAMBLE" stats --json "127.0.0.1:$PORT" |
		python3 -c 'import json, sys
d = json.load(sys.stdin)["procedures"]
p = ["READ_CHUNK", "READ_CHUNK2"] if sys.argv[1] == "READ_CHUNK*" else [sys.argv[1]]
print(sum(d.get(n, {}).get("calls", 0) for n in p))' "$1" ||
		fail "bramble stats --json"
}
