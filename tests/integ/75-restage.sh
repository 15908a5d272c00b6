#!/bin/bash
# 75-restage: staging a tree staged before (doc/staging.md, "Staging
# again"), as a Prolog does it -- root staging for the ordinary user
# whose 0700 tree it is, on a root-squashing server, the mount with the
# README's fstab options.  A server with 64 KiB chunks, so the two large
# files have more chunks than TREE carries (their maps come by CHUNKMAP).
#  (1) staged again for another job: nothing fetched, every chunk pinned
#      for the new job too, at most 8 server calls (HELLO, MOUNT, the
#      LOOKUPs of the path, one TREE of attributes only, the mount's
#      GETATTRs when .bramble is read; 7 here) -- no CHUNKMAP, not even
#      for the files TREE gives no map of.
#  (2) files changed on the server between two stagings (a small file
#      rewritten with the same size, one chunk of a large file) are
#      fetched again, and read through the mount with their new bytes and
#      no data call; the rest is not fetched.
#  (3) chunks evicted from the node cache since (the tree unchanged): the
#      staging finds them missing when it pins them and fetches them.
#  (4) a file made unreadable to the user since: "not staged: PATH:
#      Permission denied", exit 1 -- never "staged" from the kept digest.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
NC=$T/nodecache
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
pins() {   # pins OWNER: chunks pinned by OWNER
	"$BRAMBLE" cache --dir "$NC" ls --json >"$T/ls.json" || fail "cache ls"
	json "$T/ls.json" "sum(p['chunks'] for p in d['pins'] if p['owner'] == '$1')"
}
allcalls() {   # allcalls BEFORE AFTER: every server call between two snaps but STATS
	python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f))["procedures"] for f in sys.argv[1:3])
print(sum(v["calls"] - a.get(k, {}).get("calls", 0) for k, v in b.items() if k != "STATS"))
PY
}
# stage JOB: root stages the tree for the user, as slurm-prolog runs it
stage() {
	SLURM_JOB_ID=$1 SLURM_JOB_UID=$BR_UID SLURM_JOB_GID=$BR_GID \
		"$BRAMBLE" stage -q --json "$M/home/tree" >"$T/j$1.json" 2>"$T/err$1"
}

P=$EXPORT/home/tree
for d in a b c d; do
	mkdir -p "$P/$d/sub"
	for i in $(seq 1 12); do
		echo "file $d $i $RANDOM" >"$P/$d/f$i.py"
		head -c $((RANDOM % 9000 + 100)) /dev/urandom >"$P/$d/sub/g$i.bin"
	done
done
head -c $((5 * 1048576)) /dev/urandom >"$P/big1.bin"     # 80 chunks of 64 KiB
head -c $((6 * 1048576 + 123)) /dev/urandom >"$P/big2.bin"
chown -R "$BR_UID:$BR_GID" "$EXPORT/home"
chmod 700 "$P"
br_start_server --chunk-size=65536                 # root squashed (the default)
br_mount "$T/m"
M=$T/m

stage 1 || fail "first staging: $(cat "$T/err1" "$T/j1.json")"
[ "$(json "$T/j1.json" 'd["files"]')" = 98 ] || fail "first staging: $(cat "$T/j1.json")"
stage 2 || fail "second staging: $(cat "$T/err2")"     # stores the maps TREE now has

# ---- (1) nothing to do
br_stats_snap "$T/s0"
stage 3 || fail "staging again: $(cat "$T/err3")"
br_stats_snap "$T/s1"
[ "$(json "$T/j3.json" 'd["files"], d["fetched_bytes"], d["ok"]')" = "(98, 0, True)" ] ||
	fail "staging again fetched: $(cat "$T/j3.json")"
[ "$(pins job:3)" = "$(pins job:1)" ] || fail "job:3 pins $(pins job:3), job:1 $(pins job:1)"
n=$(allcalls "$T/s0" "$T/s1")
note "staging an unchanged tree of 98 files: $n server calls"
[ "$n" -le 8 ] || fail "staging an unchanged tree made $n server calls"
br_stats_delta "$T/s0" "$T/s1" "READ_CHUNK*.calls == 0" "READ.calls == 0" "TREE.calls == 1" \
	"CHUNKMAP.calls == 0"

# ---- (2) changed on the server: fetched again, read new
sleep 1.1                                          # a new mtime, past the racy second
printf 'file a 1 CHANGED\n' | head -c "$(stat -c %s "$P/a/f1.py")" >"$T/new"
cp "$T/new" "$P/a/f1.py"
printf 'XXXXXXXX' | dd of="$P/big1.bin" bs=1 seek=$((3 * 65536 + 10)) conv=notrunc status=none
stage 4 || fail "staging after a change: $(cat "$T/err4")"
fetched=$(json "$T/j4.json" 'd["fetched_bytes"]')
note "after a change of a small file and of one chunk of a large one: $fetched bytes fetched"
[ "$fetched" -gt 0 ] && [ "$fetched" -le $((65536 + 4096)) ] ||
	fail "after the change fetched $fetched bytes: $(cat "$T/j4.json")"
br_stats_snap "$T/s2"
as_user cmp "$M/home/tree/a/f1.py" "$P/a/f1.py" || fail "the changed small file reads old bytes"
as_user cmp "$M/home/tree/big1.bin" "$P/big1.bin" || fail "the changed large file reads old bytes"
br_stats_snap "$T/s3"
br_stats_delta "$T/s2" "$T/s3" "READ_CHUNK*.calls == 0" "READ.calls == 0" "CHUNKMAP.calls == 0"
stage 5 || fail "staging after the change, again"
[ "$(json "$T/j5.json" 'd["fetched_bytes"]')" = 0 ] || fail "fetched again: $(cat "$T/j5.json")"

# ---- (3) evicted meanwhile: fetched
for j in 1 2 3 4 5; do "$BRAMBLE" stage -q --release "$j" --cache-dir "$NC" || fail "release $j"; done
"$BRAMBLE" cache --dir "$NC" evict >/dev/null || fail "evict"
stage 6 || fail "staging after an eviction: $(cat "$T/err6")"
[ "$(json "$T/j6.json" 'd["fetched_bytes"] == d["bytes"] - d["dedup_bytes"]')" = True ] ||
	fail "after an eviction: $(cat "$T/j6.json")"
"$BRAMBLE" cache --dir "$NC" verify >/dev/null || fail "cache verify"
br_stats_snap "$T/s4"
as_user sh -c "cat '$M'/home/tree/*/sub/* '$M'/home/tree/big2.bin" | cmp - \
	<(cat "$P"/*/sub/* "$P/big2.bin") || fail "bytes after staging into an emptied cache"
br_stats_snap "$T/s5"
br_stats_delta "$T/s4" "$T/s5" "READ_CHUNK*.calls == 0" "READ.calls == 0"

# ---- (4) unreadable since: not staged
chmod 000 "$P/c/f3.py"
stage 7
[ $? = 1 ] && grep -q "not staged: $M/home/tree/c/f3.py: Permission denied" "$T/err7" ||
	fail "a file made unreadable was staged: $(cat "$T/err7" "$T/j7.json")"
chmod 644 "$P/c/f3.py"
stage 8 || fail "staging once readable again: $(cat "$T/err8")"
exit 0
