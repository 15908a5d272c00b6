#!/bin/bash
# 55-user-programs: the programs users run, run as an ordinary user (as
# jobs run) on a root-squashing server through a mount with the README's
# fstab options.  Each program runs first in a local directory
# (it must work there), then in the same place on the mount; the two
# runs must print the same and leave equal trees:
#  git     clone (a local repository with a few commits) onto the mount,
#          with and without --no-local, commit, gc, fsck; init + commit
#          on the mount; clone back from the mount, fsck; same commit ids;
#  cp      -a and -r of a tree of read-only (0444, 0555) files and
#          directories;
#  tar x   of an archive of that tree (-p), tar -d;
#  rsync   -a of that tree, then a --checksum dry run that finds nothing;
#  venv    python3 -m venv on the mount, pip install --no-index of a local
#          wheel, its console script runs;
#  sqlite3 inserts, updates and deletes in transactions (the CLI and
#          python3's module), integrity_check, .dump;
#  posix   posixcmp.py's transcript (br_posix_compare) as the user.
# A failing program fails the test with its own error message; every
# program runs, and the test reports all failures at the end.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
for c in git rsync sqlite3 tar setpriv; do
	command -v "$c" >/dev/null || skip "needs $c (scripts/install-deps)"
done
"$PY" -c 'import venv, ensurepip, setuptools, wheel, sqlite3' 2>/dev/null ||
	skip "system python lacks venv/ensurepip/setuptools/wheel (scripts/install-deps)"

H=$T/home1                            # the user's HOME (lib.sh)
mkdir -p "$EXPORT/u1"                 # the user's directory on the server
chown "$BR_UID:$BR_GID" "$EXPORT/u1"
br_start_server                       # root squashed: the default
br_mount "$T/mnt"                     # $BR_MOUNT_OPTS: _netdev,allow_other
LOCAL=$H/local
MNT=$T/mnt/u1

# The user's side: one function per program, run as the user by
# `as_user bash progs.sh FUNC ARGS` with set -e, so the first failing
# command ends it and its own message is on stderr.  Each prints only
# what must be the same locally and on the mount (no paths).
cat >"$T/progs.sh" <<'EOF'
set -eu
export GIT_CONFIG_NOSYSTEM=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# Fixed dates: the same commits get the same ids locally and on the mount.
export GIT_AUTHOR_DATE="2024-01-02T03:04:05Z" GIT_COMMITTER_DATE="2024-01-02T03:04:05Z"
umask 022

# listing DIR [notimes]: names, types, modes, sizes (not of
# directories), link targets and mtimes, sorted.
listing() {
	local t=' %Ts'
	[ "${2:-}" = notimes ] && t=
	(cd "$1" && find . -mindepth 1 \( -type d -printf "%P %y %m$t\\n" \) -o \
		-printf "%P %y %m %s %l$t\\n" | LC_ALL=C sort)
}

