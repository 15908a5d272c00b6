# 4-envcp-lib.sh - a real, relocatable environment made offline, for the
# envcp tests (40-49).  Source it after lib.sh, then:
#
#   envcp_fixture P     build the environment at prefix P (~5 s): a venv
#                       (--copies) with pip and a console script, a C library
#                       and programs with RUNPATH, RPATH and $ORIGIN, a .pc
#                       file, a text config, symlinks, a hard-linked pair, a
#                       sparse file, a binary blob holding the prefix
#   envcp_runs Q        run every program of the environment at Q and check
#                       that each one uses Q (fails the test otherwise)
#   envcp_user FUNC ARGS...
#                       run envcp_fixture or envcp_runs as the ordinary user
#                       (as_user), as users build and run environments: its
#                       work files (wheel, C sources) go to the user's HOME
#
# See TESTING.md section 3 for why it is built this way.

_envcp_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

command -v gcc >/dev/null || skip "no gcc"
command -v pkg-config >/dev/null || skip "no pkg-config"
/usr/bin/python3 -c 'import venv, ensurepip, setuptools, wheel' 2>/dev/null ||
	skip "system python lacks venv/ensurepip/setuptools/wheel"

# The wheel of the console-script package, built once per test with the
# system python (the venv has no `wheel`).
_envcp_wheel() {
	local w=$T/wheel
	[ -f "$w/dist/mytool-0.1-py3-none-any.whl" ] && return 0
	mkdir -p "$w/mytool/mytool"
	cat >"$w/mytool/setup.py" <<-'EOF'
		from setuptools import setup
		setup(name="mytool", version="0.1", packages=["mytool"],
		      entry_points={"console_scripts": ["mytool=mytool:main"]})
	EOF
	cat >"$w/mytool/mytool/__init__.py" <<-'EOF'
		import sys
		def main():
		    print("mytool prefix", sys.prefix)
	EOF
	(cd "$w" && /usr/bin/python3 -m pip wheel -q --no-index --no-build-isolation \
		--no-deps -w dist ./mytool >/dev/null 2>&1) || fail "cannot build the mytool wheel"
}

envcp_fixture() {
	local P=$1 src=$T/csrc
	_envcp_wheel
	/usr/bin/python3 -m venv --copies "$P" || fail "venv $P"
	"$P/bin/python3" -m pip install -q --no-index "$T/wheel/dist/mytool-0.1-py3-none-any.whl" \
		>/dev/null 2>&1 || fail "pip install mytool"
	mkdir -p "$src" "$P/share/greet" "$P/etc" "$P/lib/pkgconfig" "$P/include"
	echo "greetings from the data file" >"$P/share/greet/data.txt"
	cat >"$src/greet.c" <<-'EOF'
		#include <stdio.h>
		int greet(void)
		{
			char line[256];
			FILE *f = fopen(PREFIX "/share/greet/data.txt", "r");

			if (!f || !fgets(line, sizeof(line), f)) {
				puts("(data file missing)");
				return 1;
			}
			fputs(line, stdout);
			fclose(f);
			return 0;
		}
	EOF
	cat >"$src/main.c" <<-'EOF'
		#include <stdio.h>
		int greet(void);
		static const char install_prefix[] = PREFIX;
		int main(void)
		{
			printf("prefix %s\n", install_prefix);
			return greet();
		}
	EOF
	gcc -shared -fPIC -DPREFIX="\"$P\"" -Wl,-soname,libgreet.so.1 \
		-o "$P/lib/libgreet.so.1" "$src/greet.c" || fail "gcc libgreet"
	ln -s libgreet.so.1 "$P/lib/libgreet.so"
	gcc -DPREFIX="\"$P\"" -o "$P/bin/greet-runpath" "$src/main.c" -L"$P/lib" -lgreet \
		-Wl,-rpath,"$P/lib" || fail "gcc greet-runpath"
	gcc -DPREFIX="\"$P\"" -o "$P/bin/greet-rpath" "$src/main.c" -L"$P/lib" -lgreet \
		-Wl,--disable-new-dtags,-rpath,"$P/lib" || fail "gcc greet-rpath"
	gcc -DPREFIX="\"$P\"" -o "$P/bin/greet-origin" "$src/main.c" -L"$P/lib" -lgreet \
		'-Wl,-rpath,$ORIGIN/../lib' || fail "gcc greet-origin"
	cat >"$P/lib/pkgconfig/greet.pc" <<-EOF
		prefix=$P
		libdir=\${prefix}/lib
		includedir=\${prefix}/include
		Name: greet
		Description: says hello
		Version: 1.0
		Libs: -L\${libdir} -lgreet
		Cflags: -I\${includedir}
	EOF
	printf 'data_dir = %s/share/greet\nname = greet\n' "$P" >"$P/etc/greet.conf"
	printf '#!/bin/sh\nexec "%s/bin/greet-runpath" "$@"\n' "$P" >"$P/bin/greet-wrapper"
	# A #! line with an argument, and one for an interpreter that is not
	# python (a copy of dash inside the prefix).
	printf '#!%s/bin/python3 -E\nimport sys\nprint("pyscript", sys.prefix, sys.flags.ignore_environment)\n' \
		"$P" >"$P/bin/pyscript"
	cp /bin/dash "$P/bin/mysh"
	printf '#!%s/bin/mysh -e\necho "mysh script $0"\n' "$P" >"$P/bin/shscript"
	chmod 755 "$P/bin/greet-wrapper" "$P/bin/pyscript" "$P/bin/shscript"
	# Symlinks: relative, absolute inside, absolute outside.
	ln -s greet-runpath "$P/bin/greet"
	ln -s "$P/share/greet/data.txt" "$P/share/greet/data-abs"
	ln -s "$P" "$P/share/greet/self"
	ln -s /usr/share/common-licenses "$P/share/greet/licenses"
	# A hard-linked pair holding the prefix, and one not holding it.
	printf 'path=%s/share\n' "$P" >"$P/etc/linked-a"
	ln "$P/etc/linked-a" "$P/etc/linked-b"
	echo plain >"$P/etc/plain-a"
	ln "$P/etc/plain-a" "$P/etc/plain-b"
	# A sparse file (8 MiB, two 4 KiB data blocks) and a binary blob
	# holding the prefix as a C string among other data.
	truncate -s 8M "$P/share/greet/sparse.bin"
	printf 'start' | dd of="$P/share/greet/sparse.bin" conv=notrunc status=none
	printf 'middle' | dd of="$P/share/greet/sparse.bin" bs=1 seek=4194304 conv=notrunc status=none
	{ head -c 100 /dev/urandom | tr -d '\000'; printf '\000%s/lib/plugins\000tail\000' "$P";
	  head -c 100 /dev/zero; } >"$P/share/greet/blob.bin"
	chmod 640 "$P/etc/greet.conf"
	chmod 4755 "$P/bin/greet-origin"
	touch -d '2020-01-02 03:04:05.123456789' "$P/etc/greet.conf" "$P/share/greet"
}

