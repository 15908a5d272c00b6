#!/bin/bash
# 48-tree: TREE, a whole directory tree's metadata in a few calls.
# On a generated tree of 2,500+ files in nested directories (empty
# directories, symlinks -- one pointing outside the export --, a hard link,
# an unreadable directory, a fifo, names with spaces, tabs and newlines, a
# tmpfs mounted inside):
#  - the walk (libbramble, as the tree's owner) lists exactly what find(1)
#    run as that user lists: names, types, sizes, modes, link counts,
#    inodes; the unreadable directory is an entry with EACCES, not a failed
#    walk; the symlinks are symlinks with their targets, never followed;
#    both names of the hard link carry the same handle; the tmpfs is an
#    entry with EXDEV and no handle, nothing inside it listed (find -xdev);
#  - the number of TREE calls is small: 1 with the server's bounds (the
#    whole reply is ~150 bytes an entry, under 768 KiB), and
#    ceil(entries / L) + 1 with L entries a call (the cookie is stateless:
#    a call returns exactly L entries until the last);
#  - max_depth 1 gives find -maxdepth 1;
#  - chunk maps: files of <= 64 KiB get one without asking the server to
#    hash, a 200 KiB file only with BRAMBLE_TREE_HASH, a file of more than
#    64 chunks never (EFBIG), an unreadable file EACCES; every map equals
#    CHUNKMAP of the same file;
#  - a walk resumed while the tree changes (deterministically, between the
#    calls: rawrpc.py tree) never repeats or steps back and ends; one more
#    paged walk runs while a shell loop changes the tree, and must end
#    without error;
#  - malformed arguments (bad cookies, handles, flags, huge limits) get
#    clear errors (rawrpc.py tree).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
command -v setpriv >/dev/null || skip "setpriv (util-linux) needed"
TREECLI=$top_builddir/tests/integ/treecli
[ -x "$TREECLI" ] || fail "no $TREECLI (make check builds it)"
# The tree's owner, who walks it: lib.sh's ordinary user.  treecli and
# rawrpc.py call with its credentials; they stay root processes only to
# bind reserved source ports (the server squashes root, the default).
U=$BR_UID
G=$BR_GID

python3 - "$EXPORT" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(10):
    for j in range(10):
        d = os.path.join(root, "d%d" % i, "s%d" % j)
        os.makedirs(d)
        for k in range(25):
            with open(os.path.join(d, "f%02d" % k), "w") as f:
                f.write(("file %d %d %d\n" % (i, j, k)) * (k + 1))
for d in ("empty1", "empty2/empty3", "d0/s0/emptysub", "with space/new\nline dir",
          "locked/inner", "deep/" + "/".join("l%d" % n for n in range(12))):
    os.makedirs(os.path.join(root, d))
for f, data in (("with space/a file", "x"), ("with space/new\nline dir/tab\tname", "y"),
                ("new\nline", "z"), ("locked/inner/x", "hidden"),
                ("deep/" + "/".join("l%d" % n for n in range(12)) + "/leaf", "deep"),
                ("noread", "secret")):
    with open(os.path.join(root, f), "w") as fh:
        fh.write(data)
for name, size in (("mid.bin", 200 << 10), ("big.bin", 3 << 20), ("huge.bin", 5 << 20)):
    with open(os.path.join(root, name), "wb") as fh:
        fh.write(os.urandom(size))
os.symlink("d0/s0/f00", os.path.join(root, "link-rel"))
os.symlink("../outside", os.path.join(root, "escape"))
os.symlink("/etc", os.path.join(root, "abs"))
os.symlink("nowhere", os.path.join(root, "dangling"))
os.link(os.path.join(root, "d1/s1/f01"), os.path.join(root, "hard"))
os.mkfifo(os.path.join(root, "fifo"))
EOF
mkdir -p "$T/outside/inside"
echo secret >"$T/outside/inside/file"
# Another filesystem mounted in the tree: reported (EXDEV), not entered.
mkdir "$EXPORT/mnt"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$EXPORT/mnt" || skip "cannot mount a tmpfs"
br_on_cleanup 'umount "$EXPORT/mnt" || umount -l "$EXPORT/mnt"'
echo other >"$EXPORT/mnt/other-fs"
chown -R "$U:$G" "$EXPORT"
chmod 000 "$EXPORT/locked" "$EXPORT/noread"

# 64 KiB chunks: big.bin (3 MiB) has 48 chunks, huge.bin (5 MiB) 80.
br_start_server --chunk-size 65536

