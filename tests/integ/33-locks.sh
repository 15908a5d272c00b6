#!/bin/bash
# Cluster-wide locks: two mounts of one server (two "nodes") see each
# other's fcntl, OFD and flock locks; blocking waits are granted when the
# holder goes and can be interrupted; a killed process, a killed mount
# (the whole node) and a killed-and-restarted server do the right thing;
# SQLite transactions from both mounts never lose an update; -o nolock
# keeps locks on the node.  Every locker is an ordinary user's process
# (as_user), in a 1777 export; the server squashes root.
. "$(dirname "$0")/lib.sh"

LTPY=$top_srcdir/tests/integ/locktest.py
LT="as_user python3 $LTPY"
LEASE=2
R=$T/home1                     # the user's: ready files, outputs

# as_user_bg CMD...: as_user CMD in the background, $! being CMD's own pid
# (`as_user CMD &' forks a shell running the function: signals and
# /proc/PID/wchan must reach CMD itself).
as_user_bg() {
	setpriv --reuid="$BR_UID" --regid="$BR_GID" --init-groups --reset-env -- \
		env HOME="$T/home1" USER="$BR_USER" LOGNAME="$BR_USER" "$@" &
}

chmod 1777 "$EXPORT"
br_start_server --lock-lease $LEASE --lock-grace 20
br_mount "$T/a"
A_PID=$FUSE_PID
br_mount "$T/b"
A=$T/a B=$T/b
as_user sh -c 'echo data >"$1"' - "$A/f" || fail "writing f"

expect() {  # expect WANT CMD...: CMD's output must be WANT
	local want=$1 got
	shift
	got=$("$@") || fail "'$*' failed: $got"
	[ "$got" = "$want" ] || fail "'$*': got '$got', want '$want'"
}

# hold NAME ARGS...: a holder process in the background; waits until it
# holds the lock.  Its pid in HOLD_NAME.
hold() {
	local name=$1
	shift
	rm -f "$R/ready.$name"
	as_user_bg python3 "$LTPY" hold "$@" "$R/ready.$name" >"$T/hold.$name.out" 2>&1
	eval "HOLD_$name=$!"
	wait_for 20 test -e "$R/ready.$name" || fail "holder $name did not get its lock"
}
release() {  # release NAME: the holder unlocks and exits
	rm -f "$R/ready.$1"
	wait "$(eval echo "\$HOLD_$1")" || fail "holder $1 failed"
}

note "(a) fcntl locks across mounts"
hold w1 "$A/f" w 0 10
expect EAGAIN $LT try "$B/f" w 0 10
expect EAGAIN $LT try "$B/f" r 5 1
expect "w 0 10" $LT get "$B/f" r 5 1
expect ok $LT try "$B/f" w 10 10          # bytes 10.. are free
expect unlck $LT get "$B/f" w 10 0
release w1
expect ok $LT try "$B/f" w 0 10
hold r1 "$A/f" r 0 0
expect ok $LT try "$B/f" r 0 0             # read locks are shared
expect EAGAIN $LT try "$B/f" w 100 1
release r1

note "(b) OFD locks"
hold o1 "$A/f" w 0 100 --ofd
expect EAGAIN $LT try "$B/f" w 50 1 --ofd
expect EAGAIN $LT try "$B/f" r 50 1        # OFD and fcntl locks conflict
expect "w 0 100" $LT get "$B/f" r 99 1 --ofd
expect ok $LT try "$B/f" w 100 1 --ofd
release o1
expect ok $LT try "$B/f" w 50 1 --ofd

note "(c) flock, and a blocking wait granted when the holder exits"
hold fl "$A/f" w 0 0 --flock
as_user flock -n "$B/f" true && fail "flock -n on B got a lock A holds"
as_user flock -n -s "$A/f" true && fail "flock -n -s on A (another open file) got it"
# (flock COMMAND, not -c: the user's $SHELL is nologin)
as_user flock -w 60 "$B/f" sh -c "echo got >$R/fl.got" &
WAITER=$!
sleep 0.5
[ -e "$R/fl.got" ] && fail "flock -w did not wait"
kill "$HOLD_fl"          # the holder exits: its last close drops the lock
wait "$WAITER" || fail "flock -w failed"
[ "$(cat "$R/fl.got")" = got ] || fail "flock -w did not run its command"
# flock and fcntl locks do not conflict (as on Linux)
hold w2 "$A/f" w 0 0
as_user flock -n "$B/f" true || fail "flock conflicts with an fcntl lock"
release w2

