#!/bin/bash
# 78-debian-packages: the Debian packages as an admin meets them.  Builds
# bramble-server, bramble-client and bramble-slurm from this source tree
# (dpkg-buildpackage -b, DEB_BUILD_OPTIONS=nocheck), installs them with
# dpkg into a clean Debian 12 root (debootstrap) in a chroot in a private
# mount namespace, starts brambled with the installed unit's command line
# and settings file, mounts /clusterfs from an fstab line of type
# fuse.bramblefs with `mount /clusterfs' (mount.fuse.bramblefs ->
# mount.fuse3 -> /usr/bin/bramblefs), has an ordinary user write and read a
# file, reinstalls (an upgrade keeps the state and the node cache), and
# purges: nothing of the packages is left, nor /var/lib/bramble nor
# /var/cache/bramble.
#
# The base root comes from a cached tarball,
# ${BR_DEBIAN_BASE:-/var/cache/bramble-tests}/pkgtest-bookworm-<key>.tar; only the
# first run on a machine runs debootstrap, which needs the Debian mirror of
# this machine's apt sources (or $BR_DEBIAN_MIRROR).  The chroot shares
# this machine's network namespace: the server listens on 127.0.0.1 only.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/pkglib.sh"
pkg_need dpkg-buildpackage dh debootstrap unshare nsenter chroot git
[ -e /dev/fuse ] || skip "no /dev/fuse"

R=$T/root
HOLDER=""

# ---- cleanup: every process whose root is the chroot, then the namespace.
in_root_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && echo "${p#/proc/}"
	done
}
pkg_cleanup() {
	local p
	if [ -n "$HOLDER" ]; then
		nsenter -t "$HOLDER" -m -- sh -c "grep -q ' $R/clusterfs ' /proc/mounts &&
			umount -l '$R/clusterfs'" 2>/dev/null
	fi
	for sig in TERM KILL; do
		p=$(in_root_pids)
		[ -n "$p" ] || break
		# shellcheck disable=SC2086
		kill -"$sig" $p 2>/dev/null
		sleep 1
	done
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null && wait "$HOLDER" 2>/dev/null
}
br_on_cleanup pkg_cleanup

# ---- 1. the packages, and 2. a clean Debian 12 root.
DEBS=$T/debs
pkg_build "$DEBS"
BASE=$(pkg_base pkgtest fuse3,libfuse3-3,libtirpc3,libev4,libsqlite3-0,libxxhash0,libsodium23,libmunge2,procps) ||
	exit $?
mkdir -p "$R"
tar -C "$R" -xf "$BASE" || fail "cannot unpack $BASE"
cp "$DEBS"/*.deb "$R/tmp/"

# ---- 3. a private mount namespace for the chroot: /proc, /dev (with
# /dev/fuse), /sys and an empty /run, seen only here.
unshare -m --propagation private sleep infinity &
HOLDER=$!
own_ns() { [ "$(readlink "/proc/$HOLDER/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]; }
wait_for 10 own_ns || fail "no private mount namespace"
nsenter -t "$HOLDER" -m -- sh -c "mount -t proc proc '$R/proc' && mount --rbind /dev '$R/dev' &&
	mount --rbind /sys '$R/sys' && mount -t tmpfs tmpfs '$R/run'" || fail "cannot set up the chroot's mounts"
# in_root CMD...: CMD as root in the chroot, with a clean environment.
in_root() {
	nsenter -t "$HOLDER" -m -- chroot "$R" /usr/bin/env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

# ---- 4. install.
in_root sh -c 'dpkg -i /tmp/bramble-*.deb' >"$T/dpkg.log" 2>&1 ||
	fail "dpkg -i failed (see $T/dpkg.log)"
in_root dpkg-query -W -f='${Package} ${Status}\n' bramble-server bramble-client bramble-slurm \
	>"$T/status" 2>&1
[ "$(grep -c 'install ok installed' "$T/status")" = 3 ] || fail "not installed: $(cat "$T/status")"
for f in /usr/sbin/brambled /usr/bin/bramblefs /usr/bin/bramble /sbin/mount.fuse.bramblefs \
	/lib/systemd/system/brambled.service /lib/systemd/system/bramblefs@.service \
	/usr/libexec/bramble/slurm-prolog /usr/libexec/bramble/slurm-epilog; do
	in_root test -e "$f" || fail "the packages installed no $f"
done
in_root sh -c 'ls /usr/lib/*/bramble/spank_bramble.so' >/dev/null || fail "no SPANK plugin"
# The installed scripts, units and examples name no path of a default
# `make install' (/usr/local) or of this build (PATH search lists aside),
# and they do name the installed programs.
in_root sh -c 'dpkg -L bramble-server bramble-client bramble-slurm | grep -E "\.service$|/sbin/mount\.|/libexec/|/examples/"' \
	>"$T/scripts"
while read -r f; do
	in_root test -f "$f" || continue
	in_root sh -c "grep -v '^PATH=' '$f' | grep -oE '(/usr/local|$top_builddir|$top_srcdir)[^ ]*'" &&
		fail "$f names a path outside the package"
done <"$T/scripts"
for p in /usr/bin/bramble /usr/bin/bramblefs /usr/sbin/brambled /usr/libexec/bramble/slurm-prolog; do
	in_root sh -c "grep -h -q '$p' /lib/systemd/system/*bramble* /sbin/mount.fuse.bramblefs /usr/libexec/bramble/* /usr/share/doc/bramble-slurm/examples/*" ||
		fail "nothing installed names $p"
