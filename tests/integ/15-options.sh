#!/bin/bash
# 15-options: option errors (exit 2, naming the option), --help/--version,
# daemonizing with --pid-file/--log-file, SIGHUP reopening the log, and a
# clean SIGTERM exit.
. "$(dirname "$0")/lib.sh"

expect_usage() {        # expect_usage WORD ARGS...: exit 2, message has WORD
	local word=$1 out rc
	shift
	out=$("$BRAMBLED" "$@" 2>&1)
	rc=$?
	[ "$rc" = 2 ] || fail "brambled $* exited $rc, want 2 ($out)"
	echo "$out" | grep -q -- "$word" || fail "brambled $*: message lacks '$word': $out"
}

expect_usage "--export" --foreground
expect_usage "--threads" --export "$EXPORT" --threads 0
expect_usage "--threads" --export "$EXPORT" --threads many
expect_usage "--log-level" --export "$EXPORT" --log-level loud
expect_usage "--allow" --export "$EXPORT" --allow 10.0.0.1/8
expect_usage "--allow" --export "$EXPORT" --allow nonsense
expect_usage "--bogus" --export "$EXPORT" --bogus
expect_usage "--state" --export "$EXPORT" --state
expect_usage "--listen" --export "$EXPORT" --state "$STATE" --listen 127.0.0.1:99999

"$BRAMBLED" --help | grep -q -- "--no-root-squash" || fail "--help"
"$BRAMBLED" --version | grep -q "^brambled [0-9]" || fail "--version"
"$BRAMBLED" --export "$T/nope" --state "$STATE" --foreground 2>"$T/err.txt" && fail "missing export accepted"
grep -q "nope" "$T/err.txt" || fail "missing export not named"

# daemon mode
"$BRAMBLED" --export "$EXPORT" --state "$STATE" --listen 127.0.0.1:0 \
	--port-file "$T/port" --pid-file "$T/pid" --log-file "$T/daemon.log" ||
	fail "daemon start failed"
wait_for 10 test -s "$T/pid" || fail "no pid file"
wait_for 10 test -s "$T/port" || fail "no port file"
pid=$(cat "$T/pid")
_br_pids="$_br_pids $pid"
grep -qx '[0-9]*' "$T/port" || fail "port file: $(cat "$T/port")"
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$pid" ] || fail "daemon is a session leader"
wait_for 5 grep -q "listening on 127.0.0.1:$(cat "$T/port")" "$T/daemon.log" || fail "no listening line"
# A second daemon that cannot start (its port is taken) says why on the
# terminal and exits 1, although it had already gone to the background.
if "$BRAMBLED" --export "$EXPORT" --state "$T/state2" --listen "127.0.0.1:$(cat "$T/port")" \
	2>"$T/err2.txt"; then
	fail "a daemon on a taken port reported success"
fi
grep -q "cannot listen" "$T/err2.txt" || fail "late start-up error not shown: $(cat "$T/err2.txt")"
mv "$T/daemon.log" "$T/daemon.log.1"
kill -HUP "$pid"
wait_for 5 grep -q "log file reopened" "$T/daemon.log" || fail "SIGHUP did not reopen the log"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon did not stop on SIGTERM"
grep -q "stopped" "$T/daemon.log" || fail "no clean stop logged"
[ -e "$T/pid" ] && fail "pid file left behind"

# foreground: SIGINT exits 0
br_start_server
kill -INT "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
[ "$rc" = 0 ] || fail "SIGINT exit status $rc"
exit 0
