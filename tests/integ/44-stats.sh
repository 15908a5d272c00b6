#!/bin/bash
# 44-stats: the server's counters are exact for a known workload (100
# GETATTR, 7 LOOKUP of a missing name, one 1 MiB WRITE), through the STATS
# reply itself and through `bramble stats` as JSON, Prometheus text and a
# table; any user may read them from any port, AUTH_NONE may not.  The
# export is an ordinary user's: the raw workload calls with its
# credentials (the python process stays root only for a reserved source
# port), `bramble stats` and the mounts' workload run as_user.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
RAW=$top_srcdir/tests/integ/rawrpc.py
chown "$BR_UID:$BR_GID" "$EXPORT"
br_start_server

# The workload, on one connection of its own; then STATS as uid 1000 from
# an unprivileged port, and STATS with AUTH_NONE (refused: AUTH_TOOWEAK or
# BADCRED, counted as a failed STATS call).
export RAWRPC_UID=$BR_UID RAWRPC_GID=$BR_GID
python3 - "$RAW" "$PORT" >"$T/raw.json" <<'EOF' || fail "workload / STATS: see above"
import json, sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
import rawrpc as r
port = int(sys.argv[2])
c = r.Client(port)
st, root, _ = c.mount("")
assert st == 0, "MOUNT %s" % st
for _ in range(100):
    assert c.getattr(root)[0] == 0
for _ in range(7):
    assert c.lookup(root, "no-such-name")[0] == 2, "LOOKUP of a missing name"
st, fh, _ = c.create(root, "big")
assert st == 0, "CREATE %s" % st
st, n, _ = c.write(fh, 0, b"x" * (1 << 20))
assert st == 0 and n == 1 << 20, "WRITE %s %s" % (st, n)
c.close()
u = r.Client(port, reserved=False, uid=1000, gid=1000)
none = u.call(r.STATS, r.P().u32(0).bytes(), auth=r.AUTH_NONE)
assert none.denied, "STATS with AUTH_NONE answered"
st, d = u.stats()
assert st == 0, "STATS as uid 1000 from port >= 1024: %s" % (st,)
print(json.dumps(d))
EOF
unset RAWRPC_UID RAWRPC_GID

# check FILE LABEL: the counters the workload implies.
check_counts() {
	python3 - "$1" "$2" <<'EOF' || fail "$2: counters wrong (see above)"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["procedures"]
def eq(what, got, want):
    if got != want:
        sys.exit("%s: %s is %s, want %s" % (sys.argv[2], what, got, want))
eq("GETATTR calls", p["GETATTR"]["calls"], 100)
eq("GETATTR errors", p["GETATTR"]["errors"], 0)
eq("LOOKUP calls", p["LOOKUP"]["calls"], 7)
eq("LOOKUP errors", p["LOOKUP"]["errors"], 7)
eq("MOUNT calls", p["MOUNT"]["calls"], 1)
eq("CREATE calls", p["CREATE"]["calls"], 1)
eq("WRITE calls", p["WRITE"]["calls"], 1)
eq("READ calls", p["READ"]["calls"], 0)
eq("STATS errors", p["STATS"]["errors"], 1)   # the AUTH_NONE one
w = p["WRITE"]
if w["bytes_in"] < 1 << 20 or w["bytes_out"] <= 0:
    sys.exit("WRITE bytes in/out %d/%d" % (w["bytes_in"], w["bytes_out"]))
if d["disk"]["write_bytes"] < 1 << 20 or d["disk"]["write_ns"] <= 0:
    sys.exit("disk writes %s" % d["disk"])
g = p["GETATTR"]
if g["bytes_in"] <= 100 * 40 or g["bytes_out"] <= 100 * 40:
    sys.exit("GETATTR bytes %d/%d" % (g["bytes_in"], g["bytes_out"]))
if not (0 < g["max_us"] and g["p50_us"] <= g["p90_us"] <= g["p99_us"] <= g["max_us"]):
    sys.exit("GETATTR latencies %s" % g)
if g["sum_us"] < g["max_us"]:
    sys.exit("GETATTR latency sum %s" % g)
c = d["connections"]
if c["total"] < 2 or c["current"] < 1 or c["refused"] != 0:
    sys.exit("connections %s" % c)
EOF
}
check_counts "$T/raw.json" "STATS reply"

# bramble stats --json, as an ordinary user (any port is fine for STATS).
as_user "$BRAMBLE" stats --json "127.0.0.1:$PORT" >"$T/stats.json" 2>"$T/err" ||
	fail "bramble stats --json as uid $BR_UID: $(cat "$T/err")"
check_counts "$T/stats.json" "bramble stats --json"
grep -q '"server": "127.0.0.1:'"$PORT"'"' "$T/stats.json" || fail "no server in the JSON"

