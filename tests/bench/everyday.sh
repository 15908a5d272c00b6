#!/bin/bash
# everyday.sh - everyday work on the mount, bramble beside its peers, all
# mounted at once and taking turns: each row runs BENCH_RUNS (5) rounds,
# and every round runs it once on each mount (the order rotating from
# round to round), so noise on this shared machine falls on all of them.
# As deployed: a root-squashing brambled, bramblefs with the README's fstab
# options, the work done by an ordinary user (bramble-u1, setpriv; as
# tests/integ/lib.sh does).  The peers come from ../shared/bench/peers.sh
# (`setup PEER`): local disk, bindfs --multithreaded and sshfs; on local
# and bindfs_mt the same user works, on sshfs root does (peers.sh mounts it
# as root without allow_other).  Each run starts with sync and dropped
# page caches, then reads its source once, so only the mount's side counts
# (the 2nd rsync and the rm -rf follow their first half at once, warm);
# EVERYDAY_SRC=cold leaves the sources out of the page cache, so every
# mount's time also holds reading them from disk.
# About 16 minutes at the defaults on a 2-core VM, half of it bramble's.
#
#   dd      dd bs=4k and bs=1M of DD_MB (256) MiB, conv=fsync; MB/s
#   dbench  dbench, 4 clients, DBENCH_TIME (20) s, Debian's client.txt; MB/s
#   untar   tar xzf of a tarball of UNTAR_SRC (/usr/include: 8,100 C and
#           C++ headers of libc, Linux, LLVM, node..., 130 MiB: a real
#           tree of source files on every machine that builds bramble,
#           the size of a CPython source release), made once on local
#           disk; s
#   rsync   rsync -a RSYNC_SRC (/usr/share/doc) to an empty directory, then
#           again at once with nothing changed (checked: no file sent); s
#   sqlite  sqlite3: 10,000 INSERTs in 100 transactions, the default
#           rollback journal and synchronous=FULL; s
#   cptree  cp -a CPTREE_SRC (/usr/lib/python3), then rm -rf of the copy; s
#   git     git clone (file://) of this project's repository, then
#           autoreconf -fi && ./configure && make -j2 GIT_MAKE (the
#           server, server/brambled: 49 C files; "all" for everything,
#           twice as long) in the clone; s
#
# Each row prints the median [min-max] on each mount, bramble's ratio to
# the peer its target names, the target and met/MISSED; for bramble also
# the calls its server counted per run (bramble stats), by procedure, with
# their mean server time, under the table.
#
#   sudo bash tests/bench/everyday.sh
#
# Environment: BRAMBLE_BUILD (build dir, default build/), BENCH_RUNS,
# EVERYDAY_ROWS (default "dd dbench untar rsync sqlite cptree git"),
# EVERYDAY_PEERS (default "local bindfs_mt sshfs"; a row runs on those of
# its own peers that are listed), EVERYDAY_SRC (warm), DD_MB, DBENCH_TIME, UNTAR_SRC,
# RSYNC_SRC, CPTREE_SRC, GIT_MAKE, OP_TIMEOUT (900 s per command), PEERS_SH,
# BENCH_BASE (the table's TSV goes to BENCH_BASE-everyday).
BENCH_RUNS=${BENCH_RUNS:-5}
EVERYDAY_ROWS=${EVERYDAY_ROWS:-dd dbench untar rsync sqlite cptree git}
EVERYDAY_PEERS=${EVERYDAY_PEERS:-local bindfs_mt sshfs} EVERYDAY_SRC=${EVERYDAY_SRC:-warm}
DD_MB=${DD_MB:-256} DBENCH_TIME=${DBENCH_TIME:-20} OP_TIMEOUT=${OP_TIMEOUT:-900}
UNTAR_SRC=${UNTAR_SRC:-/usr/include} RSYNC_SRC=${RSYNC_SRC:-/usr/share/doc}
CPTREE_SRC=${CPTREE_SRC:-/usr/lib/python3} GIT_MAKE=${GIT_MAKE:-server/brambled}
[ $# -eq 0 ] || { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 2; }
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
PEERS_SH=${PEERS_SH:-$BENCH_TOP/../shared/bench/peers.sh}
top_builddir=$BRAMBLE_BUILD top_srcdir=$BENCH_TOP
source "$BENCH_TOP/tests/integ/lib.sh"
[ -f "$PEERS_SH" ] || fail "$PEERS_SH not found (set PEERS_SH)"
for c in dbench sqlite3 rsync git; do
	command -v "$c" >/dev/null || fail "$c missing: scripts/install-deps --bench"
done

# The peers each row runs on besides bramble: those its target names,
# and local disk where that says what the work costs without a mount
# (not for dbench: 5 x DBENCH_TIME more, and no target names it).
row_peers() {
	case $1 in
	dd | cptree) echo local bindfs_mt ;;
	dbench) echo sshfs ;;
	sqlite) echo local sshfs ;;
	untar | rsync | git) echo local ;;
	*) fail "unknown row $1 (EVERYDAY_ROWS)" ;;
	esac
}
for row in $EVERYDAY_ROWS; do row_peers "$row" >/dev/null; done
peers_of() {
	local p
	for p in $(row_peers "$1"); do
		[[ " $EVERYDAY_PEERS " = *" $p "* ]] && echo "$p"
	done
}

