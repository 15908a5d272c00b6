#!/bin/bash
# 17-fuzz-short: the request decoder's libFuzzer target (tests/fuzz/) runs
# for a short, bounded time (FUZZ_SECONDS, default 20) from the seed corpus;
# any crash, leak, sanitizer report or failed check fails the test.  Longer
# runs: `make fuzz FUZZ_SECONDS=900` in the build directory.
#
# No daemon and no root needed, so no lib.sh (it requires both).  The run
# uses its own directory: a `make fuzz` in the same build dir is unaffected.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
FUZZ_CC=${FUZZ_CC:-clang}
secs=${FUZZ_SECONDS:-20}

T=$(mktemp -d /tmp/bramble-17-fuzz-short.XXXXXX)
keep=0
trap '[ "$keep" = 1 ] && echo "# fuzz files left in $T" >&2 || rm -rf "$T"' EXIT

# Skip (77) without clang's fuzzer runtime: a one-line target must link.
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\n%s\n' \
	'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$T/probe.c"
"$FUZZ_CC" -fsanitize=fuzzer,address -o "$T/probe" "$T/probe.c" >/dev/null 2>&1 ||
	{ echo "SKIP: $FUZZ_CC -fsanitize=fuzzer unavailable (Debian: clang libclang-rt-14-dev)" >&2; exit 77; }

make -s -C "$top_builddir" FUZZ_CC="$FUZZ_CC" tests/fuzz/fuzz_request >&2 ||
	{ echo "FAIL: cannot build tests/fuzz/fuzz_request" >&2; exit 1; }
fz=$top_builddir/tests/fuzz/fuzz_request

mkdir "$T/corpus" "$T/seeds"
FUZZ_REQUEST_SEEDS=$T/seeds "$fz" || { echo "FAIL: seeds not written" >&2; exit 1; }
cp "$top_srcdir"/tests/fuzz/corpus/* "$T/seeds/"

# libFuzzer's own exit code for a finding is 77 (= skip here): make it 1.
(cd "$T" && "$fz" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 \
	-timeout=30 -error_exitcode=1 -print_final_stats=1 -artifact_prefix="$T/" \
	corpus seeds) >"$T/fuzz.log" 2>&1
rc=$?
grep '^stat::\|^Done' "$T/fuzz.log" >&2
if [ "$rc" != 0 ] || ls "$T"/crash-* "$T"/leak-* "$T"/timeout-* "$T"/oom-* >/dev/null 2>&1; then
	keep=1
	tail -n 60 "$T/fuzz.log" >&2
	echo "FAIL: fuzz_request found a problem (exit $rc); input in $T" >&2
	exit 1
fi
echo "# ok: $(ls "$T/corpus" | wc -l) new inputs in ${secs}s" >&2
exit 0