# What the owner sees, by find(1) run as the owner: NUL-separated records.
(cd "$EXPORT" && as_user \
	find . -mindepth 1 -xdev -printf '%P\0%y\0%s\0%m\0%n\0%i\0' >"$T/find.out" 2>"$T/find.err")
(cd "$EXPORT" && as_user \
	find . -mindepth 1 -maxdepth 1 -xdev -printf '%P\0%y\0%s\0%m\0%n\0%i\0' >"$T/find1.out" 2>/dev/null)
grep -q "locked" "$T/find.err" || fail "find did not meet the unreadable directory: $(cat "$T/find.err")"

cat >"$T/compare.py" <<'EOF'
"""compare.py WALK FIND LOCKED: the walk's lines (treecli) against find's;
LOCKED: the status the unreadable directory must have (-13, or 0 when the
walk does not go into it)."""
import math, stat, sys

def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)

TYPES = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l",
         stat.S_IFIFO: "p", stat.S_IFSOCK: "s", stat.S_IFCHR: "c", stat.S_IFBLK: "b"}
fails = []
def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg, file=sys.stderr)

walk = {}
for line in open(sys.argv[1], encoding="utf-8", newline="\n"):
    f = line.rstrip("\n").split("\t")
    status, mode, size, nlink, ino, fh, map_, target, path = f
    path = unescape(path)
    check(path not in walk, "path twice in the walk: %r" % path)
    walk[path] = dict(status=int(status), mode=int(mode, 8), size=int(size),
                      nlink=int(nlink), ino=int(ino), fh=fh, map=map_,
                      target=unescape(target))
found = {}
rec = open(sys.argv[2], "rb").read().split(b"\0")[:-1]
for i in range(0, len(rec), 6):
    p, y, s, m, n, ino = (x.decode() for x in rec[i:i + 6])
    found[p] = dict(type=y, size=int(s), perm=int(m, 8), nlink=int(n), ino=int(ino))
check(set(walk) == set(found), "walk and find differ: only walk %r, only find %r"
      % (sorted(set(walk) - set(found))[:5], sorted(set(found) - set(walk))[:5]))
for p in set(walk) & set(found):
    w, f = walk[p], found[p]
    got = dict(type=TYPES.get(stat.S_IFMT(w["mode"]), "?"), size=w["size"],
               perm=stat.S_IMODE(w["mode"]), nlink=w["nlink"], ino=w["ino"])
    check(got == f, "%r: walk %r, find %r" % (p, got, f))
    want = int(sys.argv[3]) if p == "locked" else -18 if p == "mnt" else 0
    check(w["status"] == want, "%r: status %d, want %d" % (p, w["status"], want))
    check((w["fh"] == "-") == (p == "mnt"), "%r: handle %s" % (p, w["fh"]))
print("%d entries" % len(walk))
sys.exit(1 if fails else 0)
EOF

# The whole walk with the server's bounds (bramble_tree_walk).
"$TREECLI" "$PORT" $U $G 0 0 0 >"$T/walk.out" 2>"$T/walk.err" || fail "treecli walk: $(cat "$T/walk.err")"
python3 "$T/compare.py" "$T/walk.out" "$T/find.out" -13 || fail "walk differs from find"
N=$(wc -l <"$T/walk.out")
note "$(tail -n 1 "$T/walk.err")"
[ "$N" -ge 2500 ] || fail "only $N entries"
calls=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' "$T/walk.err")
[ "$calls" = 1 ] || fail "whole walk took $calls TREE calls, want 1"

row() { awk -F'\t' -v p="$1" '$9 == p' "${3:-$T/walk.out}"; }
field() { row "$1" "$2" "${3:-}" | cut -f"$2"; }
mapof() { field "$1" 7 "$T/maps.out"; }
[ "$(field escape 8)" = "../outside" ] || fail "escape: $(row escape)"
[ "$(field abs 8)" = "/etc" ] || fail "abs: $(row abs)"
case "$(field escape 2)" in 120*) ;; *) fail "escape is no symlink: $(row escape)" ;; esac
grep -q $'\tescape/' "$T/walk.out" && fail "the walk followed a symlink out of the export"
grep -q $'\tabs/' "$T/walk.out" && fail "the walk followed an absolute symlink"
[ "$(field hard 6)" = "$(field d1/s1/f01 6)" ] || fail "hard link: different handles"
grep -q $'\tlocked/' "$T/walk.out" && fail "entries inside the unreadable directory"
grep -q $'\tmnt/' "$T/walk.out" && fail "the walk entered another filesystem"

