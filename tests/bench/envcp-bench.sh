#!/bin/bash
# envcp-bench.sh - copy a venv-sized environment (NFILES files) within a
# bramble mount with `bramble envcp`, against `cp -a` within the same mount,
# a conda-pack-style tar + unpack within it, and `cp -a` within an sshfs
# mount (../shared/bench/peers.sh).  Prints seconds, and the READ/WRITE
# calls brambled saw during envcp (its --trace): no file data should cross.
#
#   sudo bash tests/bench/envcp-bench.sh            # run by hand, as root
#
# Environment: BRAMBLE_BUILD (build dir with server/, fuse/, tools/; default
# build/), NFILES=5000, BASE=/tmp/envcp-bench (work area, removed after),
# SSHFS=1 (0: skip sshfs), PEERS_SH (default ../shared/bench/peers.sh),
# SSHFS_BASE=/tmp/envcp-sshfs, KEEP=1 (keep BASE and its logs).  Caches are
# dropped before each copy.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BRAMBLE_BUILD=${BRAMBLE_BUILD:-$TOP/build}
NFILES=${NFILES:-5000}
BASE=${BASE:-/tmp/envcp-bench}
SSHFS=${SSHFS:-1}
KEEP=${KEEP:-0}
PEERS_SH=${PEERS_SH:-$TOP/../shared/bench/peers.sh}
SSHFS_BASE=${SSHFS_BASE:-/tmp/envcp-sshfs}
BRAMBLE=$BRAMBLE_BUILD/tools/bramble

