# bramble-peer.sh - bramble as a peer of ../shared/bench/peers.sh (its PLUGINS
# hook), so bramble runs the very same workloads, fio flags and cold/warm
# procedure as sshfs, bindfs, MooseFS... in one run.
#
#   PLUGINS=tests/bench/bramble-peer.sh bash ../shared/bench/peers.sh run bramble local bindfs sshfs
#
# BRAMBLE_BUILD: the build directory holding server/brambled and
# fuse/bramblefs (default: build/ next to this file's project).
BRAMBLE_BUILD=${BRAMBLE_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
# BRAMBLE_PORT: 0 (default) lets brambled pick a free port, written to
# $P_STATE/port (read back by the mount and by `bramble stats`).
# PEER_WORKLOADS (see benchlib.sh) replaces every peer's workload list.
BRAMBLE_PORT=${BRAMBLE_PORT:-0}
BRAMBLEFS_OPTS=${BRAMBLEFS_OPTS:-}

# The node cache lives under the peer's state dir (so a run never fills or
# reads the machine's default cache_dir) when this bramblefs has one.  The
# drop hook (between umount and mount, for cold runs) empties it and
# restarts brambled, so its RAM caches are cold too (as peers.sh restarts
# Ganesha); the port file is rewritten and the mount reads it again.
# bramble_has_opt NAME: this bramblefs takes -o NAME=... (its --help lists
# it, or its option table holds it)
bramble_has_opt() {
	"$BRAMBLE_BUILD/fuse/bramblefs" --help 2>&1 | grep -q -- "-o $1=" ||
		grep -qa -- "$1=%s" "$BRAMBLE_BUILD/fuse/bramblefs"
}
bramble_opts() {
	local o=$BRAMBLEFS_OPTS
	if bramble_has_opt cache_dir; then
		case ",$o," in *,cache_dir=*) ;; *) o="${o:+$o,}cache_dir=$P_STATE/nodecache" ;; esac
	fi
	echo "$o"
}

peer_bramble_conf() {
	P_DESC="bramble $(git -C "$BRAMBLE_BUILD/.." describe --always --dirty 2>/dev/null): brambled + bramblefs on 127.0.0.1$(o=$(bramble_opts); echo "${o:+, -o $o}")"
}
peer_bramble_setup() {
	local i
	mkdir -p "$P_STATE/srv"
	rm -f "$P_STATE/port"
	spawn brambled - "$BRAMBLE_BUILD/server/brambled" --foreground --no-root-squash \
		--export "$P_EXPORT" --state "$P_STATE/srv" --listen "127.0.0.1:$BRAMBLE_PORT" \
		--port-file "$P_STATE/port" || return 1
	for i in $(seq 1 120); do [ -s "$P_STATE/port" ] && return 0; sleep 0.25; done
	log "   brambled wrote no port file"; return 1
}
peer_bramble_mount() {
	local o
	o=$(bramble_opts)
	mkdir -p "$P_STATE/nodecache"
	spawn bramblefs - "$BRAMBLE_BUILD/fuse/bramblefs" 127.0.0.1:/ "$P_MNT" -f \
		-o "port=$(cat "$P_STATE/port")${o:+,$o}" && wait_mount "$P_MNT"
}
peer_bramble_umount() { fuse_umount bramblefs; }
peer_bramble_drop() { rm -rf "$P_STATE/nodecache"; stop brambled; peer_bramble_setup; }
peer_bramble_teardown() { stop_all; }
