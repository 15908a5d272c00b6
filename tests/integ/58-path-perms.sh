#!/bin/bash
# 58-path-perms: permission changes on directories bite at once for path
# walks through entries the kernel has cached (bramblefs mounts with
# default_permissions unless -o server_permissions), as on a local disk.
. "$(dirname "$0")/lib.sh"

br_start_server
chmod 1777 "$EXPORT"
br_mount "$T/mnt"
M=$T/mnt

as_user sh -c "mkdir -m 0755 '$M/d' && echo data >'$M/d/f' && chmod 0644 '$M/d/f'" ||
	fail "user 1 cannot make d/f"
# User 2 reaches d/f: the kernel now caches the entries d and d/f.
as_user2 cat "$M/d/f" >/dev/null || fail "user 2 cannot read d/f before the chmod"
as_user chmod 0700 "$M/d" || fail "chmod 0700 d"
# At once: no search permission on d for user 2, cached entry or not.
if out=$(as_user2 cat "$M/d/f" 2>&1); then
	fail "user 2 still reads d/f after chmod 0700 d: $out"
fi
case $out in *"Permission denied"*) ;; *) fail "user 2: $out (want Permission denied)" ;; esac
as_user2 stat "$M/d/f" >/dev/null 2>&1 && fail "user 2 can stat d/f after chmod 0700 d"
# The owner still can; and after chmod 0755 user 2 can again.
as_user cat "$M/d/f" >/dev/null || fail "owner cannot read d/f"
as_user chmod 0755 "$M/d" || fail "chmod 0755 d"
as_user2 cat "$M/d/f" >/dev/null || fail "user 2 cannot read d/f after chmod 0755 d"

# The same for a file's own mode: chmod 0600 bites on user 2's next open.
as_user chmod 0600 "$M/d/f" || fail "chmod 0600 f"
as_user2 cat "$M/d/f" >/dev/null 2>&1 && fail "user 2 reads f after chmod 0600"

# Root is squashed on the server: the kernel lets root pass, the server
# does not (nobody has no search permission on d).
cat "$M/d/f" >/dev/null 2>&1 && fail "squashed root reads a 0600 file of user 1"

# -o server_permissions: the kernel leaves every check to the server.
br_mount "$T/mnt2" -o server_permissions
grep " $T/mnt2 " /proc/mounts | grep -q default_permissions &&
	fail "-o server_permissions still mounted with default_permissions"
grep " $T/mnt " /proc/mounts | grep -q default_permissions ||
	fail "default mount lacks default_permissions"
echo "58-path-perms: ok"