note "(d) kill -9 of a holder releases its lock"
hold k1 "$A/f" w 0 0
kill -9 "$HOLD_k1"
wait "$HOLD_k1" 2>/dev/null
expect ok $LT try "$B/f" w 0 0
hold ko "$A/f" w 0 0 --ofd               # OFD: dropped at the last close
kill -9 "$HOLD_ko"
wait "$HOLD_ko" 2>/dev/null
expect ok $LT try "$B/f" w 0 0 --ofd
hold fk "$A/f" w 0 0 --flock
kill -9 "$HOLD_fk"
wait "$HOLD_fk" 2>/dev/null
as_user flock -n "$B/f" true || fail "the flock of a killed process is still held"

note "(e) SQLite from both mounts"
N=100
$LT sqlite "$A/db" 0
$LT sqlite "$A/db" $N >"$T/sql.a" 2>&1 &
SA=$!
$LT sqlite "$B/db" $N >"$T/sql.b" 2>&1 &
SB=$!
wait "$SA" || fail "sqlite on A: $(cat "$T/sql.a")"
wait "$SB" || fail "sqlite on B: $(cat "$T/sql.b")"
expect $((2 * N)) as_user python3 -c "import sqlite3; print(sqlite3.connect('$A/db').execute('select v from c').fetchone()[0])"
expect ok as_user python3 -c "import sqlite3; print(sqlite3.connect('$B/db').execute('pragma integrity_check').fetchone()[0])"

note "(f) a waiter is interruptible (SIGINT, SIGKILL)"
# blocked PID: PID sits in a FUSE request (its lock wait), and stays there.
blocked() {
	wait_for 20 grep -q request_wait_answer "/proc/$1/wchan" && sleep 0.3 &&
		grep -q request_wait_answer "/proc/$1/wchan"
}
# gone PID: PID ends within 10 s (a generous bound, not a measurement).
gone() {
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
hold w3 "$A/f" w 0 0
as_user_bg python3 "$LTPY" hold "$B/f" w 0 0 "$R/ready.never" --wait >"$T/int.out" 2>&1
W1=$!
blocked "$W1" || fail "waiter did not wait: $(cat "$T/int.out")"
kill -INT "$W1"
gone "$W1" || fail "SIGINT did not end the wait"
wait "$W1"
[ $? = 3 ] || fail "interrupted waiter: $(cat "$T/int.out")"
as_user_bg python3 "$LTPY" hold "$B/f" r 0 1 "$R/ready.never" --wait >/dev/null 2>&1
W2=$!
blocked "$W2" || fail "second waiter did not wait"
kill -9 "$W2"
gone "$W2" || fail "SIGKILL did not end the wait"
wait "$W2" 2>/dev/null
# The cancelled waits left nothing behind: A unlocks, B gets it at once.
release w3
expect ok $LT try "$B/f" w 0 0

note "(h) server killed and restarted: A's locks are reclaimed"
hold r2 "$A/f" w 0 10
hold f2 "$A/f2" w 0 0 --ofd
br_kill_server
br_restart_server --lock-lease $LEASE --lock-grace 20
# Reclaim happens through A's keep-alive; B's attempts wait out the
# grace period, then find A's locks back.
expect EAGAIN $LT try "$B/f" w 5 1
expect EAGAIN $LT try "$B/f2" r 0 0 --ofd
grep -q "2 locks reclaimed, 0 lost" "$T/bramblefs.log" ||
	fail "A did not reclaim its two locks: $(grep reclaimed "$T/bramblefs.log")"
release r2
release f2
expect ok $LT try "$B/f" w 5 1
expect ok $LT try "$B/f2" w 0 0 --ofd

note "(g) the node holding a lock goes away: freed after the lease"
hold n1 "$A/f" w 0 0
hold n2 "$A/f3" w 0 0 --flock
expect EAGAIN $LT try "$B/f" w 0 0
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null
fusermount3 -u -z "$A"
kill -9 "$HOLD_n1" "$HOLD_n2" 2>/dev/null
b_free() { [ "$($LT try "$B/f" w 0 0)" = ok ]; }
wait_for $((LEASE * 10)) b_free || fail "the lock of a dead mount was never freed"
as_user flock -n "$B/f3" true || fail "the flock of a dead mount was never freed"

note "(i) -o nolock: locks stay on the node"
br_mount "$T/c" -o nolock
hold l1 "$T/c/f" w 0 0
expect ok $LT try "$B/f" w 0 0
expect EAGAIN $LT try "$T/c/f" w 0 0       # but seen on the node itself
release l1
grep -q "runtime error\|AddressSanitizer" "$T"/*.log && fail "sanitizer report"
exit 0
