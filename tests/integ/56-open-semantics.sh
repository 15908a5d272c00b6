#!/bin/bash
# 56-open-semantics: what an ordinary user's open(2), write(2) and
# ftruncate(2) may do, as on Linux (cases in the spirit of
# pjdfstest open/06, open/07, chmod/12, ftruncate/00), on a root-squashing
# server through a mount with the README's options.  Each case runs first
# on a local directory (Linux's answer: it must pass there) and then on
# the mount (tests/integ/opensem.py prints every check):
#  create-0444: a file created with mode 0444 is written through the
#     descriptor that created it (100 kB, fsync, the size and bytes stay);
#  ftruncate-mode0: ftruncate through the creating descriptor of a mode-0
#     file;
#  chmod-vs-open: after owner A's chmod 0444, user B's next open for
#     writing fails at once with EACCES, while B's descriptor opened
#     before keeps writing;
#  setid-write, setid-root: a write clears the set-id bits of
#     04777/02777/06777 files, for a non-owner and for the owner (fstat on
#     the same fd at once, and stat after close); root on a
#     --no-root-squash server keeps them;
#  rdonly-trunc: open(O_RDONLY|O_TRUNC) truncates where the caller may
#     write, and is EACCES where it may not;
#  owner-0477: the owner of a mode-0477 file may not open it for writing.
# Every case runs; the test fails at the end with every FAIL line.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "needs /usr/bin/python3"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
OS=$top_srcdir/tests/integ/opensem.py

# The same layout locally and on the export (made before the server runs):
# u1/ is the user's own directory, shared/ a 0777 one for two users.
layout() {
	mkdir -p "$1/u1" "$1/shared" &&
		chown "$BR_UID:$BR_GID" "$1/u1" && chmod 0755 "$1/u1" && chmod 0777 "$1/shared"
}
LOCAL=$T/local
layout "$LOCAL" || fail "cannot make $LOCAL"
layout "$EXPORT" || fail "cannot lay out the export"
br_start_server                       # root squashed: the default
br_mount "$T/mnt"                     # $BR_MOUNT_OPTS: _netdev,allow_other
M=$T/mnt

# Root without squashing, for the set-id case's root variant (4-setid-root):
# a second server.
EXPORT=$T/export2 STATE=$T/state2
mkdir -p "$STATE"
layout "$EXPORT" || fail "cannot lay out the second export"
br_start_server --no-root-squash
BR_CACHE_DIR=$T/nodecache2 br_mount "$T/mnt2"
M2=$T/mnt2

as_root() { env HOME="$T" "$@"; }
# sem RUNNER CASE DIR [ARGS]: opensem.py CASE as RUNNER's user.
sem() {
	local who=$1
	shift
	echo "## $who opensem.py $*"
	"$who" "$PY" "$OS" "$@"
}

create_readonly() { sem as_user create-ro "$1/u1"; }
ftruncate_mode0() { sem as_user ftrunc-mode0 "$1/u1"; }
owner_0477() { sem as_user perm-0477 "$1/u1"; }

chmod_vs_open() {
	local d=$1/shared rc=0 hp
	sem as_user chmod-prep "$d" || return 1
	rm -f "$T/go"
	mkfifo "$T/go" || return 1
	# B opens the file for writing and holds it, across A's chmod.
	as_user2 "$PY" "$OS" hold "$d" <"$T/go" >"$T/hold.out" 2>&1 &
	hp=$!
	exec 3>"$T/go"
	if ! wait_for 30 grep -qx ready "$T/hold.out"; then
		exec 3>&-
		wait "$hp"
		cat "$T/hold.out"
		return 1
	fi
	sem as_user chmod "$d" || rc=1
	sem as_user2 open-after-chmod "$d" || rc=1   # at once: no sleep
	echo go >&3
	exec 3>&-
	wait "$hp" || rc=1
	echo "## as_user2 opensem.py hold $d (in the background)"
	grep -vx ready "$T/hold.out"
	sem as_user chmod-verify "$d" || rc=1
	return $rc
}

setid_write() {
	local d=$1/shared rc=0
	sem as_user setid-prep "$d" sid || rc=1
	sem as_user2 setid-write "$d" sid-4777=0o777 sid-2777=0o777 sid-6777=0o777 || rc=1
	sem as_user setid-prep "$d" own || rc=1
	sem as_user setid-write "$d" own-4777=0o777 own-2777=0o777 own-6777=0o777 || rc=1
	return $rc
}

# Root keeps the bits (CAP_FSETID), of its own files and of a user's.
setid_root() {
	local d=$1/shared rc=0
	sem as_user setid-prep "$d" usr || rc=1
	sem as_root setid-prep "$d" root || rc=1
	sem as_root setid-write "$d" root-4777=0o4777 root-2777=0o2777 root-6777=0o6777 \
		usr-4777=0o4777 usr-2777=0o2777 usr-6777=0o6777 || rc=1
	return $rc
}

rdonly_trunc() {
	local rc=0
	sem as_user otrunc-owner "$1/u1" || rc=1
	sem as_user otrunc-prep "$1/shared" || rc=1
	sem as_user2 otrunc-other "$1/shared" || rc=1
	return $rc
}

# both NAME FUNC MOUNT: FUNC on the local directory (must pass), then on
# MOUNT; a failure there is noted and reported at the end.
failed=""
both() {
	"$2" "$LOCAL" >"$T/$1.local.out" 2>&1 ||
		fail "$1 fails on a local directory, so the test is wrong here: $(grep -v '^ok:' "$T/$1.local.out" | tail -n 8)"
	if "$2" "$3" >"$T/$1.mount.out" 2>&1; then
		note "$1: PASS"
	else
		note "$1: FAIL"
		failed="$failed $1"
	fi
	sed "s/^/  $1: /" "$T/$1.mount.out" >&2
}
both "create-0444" create_readonly "$M"
both "ftruncate-mode0" ftruncate_mode0 "$M"
both "chmod-vs-open" chmod_vs_open "$M"
both "setid-write" setid_write "$M"
both "setid-root" setid_root "$M2"
both "rdonly-trunc" rdonly_trunc "$M"
both "owner-0477" owner_0477 "$M"

if [ -n "$failed" ]; then
	fail "not as on Linux:$failed:
$(for n in $failed; do grep -v '^ok:\|^##' "$T/$n.mount.out" | sed "s/^/  $n: /"; done)"
fi
exit 0