# ---------------------------------------------------------------- mounts

# WD[PEER]: where the work happens; desc[PEER]: what it is
declare -A WD desc
chmod 1777 "$EXPORT"
br_start_server
BR_CACHE_DIR=$T/nodecache br_mount "$T/mnt"
WD[bramble]=$T/mnt
desc[bramble]="$(git -C "$BENCH_TOP" describe --always --dirty 2>/dev/null): brambled (root squashed) + bramblefs -o $BR_MOUNT_OPTS on 127.0.0.1, work as $BR_USER"
mounted=""
for row in $EVERYDAY_ROWS; do
	for p in $(peers_of "$row"); do [[ " $mounted " = *" $p "* ]] || mounted="$mounted $p"; done
done
export BASE=$T/peers SSH_PORT
SSH_PORT=$(br_free_port)
for p in $mounted; do
	br_on_cleanup "bash '$PEERS_SH' teardown $p >>'$T/peers.log' 2>&1"
	bash "$PEERS_SH" setup "$p" >>"$T/peers.log" 2>&1 ||
		fail "peers.sh setup $p failed: $(tail -3 "$T/peers.log")"
	case $p in
	local) WD[$p]=$BASE/local/export ;;
	*) WD[$p]=$BASE/$p/mnt ;;
	esac
	chmod 1777 "$BASE/$p/export"
	desc[$p]="$(awk -v p="== $p: " 'index($0, p) { sub(".*" p, ""); print }' "$BASE/logs/run.log" | tail -1)"
	desc[$p]+=", work as $([ "$p" = sshfs ] && echo "root (no allow_other)" || echo "$BR_USER")"
done
mkdir -p "$T/home0"

# run_as PEER CMD...: CMD as whoever works on PEER's mount
run_as() {
	local p=$1
	shift
	if [ "$p" = sshfs ]; then
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/home0" "$@"
	else
		as_user "$@"
	fi
}

# settle [SRC...]: no dirty data of an earlier run left, no page cache,
# then the sources read once (on local disk: their cost is not the mount's)
settle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	[ $# -eq 0 ] || [ "$EVERYDAY_SRC" = cold ] || find "$@" -type f -exec cat {} + >/dev/null 2>&1
}

snap() { "$BRAMBLE" stats --json "127.0.0.1:$PORT" >"$1" 2>/dev/null; }

# timed PEER CMD...: CMD as run_as PEER, within OP_TIMEOUT; its output
# (stdout and stderr) in OUT, exit status in RC, wall seconds in SECS; for
# bramble the server's calls meanwhile in RPCS (bench_rpcs: per run)
timed() {
	local p=$1 t0
	shift
	RPCS=""
	[ "$p" = bramble ] && snap "$T/snap0"
	t0=$EPOCHREALTIME
	OUT=$(run_as "$p" timeout -k 10 "$OP_TIMEOUT" "$@" 2>&1)
	RC=$?
	SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	[ "$p" = bramble ] && snap "$T/snap1" && RPCS=$(bench_rpcs "$T/snap0" "$T/snap1" 1)
	[ "$RC" = 0 ] || echo "everyday: $p: exit $RC from $*: $(tail -2 <<<"$OUT")" >&2
	return "$RC"
}

# add METRIC PEER VALUE: one run's figure ("error" when RC says so),
# with bramble's RPCS of that run
declare -A VALS RPCL
add() {
	local v=$3
	[ "$RC" = 0 ] || v="error(rc=$RC)"
	VALS[$1 $2]+=" $v"
	[ -z "$RPCS" ] || RPCL[$1 $2]+="$RPCS"$'\n'
}

# ---------------------------------------------------------------- rows
# row_NAME PEER: one run of the row on PEER's mount; W is its work dir.