setup() {
	git config --global user.name "Bramble User"
	git config --global user.email user@example.org
	git config --global init.defaultBranch main
	git config --global gc.auto 0           # gc only when the test says
	# The source repository: a few commits, a script, a binary, a symlink.
	git init -q "$HOME/src"
	cd "$HOME/src"
	for i in 1 2 3 4 5 6 7 8; do echo "line $i" >"f$i.txt"; done
	mkdir -p bin data
	printf '#!/bin/sh\necho run\n' >bin/run.sh && chmod 755 bin/run.sh
	head -c 300000 /dev/urandom >data/blob.bin
	ln -s ../f1.txt data/link
	git add . && git commit -q -m "first"
	sed -i 's/line 2/changed/' f2.txt && git rm -q f3.txt && git mv f4.txt renamed.txt
	git commit -q -am "second"
	git tag v1
	head -c 100000 /dev/urandom >>data/blob.bin && git commit -q -am "third"
	# The read-only tree (cp -a, tar, rsync), fixed mtimes; directory
	# modes and times last.
	cd "$HOME"
	mkdir -p ro-src/a/b ro-src/ro-dir/inner
	echo plain >ro-src/a/file.txt
	echo readonly >ro-src/a/ro.txt && chmod 0444 ro-src/a/ro.txt
	printf '#!/bin/sh\n' >ro-src/a/b/exec.sh && chmod 0555 ro-src/a/b/exec.sh
	head -c 1500000 /dev/urandom >ro-src/a/b/big.bin && chmod 0444 ro-src/a/b/big.bin
	echo inner >ro-src/ro-dir/inner/f && chmod 0444 ro-src/ro-dir/inner/f
	echo g >ro-src/ro-dir/g && chmod 0400 ro-src/ro-dir/g
	ln -s file.txt ro-src/a/link
	find ro-src -exec touch -h -d @1500000000 {} +
	chmod 0555 ro-src/ro-dir/inner ro-src/ro-dir ro-src/a/b
	find ro-src -type d -exec touch -d @1500000000 {} +
	tar -cf ro.tar ro-src
	# A tiny project's wheel, built offline with the system python.
	mkdir -p mytool/mytool
	printf 'from setuptools import setup\nsetup(name="mytool", version="0.1", packages=["mytool"],\n      entry_points={"console_scripts": ["mytool=mytool:main"]})\n' >mytool/setup.py
	printf 'import os, sys\ndef main():\n    print("mytool 0.1 in", os.path.basename(sys.prefix))\n' >mytool/mytool/__init__.py
	(cd mytool && /usr/bin/python3 -m pip wheel -q --no-index --no-build-isolation --no-deps -w ../dist .)
	ls dist/mytool-0.1-py3-none-any.whl >/dev/null
}

# git BASE TAG
git_prog() {
	cd "$1"
	git clone -q "$HOME/src" clone               # local: copies the objects
	git clone -q --no-local "$HOME/src" clone2   # packs through upload-pack
	cd clone
	echo "more" >>f1.txt && mkdir -p new && echo new >new/file && git add -A
	git commit -q -m "fourth"
	git gc -q
	git fsck --full --strict
	git status --porcelain | { ! grep .; }
	git log --format='%H %s' && git rev-parse v1
	cd ../clone2
	git fsck --full --strict && git rev-parse HEAD
	git gc -q --aggressive --prune=now && git fsck --full --strict
	cd ..
	git init -q init && cd init
	echo a >a && git add a && git commit -q -m init && git gc -q && git fsck --full --strict
	git rev-parse HEAD
	cd ..
	# And from the mount (or the local directory) back to a local one.
	rm -rf "$HOME/back-$2"
	git clone -q --no-local "$1/clone" "$HOME/back-$2"
	git -C "$HOME/back-$2" fsck --full --strict
	git -C "$HOME/back-$2" rev-parse HEAD
	listing "$1/clone" notimes | grep -v '^\.git'
}

cp_prog() {
	cp -a "$HOME/ro-src" "$1/cpa"    # creates 0600, fchmods before close
	listing "$1/cpa"
	cp -r "$HOME/ro-src" "$1/cpr"    # creates read-only files read-only
	listing "$1/cpr" notimes
}

tar_prog() {
	mkdir "$1/tarx"
	tar -C "$1/tarx" -xpf "$HOME/ro.tar"
	tar -C "$1/tarx" -df "$HOME/ro.tar"
	listing "$1/tarx"
}

rsync_prog() {
	rsync -a "$HOME/ro-src/" "$1/rsync/"
	listing "$1/rsync"
	rsync -a --checksum --dry-run --itemize-changes "$HOME/ro-src/" "$1/rsync/"
	# A read-only tree the user can take down again.
	cp -a "$HOME/ro-src" "$1/rm-me" && chmod -R u+w "$1/rm-me" && rm -rf "$1/rm-me"
	[ ! -e "$1/rm-me" ]
}

venv_prog() {
	/usr/bin/python3 -m venv "$1/venv"
	"$1/venv/bin/python3" -m pip install -q --no-index "$HOME/dist/mytool-0.1-py3-none-any.whl"
	"$1/venv/bin/mytool"
	"$1/venv/bin/python3" -m pip list --format=freeze
	"$1/venv/bin/python3" -c 'import mytool, sqlite3, json; print("imports ok")'
	(cd "$1/venv" && find . -mindepth 1 -printf '%P %y %m\n' | LC_ALL=C sort)
}