done

# ---- 5. the server, as brambled.service runs it: its settings file and
# its ExecStart line (Type=forking: it returns once brambled listens).
PORT=$(br_free_port)
in_root sh -c "set -e
	mkdir -p /etc/bramble /srv/clusterfs
	useradd -K UID_MIN=100 -K SYS_UID_MAX=99 -m -u $BR_UID -U $BR_USER
	install -d -o $BR_USER -g $BR_USER /srv/clusterfs/u1
	echo 'BRAMBLED_OPTS=\"--export /srv/clusterfs --allow 127.0.0.0/8 --listen 127.0.0.1:$PORT\"' >/etc/bramble/brambled.env" ||
	fail "cannot configure the server"
in_root sh -c 'set -a; . /etc/bramble/brambled.env; set +a
	cmd=$(sed -n "s/^ExecStart=//p" /lib/systemd/system/brambled.service)
	eval "exec $cmd"' >"$T/brambled.log" 2>&1 || fail "brambled (the unit's ExecStart) did not start"
in_root test -s /run/brambled.pid || fail "no /run/brambled.pid (the unit's PIDFile)"
in_root test -s /var/lib/bramble/handle.key || fail "no state in /var/lib/bramble"

# ---- 6. the mount, from fstab.
in_root sh -c "mkdir -p /clusterfs &&
	echo '127.0.0.1:/ /clusterfs fuse.bramblefs _netdev,allow_other,port=$PORT 0 0' >>/etc/fstab &&
	mount /clusterfs" >"$T/mount.log" 2>&1 || fail "mount /clusterfs failed: $(cat "$T/mount.log")"
# mount returned: the mount is there already (bramblefs daemonizes after it).
in_root grep -q ' /clusterfs fuse.bramblefs ' /proc/mounts || fail "mount returned before /clusterfs was mounted"

# ---- 7. a file round trip as the ordinary user, and the server's copy.
head -c 3000000 /dev/urandom >"$R/tmp/data"
chmod 644 "$R/tmp/data"
in_root setpriv --reuid="$BR_UID" --regid="$BR_UID" --init-groups -- \
	sh -c 'cp /tmp/data /clusterfs/u1/data && sync /clusterfs/u1/data && cmp /tmp/data /clusterfs/u1/data' ||
	fail "the user's file did not round-trip through /clusterfs"
cmp "$R/tmp/data" "$R/srv/clusterfs/u1/data" || fail "the export's copy differs"
[ "$(stat -c %u "$R/srv/clusterfs/u1/data")" = "$BR_UID" ] || fail "the export's copy is not the user's"
in_root setpriv --reuid="$BR_UID" --regid="$BR_UID" --init-groups -- \
	sh -c 'touch /clusterfs/mine 2>/dev/null' && fail "the user could write the export's root (0755 root)"
in_root bramble ping -c 2 /clusterfs >"$T/ping.log" 2>&1 || fail "bramble ping /clusterfs: $(cat "$T/ping.log")"
in_root test -d /var/cache/bramble || fail "no node cache in /var/cache/bramble"

# ---- 8. an upgrade keeps the state and the cache (a reinstall: dpkg's
# upgrade path, prerm/postrm upgrade).
key1=$(sha256sum <"$R/var/lib/bramble/handle.key")
in_root sh -c 'dpkg -i /tmp/bramble-*.deb' >>"$T/dpkg.log" 2>&1 || fail "reinstall failed (see $T/dpkg.log)"
[ "$(sha256sum <"$R/var/lib/bramble/handle.key")" = "$key1" ] || fail "the upgrade changed the handle key"
in_root test -d /var/cache/bramble || fail "the upgrade removed the node cache"

# ---- 9. stop, purge, and nothing is left.
in_root umount /clusterfs || fail "umount /clusterfs failed"
in_root sh -c 'kill $(cat /run/brambled.pid)' || fail "cannot stop brambled"
none_left() { [ -z "$(in_root_pids)" ]; }
wait_for 10 none_left || fail "daemons still running in the root: $(in_root_pids)"
in_root dpkg -L bramble-server bramble-client bramble-slurm >"$T/files" 2>&1
in_root dpkg --purge bramble-slurm bramble-client bramble-server >>"$T/dpkg.log" 2>&1 ||
	fail "purge failed (see $T/dpkg.log)"
in_root dpkg -S bramble >"$T/left" 2>&1 && fail "dpkg still knows files of bramble: $(head -5 "$T/left")"
in_root sh -c 'dpkg -l | grep bramble' && fail "dpkg still lists a bramble package"
while read -r f; do
	case $f in /usr/share/doc/bramble-*|/usr/lib/*/bramble|/usr/libexec/bramble|/sbin/mount.fuse.bramblefs|/usr/*/bramble*|/lib/systemd/system/bramble*)
		[ -e "$R$f" ] && fail "left after purge: $f" ;;
	esac
done <"$T/files"
for d in /var/lib/bramble /var/cache/bramble; do
	[ -e "$R$d" ] && fail "purge left $d"
done
# /etc/bramble/brambled.env is the admin's file (the test wrote it): kept.
exit 0
