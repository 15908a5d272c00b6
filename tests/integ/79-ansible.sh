#!/bin/bash
# 79-ansible: the Ansible role (deploy/ansible) brings up a cluster of
# containers on this machine -- a storage node and 3 compute nodes, each a
# Debian 12 root of its own booted with systemd-nspawn -b (its own systemd,
# dpkg database and /etc), in its own network namespace, on a bridge in a
# "switch" namespace from which ansible-playbook reaches their sshd.  Then
# every compute node has /clusterfs mounted from the fstab line (MUNGE
# authentication, with a key the role installs) (a file one
# node's user writes, the others read), the mount is systemd's, the
# staging Prolog stages a job's input into the node cache, bramblefs@.service
# mounts before it counts as started and restarts a killed bramblefs, and a
# second run of the playbook changes nothing.
#
# Opt-in (3 to 6 minutes): runs with BR_TEST_ANSIBLE=1, e.g.
#   make check TESTS=tests/integ/79-ansible.sh BR_TEST_ANSIBLE=1
# Needs ansible-core and systemd-container (scripts/install-deps --pkg),
# debootstrap; the node root is a cached tarball (pkglib.sh), debootstrapped
# from the Debian mirror on the first run.  No address is ever added to this
# machine's own network namespace.
. "$(dirname "$0")/lib.sh"
[ "${BR_TEST_ANSIBLE:-0}" = 1 ] || skip "opt-in: BR_TEST_ANSIBLE=1 (3 to 6 minutes)"
. "$(dirname "$0")/pkglib.sh"
pkg_need dpkg-buildpackage dh debootstrap systemd-nspawn ansible-playbook ip ssh ssh-keygen git
[ -e /dev/fuse ] || skip "no /dev/fuse"

NODES="storage c1 c2 c3"
NET=10.231.79
SW=br79sw-$$
NSPAWN_PIDS=""
JOBUID=1579

addr() {
	case $1 in storage) echo "$NET.10" ;; c1) echo "$NET.11" ;; c2) echo "$NET.12" ;; c3) echo "$NET.13" ;; esac
}

net_cleanup() {
	local p n
	# SIGTERM: nspawn has the container's systemd shut down.
	for p in $NSPAWN_PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $NSPAWN_PIDS; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for n in $NODES; do ip netns del "br79$n-$$" 2>/dev/null; done
	ip netns del "$SW" 2>/dev/null
	return 0
}
br_on_cleanup net_cleanup

# ---- the packages and the node root
DEBS=$T/debs/amd64
pkg_build "$DEBS"
[ "$(dpkg --print-architecture)" = amd64 ] || skip "the role test runs on amd64"
BASE=$(pkg_base node systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,munge,fuse3,libfuse3-3,libtirpc3,libev4,libsqlite3-0,libxxhash0,libsodium23,libmunge2,procps) ||
	exit $?

# ---- the switch, and a key for ansible
ip netns add "$SW" || fail "cannot make a network namespace"
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge
ip -n "$SW" addr add "$NET.1/24" dev br0
ip -n "$SW" link set br0 up
ssh-keygen -q -t ed25519 -N "" -f "$T/key" || fail "ssh-keygen"
# The cluster's MUNGE key, which the role installs on every node.
head -c 1024 /dev/urandom >"$T/munge.key"
chmod 400 "$T/munge.key"
in_sw() { ip netns exec "$SW" "$@"; }
on() {
	local n=$1
	shift
	in_sw ssh -i "$T/key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -o ConnectTimeout=5 "root@$(addr "$n")" "$@"
}

# ---- the nodes: a root each, a namespace each, booted
for n in $NODES; do
	r=$T/$n
	mkdir -p "$r"
	tar -C "$r" -xf "$BASE" || fail "cannot unpack $BASE"
	echo "$n" >"$r/etc/hostname"
	for m in $NODES; do echo "$(addr "$m") $m"; done >>"$r/etc/hosts"
	mkdir -p "$r/root/.ssh"
	cp "$T/key.pub" "$r/root/.ssh/authorized_keys"
	chmod 700 "$r/root/.ssh"
	# The ordinary user jobs run as, the same on every node.
	chroot "$r" useradd -K UID_MIN=100 -m -u "$JOBUID" -U jobuser || fail "useradd in $n"
	# A Slurm node's configuration, for the role to add the hooks to.
	[ "$n" = storage ] || { mkdir -p "$r/etc/slurm"; echo "ClusterName=test79" >"$r/etc/slurm/slurm.conf"; }
	ns=br79$n-$$
	ip netns add "$ns" || fail "cannot make a network namespace"
	ip link add "v$n-$$" type veth peer name "s$n-$$" || fail "cannot make a veth pair"
	ip link set "v$n-$$" netns "$ns"
	ip link set "s$n-$$" netns "$SW"
	ip -n "$SW" link set "s$n-$$" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$(addr "$n")/24" dev "v$n-$$"
	ip -n "$ns" link set "v$n-$$" up
	# No systemd as PID 1 here, so no machined: --register=no --keep-unit.
	systemd-nspawn -b -D "$r" -M "$n" --register=no --keep-unit --console=passive \
		--network-namespace-path="/run/netns/$ns" --bind=/dev/fuse \
		>"$T/$n.console.log" 2>&1 </dev/null &
	NSPAWN_PIDS="$NSPAWN_PIDS $!"
done
for n in $NODES; do
	wait_for 90 on "$n" true || fail "node $n: no ssh (see $T/$n.console.log)"
done
note "4 nodes booted and reachable"

# ---- the playbook, twice
cat >"$T/inventory.ini" <<EOF
[bramble_storage]
storage ansible_host=$(addr storage)

