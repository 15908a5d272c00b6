#!/bin/bash
# abdd.sh - small and large writes, two builds side by side: each build
# gets its own root-squashing brambled and a bramblefs mount with the
# README's options; an ordinary user (bramble-u1) writes SIZE_MB with
# `dd bs=4k ... conv=fsync' and `dd bs=1M ... conv=fsync' on each, page
# caches dropped first, the builds alternating.  Prints every run (MB/s,
# the WRITE calls the server counted) and the medians.
#
#   bash tests/bench/abdd.sh [-n RUNS] [-s SIZE_MB] BUILD_A BUILD_B
#
# As root; loopback only.  Default 5 runs of 256 MiB.
set -u
runs=5 size_mb=256
while getopts n:s: o; do
	case $o in
	n) runs=$OPTARG ;;
	s) size_mb=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 2; }
user=bramble-u1
id "$user" >/dev/null 2>&1 || { echo "abdd: no user $user (scripts/install-deps)" >&2; exit 1; }
T=$(mktemp -d /tmp/abdd.XXXXXX)
chmod 755 "$T"
pids=""
cleanup() {
	for m in "$T"/*/mnt; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	for p in $pids; do kill "$p" 2>/dev/null; done
	sleep 1
	rm -rf "$T"
}
trap cleanup EXIT

# start NAME BUILD: a server and a mount under $T/NAME
start() {
	local d=$T/$1 b=$2 i
	mkdir -p "$d/export" "$d/state" "$d/mnt" "$d/cache"
	chmod 1777 "$d/export"
	"$b/server/brambled" --foreground --export "$d/export" --state "$d/state" \
		--listen 127.0.0.1:0 --port-file "$d/port" >"$d/server.log" 2>&1 &
	pids="$pids $!"
	for i in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
	"$b/fuse/bramblefs" 127.0.0.1:/ "$d/mnt" -f \
		-o "_netdev,allow_other,port=$(cat "$d/port"),cache_dir=$d/cache" >"$d/mount.log" 2>&1 &
	pids="$pids $!"
	for i in $(seq 100); do mountpoint -q "$d/mnt" && break; sleep 0.1; done
	mountpoint -q "$d/mnt" || { echo "abdd: $b did not mount (see $d/mount.log)" >&2; exit 1; }
	echo "$b" >"$d/build"
}

writes() { # NAME: the server's WRITE count
	"$(cat "$T/$1/build")/tools/bramble" stats --json "127.0.0.1:$(cat "$T/$1/port")" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["procedures"]["WRITE"]["calls"])'
}

as_user() { setpriv --reuid="$user" --regid="$user" --init-groups "$@"; }

# one NAME BS: prints "NAME BS MB/s WRITES"
one() {
	local d=$T/$1 bs=$2 count w0 w1 secs
	case $bs in 4k) count=$((size_mb * 256)) ;; 1M) count=$size_mb ;; esac
	as_user rm -f "$d/mnt/f"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	w0=$(writes "$1")
	secs=$(as_user dd if=/dev/zero of="$d/mnt/f" bs="$bs" count="$count" conv=fsync 2>&1 |
		sed -n -E 's/.*copied, ([0-9.]+) s.*/\1/p')
	w1=$(writes "$1")
	echo "$1 $bs $(awk -v s="$secs" -v m="$size_mb" 'BEGIN { printf "%.1f", m * 1048576 / s / 1e6 }') $((w1 - w0))"
}

start A "$(cd "$1" && pwd)"
start B "$(cd "$2" && pwd)"
for r in $(seq "$runs"); do
	for bs in 4k 1M; do
		one A "$bs"
		one B "$bs"
	done
done | tee "$T/runs"
echo "medians of $runs runs, $size_mb MiB, MB/s (WRITE calls); A = $1, B = $2"
for bs in 4k 1M; do
	for n in A B; do
		awk -v n="$n" -v bs="$bs" '$1 == n && $2 == bs { print $3, $4 }' "$T/runs" | sort -g |
			awk -v n="$n" -v bs="$bs" '{ v[NR] = $1; w[NR] = $2 } END {
				printf "%s bs=%s: %s MB/s (%s WRITEs)\n", n, bs, v[int((NR + 1) / 2)], w[int((NR + 1) / 2)] }'
	done
done
