#!/bin/bash
# 51-stage: `bramble stage` (tools/stage/stage.h).  A tree of hundreds of nested
# files (small ones, some over 1 MiB, a duplicate of a large and of a small
# file) is staged, then read whole through the mount: the server's
# counters show no READ, READ_CHUNK or CHUNKMAP for those reads, and the
# bytes are right.  A staging killed half way completes on a rerun that
# fetches only what is missing (READ_CHUNK counted).  More than the quota:
# exit 1, a clear message, another job's pins untouched.  Two jobs sharing
# a tree: both pin it, releasing one keeps the other's.  A missing path, a
# path outside any mount and a server that is gone: exit 1 with the list.
# A staged file changed by another node is read new, not through its kept
# map.  Globs, --manifest, --learned, --json parsed back; `bramble cache
# pin PATH`; `bramble cache gc` with no Slurm to ask.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
MIB=1048576
NC=$T/nodecache
# json FILE EXPR: EXPR in Python over `d'
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
stats() { "$BRAMBLE" stats --json "127.0.0.1:$PORT" >"$T/$1.json" || fail "stats $1"; }
# calls BEFORE AFTER PROC: how many PROC calls between two stats snapshots
# (READ_CHUNK: with READ_CHUNK2, which a client of a zstd server uses)
calls() {
	python3 -c 'import json, sys
a, b = (json.load(open(f))["procedures"] for f in sys.argv[1:3])
ns = ["READ_CHUNK", "READ_CHUNK2"] if sys.argv[3] == "READ_CHUNK" else [sys.argv[3]]
print(sum(b.get(n, {}).get("calls", 0) - a.get(n, {}).get("calls", 0) for n in ns))' "$T/$1.json" "$T/$2.json" "$3"
}
owner_chunks() {   # owner_chunks CACHEDIR OWNER: chunks pinned by OWNER
	"$BRAMBLE" cache --dir "$1" ls --json >"$T/ls.json" || fail "cache ls"
	json "$T/ls.json" "sum(p['chunks'] for p in d['pins'] if p['owner'] == '$2')"
}

br_start_server

# The tree: 12 directories two deep, 25 small files each (300), 3 files
# over 1 MiB, a copy of one of them and a copy of a small file (dedup).
E=$EXPORT/env
for i in $(seq 1 12); do
	mkdir -p "$E/lib$i/pkg"
	for j in $(seq 1 25); do
		head -c $(( (i * 797 + j * 1303) % 30000 + 1 )) /dev/urandom >"$E/lib$i/pkg/m$j.py"
	done
done
head -c $((3 * MIB + 17)) /dev/urandom >"$E/lib1/big.so"
head -c $((2 * MIB)) /dev/urandom >"$E/lib2/model.bin"
head -c $((MIB + 1)) /dev/urandom >"$E/data.bin"
cp "$E/lib1/big.so" "$E/lib3/big-copy.so"
cp "$E/lib4/pkg/m7.py" "$E/lib5/m7-copy.py"
NFILES=$(find "$E" -type f | wc -l)
[ "$NFILES" = 305 ] || fail "tree has $NFILES files"

br_mount "$T/m"
M=$T/m

# ---- stage, then read everything with no data call
stats s0
"$BRAMBLE" stage --job 101 --json "$M/env" >"$T/j1.json" 2>"$T/err" || fail "stage: $(cat "$T/err")"
[ -s "$T/err" ] && fail "stage said something on stderr: $(cat "$T/err")"
stats s1
[ "$(json "$T/j1.json" 'd["ok"], d["owner"], d["files"], d["not_staged"]')" = \
  "(True, 'job:101', $NFILES, [])" ] || fail "stage JSON: $(cat "$T/j1.json")"
# dedup: the 4 chunks of the big copy and the small copy's one
[ "$(json "$T/j1.json" 'd["dedup_chunks"], d["cached_chunks"], d["maps"]')" = "(5, 0, $NFILES)" ] ||
	fail "dedup/cached/maps: $(cat "$T/j1.json")"
