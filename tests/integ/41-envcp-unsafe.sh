#!/bin/bash
# bramble envcp to a LONGER prefix: binaries whose embedded prefix cannot
# grow are refused (non-zero exit, file byte-identical, clear message), or
# with --skip-unsafe copied as they are and reported; text still grows;
# #! lines past the kernel's limit are made portable, arguments kept.
# All of it as an ordinary user (as_user, in its HOME $W); root only
# compares and reads the results.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/4-envcp-lib.sh"

W=$T/home1
P=$W/build/prefix_placeholder_padding_padding_padding
Q2=$W/a_much_longer_destination_prefix_that_pushes_every_shebang_line/past_the_kernel_limit_of_127_bytes
as_user mkdir -p "$(dirname "$Q2")" || fail "mkdir"
envcp_user envcp_fixture "$P"
unsafe="bin/greet-origin bin/greet-rpath bin/greet-runpath lib/libgreet.so.1 share/greet/blob.bin"

as_user "$BRAMBLE" envcp "$P" "$Q2" >"$T/out" 2>"$T/err" && fail "longer prefix: exit 0 without --skip-unsafe"
for f in $unsafe; do
	grep -q "^bramble envcp: $f: refused: binary file holds the old prefix at offset [0-9]*; the new prefix is [0-9]* bytes longer" "$T/err" ||
		fail "no refusal for $f: $(cat "$T/err")"
	cmp -s "$P/$f" "$Q2/$f" || fail "$f was modified"
done
[ "$(grep -c "refused:" "$T/err")" = 5 ] || fail "refusals: $(cat "$T/err")"
grep -qx "data_dir = $Q2/share/greet" "$Q2/etc/greet.conf" || fail "text not rewritten"

# --skip-unsafe: exit 0, the same files left as they are, listed.
as_user rm -rf "$Q2" || fail "rm $Q2"
as_user "$BRAMBLE" envcp --skip-unsafe --json "$P" "$Q2" >"$T/j" 2>"$T/err" ||
	fail "--skip-unsafe exit: $(cat "$T/err")"
grep -q "skipped: binary file" "$T/err" || fail "skipped files not reported: $(cat "$T/err")"
/usr/bin/python3 - "$T/j" $unsafe <<-'EOF' || fail "json: $(cat "$T/j")"
	import json, sys
	j = json.load(open(sys.argv[1]))
	assert j["ok"], j
	assert sorted(u["path"] for u in j["unsafe"]) == sorted(sys.argv[2:]), j["unsafe"]
	assert all("longer" in u["reason"] for u in j["unsafe"]), j
	assert j["rewritten"]["long_shebangs"] >= 5, j
EOF
for f in $unsafe; do
	cmp -s "$P/$f" "$Q2/$f" || fail "$f was modified (--skip-unsafe)"
done
grep -q "^unsafe=bin/greet-runpath\$" "$Q2/.bramble-envcp" || fail "marker lacks the unsafe files"

as_user mv "$P" "$P.hidden" || fail "mv $P"
# Long #! lines: python's through /bin/sh (exact interpreter, -E kept),
# others through env -S (arguments kept).
[ "$(head -n 1 "$Q2/bin/pyscript")" = "#!/bin/sh" ] || fail "pyscript: $(head -n 3 "$Q2/bin/pyscript")"
sed -n 2p "$Q2/bin/pyscript" | grep -qF "'''exec' '$Q2/bin/python3' '-E' \"\$0\" \"\$@\"" ||
	fail "pyscript exec line: $(sed -n 2p "$Q2/bin/pyscript")"
out=$(as_user "$Q2/bin/pyscript") || fail "pyscript: $out"
[ "$out" = "pyscript $Q2 1" ] || fail "pyscript output: $out"
out=$(as_user "$Q2/bin/mytool") || fail "mytool: $out"
[ "$out" = "mytool prefix $Q2" ] || fail "mytool output: $out"
as_user "$Q2/bin/pip" --version | grep -q "from $Q2/lib/python3" || fail "pip from the long prefix"
[ "$(head -n 1 "$Q2/bin/shscript")" = "#!/usr/bin/env -S mysh -e" ] ||
	fail "shscript: $(head -n 1 "$Q2/bin/shscript")"
out=$(as_user env PATH="$Q2/bin:$PATH" "$Q2/bin/shscript") || fail "shscript: $out"
[ "$out" = "mysh script $Q2/bin/shscript" ] || fail "shscript output: $out"
# ... while the refused programs still point at the old, now hidden, prefix.
out=$(as_user "$Q2/bin/greet-origin" 2>&1)
echo "$out" | grep -q "(data file missing)" || fail "greet-origin: $out"

# --check reports what is left: the old prefix in the refused binaries,
# the library greet-runpath cannot find.
as_user "$BRAMBLE" envcp --check "$Q2" >"$T/out" 2>&1 && fail "check passed: $(cat "$T/out")"
grep -q "^prefix  bin/greet-runpath:[0-9]*: old prefix $P at offset" "$T/out" ||
	fail "check: $(cat "$T/out")"
grep -q "^lib     bin/greet-runpath: libgreet.so.1 => not found (RUNPATH $P/lib)" "$T/out" ||
	fail "check lib: $(cat "$T/out")"
grep -q "^interp" "$T/out" && fail "interpreters reported: $(cat "$T/out")"
exit 0