[bramble_compute]
c1 ansible_host=$(addr c1)
c2 ansible_host=$(addr c2)
c3 ansible_host=$(addr c3)

[all:vars]
ansible_user=root
ansible_python_interpreter=/usr/bin/python3
ansible_ssh_private_key_file=$T/key
ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'
bramble_packages_from=local
bramble_deb_dir=$T/debs
bramble_allow=$NET.0/24
bramble_cache_size=256M
bramble_auth=munge
bramble_munge_key=$T/munge.key
EOF
export ANSIBLE_HOME=$T/ansible-home ANSIBLE_LOCAL_TEMP=$T/ansible-tmp ANSIBLE_NOCOLOR=1 \
	ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_FORKS=4
play() {
	in_sw ansible-playbook -i "$T/inventory.ini" "$top_srcdir/deploy/ansible/site.yml" >"$T/$1.log" 2>&1 ||
		fail "ansible-playbook ($1) failed: $(grep -E 'fatal|FAILED|ERROR' "$T/$1.log" | head -5)"
	sed -n '/PLAY RECAP/,$p' "$T/$1.log" >&2
}
t0=$(date +%s)
play ansible-first
note "first run: $(( $(date +%s) - t0 )) s"

# ---- what it brought up
on storage systemctl is-active brambled.service >/dev/null || fail "brambled is not running on storage"
on storage "grep -q -- --auth=munge /etc/bramble/brambled.env && ps -o args= -C brambled | grep -q -- --auth=munge" ||
	fail "storage: brambled without --auth=munge"
for n in $NODES; do
	on "$n" cmp -s /etc/munge/munge.key - <"$T/munge.key" || fail "$n: not the cluster's MUNGE key"
done
on storage "install -d -o jobuser -g jobuser /srv/clusterfs/jobuser" || fail "cannot make the user's directory"
for n in c1 c2 c3; do
	on "$n" findmnt -n -t fuse.bramblefs /clusterfs >/dev/null || fail "$n: /clusterfs not mounted"
	on "$n" systemctl is-active clusterfs.mount >/dev/null || fail "$n: clusterfs.mount is not systemd's"
	on "$n" grep -qx 'Prolog=/usr/libexec/bramble/slurm-prolog' /etc/slurm/slurm.conf ||
		fail "$n: no Prolog in slurm.conf"
done
on c1 "setpriv --reuid=jobuser --regid=jobuser --init-groups sh -c 'head -c 2000000 /dev/urandom >/clusterfs/jobuser/input && sha256sum </clusterfs/jobuser/input'" \
	>"$T/sum1" || fail "c1: the user cannot write /clusterfs"
for n in c2 c3; do
	on "$n" "setpriv --reuid=jobuser --regid=jobuser --init-groups sh -c 'sha256sum </clusterfs/jobuser/input'" \
		>"$T/sum-$n" || fail "$n: the user cannot read /clusterfs"
	cmp -s "$T/sum1" "$T/sum-$n" || fail "$n reads other bytes than c1 wrote"
done
# The Prolog, as slurmd would run it for a job of jobuser that declares
# its input: staged and pinned in c2's node cache for job:79.
on c2 "SLURM_JOB_ID=79 SLURM_JOB_UID=$JOBUID SLURM_JOB_GID=$JOBUID SLURM_JOB_USER=jobuser \
	SLURM_JOB_COMMENT=bramble-stage=/clusterfs/jobuser/input /usr/libexec/bramble/slurm-prolog" \
	>"$T/prolog.log" 2>&1 || fail "c2: the Prolog failed: $(cat "$T/prolog.log")"
on c2 bramble cache ls >"$T/pins" 2>&1
grep -q 'job:79' "$T/pins" || fail "c2: nothing pinned for job:79: $(cat "$T/pins")"
# The mount as systemd makes it at boot, from the fstab line.
on c3 "umount /clusterfs && systemctl start clusterfs.mount && findmnt -n -t fuse.bramblefs /clusterfs" \
	>/dev/null || fail "c3: systemctl start clusterfs.mount did not mount /clusterfs"
# bramblefs@.service (Type=forking): the mount exists when `systemctl
# start' returns, and comes back when bramblefs is killed.
on c2 "printf 'BRAMBLE_SOURCE=storage:/\nBRAMBLE_OPTIONS=allow_other\n' >/etc/bramble/mount-mnt2.env &&
	systemctl start bramblefs@mnt2 && findmnt -n -t fuse.bramblefs /mnt2" >/dev/null ||
	fail "c2: bramblefs@mnt2 started without /mnt2 mounted"
pid=$(on c2 systemctl show -p MainPID --value bramblefs@mnt2)
on c2 "kill -KILL $pid" || fail "c2: cannot kill bramblefs ($pid)"
back() { on c2 "[ \$(systemctl show -p MainPID --value bramblefs@mnt2) != $pid ] &&
	findmnt -n -t fuse.bramblefs /mnt2 && cmp /clusterfs/jobuser/input /mnt2/jobuser/input"; }
wait_for 20 back >/dev/null || fail "c2: bramblefs@mnt2 did not come back after bramblefs was killed"
on c2 "systemctl stop bramblefs@mnt2 && ! findmnt /mnt2" >/dev/null || fail "c2: stopping bramblefs@mnt2 left /mnt2"

t0=$(date +%s)
play ansible-second
note "second run: $(( $(date +%s) - t0 )) s"
grep -E '^(storage|c[123]) +:' "$T/ansible-second.log" >"$T/recap"
[ "$(wc -l <"$T/recap")" = 4 ] || fail "no recap for every node"
grep -v 'changed=0 ' "$T/recap" && fail "the second run changed something"
exit 0