total=$(json "$T/j1.json" 'd["fetched_chunks"]')
[ "$(calls s0 s1 READ_CHUNK)" = "$total" ] || fail "READ_CHUNK $(calls s0 s1 READ_CHUNK) != fetched $total"
[ "$(calls s0 s1 READ)" = 0 ] || fail "stage used READ"
[ "$(owner_chunks "$NC" job:101)" = "$total" ] || fail "job:101 pins: $(cat "$T/ls.json")"
(cd "$E" && find . -type f | sort | xargs md5sum) >"$T/want.md5"
(cd "$M/env" && find . -type f | sort | xargs md5sum) >"$T/got.md5" || fail "reading the mount"
stats s2
cmp -s "$T/want.md5" "$T/got.md5" || fail "staged files read wrong: $(diff "$T/want.md5" "$T/got.md5" | head)"
for p in READ READ_CHUNK CHUNKMAP; do
	[ "$(calls s1 s2 $p)" = 0 ] || fail "reads after staging made $(calls s1 s2 $p) $p call(s)"
done
note "staged $NFILES files: $total chunks fetched; reading them back: 0 READ/READ_CHUNK/CHUNKMAP"
"$BRAMBLE" cache --dir "$NC" stats --json >"$T/cs.json" || fail "cache stats"
[ "$(json "$T/cs.json" 'd["maps"]')" = "$NFILES" ] || fail "maps kept: $(cat "$T/cs.json")"

# Staging again: nothing to fetch, every chunk already cached.
"$BRAMBLE" stage --job 101 --json "$M/env" >"$T/j1b.json" || fail "stage again"
[ "$(json "$T/j1b.json" 'd["fetched_chunks"], d["cached_chunks"]')" = "(0, $total)" ] ||
	fail "second stage: $(cat "$T/j1b.json")"

# ---- two jobs sharing the tree: both pins; releasing one keeps the other's
SLURM_JOB_ID=102 "$BRAMBLE" stage -q "$M/env" || fail "stage for job 102 (SLURM_JOB_ID)"
[ "$(owner_chunks "$NC" job:102)" = "$total" ] || fail "job:102 pins: $(cat "$T/ls.json")"
"$BRAMBLE" stage --release 101 >"$T/out" || fail "release 101"
grep -q "^released $total pin(s) of job:101" "$T/out" || fail "release: $(cat "$T/out")"
[ "$(owner_chunks "$NC" job:101)" = 0 ] || fail "job:101 still pinned: $(cat "$T/ls.json")"
[ "$(owner_chunks "$NC" job:102)" = "$total" ] || fail "job:102 lost pins: $(cat "$T/ls.json")"
"$BRAMBLE" stage --release 999 >/dev/null || fail "release of a job with nothing pinned: not 0"

# ---- a missing path and a path outside any mount: exit 1 with the list
"$BRAMBLE" stage --job 103 "$M/env/no-such" "$T" "$M/env/data.bin" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "missing paths: not exit 1"
grep -qx "bramble stage: not staged: $M/env/no-such: No such file or directory" "$T/err" ||
	fail "missing path: $(cat "$T/err")"
grep -qx "bramble stage: not staged: $T: not in a bramble mount" "$T/err" ||
	fail "path outside: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 2 ] || fail "extra errors: $(cat "$T/err")"
grep -q "^staged 1 files" "$T/out" || fail "the good path was not staged: $(cat "$T/out")"
"$BRAMBLE" stage --job 103 --json "$M/env/no-such" >"$T/j3.json" 2>/dev/null
[ "$(json "$T/j3.json" 'd["ok"], [f["path"] for f in d["not_staged"]]')" = \
  "(False, ['$M/env/no-such'])" ] || fail "JSON of a missing path: $(cat "$T/j3.json")"