row_dd() {
	local bs count mb
	for bs in 4k 1M; do
		case $bs in 4k) count=$((DD_MB * 256)) ;; 1M) count=$DD_MB ;; esac
		run_as "$1" rm -f "$W/dd.out"
		settle
		timed "$1" dd if=/dev/zero of="$W/dd.out" bs="$bs" count="$count" conv=fsync
		mb=$(sed -n -E 's/.*copied, ([0-9.]+) s.*/\1/p' <<<"$OUT" |
			awk -v m="$DD_MB" '{ printf "%.1f", m * 1048576 / $1 / 1e6 }')
		add "dd_$bs" "$1" "$mb"
	done
	run_as "$1" rm -f "$W/dd.out"
}

row_dbench() {
	settle
	timed "$1" dbench -D "$W" -t "$DBENCH_TIME" -c /usr/share/dbench/client.txt 4
	add dbench "$1" "$(sed -n -E 's/^ *Throughput ([0-9.]+) MB\/sec.*/\1/p' <<<"$OUT")"
	run_as "$1" rm -rf "$W/clients"
}

row_untar() {
	run_as "$1" mkdir "$W/untar"
	settle "$T/src.tar.gz"
	timed "$1" tar -xzf "$T/src.tar.gz" -C "$W/untar"
	add untar "$1" "$SECS"
	run_as "$1" rm -rf "$W/untar"
}

row_rsync() {
	settle "$RSYNC_SRC"
	timed "$1" rsync -a "$RSYNC_SRC/" "$W/rsync/"
	add rsync_1 "$1" "$SECS"
	timed "$1" rsync -a --stats "$RSYNC_SRC/" "$W/rsync/"
	grep -q '^Number of regular files transferred: 0$' <<<"$OUT" ||
		{ echo "everyday: $1: the 2nd rsync sent files: $(grep 'files transferred' <<<"$OUT")" >&2; RC=1; }
	add rsync_2 "$1" "$SECS"
	run_as "$1" rm -rf "$W/rsync"
}

row_sqlite() {
	run_as "$1" rm -f "$W/ins.db"
	settle "$T/inserts.sql"
	timed "$1" sqlite3 -batch "$W/ins.db" ".read $T/inserts.sql"
	[ "$RC" != 0 ] || [ "$(run_as "$1" sqlite3 "$W/ins.db" 'SELECT count(*) FROM t')" = 10000 ] ||
		{ echo "everyday: $1: not 10000 rows in the table" >&2; RC=1; }
	add sqlite "$1" "$SECS"
	run_as "$1" rm -f "$W/ins.db"
}

row_cptree() {
	settle "$CPTREE_SRC"
	timed "$1" cp -a "$CPTREE_SRC" "$W/cptree"
	add cp_tree "$1" "$SECS"
	timed "$1" rm -rf "$W/cptree"
	add rm_tree "$1" "$SECS"
}

row_git() {
	settle "$T/src.git"
	timed "$1" git clone -q "file://$T/src.git" "$W/clone"
	add git_clone "$1" "$SECS"
	timed "$1" sh -c 'cd "$1" && autoreconf -fi && ./configure && make -j2 $2' _ "$W/clone" "$GIT_MAKE"
	[ "$RC" != 0 ] || [ -x "$W/clone/server/brambled" ] || RC=1
	add git_build "$1" "$SECS"
	run_as "$1" rm -rf "$W/clone"
}

# What some rows need, made once on local disk.
prepare() {
	case $1 in
	untar)
		tar -C "$(dirname "$UNTAR_SRC")" -czf "$T/src.tar.gz" "$(basename "$UNTAR_SRC")" ;;
	sqlite)
		awk 'BEGIN {
			print "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);"
			for (i = 0; i < 100; i++) {
				print "BEGIN;"
				for (j = 0; j < 100; j++)
					printf "INSERT INTO t (name, n) VALUES (\047user-%d-%d\047, %d);\n", i, j, i * 100 + j
				print "COMMIT;"
			}
		}' >"$T/inserts.sql" ;;
	git)
		git clone -q --bare "$BENCH_TOP" "$T/src.git" && chown -R "$BR_UID:$BR_GID" "$T/src.git" ;;
	esac
	chmod -R a+rX "$T/src.tar.gz" "$T/inserts.sql" "$T/src.git" 2>/dev/null
	return 0
}

