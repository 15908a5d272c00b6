# bramble-peer.sh - bramble as a peer of ../shared/bench/peers.sh (its PLUGINS
# hook), so bramble runs the very same workloads, fio flags and cold/warm
# procedure as sshfs, bindfs, MooseFS... in one run.
#
#   PLUGINS=tests/bench/bramble-peer.sh bash ../shared/bench/peers.sh run bramble local bindfs sshfs
#
# BRAMBLE_BUILD: the build directory holding server/brambled and
# fuse/bramblefs (default: build/ next to this file's project).
BRAMBLE_BUILD=${BRAMBLE_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
BRAMBLE_PORT=${BRAMBLE_PORT:-17049}
BRAMBLEFS_OPTS=${BRAMBLEFS_OPTS:-}

peer_bramble_conf() {
	P_DESC="bramble $(git -C "$BRAMBLE_BUILD/.." describe --always --dirty 2>/dev/null): brambled + bramblefs on 127.0.0.1${BRAMBLEFS_OPTS:+, -o $BRAMBLEFS_OPTS}"
}
peer_bramble_setup() {
	mkdir -p "$P_STATE/srv"
	spawn brambled - "$BRAMBLE_BUILD/server/brambled" --foreground --no-root-squash \
		--export "$P_EXPORT" --state "$P_STATE/srv" --listen "127.0.0.1:$BRAMBLE_PORT" &&
		wait_port - 127.0.0.1 "$BRAMBLE_PORT"
}
peer_bramble_mount() {
	spawn bramblefs - "$BRAMBLE_BUILD/fuse/bramblefs" 127.0.0.1:/ "$P_MNT" -f \
		-o "port=$BRAMBLE_PORT${BRAMBLEFS_OPTS:+,$BRAMBLEFS_OPTS}" && wait_mount "$P_MNT"
}
peer_bramble_umount() { fuse_umount bramblefs; }
peer_bramble_teardown() { stop_all; }
