#!/bin/bash
# Permissions through the mount: an ordinary user (as_user) is refused a
# root-only file, may write in a world-writable directory, gets sticky
# directory semantics and supplementary groups; and root squash on a
# server started without --no-root-squash.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
[ -x /usr/bin/python3 ] || skip "needs /usr/bin/python3"
U=$BR_UID
# as_user_grp: as_user, with supplementary group 4242 instead of its own.
as_user_grp() {
	setpriv --reuid="$BR_UID" --regid="$BR_GID" --groups=4242 --reset-env -- \
		env HOME="$T/home1" USER="$BR_USER" LOGNAME="$BR_USER" "$@"
}

# What root and another user own is made on the server's disk (the
# export), as an administrator would; the server squashes root, and
# everything through the mount is done by the ordinary user.
M=$T/mnt
echo secret >"$EXPORT/secret"
chmod 600 "$EXPORT/secret"
mkdir -m 0777 "$EXPORT/open"
mkdir -m 0755 "$EXPORT/ro"
echo keep >"$EXPORT/ro/keep"
mkdir -m 1777 "$EXPORT/sticky"
echo other >"$EXPORT/sticky/other"
chown "$BR_UID2:$BR_GID2" "$EXPORT/sticky/other"
chmod 666 "$EXPORT/sticky/other"
echo grp >"$EXPORT/grpfile"
chown 0:4242 "$EXPORT/grpfile"
chmod 640 "$EXPORT/grpfile"
br_start_server
br_mount "$M"

out=$(as_user cat "$M/secret" 2>&1) && fail "user read a 0600 root file"
echo "$out" | grep -q "Permission denied" || fail "expected EACCES, got: $out"
as_user sh -c "echo x >>'$M/secret'" 2>/dev/null && fail "user appended to a 0600 root file"
[ "$(cat "$EXPORT/secret")" = secret ] || fail "secret changed"

# A 0777 directory: the user creates files there, owned by the user.
as_user sh -c "echo mine >'$M/open/u.txt' && mkdir '$M/open/udir'" || fail "user cannot write in a 0777 dir"
[ "$(stat -c %u:%g "$EXPORT/open/u.txt")" = "$U:$BR_GID" ] || fail "owner on the server: $(stat -c %u:%g "$EXPORT/open/u.txt")"
[ "$(as_user stat -c %u "$M/open/udir")" = "$U" ] || fail "owner of user's dir through the mount"
as_user chmod 600 "$M/open/u.txt" || fail "user cannot chmod own file"
as_user chmod 600 "$M/secret" 2>/dev/null && fail "user chmod'ed root's file"
as_user chown 0 "$M/open/u.txt" 2>/dev/null && fail "user gave a file to root"
as_user touch -d '2001-01-01' "$M/open/u.txt" || fail "user cannot set times of own file"
as_user touch -d '2001-01-01' "$M/secret" 2>/dev/null && fail "user set times of root's file"

# Read-only directory: no creating, no removing.
as_user sh -c "echo x >'$M/ro/new'" 2>/dev/null && fail "user created a file in root's 0755 dir"
as_user rm -f "$M/ro/keep" 2>/dev/null
[ -e "$EXPORT/ro/keep" ] || fail "user removed a file from root's 0755 dir"

# Sticky directory (like /tmp): only the owner removes or renames.
as_user sh -c "echo own >'$M/sticky/own'" || fail "user cannot create in sticky dir"
as_user rm "$M/sticky/other" 2>/dev/null && fail "user removed another user's file in a sticky dir"
as_user mv "$M/sticky/other" "$M/sticky/stolen" 2>/dev/null && fail "user renamed another user's file in a sticky dir"
as_user sh -c "echo more >>'$M/sticky/other'" || fail "user cannot write a 0666 file in a sticky dir"
as_user rm "$M/sticky/own" || fail "user cannot remove own file in a sticky dir"

# Supplementary groups travel with the call.
as_user cat "$M/grpfile" >/dev/null 2>&1 && fail "user without the group read a 0640 file"
[ "$(as_user_grp cat "$M/grpfile")" = grp ] || fail "supplementary group 4242 not honoured"

# A big file written and read by the user (reads ahead, writes in
# 1 MiB pieces: each carries the user's credentials).
as_user sh -c "head -c 6000000 /dev/urandom >'$M/open/big' && cmp '$M/open/big' '$EXPORT/open/big'" ||
	fail "user's big file"
br_umount "$M"

# Root squash (root itself is what this part is about): a second server,
# squashing root as by default, and root working through the mount.
EXPORT=$T/export2
STATE=$T/state2
mkdir -p "$EXPORT" "$STATE"
chmod 0777 "$EXPORT"
echo private >"$EXPORT/private"
chmod 600 "$EXPORT/private"
br_start_server
br_mount "$T/mnt2"
echo squashed >"$T/mnt2/by-root" || fail "root cannot write in a 0777 export"
[ "$(stat -c %u:%g "$EXPORT/by-root")" = "65534:65534" ] ||
	fail "root not squashed: $(stat -c %u:%g "$EXPORT/by-root")"
cat "$T/mnt2/private" >/dev/null 2>&1 && fail "squashed root read a 0600 root file"
chown 0 "$T/mnt2/by-root" 2>/dev/null && fail "squashed root chowned"
br_umount "$T/mnt2"
exit 0
