#!/bin/bash
# 64-bench-squash: `bramble bench` fails (exit 1) when it could not measure
# a layer, and says which and why: root on a root-squashing server (as
# `sudo bramble bench /clusterfs` runs) gets Permission denied for every
# mount layer.  An ordinary user in a
# directory of their own measures what a user can and exits 0 (the
# root-only layers are skipped by design, not failed).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
mkdir -p "$T/nodecache"
br_start_server                 # root squashed (lib.sh's default)
M=$T/mnt
br_mount "$M"
ARGS="--quick --seconds 1 --size 4M --files 20 --cache-dir $T/nodecache"

# Root, squashed, at the mount's root: nothing through the mount.
"$BRAMBLE" bench $ARGS "$M" >"$T/root.txt" 2>"$T/root.err"
rc=$?
[ "$rc" = 1 ] || fail "bench as a squashed root: exit $rc, want 1: $(cat "$T/root.err")"
grep -q "^bramble bench: could not measure mount, sequential write ... metadata, unlink (9 layers): cannot make $M/.bramble-bench.*: Permission denied" \
	"$T/root.err" || fail "mount layers not named: $(cat "$T/root.err")"
[ "$(grep -c "could not measure" "$T/root.err")" = 1 ] || fail "other failures: $(cat "$T/root.err")"
grep -q "mount, sequential write *FAILED *cannot make" "$T/root.txt" || fail "table: $(cat "$T/root.txt")"
"$BRAMBLE" bench --json $ARGS "$M" >"$T/root.json" 2>/dev/null && fail "bench --json passed"
python3 - "$T/root.json" <<'PY' || fail "JSON of the failed run: $(cat "$T/root.json")"
import json, sys
d = json.load(open(sys.argv[1]))["layers"]
assert d["rtt"]["measured"] and d["net_down"]["measured"], d
for k in ("mount_seq_write", "meta_unlink"):
    assert not d[k]["measured"] and d[k]["failed"], (k, d[k])
# BENCH_DISK takes root as it is before the squash (--bench-disk=root).
assert d["server_disk_write"]["measured"] and d["cache_disk_write"]["measured"], d
PY

# A user in a directory of their own: every layer a user may measure is,
# exit 0; the server's disk and root's cache directory are skipped.
mkdir "$EXPORT/u1" && chown "$BR_UID:$BR_GID" "$EXPORT/u1"
chmod 700 "$T/nodecache"
as_user "$BRAMBLE" bench --json $ARGS "$M/u1" >"$T/user.json" 2>"$T/user.err" ||
	fail "bench as $BR_USER: exit $?: $(cat "$T/user.err")"
python3 - "$T/user.json" <<'PY' || fail "JSON of the user's run: $(cat "$T/user.json")"
import json, sys
d = json.load(open(sys.argv[1]))["layers"]
for k in ("rtt", "net_down", "net_up", "mount_seq_write", "mount_seq_read_cold",
          "mount_rand_read_warm", "meta_create", "meta_unlink"):
    assert d[k]["measured"], (k, d[k])
for k in ("server_disk_write", "cache_disk_write"):
    assert not d[k]["measured"] and not d[k]["failed"], (k, d[k])
PY
grep -q "could not measure" "$T/user.err" && fail "failures reported: $(cat "$T/user.err")"
exit 0
