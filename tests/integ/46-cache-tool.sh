#!/bin/bash
# 46-cache-tool: `bramble cache` on a node cache directory that cacheput
# fills from local files: stats and ls (text and JSON) agree with what was
# put, pins by owner, pin/unpin, evict around pins, gc of expired pins,
# verify of a corrupted chunk and a stray file, the quota under more data
# than it holds, and errors (no cache there, bad arguments).  All as root:
# the node cache is root's, and `bramble cache` is run by root (or the
# Prolog/Epilog) on real nodes; there is no mount and no server here.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
PUT=$top_builddir/tests/integ/cacheput
D=$T/cache
MIB=1048576
cache() { "$BRAMBLE" cache --dir "$D" "$@"; }
# jq-less JSON field: json FILE EXPR (EXPR in Python over `d')
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

head -c $((3 * MIB)) /dev/urandom >"$T/a"
cp "$T/a" "$T/b"                              # same chunks: dedup
head -c $((2 * MIB)) /dev/urandom >"$T/c"
head -c $((12 * MIB)) /dev/urandom >"$T/big"

# No cache there: an error, and nothing created.
"$BRAMBLE" cache --dir "$T/none" stats 2>"$T/err" && fail "stats of a missing cache worked"
grep -q "no node cache in '$T/none'" "$T/err" || fail "missing cache: $(cat "$T/err")"
[ -e "$T/none" ] && fail "stats created $T/none"
"$BRAMBLE" cache --dir "$T" bogus 2>/dev/null; [ $? = 2 ] || fail "unknown subcommand: not exit 2"

exp=$(( $(date +%s) + 3600 ))
"$PUT" "$D" $((8 * MIB)) $MIB -o job:1 -e $exp "$T/a" >"$T/a.hashes" 2>"$T/put.log" ||
	fail "cacheput a: $(cat "$T/put.log")"
"$PUT" "$D" 0 $MIB "$T/c" "$T/b" >"$T/c.hashes" 2>>"$T/put.log" || fail "cacheput c b"
A0=$(sed -n 1p "$T/a.hashes" | cut -d' ' -f1)
C0=$(sed -n 1p "$T/c.hashes" | cut -d' ' -f1)
C1=$(sed -n 2p "$T/c.hashes" | cut -d' ' -f1)

cache stats --json >"$T/s.json" || fail "stats --json"
[ "$(json "$T/s.json" 'd["chunks"], d["used"], d["quota"], d["pinned_chunks"]')" = \
  "(5, $((5 * MIB)), $((8 * MIB)), 3)" ] || fail "stats: $(cat "$T/s.json")"
cache stats | grep -Eq "^chunks +5$" || fail "stats table: $(cache stats)"

cache ls >"$T/ls" || fail "ls"
grep -Eq "^job:1 +3 +$((3 * MIB)) +[0-9]{4}-" "$T/ls" || fail "ls: $(cat "$T/ls")"
cache ls -l --json >"$T/ls.json" || fail "ls -l --json"
[ "$(json "$T/ls.json" 'len(d["chunk_list"]), sum(c["pins"] for c in d["chunk_list"])')" = "(5, 3)" ] ||
	fail "ls -l --json: $(cat "$T/ls.json")"
[ "$(json "$T/ls.json" '[(p["owner"], p["chunks"], p["expires"]) for p in d["pins"]]')" = \
  "[('job:1', 3, $exp)]" ] || fail "pins in JSON: $(cat "$T/ls.json")"
cache ls -l | grep -Eq "^$C1 +$MIB .* 0$" || fail "ls -l: no unpinned $C1"

