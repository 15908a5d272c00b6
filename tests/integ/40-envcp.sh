#!/bin/bash
# bramble envcp on local disk: a real venv + C tree relocated to a shorter
# prefix with the original hidden; permissions, times, links, sparse files;
# .pyc untouched; --check; copy, move by hand, copy again; --json; usage.
# All of it as an ordinary user (as_user, in its HOME $W), as users copy
# their environments; root only compares and reads the results.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/4-envcp-lib.sh"

W=$T/home1
P=$W/build/prefix_placeholder_padding_padding_padding_padding_padding
Q=$W/q
envcp_user envcp_fixture "$P"
envcp_user envcp_runs "$P"

out=$(as_user "$BRAMBLE" envcp "$P" "$Q" 2>&1) || fail "envcp: $out"
echo "$out" | grep -q "^prefix $P (from the path) -> $Q\$" || fail "summary: $out"
echo "$out" | grep -q "copied by copy_file_range" || fail "summary: $out"

# The original out of the way: nothing may still use it.
as_user mv "$P" "$P.hidden" || fail "mv $P"
envcp_user envcp_runs "$Q"

# Kept: modes (set-uid too), times (ns), sparse holes, identical bytes of
# every file that did not hold the prefix, .pyc untouched.
for f in etc/greet.conf bin/greet-origin share/greet lib/libgreet.so.1 bin/python3; do
	[ "$(stat -c '%a %y' "$P.hidden/$f")" = "$(stat -c '%a %y' "$Q/$f")" ] ||
		fail "mode/mtime of $f: $(stat -c '%a %y' "$P.hidden/$f" "$Q/$f")"
done
[ "$(stat -c %b "$Q/share/greet/sparse.bin")" -lt 64 ] || fail "sparse file filled"
cmp -s "$P.hidden/share/greet/sparse.bin" "$Q/share/greet/sparse.bin" || fail "sparse content"
[ "$(stat -c %s "$Q/share/greet/blob.bin")" = "$(stat -c %s "$P.hidden/share/greet/blob.bin")" ] ||
	fail "binary blob changed size"
[ "$(stat -c %s "$Q/bin/greet-runpath")" = "$(stat -c %s "$P.hidden/bin/greet-runpath")" ] ||
	fail "ELF changed size"
cmp -s "$P.hidden/bin/python3" "$Q/bin/python3" || fail "python3 binary differs"
n=0
for pyc in $(cd "$P.hidden" && find . -name '*.pyc' | head -50); do
	cmp -s "$P.hidden/$pyc" "$Q/$pyc" || fail ".pyc changed: $pyc"
	n=$((n + 1))
done
[ "$n" -gt 10 ] || fail "fixture has too few .pyc files ($n)"
as_user "$Q/bin/python3" -c 'import pip._internal.cli.main' || fail "pip's .pyc broken"
grep -q "^prefix=$Q\$" "$Q/.bramble-envcp" || fail "marker: $(cat "$Q/.bramble-envcp")"
grep -q "^from=$P\$" "$Q/.bramble-envcp" || fail "marker from"

# --check: clean, and as JSON.
out=$(as_user "$BRAMBLE" envcp --check "$Q") || fail "check of a good copy: $out"
echo "$out" | grep -q "^$Q: ok (.*bin/python runs)\$" || fail "check summary: $out"
as_user "$BRAMBLE" envcp --check --json "$Q" >"$T/check.json" || fail "check --json"
/usr/bin/python3 - "$T/check.json" "$Q" <<-'EOF' || fail "check json: $(cat "$T/check.json")"
	import json, sys
	j = json.load(open(sys.argv[1]))
	assert j["ok"] and j["problems"] == [] and j["python_prefix"] == sys.argv[2], j
	assert j["elf"] >= 5 and j["scripts"] >= 5, j
EOF

# --check finds what is wrong: a leftover prefix (path and offset), a
# missing library, a missing interpreter.
as_user cp -a "$Q" "$W/bad" || fail "cp -a"
as_user sh -c 'printf "x\n%s/lib\n" "$1" >>"$2/etc/greet.conf" &&
	rm "$2/lib/libgreet.so.1" &&
	printf "#!%s/bin/nonesuch\n" "$2" >"$2/bin/broken" &&
	chmod 755 "$2/bin/broken"' sh "$P" "$W/bad" || fail "breaking the copy"
off=$(($(stat -c %s "$W/bad/etc/greet.conf") - ${#P} - 5))
as_user "$BRAMBLE" envcp --check "$W/bad" >"$T/out" 2>&1 && fail "check of a broken copy passed"
grep -q "^prefix  etc/greet.conf:$off: old prefix $P at offset $off\$" "$T/out" ||
	fail "leftover prefix report: $(cat "$T/out")"
grep -q "^lib     bin/greet-origin: libgreet.so.1 => not found (RUNPATH \$ORIGIN/../lib)" "$T/out" ||
	fail "missing library report: $(cat "$T/out")"
grep -q "^interp  bin/broken: interpreter $W/bad/bin/nonesuch not found" "$T/out" ||
	fail "missing interpreter report: $(cat "$T/out")"
grep -q "^marker  .: made for $Q but found at $W/bad" "$T/out" || fail "moved copy: $(cat "$T/out")"

# Copy, move by hand, copy again: the marker gives the right old prefix.
as_user mv "$Q" "$W/moved" || fail "mv $Q"
R=$W/r
as_user "$BRAMBLE" envcp --json "$W/moved" "$R" >"$T/r.json" || fail "envcp of a moved copy"
/usr/bin/python3 - "$T/r.json" "$Q" "$R" <<-'EOF' || fail "json: $(cat "$T/r.json")"
	import json, sys
	j = json.load(open(sys.argv[1]))
	assert j["ok"] and j["old_prefix"] == sys.argv[2] and j["new_prefix"] == sys.argv[3], j
	assert j["old_prefix_from"] == "marker", j
	# The marker lists the files holding the prefix: no other is read.
	assert j["scanned"] < 40 and j["trusted"] > 500, j
	assert j["rewritten"]["text"] >= 10 and j["rewritten"]["binary"] >= 4, j
	assert j["rewritten"]["symlinks"] == 2 and j["hardlinks"] == 2, j
	assert j["unsafe"] == [] and j["failed"] == [], j
EOF
as_user mv "$W/moved" "$W/moved.hidden" || fail "mv moved"
envcp_user envcp_runs "$R"
as_user "$BRAMBLE" envcp --check "$R" >/dev/null || fail "check of the second copy"

# Refusals and usage errors.
as_user "$BRAMBLE" envcp "$R" "$R" >"$T/out" 2>&1 && fail "copy into itself"
grep -q "cannot copy" "$T/out" || fail "no clear message: $(cat "$T/out")"
as_user "$BRAMBLE" envcp "$R" "$W/moved.hidden" >"$T/out" 2>&1 && fail "copy over a non-empty dir"
grep -q "exists and is not an empty directory" "$T/out" || fail "message: $(cat "$T/out")"
as_user "$BRAMBLE" envcp "$W/nonesuch" "$W/x" >/dev/null 2>&1
[ $? = 1 ] || fail "missing SRC must exit 1"
as_user "$BRAMBLE" envcp "$R" >/dev/null 2>&1
[ $? = 2 ] || fail "one argument must exit 2"
as_user "$BRAMBLE" envcp -j 0 "$R" "$W/x" >/dev/null 2>&1
[ $? = 2 ] || fail "bad -j must exit 2"
as_user "$BRAMBLE" help envcp | grep -q -- "--skip-unsafe" || fail "help envcp"
exit 0
