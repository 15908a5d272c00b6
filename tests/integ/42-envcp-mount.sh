#!/bin/bash
# bramble envcp into and within a bramble mount.  Within the mount, a file
# that needs no rewriting is copied by the server (copy_file_range ->
# COPY_RANGE): brambled --trace must show no READ or WRITE for it; only the
# few files that hold the prefix are read and written.  The environment
# is an ordinary user's: built, copied and run as_user (in its HOME and its
# directory on the export); root only looks at the export and the trace.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/4-envcp-lib.sh"

mkdir "$EXPORT/u" && chown "$BR_UID:$BR_GID" "$EXPORT/u"
br_start_server --trace
br_mount "$T/mnt"
M=$T/mnt/u
X=$EXPORT/u
P=$T/home1/build/prefix_placeholder_padding_padding_padding_padding_padding
envcp_user envcp_fixture "$P"
# A big file that holds no prefix: were it read, it would take 8+ READs.
as_user sh -c "head -c 8M /dev/urandom >$P/share/greet/big.bin" || fail "big.bin"

# Local disk -> mount: data has to travel (the kernel refuses a cross-
# filesystem copy_file_range), and the copy works from the mount.
as_user "$BRAMBLE" envcp --json "$P" "$M/env1" >"$T/j1" || fail "envcp into the mount: $(cat "$T/j1")"
as_user mv "$P" "$P.hidden" || fail "mv $P"
envcp_user envcp_runs "$M/env1"
cmp -s "$P.hidden/share/greet/big.bin" "$X/env1/share/greet/big.bin" || fail "big.bin in the export"
[ "$(stat -c %i "$X/env1/etc/plain-a")" = "$(stat -c %i "$X/env1/etc/plain-b")" ] ||
	fail "hard link in the export"

# Mount -> mount, traced.  The marker written by the first copy says which
# files hold the prefix; every other one is copied on the server unread.
mark=$(wc -l <"$T/brambled.log")
as_user "$BRAMBLE" envcp --json -j 4 "$M/env1" "$M/env2" >"$T/j2" || fail "envcp within the mount: $(cat "$T/j2")"
tail -n +"$((mark + 1))" "$T/brambled.log" >"$T/trace"
reads=$(grep -c " trace READ " "$T/trace")
writes=$(grep -c " trace WRITE " "$T/trace")
read_fhs=$(grep " trace READ " "$T/trace" | sed 's/.* fh=\([^ ]*\) .*/\1/' | sort -u | wc -l)
write_fhs=$(grep " trace WRITE " "$T/trace" | sed 's/.* fh=\([^ ]*\) .*/\1/' | sort -u | wc -l)
copies=$(grep -c " trace COPY_RANGE .* OK " "$T/trace")
note "within the mount: $copies COPY_RANGE, $reads READ ($read_fhs files), $writes WRITE ($write_fhs files)"
/usr/bin/python3 - "$T/j2" "$copies" "$read_fhs" "$write_fhs" <<-'EOF' || fail "traffic: $(cat "$T/j2")"
	import json, sys
	j = json.load(open(sys.argv[1]))
	copies, read_fhs, write_fhs = map(int, sys.argv[2:])
	rewritten = j["rewritten"]["text"] + j["rewritten"]["binary"]
	assert j["ok"] and j["old_prefix_from"] == "marker", j
	# Read: only the files the marker lists (all of them rewritten).
	assert j["scanned"] == rewritten and 10 <= rewritten < 40, j
	assert j["trusted"] > 500 and j["files"] > 1000, j
	# Every other non-empty file went through COPY_RANGE...
	assert j["copy_file_range"] > 1000 and copies >= j["copy_file_range"], (j, copies)
	# ...and no file data of theirs crossed the network.
	assert read_fhs <= rewritten, (read_fhs, rewritten)
	assert write_fhs <= rewritten + 1, (write_fhs, rewritten)   # + the marker
EOF
cmp -s "$P.hidden/share/greet/big.bin" "$X/env2/share/greet/big.bin" || fail "big.bin copied wrong"
cmp -s "$P.hidden/bin/python3" "$X/env2/bin/python3" || fail "python3 copied wrong"
# Holes: written through the mount they stay holes (env1), and the
# server's COPY_RANGE skips them, so the copy within the mount keeps them.
[ "$(stat -c %b "$X/env1/share/greet/sparse.bin")" -lt 64 ] || fail "holes lost on the way in"
cmp -s "$P.hidden/share/greet/sparse.bin" "$X/env2/share/greet/sparse.bin" || fail "sparse.bin"
[ "$(stat -c %b "$X/env2/share/greet/sparse.bin")" -lt 64 ] || fail "holes lost by envcp within the mount"
as_user mv "$M/env1" "$M/env1.hidden" || fail "mv env1"
envcp_user envcp_runs "$M/env2"
as_user "$BRAMBLE" envcp --check "$M/env2" >"$T/out" 2>&1 || fail "check in the mount: $(cat "$T/out")"
exit 0