"$BRAMBLE" stage 2>/dev/null; [ $? = 2 ] || fail "no path: not exit 2"
"$BRAMBLE" stage --expires soon "$M" 2>/dev/null; [ $? = 2 ] || fail "bad --expires: not exit 2"
# quoted globs are stage's to expand
"$BRAMBLE" stage --job 104 --json "$M/env/lib1*/pkg/m1.py" >"$T/j4.json" || fail "glob"
[ "$(json "$T/j4.json" 'd["files"]')" = 4 ] || fail "glob lib1*: $(cat "$T/j4.json")"

# a learned set (format of fuse/record.h) and a manifest
mkdir "$T/rec"
printf '# bramble learned set v1\nenv/lib6/pkg/m1.py\n./env/lib6/pkg/m2.py\n# truncated\n' >"$T/rec/myset.set"
"$BRAMBLE" stage --job 108 --json --learned myset --record-dir "$T/rec" "$M" >"$T/j8.json" ||
	fail "--learned: $(cat "$T/j8.json")"
[ "$(json "$T/j8.json" 'd["files"]')" = 2 ] || fail "--learned: $(cat "$T/j8.json")"
"$BRAMBLE" stage --job 108 --learned nosuch --record-dir "$T/rec" "$M" 2>"$T/err"
[ $? = 1 ] && grep -q "not staged: $M: learned set 'nosuch': $T/rec/nosuch.set: No such file" "$T/err" ||
	fail "missing learned set: $(cat "$T/err")"
printf '# inputs\n%s\n\n%s/env/lib7\n' "$M/env/data.bin" "$M" >"$T/manifest"
"$BRAMBLE" stage --job 108 --json --manifest "$T/manifest" >"$T/j8.json" || fail "--manifest"
[ "$(json "$T/j8.json" 'd["files"]')" = 26 ] || fail "--manifest: $(cat "$T/j8.json")"

# ---- interrupted half way, then rerun: only what is missing is fetched
I=$EXPORT/inter
mkdir -p "$I"
for j in $(seq 1 48); do head -c $((2 * MIB)) /dev/urandom >"$I/f$j"; done
NI=96                                                 # chunks of 1 MiB
kill -STOP "$SERVER_PID"
"$BRAMBLE" stage --job 105 --threads 1 "$M/inter" >"$T/i1.out" 2>&1 &
SPID=$!
# The walk waits for the stopped server; let it run until some chunks are
# in (a tight loop: the whole staging takes a fraction of a second), then
# stop the server under it and kill it.
kill -CONT "$SERVER_PID"
end=$((SECONDS + 30))
until [ "$(find "$NC/chunks" -type f | wc -l)" -ge $((total + 3)) ]; do
	[ $SECONDS -lt $end ] || fail "stage of inter fetched nothing: $(cat "$T/i1.out")"
done
kill -STOP "$SERVER_PID"
kill -KILL $SPID
wait $SPID 2>/dev/null
kill -CONT "$SERVER_PID"
have=$(owner_chunks "$NC" job:105)
[ "$have" -gt 0 ] && [ "$have" -lt $NI ] || fail "not interrupted half way: $have of $NI pinned"
stats s3
"$BRAMBLE" stage --job 105 --json "$M/inter" >"$T/j5.json" || fail "rerun: $(cat "$T/j5.json")"
stats s4
fetched=$(json "$T/j5.json" 'd["fetched_chunks"]')
[ "$(calls s3 s4 READ_CHUNK)" = "$fetched" ] || fail "rerun READ_CHUNK $(calls s3 s4 READ_CHUNK) != $fetched"
[ "$fetched" -le $((NI - have)) ] || fail "rerun fetched $fetched, but only $((NI - have)) were missing"
[ "$(json "$T/j5.json" 'd["fetched_chunks"] + d["cached_chunks"], d["files"]')" = "($NI, 48)" ] ||
	fail "rerun: $(cat "$T/j5.json")"
[ "$(owner_chunks "$NC" job:105)" = $NI ] || fail "job:105 after rerun: $(cat "$T/ls.json")"
note "interrupted with $have of $NI chunks pinned; the rerun fetched $fetched"