# Paged: L entries a call.  Stateless cookie: every call but the last
# returns exactly L, so ceil(N / L) calls, + 1 when N is a multiple of L.
L=100
"$TREECLI" "$PORT" $U $G 0 $L 0 >"$T/paged.out" 2>"$T/paged.err" || fail "paged: $(cat "$T/paged.err")"
cmp -s "$T/walk.out" "$T/paged.out" || fail "paged walk differs from the whole walk"
calls=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' "$T/paged.err")
bound=$(( (N + L - 1) / L + 1 ))
note "paged by $L: $calls calls for $N entries (bound $bound)"
[ "$calls" -le "$bound" ] || fail "$calls calls paged by $L, bound $bound"

# Depth 1: find -maxdepth 1.
"$TREECLI" "$PORT" $U $G 0 1000 1 >"$T/d1.out" 2>"$T/d1.err" || fail "depth 1: $(cat "$T/d1.err")"
python3 "$T/compare.py" "$T/d1.out" "$T/find1.out" 0 || fail "depth-1 walk differs from find -maxdepth 1"

# Chunk maps, checked against CHUNKMAP: without hashing on demand ...
# (An entry hashed less than 1 s after its file changed is not trusted
# later, chunkidx.h: let the chown/chmod above be 1 s old first.)
sleep 1.1
"$TREECLI" "$PORT" $U $G 1 0 0 check-maps >"$T/maps.out" 2>"$T/maps.err" ||
	fail "maps: $(cat "$T/maps.err")"
note "maps: $(tail -n 1 "$T/maps.err")"
case "$(mapof d3/s4/f05)" in v*/1) ;; *) fail "small file map: $(mapof d3/s4/f05)" ;; esac
[ "$(mapof mid.bin)" = E61 ] || fail "200 KiB file not indexed: want ENODATA, got $(mapof mid.bin)"
[ "$(mapof huge.bin)" = E27 ] || fail "80-chunk file: want EFBIG, got $(mapof huge.bin)"
[ "$(mapof noread)" = E13 ] || fail "unreadable file: want EACCES, got $(mapof noread)"
[ "$(mapof d3)" = - ] || fail "a directory with a map"
# ... and with it (BRAMBLE_TREE_HASH), after which the index has them.
"$TREECLI" "$PORT" $U $G 3 0 0 check-maps >"$T/maps.out" 2>"$T/maps.err" ||
	fail "maps with hashing: $(cat "$T/maps.err")"
case "$(mapof mid.bin)" in v*/4) ;; *) fail "mid.bin with hashing: $(mapof mid.bin)" ;; esac
case "$(mapof big.bin)" in v*/48) ;; *) fail "big.bin with hashing: $(mapof big.bin)" ;; esac
[ "$(mapof huge.bin)" = E27 ] || fail "huge.bin with hashing: $(mapof huge.bin)"
"$TREECLI" "$PORT" $U $G 1 0 0 >"$T/maps.out" 2>"$T/maps.err" || fail "maps again"
case "$(mapof mid.bin)" in v*/4) ;; *) fail "mid.bin not from the index: $(mapof mid.bin)" ;; esac

# Malformed arguments, and a walk resumed while the tree changes.
python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" tree "$EXPORT" "$STATE" $U $G ||
	fail "rawrpc tree checks"

# A paged walk while a shell loop changes the tree: it must end cleanly
# (whatever it sees), and the server must live on.
(
	i=0
	while :; do
		i=$((i + 1))
		mkdir -p "$EXPORT/d5/churn$i" && touch "$EXPORT/d5/churn$i/f"
		rm -rf "$EXPORT/d5/churn$((i - 1))"
		mv "$EXPORT/d6/s3" "$EXPORT/d6/s3x" 2>/dev/null || mv "$EXPORT/d6/s3x" "$EXPORT/d6/s3"
	done
) &
churn=$!
br_on_cleanup "kill $churn 2>/dev/null"
"$TREECLI" "$PORT" $U $G 0 37 0 >"$T/churn.out" 2>"$T/churn.err" || fail "walk during changes: $(cat "$T/churn.err")"
kill $churn
wait $churn 2>/dev/null
note "during changes: $(tail -n 1 "$T/churn.err")"
kill -0 "$SERVER_PID" || fail "brambled died"

# The server counts TREE like any other call.
out=$(python3 "$top_srcdir/tests/integ/rawrpc.py" "$PORT" stats) || fail "STATS"
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)["procedures"]; sys.exit(0 if d["TREE"]["calls"] > 0 else 1)' ||
	fail "STATS has no TREE calls: $out"
br_stop_server
exit 0