# pin / unpin
cache pin --owner user:alice "$C0" || fail "pin C0"
cache pin --owner user:alice 00000000000000000000000000000000 2>"$T/err"
[ $? = 1 ] && grep -q "not in the cache" "$T/err" || fail "pin of an unknown chunk: $(cat "$T/err")"
cache pin --owner x not-a-hash 2>/dev/null; [ $? = 2 ] || fail "pin of a bad hash: not exit 2"
cache pin "$C0" 2>/dev/null; [ $? = 2 ] || fail "pin without --owner: not exit 2"
cache ls --json >"$T/ls.json"
[ "$(json "$T/ls.json" '[p["owner"] for p in d["pins"]]')" = "['job:1', 'user:alice']" ] ||
	fail "owners: $(cat "$T/ls.json")"

# evict: only C1 is unpinned
cache evict >"$T/out" || fail "evict"
grep -q "^evicted $MIB bytes; $((4 * MIB)) bytes in 4 chunks remain (4 pinned)" "$T/out" ||
	fail "evict: $(cat "$T/out")"
[ "$(cache unpin user:alice)" = "removed 1 pin(s) of 'user:alice'" ] || fail "unpin owner"
cache evict --keep 3M >"$T/out" || fail "evict --keep"
grep -q "in 3 chunks remain" "$T/out" || fail "evict --keep 3M: $(cat "$T/out")"
cache evict --keep lots 2>/dev/null; [ $? = 2 ] || fail "evict --keep lots: not exit 2"

# gc: pins whose expiry passed (put as already expired), not job:1's
"$PUT" "$D" 0 $MIB -o old -e $(( $(date +%s) - 5 )) "$T/a" >/dev/null 2>>"$T/put.log" || fail "re-put a"
[ "$(cache gc)" = "removed 3 expired pin(s)" ] || fail "gc: $(cache gc)"
[ "$(cache gc)" = "removed 0 expired pin(s)" ] || fail "second gc"
[ "$(cache unpin job:1 "$A0")" = "removed 1 pin(s) of 'job:1'" ] || fail "unpin one hash"

# verify: a flipped byte in a chunk and a file no index row names
f=$(find "$D/chunks" -name "$A0")
printf '\xff\xfe' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
mkdir -p "$D/chunks/ff"
echo stray >"$D/chunks/ff/ffffffffffffffffffffffffffffffff"
cache verify >"$T/out"; rc=$?
[ $rc = 1 ] || fail "verify with a bad chunk: exit $rc"
grep -q "^checked 3 chunks ($((3 * MIB)) bytes): 1 bad (removed), 1 stray files removed" "$T/out" ||
	fail "verify: $(cat "$T/out")"
[ -e "$f" ] && fail "bad chunk file still there"
cache verify >"$T/out" || fail "second verify: $(cat "$T/out")"
grep -q ": 0 bad (removed), 0 stray" "$T/out" || fail "second verify: $(cat "$T/out")"
"$PUT" "$D" 0 $MIB -r "$T/a" >/dev/null 2>&1; [ $? = 3 ] || fail "a's bad chunk still cached"
"$PUT" "$D" 0 $MIB "$T/a" >/dev/null 2>>"$T/put.log" || fail "put a again (repair)"
"$PUT" "$D" 0 $MIB -r "$T/a" "$T/b" >/dev/null 2>>"$T/put.log" || fail "a and b back"

# The quota holds under 12 MiB of new data, in the index and on disk,
# and the tool sees the pinned chunk survive it.
cache pin --owner keep "$A0" || fail "pin A0"
"$PUT" "$D" 0 $MIB "$T/big" >/dev/null 2>>"$T/put.log" || fail "cacheput big"
cache stats --json >"$T/s.json"
used=$(json "$T/s.json" 'd["used"]')
[ "$used" -le $((8 * MIB)) ] || fail "used $used > quota"
ondisk=$(find "$D/chunks" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
[ "$ondisk" = "$used" ] || fail "chunk files hold $ondisk bytes, the index says $used"
cache ls -l | grep -q "^$A0 " || fail "pinned A0 evicted"
cache verify >/dev/null || fail "verify after the quota run"
grep "MB/s" "$T/put.log" | tail -n 2 | sed 's/^/# /' >&2
exit 0
