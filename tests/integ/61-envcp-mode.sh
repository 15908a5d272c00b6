#!/bin/bash
# 61-envcp-mode: bramble envcp keeps the top directory's mode (and its
# owner where the caller may set it): as a user and as root on local disk,
# and as a squashed root into a mount (owners cannot be kept there: modes
# are, and the copy succeeds).  envcp --check fails a venv copied with
# cp -a whose original was moved away, naming the old prefix.
. "$(dirname "$0")/lib.sh"

# mkenv DIR MODE: a small environment whose files hold its prefix.
mkenv() {
	mkdir -p "$1/bin" "$1/etc"
	printf 'prefix=%s\n' "$1" >"$1/etc/env.conf"
	printf '#!/bin/sh\necho "tool in %s"\n' "$1" >"$1/bin/tool"
	chmod 755 "$1/bin/tool"
	chmod "$2" "$1"
}
modeof() { stat -c %a "$1"; }

# As a user, on local disk: 0755 and 0750 stay.
as_user sh -c "$(declare -f mkenv); mkenv '$T/home1/src' 755; mkenv '$T/home1/src2' 750" ||
	fail "cannot make the user's environments"
as_user "$BRAMBLE" envcp "$T/home1/src" "$T/home1/dst" >"$T/out" 2>&1 || fail "envcp as user: $(cat "$T/out")"
[ "$(modeof "$T/home1/dst")" = 755 ] || fail "as user: DST mode $(modeof "$T/home1/dst"), want 755"
as_user "$BRAMBLE" envcp "$T/home1/src2" "$T/home1/dst2" >"$T/out" 2>&1 || fail "envcp 750: $(cat "$T/out")"
[ "$(modeof "$T/home1/dst2")" = 750 ] || fail "as user: DST mode $(modeof "$T/home1/dst2"), want 750"
grep -qx "prefix=$T/home1/dst" "$T/home1/dst/etc/env.conf" || fail "not rewritten"

# Root, local disk: owner and mode of the top directory kept.
chmod 751 "$T/home1/src"
"$BRAMBLE" envcp "$T/home1/src" "$T/rootdst" >"$T/out" 2>&1 || fail "envcp as root: $(cat "$T/out")"
[ "$(stat -c '%a %U' "$T/rootdst")" = "751 $BR_USER" ] ||
	fail "as root: DST is $(stat -c '%a %U' "$T/rootdst"), want 751 $BR_USER"
[ "$(stat -c %U "$T/rootdst/bin/tool")" = "$BR_USER" ] || fail "as root: file owner not kept"
# ... into an empty directory that exists already (mode 0700).
mkdir -m 700 "$T/emptydst"
"$BRAMBLE" envcp "$T/home1/src" "$T/emptydst" >"$T/out" 2>&1 || fail "envcp into an empty dir: $(cat "$T/out")"
[ "$(modeof "$T/emptydst")" = 751 ] || fail "empty DST: mode $(modeof "$T/emptydst"), want 751"

# Root squashed by the server: staging a shared environment still works
# and others can use it; owners cannot be kept (the server says so).
br_start_server
M=$T/mnt
br_mount "$M"
mkdir -m 1777 "$EXPORT/stage"
mkenv "$T/rootsrc" 755
"$BRAMBLE" envcp "$T/rootsrc" "$M/stage/env" >"$T/out" 2>&1 || fail "envcp as a squashed root: $(cat "$T/out")"
grep -q "owners not kept" "$T/out" || fail "no word about owners: $(cat "$T/out")"
[ "$(modeof "$EXPORT/stage/env")" = 755 ] || fail "squashed root: DST mode $(modeof "$EXPORT/stage/env")"
out=$(as_user2 "$M/stage/env/bin/tool") || fail "another user cannot run the staged tool: $out"
[ "$out" = "tool in $M/stage/env" ] || fail "staged tool: $out"
as_user2 cat "$M/stage/env/etc/env.conf" | grep -qx "prefix=$M/stage/env" || fail "staged conf"

# --check of a venv copied with cp -a, the original moved away: not ok.
/usr/bin/python3 -m venv --without-pip "$T/venv_made_here" || skip "no python3 venv"
"$BRAMBLE" envcp --check "$T/venv_made_here" >"$T/out" 2>&1 || fail "check of a venv in place: $(cat "$T/out")"
cp -a "$T/venv_made_here" "$T/venvcopy"
"$BRAMBLE" envcp --check "$T/venvcopy" >"$T/out" 2>&1 && fail "check of a cp -a copy tied to its original passed"
mv "$T/venv_made_here" "$T/venv_hidden"
"$BRAMBLE" envcp --check "$T/venvcopy" >"$T/out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "check of a cp -a copy (original moved): exit $rc: $(cat "$T/out")"
grep -q "^marker  .: a venv made at $T/venv_made_here but found at $T/venvcopy" "$T/out" ||
	fail "check does not name the old place: $(cat "$T/out")"
grep -q "^prefix  bin/activate:[0-9]*: old prefix $T/venv_made_here" "$T/out" ||
	fail "check does not find the old prefix: $(cat "$T/out")"
grep -q "PROBLEMS" "$T/out" || fail "summary: $(cat "$T/out")"
# envcp of the copy from its own path leaves it tied (the marker is
# not enough); from the prefix its files hold, it is whole.
"$BRAMBLE" envcp "$T/venvcopy" "$T/venvtied" >"$T/out" 2>&1 || fail "envcp of the venv: $(cat "$T/out")"
"$BRAMBLE" envcp --check "$T/venvtied" >"$T/out" 2>&1 && fail "check of a still-tied copy passed"
grep -q "a venv made at $T/venv_made_here" "$T/out" || fail "tied copy: $(cat "$T/out")"
"$BRAMBLE" envcp --old-prefix "$T/venv_made_here" "$T/venvcopy" "$T/venvgood" >"$T/out" 2>&1 ||
	fail "envcp --old-prefix of the venv: $(cat "$T/out")"
"$BRAMBLE" envcp --check "$T/venvgood" >"$T/out" 2>&1 || fail "check after envcp: $(cat "$T/out")"
exit 0
