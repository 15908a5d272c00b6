#!/bin/bash
# stagebench.sh - the staging benchmark: a venv-sized tree (a copy of
# the Python standard library, thousands of files, plus STAGE_BIG_MB of
# model-like files) on each peer's backing directory, BENCH_RUNS (3) times:
#   cp -r, cold     fresh mount, page caches dropped (bramble: node cache
#                   emptied, server restarted): `cp -r` of the tree from
#                   the mount to local disk -- what a job does without
#                   staging (every peer);
#   stage, cold     bramble only, as cold: `bramble stage` of the tree (the
#                   Prolog's work: TREE walk, pipelined chunk fetch, pins);
#   import after    bramble: the job's first `python3 -c "import ..."` of
#                   the staged tree (its modules from the mount); local:
#                   the same from the local tree.  For bramble also the
#                   data RPCs it made (none: staging fetched everything).
# MB/s are of the tree's bytes (10^6 bytes/s).  Target: cold
# staging at least 3x faster than `cp -r` from sshfs.
#
#   sudo bash tests/bench/stagebench.sh [PEER...]   (default: bramble local bindfs sshfs)
BENCH_RUNS=${BENCH_RUNS:-3}
STAGE_BIG_MB=${STAGE_BIG_MB:-200}
STAGE_SRC=${STAGE_SRC:-/usr/lib/python3.11}
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

STAGE_MODS="json email.parser http.client xml.etree.ElementTree asyncio unittest decimal logging argparse csv sqlite3 urllib.request zipfile tarfile"

# stage_mbs TIMES_ARRAY BYTES: seconds -> MB/s, in place
stage_mbs() {
	local -n _sm=$1
	local i
	for i in "${!_sm[@]}"; do
		[[ ${_sm[$i]} =~ ^[0-9.]+$ ]] &&
			_sm[$i]=$(awk -v s="${_sm[$i]}" -v b="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }')
	done
}

# The import a staged job runs first, its modules from the tree given
# (checked): a command line, as run_timed runs commands, not functions.
stage_import_cmd() {
	STAGE_IMPORT=("$BENCH_PY" -I -B -c "
import sys; sys.path.insert(0, sys.argv[1])
import $(echo "$STAGE_MODS" | tr ' ' ',')
import json as j
assert j.__file__.startswith(sys.argv[1]), j.__file__" "$1")
}

wl_stagebench() {
	local tree=$P_MNT/stagetree dest=$P_STATE/stage-copy
	local t_cp=() r_cp=() t_st=() r_st=() t_im=() r_im=() r bytes
	log " (stagebench) cp -r / bramble stage of $STAGE_SRC + ${STAGE_BIG_MB} MiB, then an import; $BENCH_RUNS runs"
	local where=${P_EXPORT:-$P_MNT}
	rm -rf "$where/stagetree"
	cp -rL "$STAGE_SRC" "$where/stagetree" 2>/dev/null
	find "$where/stagetree" -name __pycache__ -prune -exec rm -rf {} +
	head -c $((STAGE_BIG_MB / 2))M /dev/urandom >"$where/stagetree/model-a.bin"
	head -c $((STAGE_BIG_MB / 2))M /dev/urandom >"$where/stagetree/model-b.bin"
	sync
	[ -n "$P_EXPORT" ] || { has "$CUR" drain && call "$CUR" drain; }
	bytes=$(du -sb --apparent-size "$where/stagetree" | cut -f1)
	for r in $(seq 1 "$BENCH_RUNS"); do
		make_cold
		rm -rf "$dest"
		bench_timed t_cp r_cp 1 cp -r "$tree" "$dest"
		rm -rf "$dest"
		if [ "$CUR" = bramble ]; then
			make_cold
			bench_timed t_st r_st 1 "$BRAMBLE_BUILD/tools/bramble" stage -q \
				--job "bench$r" "$tree"
			stage_import_cmd "$tree"
			bench_timed t_im r_im 1 "${STAGE_IMPORT[@]}"
			"$BRAMBLE_BUILD/tools/bramble" stage --release "bench$r" "$tree" >/dev/null 2>&1
		elif [ "$CUR" = local ]; then
			make_cold
			stage_import_cmd "$tree"
			bench_timed t_im r_im 1 "${STAGE_IMPORT[@]}"
		fi
	done
	stage_mbs t_cp "$bytes"
	bench_rec stage_cp "" t_cp r_cp
	if [ "$CUR" = bramble ]; then
		stage_mbs t_st "$bytes"
		bench_rec stage_cold "" t_st r_st
	fi
	[ "${#t_im[@]}" -gt 0 ] && bench_rec stage_import "" t_im r_im
	rm -rf "$where/stagetree" "$dest"
}

bench_spec() {
	cat <<-EOF
		stage_cp|cp -r of the tree, cold|MB/s|sshfs|-
		stage_cp_rpc|  bramble RPCs, cp -r|RPC/run|-|-
		stage_cold|bramble stage of the tree, cold|MB/s|sshfs|-
		stage_cold_rpc|  bramble RPCs, stage|RPC/run|-|-
		stage_import|first import after staging|s|local|-
		stage_import_rpc|  bramble RPCs, import after staging|RPC/run|-|-
	EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	export BENCH_RUNS STAGE_BIG_MB STAGE_SRC STAGE_MODS
	source "$BENCH_HERE/bramble-peer.sh"
	echo "stagebench: $STAGE_SRC + ${STAGE_BIG_MB} MiB, median of $BENCH_RUNS runs"
	bench_drive stagebench "$@"
	# The target compares two rows (stage on bramble vs cp -r on sshfs),
	# which bench_render's per-row ratio cannot: say it here.
	"$BENCH_PY" - "${BENCH_BASE:-/tmp/bramble-bench}-stagebench/results.tsv" <<-'EOF'
		import sys
		R = {}
		for line in open(sys.argv[1]):
		    f = line.rstrip("\n").split("\t")
		    if len(f) >= 3: R[(f[0], f[1])] = f[2]
		try:
		    st = float(R[("bramble", "stage_cold")]); cp = float(R[("sshfs", "stage_cp")])
		    print("stage (bramble) vs cp -r (sshfs), cold: %.1f vs %.1f MB/s = %.2fx "
		          "(target >= 3x): %s" % (st, cp, st / cp, "met" if st >= 3 * cp else "MISSED"))
		except (KeyError, ValueError):
		    print("stage vs cp -r (sshfs): a figure is missing")
	EOF
fi