# the table's rows (benchlib.sh's bench_render): METRIC|LABEL|UNIT|REF|TARGET
spec_of() {
	local n
	case $1 in
	dd) cat <<-EOF ;;
		dd_4k|dd bs=4k, $DD_MB MiB, conv=fsync|MB/s|bindfs_mt|ge_ratio 1
		dd_4k_rpc|  bramble RPCs, dd bs=4k|RPC/run|-|-
		dd_1M|dd bs=1M, $DD_MB MiB, conv=fsync|MB/s|bindfs_mt|-
		dd_1M_rpc|  bramble RPCs, dd bs=1M|RPC/run|-|-
		dd_4k_1M|  bs=4k / bs=1M (medians) on the same mount|x|-|ge 0.9
	EOF
	dbench) cat <<-EOF ;;
		dbench|dbench 4 clients, $DBENCH_TIME s, client.txt|MB/s|sshfs|ge_ratio 3
		dbench_rpc|  bramble RPCs, dbench|RPC/run|-|-
	EOF
	untar)
		n=$(find "$UNTAR_SRC" -type f | wc -l)
		cat <<-EOF ;;
			untar|tar xzf of $UNTAR_SRC ($n files, $(du -sm "$UNTAR_SRC" | cut -f1) MiB)|s|local|-
			untar_rpc|  bramble RPCs, untar|RPC/run|-|-
		EOF
	rsync)
		n=$(find "$RSYNC_SRC" -type f | wc -l)
		cat <<-EOF ;;
			rsync_1|rsync -a $RSYNC_SRC ($n files, $(du -sm "$RSYNC_SRC" | cut -f1) MiB)|s|local|le_ratio 2
			rsync_1_rpc|  bramble RPCs, rsync -a|RPC/run|-|-
			rsync_2|rsync -a again at once, nothing changed|s|local|le_ratio 3
			rsync_2_rpc|  bramble RPCs, 2nd rsync -a|RPC/run|-|-
		EOF
	sqlite) cat <<-EOF ;;
		sqlite|sqlite3: 10k INSERTs in 100 transactions|s|local|le_ratio 2
		sqlite_rpc|  bramble RPCs, sqlite3|RPC/run|-|-
	EOF
	cptree)
		n=$(find "$CPTREE_SRC" -type f | wc -l)
		cat <<-EOF ;;
			cp_tree|cp -a $CPTREE_SRC ($n files)|s|bindfs_mt|le_ratio 1
			cp_tree_rpc|  bramble RPCs, cp -a|RPC/run|-|-
			rm_tree|rm -rf of that copy|s|bindfs_mt|le_ratio 1
			rm_tree_rpc|  bramble RPCs, rm -rf|RPC/run|-|-
		EOF
	git) cat <<-EOF ;;
		git_clone|git clone file:// of bramble's repository|s|local|-
		git_clone_rpc|  bramble RPCs, git clone|RPC/run|-|-
		git_build|autoreconf -fi, ./configure, make -j2 $GIT_MAKE there|s|local|-
		git_build_rpc|  bramble RPCs, build|RPC/run|-|-
	EOF
	esac
}

# ---------------------------------------------------------------- run

echo "everyday: rows $EVERYDAY_ROWS; bramble and$mounted taking turns, median [min-max] of $BENCH_RUNS runs, sources $EVERYDAY_SRC"
RES=${BENCH_BASE:-/tmp/bramble-bench}-everyday
mkdir -p "$RES"
TSV=$RES/results.tsv
: >"$TSV"
rec() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$TSV"; }
for row in $EVERYDAY_ROWS; do
	prepare "$row"
	mapfile -t order < <(echo bramble; peers_of "$row")
	echo "everyday: $row on ${order[*]} ($(date +%T))" >&2
	for ((r = 0; r < BENCH_RUNS; r++)); do
		for ((i = 0; i < ${#order[@]}; i++)); do
			p=${order[(i + r) % ${#order[@]}]}
			W=${WD[$p]} "row_$row" "$p"
		done
	done
	spec+=$(spec_of "$row")$'\n'
done

# medians (bench_rec), with every run kept in the note
for key in "${!VALS[@]}"; do
	read -r metric CUR <<<"$key"
	read -ra runs <<<"${VALS[$key]}"
	mapfile -t rpcs < <(printf '%s' "${RPCL[$key]:-}")
	if [ "${#rpcs[@]}" -gt 0 ]; then bench_rec "$metric" "" runs rpcs; else bench_rec "$metric" "" runs; fi
done
# bs=4k over bs=1M on each mount, from the medians
awk -F'\t' '$2 == "dd_4k" { a[$1] = $3 } $2 == "dd_1M" { b[$1] = $3 }
	END { for (p in a) if (b[p] > 0) printf "%s\tdd_4k_1M\t%.2f\t\n", p, a[p] / b[p] }' "$TSV" >>"$TSV"
for p in bramble $mounted; do rec "$p" desc "${desc[$p]}"; rec "$p" status ok; done
echo
printf '%s' "$spec" | bench_render "$TSV" "bramble$mounted"
