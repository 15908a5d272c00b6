# pkglib.sh - for the tests of the Debian packages (78, 79); source it after
# lib.sh.
#
#   pkg_build DIR        build bramble-{server,client,slurm} from the
#                        checkout's files (tracked, and new ones not
#                        ignored) with dpkg-buildpackage -b (nocheck) in a
#                        copy under $T/src; the .debs end in DIR; lintian
#                        (when installed) must find no error
#   pkg_base NAME PKGS   a cached tarball of a Debian 12 minbase root with
#                        PKGS (comma-separated) added: prints its path; the
#                        first call on a machine runs debootstrap from
#                        $BR_DEBIAN_MIRROR or the apt sources' Debian mirror
#
# The tarballs live in ${BR_DEBIAN_BASE:-/var/cache/bramble-tests}.

pkg_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || skip "no $t (scripts/install-deps --pkg)"
	done
	[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || skip "no debian-archive-keyring"
	git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1 ||
		skip "$top_srcdir is not a git checkout"
}

pkg_build() {
	local out=$1 src=$T/src/bramble t0 p
	mkdir -p "$src" "$out"
	(cd "$top_srcdir" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) |
		tar -xf - -C "$src" || fail "cannot copy the source tree"
	t0=$(date +%s)
	(cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc) >"$T/build.log" 2>&1 ||
		fail "dpkg-buildpackage failed (see $T/build.log)"
	note "packages built in $(( $(date +%s) - t0 )) s"
	if command -v lintian >/dev/null; then
		lintian --fail-on error "$T"/src/bramble_*.changes >"$T/lintian.log" 2>&1 ||
			fail "lintian reports errors: $(grep '^E:' "$T/lintian.log" | head -5)"
		note "lintian: $(grep -c '^E:' "$T/lintian.log") errors, $(grep -c '^W:' "$T/lintian.log") warnings"
	fi
	for p in bramble-server bramble-client bramble-slurm; do
		mv "$T"/src/"${p}"_*.deb "$out/" || fail "no package $p"
	done
}

# pkg_mirror: $BR_DEBIAN_MIRROR, else the first Debian archive (not
# security) of this machine's apt sources.
pkg_mirror() {
	if [ -n "${BR_DEBIAN_MIRROR:-}" ]; then echo "$BR_DEBIAN_MIRROR"; return; fi
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -oE 'https?://[^ ]+' | grep -v -- '-security' | grep -m1 -E '/debian/?$'
}

pkg_base() {
	local name=$1 include=$2 cache=${BR_DEBIAN_BASE:-/var/cache/bramble-tests} key base mirror t0
	key=$(echo "bookworm minbase $include" | sha256sum | cut -c1-12)
	base=$cache/$name-bookworm-$key.tar
	mkdir -p "$cache"
	(
		flock 9
		[ -s "$base" ] && exit 0
		mirror=$(pkg_mirror)
		[ -n "$mirror" ] || { echo "no Debian mirror in the apt sources (set BR_DEBIAN_MIRROR)" >&2; exit 77; }
		note "debootstrap bookworm from $mirror into $base (once per machine)"
		t0=$(date +%s)
		rm -rf "$T/base"
		debootstrap --variant=minbase --include="$include" bookworm "$T/base" "$mirror" \
			>"$T/debootstrap.log" 2>&1 || { echo "debootstrap failed (see $T/debootstrap.log)" >&2; exit 1; }
		note "debootstrap took $(( $(date +%s) - t0 )) s"
		tar -C "$T/base" -cf "$base.tmp" . && mv -f "$base.tmp" "$base" || exit 1
		rm -rf "$T/base"
	) 9>"$cache/.lock" >&2
	case $? in
	0) echo "$base" ;;
	77) skip "no Debian mirror in the apt sources (set BR_DEBIAN_MIRROR)" ;;
	*) fail "no base root $base" ;;
	esac
}
