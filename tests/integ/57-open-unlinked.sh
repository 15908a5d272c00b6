#!/bin/bash
# 57-open-unlinked: an open file whose last name is removed, as on Linux
# (pjdfstest unlink/14), for an ordinary user on a
# root-squashing server: fstat through the descriptor shows st_nlink 0
# (1 while another hard link is left), no name is left in the directory
# (no .bramble-silly.* in a listing), the directory, empty of visible
# names, can be removed with rmdir while the file is still open, and the
# descriptor keeps reading and writing.  Run first on a local directory
# (must pass), then on the mount (tests/integ/opensem.py prints every
# check).
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "needs /usr/bin/python3"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
OS=$top_srcdir/tests/integ/opensem.py

# The user's own directory, locally and on the export (before the server
# runs).
mkdir -p "$T/local/u1" "$EXPORT/u1"
chown "$BR_UID:$BR_GID" "$T/local/u1" "$EXPORT/u1"
br_start_server                       # root squashed: the default
br_mount "$T/mnt"

as_user "$PY" "$OS" unlinked "$T/local/u1" >"$T/local.out" 2>&1 ||
	fail "fails on a local directory, so the test is wrong here: $(grep -v '^ok:' "$T/local.out" | tail -n 8)"
as_user "$PY" "$OS" unlinked "$T/mnt/u1" >"$T/mount.out" 2>&1
rc=$?
sed 's/^/  /' "$T/mount.out" >&2
[ "$rc" = 0 ] || fail "not as on Linux:
$(grep -v '^ok:' "$T/mount.out" | sed 's/^/  /')"
# What the server's disk holds once the file is closed: nothing.
left=$(ls -A "$EXPORT/u1")
[ -z "$left" ] || fail "left in the export after close: $left"
exit 0
