# benchlib.sh - shared by the workload benchmarks (tree10k.sh, importstorm.sh,
# warmread.sh).  Each of those files is used two ways:
#
#  * run by hand (`bash tests/bench/tree10k.sh [PEER...]`, as root): the
#    driver half (bench_drive) runs ../shared/bench/peers.sh with
#    PLUGINS="bramble-peer.sh <the script>" and PEER_WORKLOADS=<its workload>,
#    so every peer (default: bramble local bindfs sshfs) is set up, mounted,
#    made cold and torn down by peers.sh's own functions, in one run; then
#    bench_render prints the table (metric, unit, each peer, ratio, target,
#    met/missed) from that run's results file.
#  * sourced by peers.sh as a PLUGINS file: the workload half (wl_NAME) runs
#    inside peers.sh, with its helpers (make_cold, run_timed, rec, mk_tree...).
#
# Every figure is the median of BENCH_RUNS runs (the runs themselves are
# kept as the note of each result, printed under the table).  For bramble
# the server's counters (`bramble stats --json`) are read before and after
# each measured command: RPCs per file (or per run) by procedure.
#
# Environment: BRAMBLE_BUILD (build dir, default build/), BENCH_BASE (work
# areas: BENCH_BASE-NAME, default /tmp/bramble-bench), BENCH_RUNS, PEERS_SH,
# and peers.sh's own (NFILES, NDIRS, FILE_KB, OP_TIMEOUT...).

BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_TOP=$(cd "$BENCH_HERE/../.." && pwd)
BRAMBLE_BUILD=${BRAMBLE_BUILD:-$BENCH_TOP/build}
BENCH_PY=${PY:-/usr/bin/python3}

# ---------------------------------------------------------------- both halves

# median of the arguments (numbers); the mean of the middle two for an
# even count
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else if (NR) print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------- plugin half
# (only meaningful inside peers.sh: CUR, P_*, rec, run_timed are its own)

# PEER_WORKLOADS replaces the workload list of every peer (peers.sh sets
# "a b c d e" in peer_conf); wrapped once, however many plugins source this.
if declare -F peer_conf >/dev/null && ! declare -F bench_orig_peer_conf >/dev/null; then
	eval "bench_orig_$(declare -f peer_conf)"
	peer_conf() {
		bench_orig_peer_conf "$@" || return
		[ -n "${PEER_WORKLOADS:-}" ] && P_WORKLOADS=$PEER_WORKLOADS
		return 0
	}
fi

# bench_snap FILE: the bramble server's counters into FILE (bramble only;
# elsewhere an empty file).  Its own HELLO and STATS calls are left out by
# bench_rpcs.
bench_snap() {
	: >"$1"
	[ "$CUR" = bramble ] || return 0
	"$BRAMBLE_BUILD/tools/bramble" stats --json "127.0.0.1:$(cat "$P_STATE/port")" >"$1" 2>>"$LOGDIR/$CUR.err" ||
		log "   bramble stats failed"
}

# bench_rpcs BEFORE AFTER DIVISOR: "TOTAL/DIVISOR<TAB>PROC n/DIVISOR (mean
# server latency), ..."
# (the calls between two snapshots, all procedures but HELLO and STATS,
# which are the snapshots' own); nothing when not bramble.
bench_rpcs() {
	[ -s "$1" ] && [ -s "$2" ] || return 0
	"$BENCH_PY" - "$1" "$2" "$3" <<-'EOF'
		import json, sys
		a, b = (json.load(open(f))["procedures"] for f in sys.argv[1:3])
		div = float(sys.argv[3])
		delta = lambda p, k: b[p][k] - a.get(p, {}).get(k, 0)
		d = {p: delta(p, "calls") for p in b if p not in ("HELLO", "STATS")}
		d = {p: n for p, n in d.items() if n}
		tot = sum(d.values())
		fmt = lambda x: "%.0f" % (x / div) if x / div >= 100 else "%.3g" % (x / div)
		# with each procedure's mean server-side latency (request read to
		# reply queued): where the time goes
		parts = ["%s %s (%.0f us)" % (p, fmt(n), delta(p, "sum_us") / n)
		         for p, n in sorted(d.items(), key=lambda kv: -kv[1])]
		print("%s\t%s" % (fmt(tot), ", ".join(parts) or "none"))
	EOF
}

