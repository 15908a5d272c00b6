#!/bin/bash
# abtree.sh - two builds of bramble (or one build with two option sets)
# side by side on an everyday tree workload, as users run it: an ordinary
# user (bramble-u1) on a root-squashing server with the README's mount
# options copies a tree onto the mount (cp -a), reads every file of it
# (find -exec cat: open+read), and removes it (rm -rf).  Runs alternate
# between the setups; the medians and the ratio to the first setup are
# printed.  For checking that a change makes no old workload slower.
#
#   bash tests/bench/abtree.sh [-n RUNS] [-t TREE] BUILD[:OPTS] BUILD[:OPTS]...
#   e.g. bash tests/bench/abtree.sh /tmp/old/b build build:-o,server_permissions
#
# BUILD is a build directory (server/brambled, fuse/bramblefs in it); OPTS,
# after a colon, are extra bramblefs arguments, commas for blanks.  As
# root (mounts, setpriv); loopback only.  Default: 5 runs of
# /usr/lib/python3.
set -u
runs=5 tree=/usr/lib/python3
while getopts n:t: o; do
	case $o in
	n) runs=$OPTARG ;;
	t) tree=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 2; }
setups=("$@")
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=$top_srcdir/build
. "$top_srcdir/tests/integ/lib.sh"
. "$top_srcdir/tests/bench/benchlib.sh"

# one_run BUILD OPTS...: prints "cp read rm" in seconds.
one_run() {
	local b=$1
	shift
	BRAMBLED=$b/server/brambled BRAMBLEFS=$b/fuse/bramblefs
	EXPORT=$(mktemp -d "$T/export.XXXXXX") STATE=$(mktemp -d "$T/state.XXXXXX")
	chmod 1777 "$EXPORT"
	br_start_server
	BR_CACHE_DIR=$(mktemp -d "$T/cache.XXXXXX") br_mount "$T/m" "$@"
	as_user bash -c '
		s() { date +%s.%N; }
		t0=$(s); cp -a "$1" "$2/tree"; t1=$(s)
		find "$2/tree" -type f -exec cat {} + >/dev/null; t2=$(s)
		rm -rf "$2/tree"; t3=$(s)
		awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
			"BEGIN { printf \"%.3f %.3f %.3f\\n\", b - a, c - b, d - c }"' \
		_ "$tree" "$T/m"
	br_umount "$T/m"
	br_stop_server
}

declare -A cp rd rm
for ((r = 0; r < runs; r++)); do
	for i in "${!setups[@]}"; do
		s=${setups[$i]}
		b=${s%%:*} opts=
		[ "$s" != "$b" ] && opts=${s#*:}
		# shellcheck disable=SC2086
		read -r c1 c2 c3 < <(one_run "$b" ${opts//,/ })
		cp[$i]+=" $c1" rd[$i]+=" $c2" rm[$i]+=" $c3"
	done
done
printf '%-40s %10s %10s %10s\n' "setup ($runs runs, medians, s)" "cp -a" "read" "rm -rf"
for i in "${!setups[@]}"; do
	# shellcheck disable=SC2086
	m1=$(bench_median ${cp[$i]}) m2=$(bench_median ${rd[$i]}) m3=$(bench_median ${rm[$i]})
	[ "$i" = 0 ] && { b1=$m1 b2=$m2 b3=$m3; }
	printf '%-40s %10s %10s %10s\n' "${setups[$i]}" "$m1" "$m2" "$m3"
	[ "$i" = 0 ] || awk -v a="$m1" -v b="$m2" -v c="$m3" -v x="$b1" -v y="$b2" -v z="$b3" \
		'BEGIN { printf "%-40s %9.2fx %9.2fx %9.2fx\n", "  ratio to the first", a / x, b / y, c / z }'
done
