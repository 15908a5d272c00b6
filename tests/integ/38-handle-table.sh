#!/bin/bash
# 38-handle-table: the persistent handle table (brambled --handles=table),
# the fallback for filesystems without kernel file handles.  Its handles
# survive kill -9 and restarts, follow renames made through the server, never
# reach an object that replaced theirs, and a whole POSIX transcript on a
# mount is the same as with kernel handles.  The export's tree is the
# user's and the mount's workload runs as that user (as_user); rawrpc.py
# stays root (it binds reserved source ports: squashed to nobody, it only
# looks up and stats), and so does the change made behind the server's
# back (server side).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW="python3 $top_srcdir/tests/integ/rawrpc.py"
mkdir -p "$EXPORT/a/b"
printf 'twelve bytes' >"$EXPORT/a/b/f"
chown -R "$BR_UID:$BR_GID" "$EXPORT"

br_start_server --handles=table
fh=$($RAW "$PORT" handle a/b/f) || fail "no handle"
dh=$($RAW "$PORT" handle a/b) || fail "no dir handle"
# byte 3 of a handle is its type: 255 for a table handle
[ "${fh:6:2}" = ff ] || fail "not a table handle: $fh"
[ "$($RAW "$PORT" handle a/b/f)" = "$fh" ] || fail "same object, different handle"

# A mount with a process living in it across kill -9 and restart.
br_mount "$T/mnt"
as_user mkdir -p "$T/mnt/w/deep" || fail "mkdir on the mount"
as_user sh -c "echo data >$T/mnt/w/deep/file" || fail "write on the mount"
# The user's process living in the mount: sleep's pid (not the
# background subshell's) is in $T/sleeper.
as_user sh -c 'cd "$1" && echo $$ && exec sleep 60' sh "$T/mnt/w/deep" >"$T/sleeper" &
wait_for 10 test -s "$T/sleeper" || fail "cannot cd into the mount"
sleeper=$(cat "$T/sleeper")
br_on_cleanup "kill $sleeper 2>/dev/null"
# The user's process holding the file open across the restart: it opens
# it now, reads it through that descriptor once $T/go exists.
as_user sh -c 'exec 3<"$1" && echo opened && while [ ! -e "$2" ]; do sleep 0.05; done &&
	cat <&3' sh "$T/mnt/w/deep/file" "$T/go" >"$T/held.out" 2>&1 &
holder=$!
wait_for 10 grep -q opened "$T/held.out" || fail "cannot open the file: $(cat "$T/held.out")"
br_kill_server
br_restart_server --handles=table
[ "$($RAW "$PORT" getattr "$fh")" = 12 ] || fail "file handle stale after kill -9"
$RAW "$PORT" getattr "$dh" >/dev/null || fail "dir handle stale after kill -9"
touch "$T/go"
wait "$holder" || fail "reading the open file after restart failed: $(cat "$T/held.out")"
[ "$(sed 1d "$T/held.out")" = data ] || fail "open file unusable after restart: $(cat "$T/held.out")"
as_user ls "/proc/$sleeper/cwd/" | grep -qx file || fail "cwd on the mount unusable after restart"
kill "$sleeper"
[ "$(as_user cat "$T/mnt/w/deep/file")" = data ] || fail "mount unusable after restart"

# Renaming a directory through the server keeps the handles beneath it.
as_user mv "$T/mnt/a" "$T/mnt/a2" || fail "mv of a directory"
[ "$($RAW "$PORT" getattr "$fh")" = 12 ] || fail "handle lost by a directory rename"
as_user mv "$T/mnt/a2/b/f" "$T/mnt/a2/g" || fail "mv of a file"
[ "$($RAW "$PORT" getattr "$fh")" = 12 ] || fail "handle lost by a file rename"
[ "$($RAW "$PORT" handle a2/g)" = "$fh" ] || fail "renamed file got another handle"

# Replaced behind the server's back (same name, maybe the same inode
# number): the old handle must not reach the new object.
rm "$EXPORT/a2/g"                       # server side, as root
printf 'another object' >"$EXPORT/a2/g"
if out=$($RAW "$PORT" getattr "$fh" 2>&1); then
	fail "stale table handle reached a replacing object: $out"
fi
# Removed through the server: stale too.
fh2=$($RAW "$PORT" handle a2/g) || fail "no handle for the new object"
as_user rm -f "$T/mnt/a2/g" || fail "rm through the mount"
$RAW "$PORT" getattr "$fh2" >/dev/null 2>&1 && fail "removed object's handle still works"

# The POSIX transcript of 31-posix-compare, on table handles.
br_posix_compare "$T/home1/local" "$T/mnt/cmp" as_user

# A server with another state (a lost table) does not take these handles.
br_kill_server
STATE=$T/state2
br_restart_server --handles=table
$RAW "$PORT" getattr "$dh" >/dev/null 2>&1 && fail "handle valid against another table"
exit 0