# bench_timed LIST_VAR RPC_VAR DIVISOR CMD...: run CMD once (run_timed), add
# its seconds to the array LIST_VAR and, for bramble, its RPCs per DIVISOR
# ("total<TAB>breakdown") to the array RPC_VAR.  Returns CMD's status.
bench_timed() {
	local -n _times=$1 _rpcs=$2
	local div=$3 snap=$P_STATE/bench-snap
	shift 3
	bench_snap "$snap.0"
	run_timed "$@"
	local rc=$RC
	bench_snap "$snap.1"
	if [ "$rc" = 0 ]; then _times+=("$T"); else _times+=("$(tval)"); fi
	_rpcs+=("$(bench_rpcs "$snap.0" "$snap.1" "$div")")
	return "$rc"
}

# bench_rec METRIC UNIT_NOTE TIMES_ARRAY [RPC_ARRAY]: record the median of
# the runs (note: every run), and for bramble the median RPC count as
# METRIC_rpc (note: the breakdown of the run that gave the median).
bench_rec() {
	local metric=$1 note=$2
	local -n _t=$3
	local nums=() v
	for v in "${_t[@]}"; do [[ $v =~ ^[0-9.]+$ ]] && nums+=("$v"); done
	if [ "${#nums[@]}" = "${#_t[@]}" ] && [ "${#nums[@]}" -gt 0 ]; then
		rec "$CUR" "$metric" "$(bench_median "${nums[@]}")" "${note:+$note; }runs: ${_t[*]}"
	else
		rec "$CUR" "$metric" "${_t[-1]:-error}" "runs: ${_t[*]}"
	fi
	[ $# -ge 4 ] || return 0
	local -n _r=$4
	local tots=() med line
	for line in "${_r[@]}"; do [ -n "$line" ] && tots+=("${line%%$'\t'*}"); done
	[ "${#tots[@]}" -gt 0 ] || return 0
	med=$(bench_median "${tots[@]}")
	for line in "${_r[@]}"; do
		[ "${line%%$'\t'*}" = "$med" ] && { rec "$CUR" "${metric}_rpc" "$med" "${line#*$'\t'}"; return 0; }
	done
	rec "$CUR" "${metric}_rpc" "$med" "last run: ${_r[-1]#*$'\t'}"
}

# ---------------------------------------------------------------- driver half

bench_die() { echo "bench: $*" >&2; exit 1; }

# bench_drive NAME [PEER...]: run workload NAME (wl_NAME, defined in the
# calling script) on each peer through peers.sh; then bench_spec (defined
# by the caller) feeds bench_render.  Peers default to BENCH_PEERS or
# "bramble local bindfs sshfs".
bench_drive() {
	local name=$1 self
	shift
	self=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$(basename "${BASH_SOURCE[1]}")
	[ "$(id -u)" = 0 ] || bench_die "run as root (FUSE mounts, drop_caches)"
	local f
	for f in server/brambled fuse/bramblefs tools/bramble; do
		[ -x "$BRAMBLE_BUILD/$f" ] || bench_die "no $BRAMBLE_BUILD/$f (set BRAMBLE_BUILD)"
	done
	PEERS_SH=${PEERS_SH:-$BENCH_TOP/../shared/bench/peers.sh}
	[ -f "$PEERS_SH" ] || bench_die "$PEERS_SH not found (set PEERS_SH)"
	command -v fio >/dev/null || bench_die "fio missing: scripts/install-deps --bench"
	[ $# -gt 0 ] || set -- ${BENCH_PEERS:-bramble local bindfs sshfs}
	export BRAMBLE_BUILD
	export BASE=${BENCH_BASE:-/tmp/bramble-bench}-$name
	export RESULTS_TSV=$BASE/results.tsv RESULTS_MD=$BASE/peers-results.md
	export PLUGINS="$BENCH_HERE/bramble-peer.sh $self" PEER_WORKLOADS=$name
	mkdir -p "$BASE"
	rm -f "$RESULTS_TSV" # only this run's figures
	echo "bench $name: peers $*; log $BASE/logs/run.log" >&2
	bash "$PEERS_SH" run "$@" >/dev/null || bench_die "peers.sh run failed"
	bench_spec | bench_render "$RESULTS_TSV" "$*"
}

# bench_render TSV "PEERS": the table.  stdin: the rows, one per line,
# fields separated by '|':
#   METRIC|LABEL|UNIT|REF_PEER|TARGET
# REF_PEER: the peer the ratio (bramble / REF) is taken against, or "-".
# TARGET: "-" (none), "le_ratio X" (bramble <= X * REF), "ge_ratio X"
# (bramble >= X * REF), "le X" (bramble <= X), "ge X" (bramble >= X).
# METRIC_rpc rows (bramble's RPC counts, bench_rec) show bramble only.
# A cell is the median, then [min-max] of the runs bench_rec noted.
bench_render() {
	local spec
	spec=$(cat)
	"$BENCH_PY" - "$1" "$2" "$spec" <<-'EOF'
		import sys, collections, re
		tsv, peers, spec = sys.argv[1], sys.argv[2].split(), sys.argv[3]
		R = collections.defaultdict(dict); N = collections.defaultdict(dict)
		for line in open(tsv):
		    f = line.rstrip("\n").split("\t")
		    if len(f) < 3 or f[0] == "_params": continue
		    R[f[0]][f[1]] = f[2]
		    N[f[0]][f[1]] = f[3] if len(f) > 3 else ""
		def num(v):
		    try: return float(v)
		    except (TypeError, ValueError): return None
		def show(v):
		    x = num(v)
		    if x is None: return v or "-"
		    return "%.0f" % x if x >= 100 else "%.1f" % x if x >= 10 else "%.3g" % x
		def cell(p, key):  # the median, and [min-max] of the runs (bench_rec's note)
		    m = re.search(r"runs: (.*)$", N[p].get(key, ""))
		    xs = [num(x) for x in m.group(1).split()] if m else []
		    if len(xs) < 2 or None in xs: return show(R[p].get(key))
		    return "%s [%s-%s]" % (show(R[p].get(key)), show(min(xs)), show(max(xs)))
		head = ["metric", "unit"] + peers + ["ratio", "target", "result"]
		rows = []
		for line in spec.splitlines():
		    if not line.strip(): continue
		    key, label, unit, ref, target = (s.strip() for s in line.split("|"))
		    label = line.split("|")[1].rstrip()
		    b = num(R["bramble"].get(key))
		    r = num(R[ref].get(key)) if ref != "-" else None
		    ratio = "%.2fx %s" % (b / r, ref) if b is not None and r else "-"
		    t = target.split()
		    res, tshow = "-", "-"
		    if t and t[0] != "-":
		        x = float(t[1])
		        if t[0] == "le_ratio": tshow, ok = "<= %gx %s" % (x, ref), (b is not None and r and b <= x * r)
		        elif t[0] == "ge_ratio": tshow, ok = ">= %gx %s" % (x, ref), (b is not None and r and b >= x * r)
		        elif t[0] == "le": tshow, ok = "<= %g %s" % (x, unit), (b is not None and b <= x)
		        else: tshow, ok = ">= %g %s" % (x, unit), (b is not None and b >= x)
		        res = "met" if ok else "MISSED" if b is not None and (r or t[0] in ("le", "ge")) else "n/a"
		    cells = [cell(p, key) if p == "bramble" or not key.endswith("_rpc") else ""
		             for p in peers]
		    rows.append([label, unit] + cells + [ratio, tshow, res])
		w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
		fmt = lambda r: "  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r))
		print(fmt(head)); print("  ".join("-" * x for x in w))
		for r in rows: print(fmt(r))
		print()
		for p in peers:
		    d = R[p].get("desc")
		    if d: print("%s: %s (%s)" % (p, d, R[p].get("status", "?")))
		print()
		print("runs (the median [min-max] is shown above); bramble RPCs by procedure, per the same unit:")
		for line in spec.splitlines():
		    if not line.strip(): continue
		    key = line.split("|")[0].strip()
		    for p in peers:
		        if N[p].get(key): print("  %s %s: %s" % (key, p, N[p][key]))
	EOF
}