# envcp_user FUNC ARGS...: FUNC of this file in a bash of the user's own,
# with T=$T/home1 (lib.sh's HOME of as_user: the user may write there).
# Its failure ends the test (with its message), as in the root shell.
envcp_user() {
	as_user env T="$T/home1" bash -c 'fail() { echo "FAIL: $*" >&2; exit 1; }
		skip() { echo "SKIP: $*" >&2; exit 77; }
		. "$0" && "$@"' "$_envcp_lib" "$@" || exit $?
}

# envcp_runs Q: everything in Q works and refers to Q.
envcp_runs() {
	local Q=$1 out
	for g in greet-runpath greet-rpath greet-origin greet-wrapper greet; do
		out=$("$Q/bin/$g" 2>&1) || fail "$Q/bin/$g: $out"
		echo "$out" | grep -qx "prefix $Q" || fail "$g prefix: $out"
		echo "$out" | grep -qx "greetings from the data file" || fail "$g data: $out"
	done
	out=$("$Q/bin/pyscript") || fail "pyscript: $out"
	[ "$out" = "pyscript $Q 1" ] || fail "pyscript output: $out"
	out=$("$Q/bin/shscript") || fail "shscript: $out"
	[ "$out" = "mysh script $Q/bin/shscript" ] || fail "shscript output: $out"
	out=$("$Q/bin/mytool") || fail "mytool: $out"
	[ "$out" = "mytool prefix $Q" ] || fail "mytool output: $out"
	out=$("$Q/bin/pip" --version) || fail "pip: $out"
	echo "$out" | grep -q "from $Q/lib/python3" || fail "pip location: $out"
	out=$(PKG_CONFIG_PATH=$Q/lib/pkgconfig pkg-config --libs greet) || fail "pkg-config"
	out=$(echo $out)
	[ "$out" = "-L$Q/lib -lgreet" ] || fail "pkg-config --libs: $out"
	grep -qx "data_dir = $Q/share/greet" "$Q/etc/greet.conf" || fail "greet.conf"
	out=$(bash -c ". '$Q/bin/activate' && echo \"\$VIRTUAL_ENV|\$VIRTUAL_ENV_PROMPT|\$(command -v python)\"")
	[ "$out" = "$Q|($(basename "$Q")) |$Q/bin/python" ] || fail "activate: $out"
	[ "$(readlink "$Q/share/greet/data-abs")" = "$Q/share/greet/data.txt" ] ||
		fail "absolute symlink: $(readlink "$Q/share/greet/data-abs")"
	[ "$(readlink "$Q/share/greet/self")" = "$Q" ] || fail "symlink to the prefix"
	[ "$(readlink "$Q/share/greet/licenses")" = /usr/share/common-licenses ] ||
		fail "outside symlink changed"
	[ "$(readlink "$Q/bin/greet")" = greet-runpath ] || fail "relative symlink changed"
	[ "$(stat -c %i "$Q/etc/linked-a")" = "$(stat -c %i "$Q/etc/linked-b")" ] ||
		fail "hard link (rewritten) lost"
	[ "$(stat -c %i "$Q/etc/plain-a")" = "$(stat -c %i "$Q/etc/plain-b")" ] ||
		fail "hard link (plain) lost"
	grep -qx "path=$Q/share" "$Q/etc/linked-a" || fail "hard-linked file not rewritten"
	grep -qaF "$Q/lib/plugins" "$Q/share/greet/blob.bin" || fail "blob not rewritten"
}
