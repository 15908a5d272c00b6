#!/bin/bash
# 67-stage-user: who `bramble stage` stages for, on a server that squashes
# root (the default).
#  (1) root staging for a user, as a Prolog does (--user, or
#      SLURM_JOB_UID/GID): every server call carries the user's uid, gid
#      and groups -- a file in the user's 0700 directory is staged (root,
#      squashed, could not read it: shown first), a symbolic link and a
#      glob in it too; a file the user cannot read is "not staged: PATH:
#      Permission denied".
#  (2) an ordinary user by hand: the mount's bramblefs stages for them
#      (.bramble names its stage socket): the chunks are in the node cache
#      pinned for user:NAME:ID; beyond -o stage_user_max nothing is staged
#      and the message says why; --release ID releases them.  Root's
#      options (--user) are refused; what the user cannot read is not
#      staged; a mount with -o stage_user_max=0 offers no socket, and the
#      user is told so.
#  (3) another user cannot release the first one's pins (neither by ID,
#      which names their own, nor by the owner's whole name).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MIB=1048576
NC=$T/nodecache
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# pins OWNER: chunks pinned by OWNER in the node cache
pins() {
	"$BRAMBLE" cache --dir "$NC" ls --json >"$T/ls.json" || fail "cache ls"
	json "$T/ls.json" "sum(p['chunks'] for p in d['pins'] if p['owner'] == '$1')"
}

# u1's private tree (0700), u2's secret
P=$EXPORT/home1/priv
mkdir -p "$P" "$EXPORT/home2/secret"
head -c $((3 * MIB)) /dev/urandom >"$P/data.bin"
head -c $((3 * MIB)) /dev/urandom >"$P/more.bin"
echo 'print("mine")' >"$P/tool.py"
ln -s priv/data.bin "$EXPORT/home1/latest"
head -c $((2 * MIB)) /dev/urandom >"$EXPORT/home2/secret/w.bin"
chown -R "$BR_UID:$BR_GID" "$EXPORT/home1"
chown -R "$BR_UID2:$BR_GID2" "$EXPORT/home2"
chmod 700 "$P" "$EXPORT/home2/secret"

br_start_server                                   # root squashed
br_mount "$T/m" -o stage_user_max=5M
M=$T/m

# ---- (1) root for a user
"$BRAMBLE" stage --job 600 "$M/home1/priv/data.bin" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -qx "bramble stage: not staged: $M/home1/priv/data.bin: Permission denied" "$T/err" ||
	fail "root (squashed) staged u1's private file: $(cat "$T/err")"
"$BRAMBLE" stage --user "$BR_USER" --job 601 --json "$M/home1/priv" >"$T/j1.json" 2>"$T/err" ||
	fail "--user: $(cat "$T/err" "$T/j1.json")"
[ "$(json "$T/j1.json" 'd["ok"], d["owner"], d["files"]')" = "(True, 'job:601', 3)" ] ||
	fail "--user: $(cat "$T/j1.json")"
[ "$(pins job:601)" = 7 ] || fail "job:601 pins: $(cat "$T/ls.json")"
# as slurmd runs a Prolog: root, SLURM_JOB_UID/GID; a link and a glob
SLURM_JOB_ID=602 SLURM_JOB_UID=$BR_UID SLURM_JOB_GID=$BR_GID \
	"$BRAMBLE" stage --json "$M/home1/latest" "$M/home1/priv/*.py" >"$T/j2.json" 2>"$T/err" ||
	fail "SLURM_JOB_UID: $(cat "$T/err" "$T/j2.json")"
[ "$(json "$T/j2.json" 'd["owner"], d["files"], d["bytes"]')" = "('job:602', 2, $((3 * MIB + 14)))" ] ||
	fail "SLURM_JOB_UID: $(cat "$T/j2.json")"
# what the user may not read
SLURM_JOB_ID=603 SLURM_JOB_UID=$BR_UID SLURM_JOB_GID=$BR_GID \
	"$BRAMBLE" stage "$M/home2/secret/w.bin" "$M/home1/priv/tool.py" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "u2's secret staged for u1"
grep -qx "bramble stage: not staged: $M/home2/secret/w.bin: Permission denied" "$T/err" ||
	fail "u2's secret for u1: $(cat "$T/err")"
grep -q "^staged 1 files" "$T/out" || fail "the readable file: $(cat "$T/out")"
[ "$(pins job:603)" = 1 ] || fail "job:603 pins: $(cat "$T/ls.json")"
"$BRAMBLE" stage --user no-such-user-67 "$M/home1" 2>"$T/err"
[ $? = 1 ] && grep -q "no user 'no-such-user-67'" "$T/err" || fail "unknown --user: $(cat "$T/err")"
for j in 601 602 603; do "$BRAMBLE" stage -q --release $j || fail "release $j"; done
note "(1) root staged u1's 0700 files as u1 (squashed root: Permission denied); u2's: Permission denied"

