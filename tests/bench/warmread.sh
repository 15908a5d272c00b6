#!/bin/bash
# warmread.sh - the warm-read benchmark: a WARM_MB (512) MiB file of
# random bytes on each peer's backing directory, read sequentially with
# `dd bs=1M` (wall time, MB/s = 10^6 bytes/s), BENCH_RUNS (3) times each:
#   cold            fresh mount, page caches dropped (client and server
#                   share this kernel), node cache emptied
#   remount         unmount + mount again, nothing dropped: bramble reads
#                   from its node cache (cache=disk), bindfs from the
#                   backing file in the page cache, local from the page cache
#   remount+drop    unmount, page caches dropped (the node cache's files
#                   stay on disk), mount: bramble reads its node cache from
#                   disk, bindfs and local the file from disk
# For bramble also the RPCs per run, by procedure (no READ/READ_CHUNK after
# a remount = the data came from the node cache).  Target: warm
# read from the node cache after a remount >= 70% of bindfs (both remount
# rows are held to it).
#
# The node cache options (cache=disk, cache_size=) are passed when
# `bramblefs --help` lists them (or its option table has them) (bramble-peer.sh adds cache_dir= under the
# peer's state dir); without them the script runs anyway and says so.
#
#   sudo bash tests/bench/warmread.sh [PEER...]   (default: bramble local bindfs sshfs)
BENCH_RUNS=${BENCH_RUNS:-3}
WARM_MB=${WARM_MB:-512}
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

# warmread_mbs TIMES_ARRAY: seconds -> MB/s, in place
warmread_mbs() {
	local -n _wm=$1
	local i
	for i in "${!_wm[@]}"; do
		[[ ${_wm[$i]} =~ ^[0-9.]+$ ]] &&
			_wm[$i]=$(awk -v s="${_wm[$i]}" -v m="$WARM_MB" 'BEGIN { printf "%.1f", m * 1.048576 / s }')
	done
}

wl_warmread() {
	local f=$P_MNT/warm.bin
	log " (warmread) ${WARM_MB} MiB sequential read: cold, after a remount, after a remount + drop_caches; $BENCH_RUNS runs"
	if [ -n "$P_EXPORT" ]; then
		dd if=/dev/urandom of="$P_EXPORT/warm.bin" bs=1M count="$WARM_MB" status=none && sync
	else
		dd if=/dev/urandom of="$f" bs=1M count="$WARM_MB" status=none && sync
		has "$CUR" drain && call "$CUR" drain
	fi
	local t_c=() r_c=() t_m=() r_m=() t_d=() r_d=() r
	local rd=(dd if="$f" of=/dev/null bs=1M status=none)
	for r in $(seq 1 "$BENCH_RUNS"); do
		make_cold
		bench_timed t_c r_c 1 "${rd[@]}"
		refresh
		bench_timed t_m r_m 1 "${rd[@]}"
		call "$CUR" umount
		drop_caches
		call "$CUR" mount
		bench_timed t_d r_d 1 "${rd[@]}"
	done
	warmread_mbs t_c
	warmread_mbs t_m
	warmread_mbs t_d
	bench_rec warm_cold "" t_c r_c
	bench_rec warm_remount "" t_m r_m
	bench_rec warm_remount_drop "" t_d r_d
	if [ -n "$P_EXPORT" ]; then rm -f "$P_EXPORT/warm.bin"; else rm -f "$f"; fi
}

bench_spec() {
	cat <<-EOF
		warm_cold|cold read, ${WARM_MB} MiB|MB/s|bindfs|-
		warm_cold_rpc|  bramble RPCs, cold|RPC/run|-|-
		warm_remount|after a remount (node cache)|MB/s|bindfs|ge_ratio 0.7
		warm_remount_rpc|  bramble RPCs, after a remount|RPC/run|-|-
		warm_remount_drop|after a remount + drop_caches|MB/s|bindfs|ge_ratio 0.7
		warm_remount_drop_rpc|  bramble RPCs, remount + drop|RPC/run|-|-
	EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	export BENCH_RUNS WARM_MB
	source "$BENCH_HERE/bramble-peer.sh"
	if [ -x "$BRAMBLE_BUILD/fuse/bramblefs" ] && bramble_has_opt cache && bramble_has_opt cache_size; then
		export BRAMBLEFS_OPTS="${BRAMBLEFS_OPTS:+$BRAMBLEFS_OPTS,}${WARM_CACHE_OPTS:-cache=disk,cache_size=$((2 * WARM_MB))M}"
		echo "warmread: ${WARM_MB} MiB, median of $BENCH_RUNS runs; bramblefs -o $BRAMBLEFS_OPTS (+ cache_dir under the peer's state)"
	else
		echo "warmread: ${WARM_MB} MiB, median of $BENCH_RUNS runs; NOTE: this bramblefs has no node cache" \
			"options (cache=, cache_size=): the remount rows read from the server, not from a node cache"
	fi
	bench_drive warmread "$@"
fi
