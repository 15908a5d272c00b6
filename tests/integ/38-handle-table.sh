#!/bin/bash
# 38-handle-table: the persistent handle table (brambled --handles=table),
# the fallback for filesystems without kernel file handles.  Its handles
# survive kill -9 and restarts, follow renames made through the server, never
# reach an object that replaced theirs, and a whole POSIX transcript on a
# mount is the same as with kernel handles.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW="python3 $top_srcdir/tests/integ/rawrpc.py"
mkdir -p "$EXPORT/a/b"
printf 'twelve bytes' >"$EXPORT/a/b/f"

br_start_server --handles=table --no-root-squash
fh=$($RAW "$PORT" handle a/b/f) || fail "no handle"
dh=$($RAW "$PORT" handle a/b) || fail "no dir handle"
# byte 3 of a handle is its type: 255 for a table handle
[ "${fh:6:2}" = ff ] || fail "not a table handle: $fh"
[ "$($RAW "$PORT" handle a/b/f)" = "$fh" ] || fail "same object, different handle"

# A mount with a process living in it across kill -9 and restart.
br_mount "$T/mnt" -o allow_other
mkdir -p "$T/mnt/w/deep"
echo data >"$T/mnt/w/deep/file"
(cd "$T/mnt/w/deep" && exec sleep 60) &
sleeper=$!
exec 3<"$T/mnt/w/deep/file"
br_kill_server
br_restart_server --handles=table --no-root-squash
[ "$($RAW "$PORT" getattr "$fh")" = 12 ] || fail "file handle stale after kill -9"
$RAW "$PORT" getattr "$dh" >/dev/null || fail "dir handle stale after kill -9"
[ "$(cat <&3)" = data ] || fail "open file unusable after restart"
exec 3<&-
ls "/proc/$sleeper/cwd/" | grep -qx file || fail "cwd on the mount unusable after restart"
kill "$sleeper"
[ "$(cat "$T/mnt/w/deep/file")" = data ] || fail "mount unusable after restart"

# Renaming a directory through the server keeps the handles beneath it.
mv "$T/mnt/a" "$T/mnt/a2"
[ "$($RAW "$PORT" getattr "$fh")" = 12 ] || fail "handle lost by a directory rename"
mv "$T/mnt/a2/b/f" "$T/mnt/a2/g"
[ "$($RAW "$PORT" getattr "$fh")" = 12 ] || fail "handle lost by a file rename"
[ "$($RAW "$PORT" handle a2/g)" = "$fh" ] || fail "renamed file got another handle"

# Replaced behind the server's back (same name, maybe the same inode
# number): the old handle must not reach the new object.
rm "$EXPORT/a2/g"
printf 'another object' >"$EXPORT/a2/g"
if out=$($RAW "$PORT" getattr "$fh" 2>&1); then
	fail "stale table handle reached a replacing object: $out"
fi
# Removed through the server: stale too.
fh2=$($RAW "$PORT" handle a2/g) || fail "no handle for the new object"
rm "$T/mnt/a2/g"
$RAW "$PORT" getattr "$fh2" >/dev/null 2>&1 && fail "removed object's handle still works"

# The POSIX transcript of 31-posix-compare, on table handles.
br_posix_compare "$T/local" "$T/mnt/cmp"

# A server with another state (a lost table) does not take these handles.
br_kill_server
STATE=$T/state2
br_restart_server --handles=table --no-root-squash
$RAW "$PORT" getattr "$dh" >/dev/null 2>&1 && fail "handle valid against another table"
exit 0