sqlite_prog() {
	sqlite3 -bail "$1/cli.db" <<-'SQL'
		create table t(id integer primary key, v text);
		begin;
		with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000)
		insert into t(v) select printf('row %d', i) from n;
		commit;
		begin; update t set v = v || '!' where id % 3 = 0; commit;
		begin; delete from t where id % 7 = 0; commit;
		begin; insert into t(v) values ('rolled back'); rollback;
		pragma integrity_check;
		select count(*), sum(length(v)) from t;
	SQL
	sqlite3 -bail "$1/cli.db" .dump
	/usr/bin/python3 - "$1/py.db" <<-'PYEOF'
		import sqlite3, sys
		db = sqlite3.connect(sys.argv[1])
		db.execute("create table k(k integer primary key, v blob)")
		for batch in range(20):
		    with db:                          # one transaction per batch
		        db.executemany("insert into k(v) values (?)",
		                       [(bytes([batch]) * 1000,) for _ in range(50)])
		try:
		    with db:
		        db.execute("insert into k(v) values (x'00')")
		        raise RuntimeError("roll back")
		except RuntimeError:
		    pass
		other = sqlite3.connect(sys.argv[1])      # a second connection sees it all
		print(other.execute("select count(*), sum(length(v)) from k").fetchone())
		print(other.execute("pragma integrity_check").fetchone()[0])
	PYEOF
}

"$@"
EOF

as_user bash "$T/progs.sh" setup >"$T/setup.out" 2>&1 ||
	fail "cannot make the user's source repository, tree and wheel: $(tail -n 5 "$T/setup.out")"
as_user mkdir "$LOCAL" || fail "cannot make $LOCAL"

# both NAME [SUBDIR...]: progs.sh's NAME_prog in $LOCAL (must work), then
# on the mount: it must work, print the same, and leave each SUBDIR with
# the same contents (diff -r, as the user).
failed=""
same_trees() {
	local sub
	for sub in "$@"; do
		as_user diff -r --no-dereference "$LOCAL/$sub" "$MNT/$sub" || return 1
	done
}
both() {
	local n=$1
	shift
	as_user bash "$T/progs.sh" "${n}_prog" "$LOCAL" local >"$T/$n.local.out" 2>"$T/$n.local.err" ||
		fail "$n fails in a local directory, so the test is wrong here: $(tail -n 5 "$T/$n.local.err")"
	if ! as_user bash "$T/progs.sh" "${n}_prog" "$MNT" mount >"$T/$n.mount.out" 2>"$T/$n.mount.err"; then
		failed="$failed
$n on the mount: $(tail -n 5 "$T/$n.mount.err")"
	elif ! diff -u "$T/$n.local.out" "$T/$n.mount.out" >"$T/$n.diff"; then
		failed="$failed
$n prints differently on the mount than locally: $(head -n 20 "$T/$n.diff")"
	elif ! same_trees "$@" >"$T/$n.diff" 2>&1; then
		failed="$failed
$n leaves different contents on the mount: $(head -n 10 "$T/$n.diff")"
	else
		note "$n: same as in a local directory"
		return 0
	fi
	note "$n: FAIL"
	return 1
}
git_trees() {   # the work trees git leaves, without .git
	local r
	for r in clone clone2 init; do
		as_user diff -r --no-dereference --exclude=.git "$LOCAL/$r" "$MNT/$r" || return 1
	done
}
both git && ! git_trees >"$T/git-trees.diff" 2>&1 &&
	failed="$failed
git leaves different work trees on the mount: $(head -n 10 "$T/git-trees.diff")"
both cp cpa cpr
both tar tarx
both rsync rsync
both venv
both sqlite
# posixcmp.py as the user (br_posix_compare fails the subshell).
(br_posix_compare "$H/pc-local" "$MNT/pc" as_user) 2>"$T/posix.err" ||
	failed="$failed
posix: $(cat "$T/posix.err")"

[ -z "$failed" ] || fail "programs fail on the mount or differ from a local directory:$failed"
exit 0
