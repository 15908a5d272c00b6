#!/bin/bash
# tree10k.sh - the small-file benchmark: a tree of NFILES (10,000)
# files of FILE_KB (4) KiB in NDIRS (100) directories, peers.sh's own
# small-file tree, placed on each peer's backing directory; then, BENCH_RUNS
# (3) times:
#   cold walk   fresh mount, page caches dropped (client and server share
#               this kernel), node cache emptied: `find -type f -printf
#               '%s\n'` (a stat of every file), lines counted
#   warm walk   the same command again at once (the "stat storm")
#   cold read   fresh mount, caches dropped: open + read of every file
#               (peers.sh's PY_READALL, one python3 process)
#   warm read   the same again at once
# Seconds (median of the runs), for bramble also RPCs per file of each
# phase (server counters before/after, by procedure).  Targets:
# cold walk <= 1.2 RPC/file, warm walk within 1.2x bindfs, warm read
# <= 0.5 s.
#
#   sudo bash tests/bench/tree10k.sh [PEER...]   (default: bramble local bindfs sshfs)
#
# Environment: see benchlib.sh; NFILES, NDIRS, FILE_KB as in peers.sh;
# TREE_SRC=DIR: a copy of a real tree instead (e.g. /usr/lib/python3,
# symlinks dereferenced; NFILES becomes its file count).
BENCH_RUNS=${BENCH_RUNS:-3}
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

# tree10k_pass METRIC_PREFIX TEMP TIMES RPCS CMD...: one timed pass that
# must see all NFILES files
tree10k_pass() {
	local -n _tp_t=$2
	bench_timed "$2" "$3" "$NFILES" "${@:4}"
	local cnt
	cnt=$(echo "$OUT" | tail -1 | tr -d ' ')
	if [ "$RC" = 0 ] && [ "$cnt" != "$NFILES" ]; then
		log "   $1: saw $cnt files, not $NFILES"
		_tp_t[-1]="wrong-count-$cnt"
	fi
}

wl_tree10k() {
	log " (tree10k) ${TREE_SRC:-$NFILES x ${FILE_KB} KiB in $NDIRS dirs}: walk and read, cold and warm, $BENCH_RUNS runs"
	local dst=$P_EXPORT/tree
	[ -n "$P_EXPORT" ] || dst=$P_MNT/tree
	if [ -n "${TREE_SRC:-}" ]; then
		cp -rL --preserve=mode,timestamps "$TREE_SRC" "$dst" 2>>"$LOGDIR/$CUR.err"
	else
		mk_tree "$dst"
	fi
	sync
	[ -n "$P_EXPORT" ] || { has "$CUR" drain && call "$CUR" drain; }
	local t_wc=() r_wc=() t_ww=() r_ww=() t_rc=() r_rc=() t_rw=() r_rw=() r
	local walk=(sh -c 'find "$1" -type f -printf "%s\n" | wc -l' _ "$P_MNT/tree")
	local readall=("$PY" -c "$PY_READALL" "$P_MNT/tree")
	for r in $(seq 1 "$BENCH_RUNS"); do
		make_cold
		tree10k_pass walk_cold t_wc r_wc "${walk[@]}"
		tree10k_pass walk_warm t_ww r_ww "${walk[@]}"
		make_cold
		tree10k_pass read_cold t_rc r_rc "${readall[@]}"
		tree10k_pass read_warm t_rw r_rw "${readall[@]}"
	done
	bench_rec tree_walk_cold "" t_wc r_wc
	bench_rec tree_walk_warm "" t_ww r_ww
	bench_rec tree_read_cold "" t_rc r_rc
	bench_rec tree_read_warm "" t_rw r_rw
	if [ -n "$P_EXPORT" ]; then rm -rf "$P_EXPORT/tree"; else rm -rf "$P_MNT/tree"; fi
}

bench_spec() {
	cat <<-EOF
		tree_walk_cold|cold walk: find -printf %s, $NFILES files|s|bindfs|-
		tree_walk_cold_rpc|  bramble RPCs, cold walk|RPC/file|-|le 1.2
		tree_walk_warm|warm walk (stat storm, 2nd pass)|s|bindfs|le_ratio 1.2
		tree_walk_warm_rpc|  bramble RPCs, warm walk|RPC/file|-|-
		tree_read_cold|cold open+read of every file|s|bindfs|-
		tree_read_cold_rpc|  bramble RPCs, cold read|RPC/file|-|-
		tree_read_warm|warm open+read of every file|s|bindfs|le 0.5
		tree_read_warm_rpc|  bramble RPCs, warm read|RPC/file|-|-
	EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	NFILES=${NFILES:-10000} NDIRS=${NDIRS:-100} FILE_KB=${FILE_KB:-4}
	if [ -n "${TREE_SRC:-}" ]; then
		NFILES=$(find -L "$TREE_SRC" -type f 2>/dev/null | wc -l)
		echo "tree10k: a copy of $TREE_SRC ($NFILES files), median of $BENCH_RUNS runs"
	else
		echo "tree10k: $NFILES files x $FILE_KB KiB in $NDIRS dirs, median of $BENCH_RUNS runs"
	fi
	export NFILES NDIRS FILE_KB BENCH_RUNS TREE_SRC
	bench_drive tree10k "$@"
fi