# --prometheus: every sample line is `name{labels} value', each family's
# HELP and TYPE come (once) before its samples, GETATTR's counter is 100.
as_user "$BRAMBLE" stats --prometheus "127.0.0.1:$PORT" >"$T/prom" || fail "bramble stats --prometheus"
python3 - "$T/prom" <<'EOF' || fail "Prometheus text not valid (see above)"
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
lv = r'"(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r"^(%s)\{(%s=%s(?:,%s=%s)*)\} (\S+)$" % (name, name, lv, name, lv))
helped, typed, seen, getattr_calls = set(), {}, set(), None
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % name, line)
    if m:
        kind, fam = m.group(1), m.group(2)
        if fam in seen:
            sys.exit("line %d: %s after its samples" % (n, kind))
        if kind == "HELP":
            if fam in helped:
                sys.exit("line %d: second HELP for %s" % (n, fam))
            helped.add(fam)
        else:
            if fam in typed or m.group(3) not in ("counter", "gauge", "summary"):
                sys.exit("line %d: bad TYPE" % n)
            typed[fam] = m.group(3)
        continue
    m = sample.match(line)
    if not m:
        sys.exit("line %d does not parse: %r" % (n, line))
    metric, labels, value = m.groups()
    float(value)
    base = re.sub(r"_(sum|count)$", "", metric)
    fam = base if typed.get(base) == "summary" else metric
    if fam not in typed or fam not in helped:
        sys.exit("line %d: %s has no HELP/TYPE before it" % (n, metric))
    if typed[fam] == "counter" and not fam.endswith("_total"):
        sys.exit("line %d: counter %s does not end in _total" % (n, fam))
    if typed[fam] == "summary" and metric == fam and 'quantile="' not in labels:
        sys.exit("line %d: summary sample without quantile" % n)
    seen.add(fam)
    if metric == "bramble_server_calls_total" and 'proc="GETATTR"' in labels:
        getattr_calls = float(value)
if getattr_calls != 100:
    sys.exit("bramble_server_calls_total GETATTR is %s" % getattr_calls)
for fam in ("bramble_server_latency_seconds", "bramble_server_disk_written_bytes_total",
            "bramble_server_connections"):
    if fam not in seen:
        sys.exit("no %s" % fam)
EOF

# The table: its header, and GETATTR's row with 100 calls.
as_user "$BRAMBLE" stats "127.0.0.1:$PORT" >"$T/table" || fail "bramble stats"
grep -Eq '^procedure +calls +errors +MB in +MB out +p50 us +p90 us +p99 us +max us$' "$T/table" ||
	fail "no table header: $(cat "$T/table")"
grep -Eq '^GETATTR +100 +0 ' "$T/table" || fail "no GETATTR row: $(cat "$T/table")"
grep -Eq '^LOOKUP +7 +7 ' "$T/table" || fail "no LOOKUP row: $(cat "$T/table")"
grep -q '^disk: ' "$T/table" || fail "no disk line: $(cat "$T/table")"

# --watch prints rates once per interval (--count ends it); through a
# mount the target is the mount's server.
br_mount "$T/mnt"
as_user "$BRAMBLE" stats --watch 0.2 --count 2 "$T/mnt" >"$T/watch" || fail "bramble stats --watch"
[ "$(grep -c 'calls/s' "$T/watch")" = 2 ] || fail "--watch: $(cat "$T/watch")"
grep -q 'connections .* open' "$T/watch" || fail "--watch: $(cat "$T/watch")"
as_user "$BRAMBLE" stats --json "$T/mnt" | python3 -c 'import json, sys; json.load(sys.stdin)' ||
	fail "bramble stats --json MOUNT"
as_user "$BRAMBLE" stats --watch 1 --json "127.0.0.1:$PORT" 2>/dev/null && fail "--watch with --json accepted"

# The mount's own counters (its .bramble): 50 stats of a file with no
# attribute caching and no lease are exactly 100 GETATTR calls of the
# mount -- 50 of the file, and 50 of the mount's root, whose attributes
# the kernel fetches again (attr_timeout=0) for its search-permission
# check before each lookup of f (bramblefs mounts with default_permissions,
# root or not) -- in the JSON, the Prometheus text and the table.
br_mount "$T/m2" -o attr_timeout=0,entry_timeout=3600,lease=0
as_user sh -c "echo hi >$T/m2/f" || fail "write on the mount"
as_user stat "$T/m2/f" >/dev/null || fail "stat on the mount"
mount_getattr() {
	as_user "$BRAMBLE" stats --json "$T/m2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["mount"]["counters"].get("rpc.GETATTR.calls", 0))'
}
# (the tool itself looks at the mount's root: measure what that costs.
# Anything else on the machine that stats the mount point in the window
# adds a GETATTR too: measure twice before calling a count wrong.)
for try in 1 2; do
	first=$(mount_getattr) || fail "bramble stats --json MOUNT: no mount counters"
	before=$(mount_getattr)
	as_user python3 -c 'import os, sys
for _ in range(50): os.stat(sys.argv[1])' "$T/m2/f"
	after=$(mount_getattr)
	own=$((before - first))
	[ "$((after - before - own))" = 100 ] && break
	note "try $try: the mount counted $((after - before - own)) GETATTR for 50 stats"
done
[ "$((after - before - own))" = 100 ] ||
	fail "50 stats: the mount counted $((after - before - own)) GETATTR (+$own of the tool's)"
as_user "$BRAMBLE" stats --prometheus "$T/m2" >"$T/mprom" || fail "bramble stats --prometheus MOUNT"
# (those two tools count on: the same counter, at least as high)
v=$(sed -n "s/^bramble_mount_rpc_calls_total{mount=\"${T//\//\\/}\/m2\",proc=\"GETATTR\"} //p" "$T/mprom")
[ -n "$v" ] && [ "$v" -ge "$after" ] || fail "no mount GETATTR sample: $(grep GETATTR "$T/mprom")"
as_user "$BRAMBLE" stats "$T/m2" >"$T/mtable" || fail "bramble stats MOUNT"
grep -q "^mount $T/m2\$" "$T/mtable" || fail "no mount section: $(cat "$T/mtable")"
v=$(awk '/^mount /{ m = 1 } m && $1 == "GETATTR" { print $2 }' "$T/mtable")
[ -n "$v" ] && [ "$v" -ge "$after" ] || fail "no mount GETATTR row: $(cat "$T/mtable")"
exit 0
