#!/bin/bash
# importstorm.sh - the import benchmark: `python3 -c "import <a large
# stdlib package set>"` where the interpreter, the venv and every module
# come from the mount.
#
# The environment, built once per peer on its backing directory: a
# self-contained interpreter (../shared/TESTING.md section 3: a copy of
# /usr/bin/python3.X and of /usr/lib/python3.X, symlinks dereferenced;
# sys.prefix follows the copy), every module compiled to .pyc there, and a
# venv made from that interpreter with `-m venv --copies --without-pip`,
# its pyvenv.cfg `home` pointing at the interpreter's path on the mount.
# Each run is `MOUNT/pyenv/venv/bin/python3 -I -B -c SCRIPT`: -I isolates it
# from the caller's environment, -B keeps it read-only (the .pyc files are
# present and used; none is written).  SCRIPT imports IMPORT_MODULES and
# then checks that every imported module's __file__ is on the mount (the
# run fails otherwise) and prints how many there were.
#
# Seconds per process (wall time, interpreter start included), median of
# BENCH_RUNS (5) runs, cold (fresh mount, page caches and node cache
# dropped) and warm (the same command again at once); for bramble the RPCs
# per run, by procedure.  Target: warm within 1.5x of local.
#
#   sudo bash tests/bench/importstorm.sh [PEER...]   (default: bramble local bindfs sshfs)
BENCH_RUNS=${BENCH_RUNS:-5}
IMPORT_MODULES=${IMPORT_MODULES:-"email email.mime.multipart email.policy json http.client http.server
 xml.etree.ElementTree xml.dom.minidom asyncio unittest unittest.mock sqlite3 decimal logging
 logging.handlers argparse urllib.request concurrent.futures multiprocessing subprocess tarfile
 zipfile csv dataclasses pathlib ssl ctypes html.parser typing inspect pickle statistics
 fractions uuid configparser difflib pprint tempfile shutil socketserver smtplib imaplib
 xmlrpc.client plistlib pydoc"}
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"

# The measured program: import, then prove where the modules came from.
IMPORT_SCRIPT="import $(echo $IMPORT_MODULES | tr ' ' ',')"'
import sys
root = sys.argv[1] + "/"
files = [m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
away = [f for f in files if not f.startswith(root)]
if away or not (sys.prefix + "/").startswith(root) or not (sys.base_prefix + "/").startswith(root):
    sys.exit("not on the mount: prefix %s base %s, %d modules: %s" % (sys.prefix, sys.base_prefix, len(away), away[:3]))
print("%d modules, all from %s" % (len(files), root))'

# importstorm_env DIR MNTDIR: the environment at DIR, seen at MNTDIR
importstorm_env() {
	local x=$1 m=$2 v
	v=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])') || return 1
	mkdir -p "$x/bin" "$x/lib" || return 1
	cp /usr/bin/python$v "$x/bin/" || return 1
	cp -rL --preserve=mode,timestamps /usr/lib/python$v "$x/lib/" || return 1
	# .pyc for every module (a few test files do not compile: by design)
	"$x/bin/python$v" -m compileall -q -j0 "$x/lib/python$v" >>"$LOGDIR/$CUR.err" 2>&1
	"$x/bin/python$v" -m venv --copies --without-pip "$x/venv" || return 1
	sed -i "s|^home = .*|home = $m/bin|" "$x/venv/pyvenv.cfg" || return 1
	IMPORT_NFILES=$(find "$x" -type f | wc -l)
	sync
}

wl_importstorm() {
	local py=$P_MNT/pyenv/venv/bin/python3
	log " (importstorm) $(wc -w <<<"$IMPORT_MODULES") modules from a venv on the mount, $BENCH_RUNS runs"
	if [ -z "$P_EXPORT" ]; then
		rec "$CUR" import_cold "skipped (no backing dir)"
		return 0
	fi
	if ! importstorm_env "$P_EXPORT/pyenv" "$P_MNT/pyenv"; then
		rec "$CUR" import_cold "setup failed"
		return 0
	fi
	local t_c=() r_c=() t_w=() r_w=() r
	for r in $(seq 1 "$BENCH_RUNS"); do
		make_cold
		bench_timed t_c r_c 1 "$py" -I -B -c "$IMPORT_SCRIPT" "$P_MNT/pyenv"
		bench_timed t_w r_w 1 "$py" -I -B -c "$IMPORT_SCRIPT" "$P_MNT/pyenv"
	done
	# the check's own line, once (it fails the run when a module is elsewhere)
	local check
	check=$(echo "$OUT" | tail -1)
	[ "$RC" = 0 ] || check="check failed, see $LOGDIR/$CUR.err"
	bench_rec import_cold "$check; env $IMPORT_NFILES files" t_c r_c
	bench_rec import_warm "$check" t_w r_w
	rm -rf "$P_EXPORT/pyenv"
}

bench_spec() {
	cat <<-EOF
		import_cold|cold: python3 -I -B -c "import ..." (venv on mount)|s|local|-
		import_cold_rpc|  bramble RPCs, cold|RPC/run|-|-
		import_warm|warm: the same again|s|local|le_ratio 1.5
		import_warm_rpc|  bramble RPCs, warm|RPC/run|-|-
	EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	export BENCH_RUNS IMPORT_MODULES
	echo "importstorm: $(wc -w <<<"$IMPORT_MODULES") modules ($IMPORT_MODULES), .pyc present, -B (nothing written); median of $BENCH_RUNS runs"
	bench_drive importstorm "$@"
fi
