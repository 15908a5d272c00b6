#!/bin/bash
# fanout.sh - the fan-out benchmark: one environment-sized tree staged onto
# N compute nodes at once, each on its own shaped link, against one node
# alone (issue: "eight nodes staging one environment take six times as
# long as one").
#
# Topology, all inside network namespaces made here (the root namespace is
# never a client): a bridge (fob-sw); the storage node fob-srv (brambled,
# root squashed as deployed) at 10.89.0.1; nodes fob-n1..fob-nMAX, each
# with its own bramblefs, node cache and mount namespace, mounted at one
# path.  Every port is shaped with tbf to RATE both ways, like a small
# switch.  The tree: a copy of the Python standard library plus two
# model-like files of real shared-library bytes (FANOUT_BIG_MB in all).
#
# For each RATE, each compression mode the server has (--compress=auto and
# off, when brambled knows the option; else the one), and each N: BENCH_RUNS
# rounds, each a cold 1-node staging and a cold N-node staging (the order
# alternating), as root with SLURM_JOB_UID/GID set to an ordinary user, as
# the Prolog stages.  Printed: medians [min-max] of the 1-node and N-node
# seconds, their ratio (target <= 1.3), the storage node's bytes sent per
# tree byte (target <= 1.1), and the link's TCP goodput measured on the
# same shaped link in the same run (tree bytes / 1-node time over it is
# the share of the link a single node gets).
#
#   sudo bash tests/bench/fanout.sh
# Environment: BRAMBLE_BUILD (default build/), BENCH_RUNS (5), FANOUT_NS
# ("2 4 8"), FANOUT_RATES ("1gbit 200mbit"), FANOUT_BIG_MB (200),
# FANOUT_DIR (/tmp/bramble-fanout), FANOUT_COMPRESS ("auto off" if the
# server has --compress), FANOUT_SERVER_ARGS (more brambled options, e.g.
# --no-peers for the figures without fan-out), FANOUT_FAULTS ("kill slow";
# "" for none: for the largest N, one node killed halfway, or writing its
# node cache at SD-card speed, and the others' time against undisturbed
# runs: target <= 1.1x), FANOUT_ENV (VAR=VALUE for every `bramble stage`).
# Each node's time of every run goes to FANOUT_DIR/log/node-times.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${BRAMBLE_BUILD:-$HERE/../../build}
RUNS=${BENCH_RUNS:-5}
NS=${FANOUT_NS:-2 4 8}
RATES=${FANOUT_RATES:-1gbit 200mbit}
BIG_MB=${FANOUT_BIG_MB:-200}
W=${FANOUT_DIR:-/tmp/bramble-fanout}
FANOUT_FAULTS=${FANOUT_FAULTS-kill slow}
NET=10.89.0
PORT=24050
MAXN=0
for n in $NS; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
brambled=$B/server/brambled bramblefs=$B/fuse/bramblefs bramble=$B/tools/bramble
[ -x "$brambled" ] && [ -x "$bramblefs" ] && [ -x "$bramble" ] || { echo "fanout: build first ($B)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "fanout: run as root" >&2; exit 1; }
if [ -z "${FANOUT_COMPRESS+x}" ]; then
	FANOUT_COMPRESS=auto
	"$brambled" --help 2>&1 | grep -q -- --compress && FANOUT_COMPRESS="auto off"
fi
USER_UID=$(id -u bramble-u1 2>/dev/null || echo 65534)
USER_GID=$(id -g bramble-u1 2>/dev/null || echo 65534)

cleanup() {
	for i in $(seq "$MAXN"); do
		[ -e "$W/mntns/n$i" ] && nsenter --mount="$W/mntns/n$i" fusermount3 -uz "$W/clusterfs" 2>/dev/null
		umount "$W/mntns/n$i" 2>/dev/null
	done
	umount "$W/mntns" 2>/dev/null
	[ -f "$W/srv.pid" ] && kill "$(cat "$W/srv.pid")" 2>/dev/null
	for n in srv sw $(seq -f 'n%g' "$MAXN"); do ip netns del "fob-$n" 2>/dev/null; done
}
trap cleanup EXIT
cleanup
rm -rf "$W"
mkdir -p "$W/export/env" "$W/state" "$W/clusterfs" "$W/mntns" "$W/log"

# ---- the tree
cp -a /usr/lib/python3.11 "$W/export/env/lib" 2>/dev/null || cp -a /usr/lib/python3 "$W/export/env/lib"
for k in 1 2; do
	find /usr/lib -name '*.so*' -type f -size +100k 2>/dev/null | sort $([ $k = 2 ] && echo -r) |
		xargs cat 2>/dev/null | head -c $((BIG_MB / 2))M >"$W/export/env/model$k.bin"
done
chmod -R a+rX "$W/export"
TREE=$(find "$W/export/env" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
FILES=$(find "$W/export/env" -type f | wc -l)

# ---- the network
ip netns add fob-sw
ip -n fob-sw link add br0 type bridge
ip -n fob-sw link set br0 up
addnode() { # name addr
	ip netns add "fob-$1"
	ip link add "vb-$1" type veth peer name eth0 netns "fob-$1"
	ip link set "vb-$1" netns fob-sw
	ip -n fob-sw link set "vb-$1" master br0 up
	ip -n "fob-$1" addr add "$2/24" dev eth0
	ip -n "fob-$1" link set eth0 up
	ip -n "fob-$1" link set lo up
}
addnode srv "$NET.1"
for i in $(seq "$MAXN"); do addnode "n$i" "$NET.$((10 + i))"; done
shape() { # RATE: every port, both ways
	local d
	for d in srv $(seq -f 'n%g' "$MAXN"); do
		ip netns exec "fob-$d" tc qdisc replace dev eth0 root tbf rate "$1" burst 256kb latency 50ms
		ip netns exec fob-sw tc qdisc replace dev "vb-$d" root tbf rate "$1" burst 256kb latency 50ms
	done
}

# goodput: TCP MB/s from the storage node to node 1 (60 MB, in the
# namespaces), what "the link" means in this run
goodput() {
	ip netns exec fob-n1 python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 24051)); s.listen(1); c, _ = s.accept()
n = 0; t = time.time()
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b)
print("%.1f" % (n / 1e6 / (time.time() - t)))' >"$W/goodput" &
	local rx=$!
	sleep 0.5
	ip netns exec fob-srv python3 -c '
