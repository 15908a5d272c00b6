#!/bin/bash
# Ordinary programs on the mount: git (init, add, commit, fsck, clone),
# tar extraction of a large tree compared byte for byte, and a Python
# venv created on the mount whose python runs.  All of it as an ordinary
# user (as_user), in a 1777 export; the server squashes root.
. "$(dirname "$0")/lib.sh"

chmod 1777 "$EXPORT"
br_start_server
br_mount "$T/mnt"
M=$T/mnt
H=$T/home1                            # the user's HOME (lib.sh)

# ---- tar: a large tree in, compared with the original.  The archive
# names the user as owner: tar -d compares owners, and a user's tar x
# makes the files the user's.
SRC_TREE=/usr/lib/python3
[ -d "$SRC_TREE" ] || SRC_TREE=/usr/share/doc
tar -C "$(dirname "$SRC_TREE")" --owner="$BR_UID" --group="$BR_GID" --numeric-owner \
	-cf "$T/tree.tar" "$(basename "$SRC_TREE")"
as_user mkdir "$M/tree" || fail "mkdir tree"
as_user tar -C "$M/tree" -xf "$T/tree.tar" || fail "tar x into the mount failed"
as_user diff -r --no-dereference "$SRC_TREE" "$M/tree/$(basename "$SRC_TREE")" >"$T/diff.out" 2>&1 ||
	fail "extracted tree differs: $(head "$T/diff.out")"
as_user tar -C "$M/tree" -df "$T/tree.tar" >"$T/tard.out" 2>&1 ||
	fail "tar --compare found differences: $(head "$T/tard.out")"
# ... and the server holds the same bytes.
diff -r --no-dereference "$SRC_TREE" "$EXPORT/tree/$(basename "$SRC_TREE")" >/dev/null ||
	fail "export differs from the source tree"
as_user rm -rf "$M/tree" || fail "rm -rf of the tree failed"
[ -z "$(ls -A "$EXPORT")" ] || fail "rm -rf left: $(ls -A "$EXPORT")"

# ---- git
if command -v git >/dev/null; then
	cat >"$T/git.sh" <<'SH'
set -e
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
export GIT_CONFIG_NOSYSTEM=1
M=$1 TAR=$2
git config --global init.defaultBranch main
cd "$M"
git init -q repo
cd repo
for i in $(seq 1 50); do echo "line $i" >"file$i.txt"; done
mkdir sub && cp "$TAR" sub/blob.bin
git add .
git commit -q -m first
sed -i 's/line 1$/changed/' file1.txt
git mv file2.txt renamed.txt
git rm -q file3.txt
git commit -q -am second
git gc -q
git fsck --full --strict
[ "$(git rev-list --count HEAD)" = 2 ]
git status --porcelain | { ! grep -q .; }
SH
	as_user bash "$T/git.sh" "$M" "$T/tree.tar" >"$T/git.out" 2>&1 ||
		fail "git on the mount: $(tail "$T/git.out")"
	as_user git clone -q "$M/repo" "$H/clone" || fail "git clone from the mount"
	cmp "$H/clone/sub/blob.bin" "$T/tree.tar" || fail "cloned blob differs"
	as_user git -C "$EXPORT/repo" fsck --full >/dev/null 2>&1 || fail "repository on the server is not sound"
fi

# ---- Python venv on the mount
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c "import ensurepip, venv" 2>/dev/null; then
	as_user "$PY" -m venv "$M/venv" >"$T/venv.out" 2>&1 || fail "python3 -m venv: $(tail "$T/venv.out")"
	as_user test -L "$M/venv/bin/python3" || as_user test -x "$M/venv/bin/python3" ||
		fail "venv has no python3"
	out=$(as_user "$M/venv/bin/python3" -c 'import sys, json; print(sys.prefix)') ||
		fail "venv python does not run"
	[ "$out" = "$M/venv" ] || fail "venv prefix: $out"
	as_user "$M/venv/bin/python3" -m pip --version >/dev/null 2>&1 || fail "pip in the venv does not run"
	# bytecode written through the mount is used on the next run
	as_user "$M/venv/bin/python3" -c 'import email.mime.text, compileall' || fail "stdlib import from venv"
else
	note "no python3 venv/ensurepip: venv part skipped"
fi
exit 0