die() { echo "envcp-bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (FUSE mounts, drop_caches)"
for f in server/brambled fuse/bramblefs tools/bramble; do
	[ -x "$BRAMBLE_BUILD/$f" ] || die "no $BRAMBLE_BUILD/$f (set BRAMBLE_BUILD)"
done
[ -e "$BASE" ] && die "$BASE exists: remove it first"

pids=""
cleanup() {
	set +e
	mountpoint -q "$BASE/mnt" && fusermount3 -u -z "$BASE/mnt"
	for p in $pids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ "$SSHFS" = 1 ] && [ -d "$SSHFS_BASE/sshfs" ] &&
		BASE=$SSHFS_BASE bash "$PEERS_SH" teardown sshfs >/dev/null 2>&1
	[ "$KEEP" = 1 ] || rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# secs CMD...: run CMD, print its wall time in seconds.
secs() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null || die "failed: $*"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

# The environment: a venv (--copies: pip, setuptools, .pyc...) filled up
# to NFILES with the system's Python library (.py and .pyc, as a real
# environment's site-packages), a few scripts and configs holding the prefix.
mkdir -p "$BASE/export" "$BASE/state" "$BASE/mnt"
P=$BASE/build/env_prefix_placeholder_padding_padding_padding_padding
/usr/bin/python3 -m venv --copies "$P" || die "venv"
SP=$(echo "$P"/lib/python3*/site-packages)
have=$(find "$P" | wc -l)
if [ "$have" -lt "$NFILES" ]; then
	mkdir -p "$SP/vendored"
	i=0
	while [ "$(find "$P" | wc -l)" -lt "$NFILES" ]; do
		cp -a /usr/lib/python3.11 "$SP/vendored/copy$i" 2>/dev/null || die "copy stdlib"
		i=$((i + 1))
	done
	# The stdlib's absolute symlinks (into /etc) are no part of an
	# environment, and sshfs refuses to read them.
	find "$SP/vendored" -type l -delete
	# Trim to NFILES (remove whole leaf files from the last copy).
	extra=$(($(find "$P" | wc -l) - NFILES))
	[ "$extra" -gt 0 ] && find "$SP/vendored/copy$((i - 1))" -type f | tail -n "$extra" | xargs rm -f
fi
for k in 1 2 3 4 5; do
	printf '#!%s/bin/python3\nprint("tool%d")\n' "$P" "$k" >"$P/bin/tool$k"
	chmod 755 "$P/bin/tool$k"
	printf 'prefix=%s\n' "$P" >"$P/tool$k.cfg"
done
nfiles=$(find "$P" | wc -l)
mb=$(du -sm "$P" | cut -f1)

# bramble: brambled --trace on 127.0.0.1, bramblefs.
"$BRAMBLE_BUILD/server/brambled" --foreground --no-root-squash --trace --export "$BASE/export" \
	--state "$BASE/state" --listen 127.0.0.1:0 --port-file "$BASE/port" >"$BASE/brambled.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do [ -s "$BASE/port" ] && break; sleep 0.1; done
[ -s "$BASE/port" ] || die "brambled did not start"
"$BRAMBLE_BUILD/fuse/bramblefs" 127.0.0.1:/ "$BASE/mnt" -f -o "port=$(cat "$BASE/port")" \
	>"$BASE/bramblefs.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do mountpoint -q "$BASE/mnt" && break; sleep 0.1; done
mountpoint -q "$BASE/mnt" || die "bramblefs did not mount"
M=$BASE/mnt

# The environment lands in the mount with envcp (so it has its marker, as
# every environment deployed with envcp has), and once more with cp -a
# (no marker: envcp must read every file to find the prefix).
"$BRAMBLE" envcp "$P" "$M/src" >/dev/null || die "envcp into the mount"
cp -a "$P" "$M/src-nomarker" || die "cp -a into the mount"

drop
mark=$(wc -l <"$BASE/brambled.log")
t_envcp=$(secs "$BRAMBLE" envcp "$M/src" "$M/envcp")
tail -n +"$((mark + 1))" "$BASE/brambled.log" >"$BASE/trace.envcp"
n_read=$(grep -c " trace READ " "$BASE/trace.envcp")
n_write=$(grep -c " trace WRITE " "$BASE/trace.envcp")
n_copy=$(grep -c " trace COPY_RANGE " "$BASE/trace.envcp")
drop
t_envcp_nm=$(secs "$BRAMBLE" envcp "$M/src-nomarker" "$M/envcp-nomarker")
drop
t_cp=$(secs cp -a "$M/src" "$M/cp")
drop
t_tar_pack=$(secs tar -C "$M/src" -cf "$M/env.tar" .)
drop
mkdir "$M/tar"
t_tar_unpack=$(secs tar -C "$M/tar" -xf "$M/env.tar")
t_tar=$(awk -v a="$t_tar_pack" -v b="$t_tar_unpack" 'BEGIN { printf "%.2f", a + b }')
fusermount3 -u "$M"

t_sshfs=""
if [ "$SSHFS" = 1 ]; then
	if BASE=$SSHFS_BASE bash "$PEERS_SH" setup sshfs >"$BASE/sshfs-setup.log" 2>&1; then
		S=$SSHFS_BASE/sshfs
		cp -a "$P" "$S/export/src"
		drop
		t_sshfs=$(secs cp -a "$S/mnt/src" "$S/mnt/cp")
		BASE=$SSHFS_BASE bash "$PEERS_SH" teardown sshfs >/dev/null 2>&1
	else
		echo "envcp-bench: sshfs setup failed (see $BASE/sshfs-setup.log)" >&2
	fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
echo
echo "envcp benchmark: $nfiles files, $mb MB (venv + Python library), one machine, 127.0.0.1"
printf '%-52s %8s %10s\n' "copy" "seconds" "vs envcp"
printf '%-52s %8s %10s\n' "bramble envcp within the bramble mount" "$t_envcp" "1.0x"
printf '%-52s %8s %10s\n' "bramble envcp, source without marker (reads all)" "$t_envcp_nm" \
	"$(ratio "$t_envcp_nm" "$t_envcp")"
printf '%-52s %8s %10s\n' "cp -a within the bramble mount" "$t_cp" "$(ratio "$t_cp" "$t_envcp")"
printf '%-52s %8s %10s\n' "tar pack + unpack within the bramble mount" "$t_tar" \
	"$(ratio "$t_tar" "$t_envcp")"
[ -n "$t_sshfs" ] &&
	printf '%-52s %8s %10s\n' "cp -a within an sshfs mount" "$t_sshfs" "$(ratio "$t_sshfs" "$t_envcp")"
echo "during envcp within the mount, brambled saw: $n_copy COPY_RANGE, $n_read READ, $n_write WRITE calls"
echo "(READ/WRITE: only the files holding the prefix, listed in the marker, and the marker)"