# ---- (2) an ordinary user, by hand, through the mount's bramblefs
"$BRAMBLE" cache --dir "$NC" evict >/dev/null || fail "evict"
grep -q "^stage_socket=/" "$M/.bramble" || fail "no stage_socket in .bramble: $(cat "$M/.bramble")"
as_user "$BRAMBLE" stage --user root "$M/home1" 2>"$T/err"
[ $? = 2 ] || fail "a user's --user: not exit 2 ($(cat "$T/err"))"
(cd "$M/home1" && as_user "$BRAMBLE" stage --job 7 --json priv/data.bin) >"$T/u1.json" 2>"$T/err" ||
	fail "user stage: $(cat "$T/err" "$T/u1.json")"
[ "$(json "$T/u1.json" 'd["ok"], d["owner"], d["files"], d["fetched_chunks"]')" = \
  "(True, 'user:$BR_USER:7', 1, 3)" ] || fail "user stage: $(cat "$T/u1.json")"
[ "$(pins "user:$BR_USER:7")" = 3 ] || fail "user:$BR_USER:7 pins: $(cat "$T/ls.json")"
# over the limit (5M): 3 MiB pinned, 3 more refused; nothing of it pinned
as_user "$BRAMBLE" stage --job 9 "$M/home1/priv/more.bin" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "over stage_user_max: not exit 1 ($(cat "$T/err"))"
grep -q "not staged: $M/home1/priv/more.bin: over the per-user staging limit of the node cache (stage_user_max $((5 * MIB)) bytes; user:$BR_USER pins $((3 * MIB)), the set needs $((3 * MIB)))" "$T/err" ||
	fail "over the limit: $(cat "$T/err")"
[ "$(pins "user:$BR_USER:9")" = 0 ] || fail "over the limit, pinned: $(cat "$T/ls.json")"
# a user stages only what they may read
as_user "$BRAMBLE" stage "$M/home2/secret/w.bin" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -qx "bramble stage: not staged: $M/home2/secret/w.bin: Permission denied" "$T/err" ||
	fail "u1 staged u2's secret: $(cat "$T/err")"
# a mount that does not stage for users (-o stage_user_max=0): said so,
# instead of "attempt to write a readonly database" on root's cache
br_mount "$T/m0" -o stage_user_max=0
grep -q "^stage_socket=" "$T/m0/.bramble" && fail "stage_user_max=0 offers a stage socket"
as_user "$BRAMBLE" stage "$T/m0/home1/priv/tool.py" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "not staged: $T/m0/home1/priv/tool.py: the node cache $NC is root's: an ordinary user stages through the mount's bramblefs" "$T/err" ||
	fail "user on a mount without a stage socket: $(cat "$T/err")"
as_user "$BRAMBLE" stage --release 7 >"$T/out" 2>"$T/err" || fail "user release: $(cat "$T/err")"
grep -qx "released 3 pin(s) of user:$BR_USER:7" "$T/out" || fail "user release: $(cat "$T/out")"
[ "$(pins "user:$BR_USER:7")" = 0 ] || fail "not released: $(cat "$T/ls.json")"
note "(2) $BR_USER staged by hand (user:$BR_USER:7, 3 chunks), over stage_user_max refused, released"

# ---- (3) another user cannot release them
as_user "$BRAMBLE" stage -q --job 8 "$M/home1/priv/data.bin" || fail "user stage 8"
[ "$(pins "user:$BR_USER:8")" = 3 ] || fail "user:$BR_USER:8: $(cat "$T/ls.json")"
as_user2 "$BRAMBLE" stage --release 8 >"$T/out" 2>"$T/err" || fail "u2 release 8: $(cat "$T/err")"
grep -qx "released 0 pin(s) of user:$BR_USER2:8" "$T/out" || fail "u2 release 8: $(cat "$T/out")"
as_user2 "$BRAMBLE" stage --release "user:$BR_USER:8" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "u2 released user:$BR_USER:8"
grep -q "not releasing user:$BR_USER:8: you may release only your own pins" "$T/err" ||
	fail "u2 releasing u1's: $(cat "$T/err")"
[ "$(pins "user:$BR_USER:8")" = 3 ] || fail "u2 took u1's pins: $(cat "$T/ls.json")"
as_user "$BRAMBLE" stage -q --release "user:$BR_USER:8" || fail "u1 release by owner"
[ "$(pins "user:$BR_USER:8")" = 0 ] || fail "u1's release by owner: $(cat "$T/ls.json")"
note "(3) $BR_USER2 could not release $BR_USER's pins"
exit 0