import socket
s = socket.create_connection(("'"$NET"'.11", 24051))
b = bytes(1 << 20)
for _ in range(60): s.sendall(b)
s.close()'
	wait "$rx"
	cat "$W/goodput"
}

# ---- the server and the nodes
start_server() { # COMPRESS
	local c=()
	[ "$FANOUT_COMPRESS" != auto ] && c=(--compress="$1")
	ip netns exec fob-srv "$brambled" --export "$W/export" --listen "$NET.1:$PORT" \
		--allow "$NET.0/24" --state "$W/state" "${c[@]}" ${FANOUT_SERVER_ARGS:-} \
		--foreground >>"$W/log/srv.log" 2>&1 &
	echo $! >"$W/srv.pid"
	for _ in $(seq 100); do
		ip netns exec fob-n1 bash -c "exec 3<>/dev/tcp/$NET.1/$PORT" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "fanout: brambled did not come up" >&2
	exit 1
}
stop_server() {
	kill "$(cat "$W/srv.pid")"
	while kill -0 "$(cat "$W/srv.pid")" 2>/dev/null; do sleep 0.1; done
}
mount --bind "$W/mntns" "$W/mntns"
mount --make-private "$W/mntns"
mount_node() { # I: an empty node cache each time
	rm -rf "$W/cache-n$1"
	mkdir -p "$W/cache-n$1"
	[ -e "$W/mntns/n$1" ] || { touch "$W/mntns/n$1"; unshare --mount="$W/mntns/n$1" --propagation private true; }
	nsenter --mount="$W/mntns/n$1" --net=/run/netns/"fob-n$1" "$bramblefs" "$NET.1:/" "$W/clusterfs" \
		-o "port=$PORT,allow_other,_netdev,cache_dir=$W/cache-n$1,cache_size=4G" >>"$W/log/n$1.log" 2>&1
}
umount_node() { nsenter --mount="$W/mntns/n$1" fusermount3 -uz "$W/clusterfs" 2>/dev/null; }
stage_node() { # I [ENV...]: as the Prolog does it (root, for the job's user); its end in end-nI
	local i=$1
	shift
	nsenter --mount="$W/mntns/n$i" --net=/run/netns/"fob-n$i" env SLURM_JOB_UID="$USER_UID" \
		SLURM_JOB_GID="$USER_GID" SLURM_JOB_ID=$((100 + i)) ${FANOUT_ENV:-} "$@" "$bramble" stage -q "$W/clusterfs/env" \
		2>>"$W/log/stage-n$i.err" ||
		echo "fanout: stage failed on n$i (exit $?): $(tail -3 "$W/log/stage-n$i.err")" >&2
	date +%s.%N >"$W/end-n$i"
}
tx() { ip netns exec fob-srv cat /sys/class/net/eth0/statistics/tx_bytes; }

