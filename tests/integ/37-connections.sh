#!/bin/bash
# 37-connections: 1,000 connections at once -- slowloris, garbage, idle --
# do not stop brambled from serving a real mount; the slowloris ones are
# closed after --request-timeout, the idle ones after --idle-timeout (never
# sooner: connflood.py checks the lower bounds), memory stays bounded, and
# the server serves on afterwards.  Unfinished requests are bounded in
# memory across connections; --max-conns refuses the surplus.  The mount's
# workload runs as an ordinary user (as_user) in a directory of its own;
# connflood.py stays root (it reads the server's /proc/PID and is the
# attacker, not a user of the mount).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"

REQ_TO=2
IDLE_TO=8
NSLOW=300 NGARBAGE=100 NIDLE=600
mkdir "$EXPORT/u" && chown "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server --request-timeout $REQ_TO --idle-timeout $IDLE_TO
br_mount "$T/mnt"
MNT=$T/mnt/u
head -c 20000000 /dev/urandom >"$T/big"     # 0644: the user reads it

fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
base_fds=$(fds)
rss0=$(rss_kb)

python3 "$top_srcdir/tests/integ/connflood.py" flood "$PORT" "$T/ready" \
	$NSLOW $NGARBAGE $NIDLE $REQ_TO $IDLE_TO >"$T/flood.out" 2>&1 &
flood=$!
wait_for 60 test -e "$T/ready" || fail "connflood.py did not open its connections"

# While they are all there: the connections are held (the idle ones at
# least: their timeout is far off), memory is bounded, the mount works.
n=$(fds)
note "server fds: $base_fds before, $n with the flood"
[ "$n" -ge $((base_fds + NIDLE)) ] || fail "the server holds $n fds, not the $NIDLE idle connections"
rss1=$(rss_kb)
note "server VmRSS: ${rss0} kB before, ${rss1} kB with the flood"
[ "$rss1" -lt 204800 ] || fail "server RSS ${rss1} kB with 1,000 connections"
as_user cp "$T/big" "$MNT/big" || fail "cp through the mount during the flood"
as_user cmp "$T/big" "$MNT/big" || fail "copy through the mount differs during the flood"
cmp "$T/big" "$EXPORT/u/big" || fail "copy on the server differs during the flood"

wait $flood || { cat "$T/flood.out" >&2; fail "connections not closed as they should be"; }
cat "$T/flood.out" >&2
grep -q "sent part of a request and not the rest" "$T/brambled.log" ||
	fail "no slowloris warning in the log"

# All gone: the server is back to its own fds (and the mount's connection)
# and still serves.
fds_back() { [ "$(fds)" -le $((base_fds + 2)) ]; }   # counted at each poll
wait_for 10 fds_back || fail "server still holds $(fds) fds"
as_user rm "$MNT/big" || fail "rm through the mount after the flood"
as_user sh -c "echo after >$MNT/after" || fail "write through the mount after the flood"
[ "$(cat "$EXPORT/u/after")" = after ] || fail "the mount does not work after the flood"
kill -0 "$SERVER_PID" || fail "brambled died"
rss2=$(rss_kb)
note "server VmRSS after: ${rss2} kB"
[ "$rss2" -lt 204800 ] || fail "server RSS ${rss2} kB after the flood"

# Unfinished 1 MiB requests on 100 connections (no request timeout):
# the server holds about 64 MiB of them, closes the others.
br_umount "$T/mnt"
br_stop_server
br_restart_server --request-timeout 0
python3 "$top_srcdir/tests/integ/connflood.py" bulk "$PORT" 100 "$SERVER_PID" >&2 ||
	fail "unfinished requests were not bounded"
grep -q "unfinished requests hold over" "$T/brambled.log" || fail "no log line for the bound"

# --max-conns: the first N stay, the rest are closed at once.
br_stop_server
br_restart_server --max-conns 5
python3 "$top_srcdir/tests/integ/connflood.py" limit "$PORT" 5 >&2 ||
	fail "--max-conns 5 did not keep exactly 5 connections"
grep -q "already (--max-conns)" "$T/brambled.log" || fail "no --max-conns log line"
exit 0