# ---- more than the quota: exit 1, clear message, other pins untouched
S=$T/small
BR_CACHE_DIR=$S br_mount "$T/m2" -o cache_size=6M
head -c $((8 * MIB)) /dev/urandom >"$EXPORT/huge"
"$BRAMBLE" stage --job 106 "$T/m2/env/lib1/big.so" >/dev/null || fail "stage 4 MiB under 6M"
[ "$(owner_chunks "$S" job:106)" = 4 ] || fail "job:106: $(cat "$T/ls.json")"
"$BRAMBLE" stage --job 107 "$T/m2/huge" >"$T/out" 2>"$T/err"
[ $? = 1 ] || fail "over quota: not exit 1"
grep -qx "bramble stage: not staged: $T/m2/huge: no room in the node cache (quota $((6 * MIB)), pinned $((3 * MIB + 17)))" "$T/err" ||
	fail "over quota message: $(cat "$T/err")"
[ "$(owner_chunks "$S" job:106)" = 4 ] || fail "job:106 lost pins: $(cat "$T/ls.json")"
[ "$(owner_chunks "$S" job:107)" = 0 ] || fail "job:107 pinned some: $(cat "$T/ls.json")"

# ---- a staged file changed afterwards by another node (m2; same size): its
# kept map is not used (other mtime/ctime), the mount reads the new bytes
cp "$E/lib2/model.bin" "$T/want-model.bin"
# (written by their owner: the server squashes root)
chown "$BR_UID" "$E/lib2/model.bin" "$E/lib6/pkg/m1.py"
printf 'CHANGED' | as_user dd of="$T/m2/env/lib2/model.bin" bs=1 seek=$((MIB + 5)) conv=notrunc status=none ||
	fail "changing model.bin"
printf 'changed' | as_user dd of="$T/m2/env/lib6/pkg/m1.py" bs=1 seek=3 conv=notrunc status=none ||
	fail "changing m1.py"
cmp -s "$E/lib2/model.bin" "$T/want-model.bin" && fail "model.bin did not change"
"$BRAMBLE" stage --release 102 >/dev/null && "$BRAMBLE" cache --dir "$NC" evict >/dev/null ||
	fail "release and evict"
for f in lib2/model.bin lib6/pkg/m1.py; do
	cmp "$E/$f" "$M/env/$f" || fail "$f read through a stale map"
done

# ---- bramble cache pin PATH, and gc with no Slurm job alive
"$BRAMBLE" cache pin --owner user:pinner "$M/env/lib2" >"$T/out" || fail "cache pin PATH: $(cat "$T/out")"
grep -q "^pinned 26 file(s)" "$T/out" || fail "cache pin: $(cat "$T/out")"
[ "$(owner_chunks "$NC" user:pinner)" -gt 25 ] || fail "user:pinner: $(cat "$T/ls.json")"
# gc: job:105 is no Slurm job alive here -- removed only when Slurm says so
"$BRAMBLE" cache --dir "$NC" gc >"$T/out" 2>"$T/err" || fail "gc: $(cat "$T/err")"
if command -v squeue >/dev/null && squeue -h >/dev/null 2>&1; then
	grep -q "pin(s) of job:105: the job no longer exists" "$T/out" || fail "gc: $(cat "$T/out")"
else
	[ "$(owner_chunks "$NC" job:105)" = $NI ] || fail "gc without Slurm removed job pins"
fi

# ---- the server gone: said at once (no stat through the mount, which would
# wait for it), exit 1.  Reading .bramble still needs the kernel to hold
# the mount root's attributes (its permission check): fresh ones, taken
# just before the stop, last attr_timeout (1 s); a slow machine's gc above
# can take longer than that.
stat "$M" >/dev/null
br_stop_server
"$BRAMBLE" stage --job 109 "$M/env/data.bin" >/dev/null 2>"$T/err"
[ $? = 1 ] || fail "server gone: not exit 1"
grep -qx "bramble stage: not staged: $M/env/data.bin: server 127.0.0.1:$PORT gone: Connection refused" "$T/err" ||
	fail "server gone: $(cat "$T/err")"
exit 0