# run COMPRESS I... -> "seconds txratio others": others is the time of all
# but the last node, when FAULT (slow, kill) made that one a bad node:
#   slow: its node cache writes at 20 MB/s (a Pi's SD card);
#   kill: its mount and stage are killed (-9) after KILL_AFTER seconds.
run() {
	local c=$1 i t0 s e last=${*: -1}
	shift
	sync
	echo 3 >/proc/sys/vm/drop_caches
	start_server "$c"
	for i in "$@"; do mount_node "$i"; done
	local pids=()
	t0=$(tx)
	s=$(date +%s.%N)
	rm -f "$W"/end-n*
	for i in "$@"; do
		if [ "${FAULT:-}" = slow ] && [ "$i" = "$last" ]; then
			stage_node "$i" BRAMBLE_TEST_CACHE_WRITE_MBS=20 &
		elif [ "${FAULT:-}" = kill ] && [ "$i" = "$last" ]; then
			stage_node "$i" 2>>"$W/log/killed.log" &
		else
			stage_node "$i" &
		fi
		pids+=($!)
	done
	if [ "${FAULT:-}" = kill ]; then
		sleep "$KILL_AFTER"
		pkill -9 -P "${pids[-1]}"
		pkill -9 -f "cache_dir=$W/cache-n$last,"
	fi
	wait "${pids[@]}"
	e=$(date +%s.%N)
	local others=$s
	# each node's time, kept for a look at what a fault did
	for i in "$@"; do
		[ -f "$W/end-n$i" ] && echo "${FAULT:-none} n$i $(awk -v a="$(cat "$W/end-n$i")" -v b="$s" 'BEGIN { printf "%.2f", a - b }')"
	done >>"$W/log/node-times"
	for i in "$@"; do
		[ -n "${FAULT:-}" ] && [ "$i" = "$last" ] && continue
		others=$(awk -v a="$others" -v b="$(cat "$W/end-n$i")" 'BEGIN { print (b > a) ? b : a }')
	done
	local line
	line=$(echo "$e $s $(tx) $t0 $TREE $others" |
		awk '{ printf "%.2f %.2f %.2f\n", $1 - $2, ($3 - $4) / $5, $6 - $2 }')
	# the server's counters of the last run of each size, for a look
	ip netns exec fob-n1 "$bramble" stats --json "$NET.1:$PORT" >"$W/log/stats-$#.json" 2>/dev/null
	for i in "$@"; do umount_node "$i"; done
	stop_server
	# only now: the caller's read returns at this line, and the next run
	# must find this server gone
	echo "$line"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f [%.2f-%.2f]", m, a[1], a[NR] }'; }
med() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# faults RATE UNDISTURBED: for the largest N, the others' time with one
# bad node (FANOUT_FAULTS: slow, kill) against undisturbed runs, alternating
faults() {
	local f r t o und="" bad="" m1 m2 ratio
	[ -n "$FANOUT_FAULTS" ] || return 0
	KILL_AFTER=$(awk -v t="$2" 'BEGIN { printf "%.1f", t / 2 }')
	echo
	printf '| %s nodes, one of them | undisturbed, s | the others, s | ratio |\n' "$MAXN"
	printf '|---|---|---|---|\n'
	for f in $FANOUT_FAULTS; do
		und="" bad=""
		for r in $(seq "$RUNS"); do
			read -r t _ _ < <(FAULT= run auto $(seq "$MAXN")); und="$und $t"
			read -r _ _ o < <(FAULT=$f run auto $(seq "$MAXN")); bad="$bad $o"
		done
		m1=$(echo "$und" | med) m2=$(echo "$bad" | med)
		ratio=$(awk -v a="$m2" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')
		printf '| %s | %s | %s | %s |\n' \
			"$([ "$f" = kill ] && echo "killed after ${KILL_AFTER} s" || echo "writing its cache at 20 MB/s")" \
			"$(echo "$und" | median)" "$(echo "$bad" | median)" "$ratio"
		echo "$1 N=$MAXN, one node $f: the others take ${ratio}x the undisturbed time, target <= 1.1: $(awk -v r="$ratio" 'BEGIN { print (r <= 1.1) ? "met" : "MISSED" }')" >>"$W/targets"
	done
}

echo "## fan-out: $FILES files, $((TREE / 1000000)) MB; $RUNS rounds; nodes staging as the Prolog does"
for rate in $RATES; do
	shape "$rate"
	gp=$(goodput)
	echo
	echo "### links $rate: TCP goodput storage -> node $gp MB/s (the link)"
	echo
	printf '| compress | N | 1 node, s | N nodes, s | ratio | server sent / tree | 1 node, share of link |\n'
	printf '|---|---|---|---|---|---|---|\n'
	: >"$W/targets"
	for c in $FANOUT_COMPRESS; do
		for n in $NS; do
			one="" all="" tx1="" txn=""
			for r in $(seq "$RUNS"); do
				if [ $((r % 2)) = 1 ]; then
					read -r t x _ < <(run "$c" 1); one="$one $t"; tx1="$tx1 $x"
					read -r t x _ < <(run "$c" $(seq "$n")); all="$all $t"; txn="$txn $x"
				else
					read -r t x _ < <(run "$c" $(seq "$n")); all="$all $t"; txn="$txn $x"
					read -r t x _ < <(run "$c" 1); one="$one $t"; tx1="$tx1 $x"
				fi
			done
			m1=$(echo "$one" | med) mn=$(echo "$all" | med) mx=$(echo "$txn" | med)
			ratio=$(awk -v a="$mn" -v b="$m1" 'BEGIN { printf "%.2f", a / b }')
			share=$(awk -v t="$TREE" -v s="$m1" -v g="$gp" 'BEGIN { printf "%.0f%%", 100 * t / 1e6 / s / g }')
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$n" \
				"$(echo "$one" | median)" "$(echo "$all" | median)" "$ratio" \
				"$(echo "$txn" | median)" "$share"
			echo "$rate compress=$c N=$n: N-node/1-node time $ratio, target <= 1.3: $(awk -v r="$ratio" 'BEGIN { print (r <= 1.3) ? "met" : "MISSED" }')" >>"$W/targets"
			echo "$rate compress=$c N=$n: server sent ${mx}x the tree, target <= 1.1: $(awk -v r="$mx" 'BEGIN { print (r <= 1.1) ? "met" : "MISSED" }')" >>"$W/targets"
		done
	done
	faults "$rate" "$mn"
	echo
	cat "$W/targets"
done
