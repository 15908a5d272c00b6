#!/bin/bash
# 35-munge: --auth=munge with a real munged started here (and a second one
# with another key).  Through a mount: a user's files belong to that user,
# root is still squashed, the mount survives a server restart.  On the
# wire (mungerpc.py): AUTH_SYS is too weak, a credential of another key or
# a replayed one is refused and logged, a session handle is good only on
# its own connection.  The `bramble` tool opens a session as its user.
. "$(dirname "$0")/lib.sh"

command -v munged >/dev/null && command -v munge >/dev/null ||
	skip "munged and munge needed (Debian package munge)"
command -v python3 >/dev/null || skip "python3 needed"
MRPC=$top_srcdir/tests/integ/mungerpc.py

# start_munged NAME: a munged with its own key and socket $T/NAME.sock
start_munged() {
	local n=$1
	dd if=/dev/urandom of="$T/$n.key" bs=1 count=1024 status=none
	chmod 600 "$T/$n.key"
	munged --foreground --force --key-file="$T/$n.key" --socket="$T/$n.sock" \
		--pid-file="$T/$n.pid" --log-file="$T/$n-munged.log" \
		--seed-file="$T/$n.seed" 2>>"$T/$n-munged.log" &
	local pid=$!
	br_on_cleanup "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	wait_for 10 test -S "$T/$n.sock" || skip "munged cannot run here (see $T/$n-munged.log)"
	echo probe | munge -S "$T/$n.sock" | unmunge -S "$T/$n.sock" >/dev/null ||
		skip "munged does not answer (see $T/$n-munged.log)"
}
start_munged munge
start_munged other
SOCK=$T/munge.sock

owner() { stat -c %u:%g "$1"; }
USER_ID=$BR_UID:$BR_GID                # lib.sh's ordinary user, as_user

chmod 755 "$EXPORT"
mkdir "$EXPORT/home" "$EXPORT/pub"
chown "$USER_ID" "$EXPORT/home"
chmod 1777 "$EXPORT/pub"

br_start_server --auth=munge --munge-socket="$SOCK" --log-level=debug   # root squashed
grep -q "every call will be refused" "$T/brambled.log" && fail "self-test of munged failed"
br_mount "$T/mnt" -o auth=munge,munge_socket="$SOCK"

# (a) a user's file belongs to that user: munged, not the client, says who
as_user sh -c "echo mine > $T/mnt/home/a" || fail "user cannot create a file"
[ "$(owner "$EXPORT/home/a")" = "$USER_ID" ] ||
	fail "file owned by $(owner "$EXPORT/home/a"), not $USER_ID"
grep -q "MUNGE session for uid $BR_UID gid $BR_GID" "$T/brambled.log" ||
	fail "no MUNGE session of uid $BR_UID in the server's log"
# (b) root squash applies to a vouched root as well: root on purpose
touch "$T/mnt/pub/r" || fail "root cannot create in a 1777 directory"
[ "$(owner "$EXPORT/pub/r")" = "65534:65534" ] ||
	fail "root's file owned by $(owner "$EXPORT/pub/r"), not squashed"
touch "$T/mnt/home/r" 2>/dev/null && fail "squashed root wrote into the user's directory"

# (c)-(f) on the wire.  Root: mungerpc.py binds reserved source ports
# and makes credentials as other uids (munge as uid 0 and 1000).
python3 "$MRPC" "$PORT" "$SOCK" "$T/other.sock" tooweak session vouched badkey \
	replay cross misuse || fail "wire checks"
grep -q "MUNGE credential from 127.0.0.1:[0-9]* refused: .*Invalid credential" \
	"$T/brambled.log" || fail "credential of another key not logged"
grep -q "refused: .*Replayed credential" "$T/brambled.log" || fail "replay not logged"
grep -q "with AUTH_SYS refused: this server requires MUNGE" "$T/brambled.log" ||
	fail "AUTH_SYS refusal not logged"

# the tool: auto mode follows the server's HELLO; as an ordinary user
out=$(as_user env BRAMBLE_MUNGE_SOCKET="$SOCK" "$BRAMBLE" ping -c 2 "127.0.0.1:$PORT") ||
	fail "bramble ping as uid $BR_UID: $out"
echo "$out" | grep -q "MUNGE session as uid $BR_UID gid $BR_GID" ||
	fail "bramble ping opened no MUNGE session: $out"
out=$(as_user env BRAMBLE_AUTH=munge BRAMBLE_MUNGE_SOCKET="$T/other.sock" "$BRAMBLE" \
	ping -c 1 "127.0.0.1:$PORT" 2>&1) && fail "a session with another key was accepted: $out"
echo "$out" | grep -q "Permission denied" || fail "wrong key, unexpected answer: $out"

# (g) the mount survives a restart: new connection, new sessions
br_stop_server
br_restart_server --auth=munge --munge-socket="$SOCK" --log-level=debug
[ "$(as_user cat "$T/mnt/home/a")" = mine ] || fail "read after restart"
as_user sh -c "echo two > $T/mnt/home/b" || fail "write after restart"
[ "$(owner "$EXPORT/home/b")" = "$USER_ID" ] || fail "owner after restart"
[ "$(grep -c "MUNGE session for uid $BR_UID gid $BR_GID" "$T/brambled.log")" -ge 2 ] ||
	fail "no new session after the restart"

# (h) MUNGE per export: a server in --auth=sys whose exports file asks
# for MUNGE on one export.  AUTH_SYS on that export is refused at the RPC
# level (AUTH_TOOWEAK), so a mount in the default auto mode switches to
# MUNGE by itself; the other export takes AUTH_SYS.
br_umount "$T/mnt"
br_stop_server
printf 'secure %s auth=munge\nopen %s\n' "$EXPORT/home" "$EXPORT/pub" >"$T/exports"
"$BRAMBLED" --foreground --exports "$T/exports" --state "$STATE" --munge-socket="$SOCK" \
	--listen 127.0.0.1:0 --port-file "$T/port2" --log-level=debug >>"$T/brambled.log" 2>&1 &
_br_pids="$_br_pids $!"
wait_for 30 test -s "$T/port2" || fail "brambled with an exports file did not start"
PORT=$(cat "$T/port2")
SRC=127.0.0.1:/secure br_mount "$T/sec" -o munge_socket="$SOCK"
SRC=127.0.0.1:/open br_mount "$T/open" -o auth=sys
as_user sh -c "echo per-export > $T/sec/c" || fail "user cannot write on the MUNGE export"
[ "$(owner "$EXPORT/home/c")" = "$USER_ID" ] || fail "owner on the MUNGE export"
as_user sh -c "echo sys > $T/open/s" || fail "user cannot write on the AUTH_SYS export"
grep -q "refused: .*requires MUNGE\|AUTH_TOOWEAK" "$T/brambled.log" ||
	note "no AUTH_SYS refusal logged for the MUNGE export"
exit 0
