#!/bin/bash
# 36-exports: several exports from one brambled (--exports FILE): mounts by
# name, name/subdir and absolute path; read-only, root squash and allow=
# per export; handles confined to their export (raw RPC); SIGHUP adding,
# removing and changing exports with calls in flight; a broken file kept
# out; handles stable across a restart.  Reads and writes through the
# mounts run as an ordinary user (as_user); root only where the check is
# about root (root squash per export, no_root_squash on 'rooty'), for the
# server side (files in the export) and for the raw RPC checks
# (exports_check.py binds reserved source ports).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 needed"
CHK="python3 $top_srcdir/tests/integ/exports_check.py"
X=$T/ex
mkdir -p "$X/data/sub/deep" "$X/pub" "$X/lab" "$X/rooty" "$X/later"
echo hello >"$X/data/sub/file"
chmod 1777 "$X/data/sub"     # squashed root (nobody) writes here
echo public >"$X/pub/file"
mkdir "$X/pub/u" && chown "$BR_UID:$BR_GID" "$X/pub/u"   # the user's, on the ro export
echo later >"$X/later/file"
seq 1 20000 >"$X/data/big"

write_exports() {       # write_exports [EXTRA LINES]: the base file + extras
	{
		echo "# test exports"
		echo "data   $X/data"
		echo "pub    $X/pub     ro"
		echo "lab    $X/lab     allow=127.0.0.2/32"
		# no_root_squash: the test checks that root stays root here
		echo "rooty  $X/rooty   no_root_squash   # root stays root"
		for l in "$@"; do echo "$l"; done
	} >"$T/exports.tmp"
	mv "$T/exports.tmp" "$T/exports"
}

start_server() {        # start_server [PORT]: brambled --exports (no --export)
	rm -f "$T/port"
	${BR_WRAP_SERVER:-} "$BRAMBLED" --foreground --exports "$T/exports" --state "$STATE" \
		--listen "127.0.0.1:${1:-0}" --port-file "$T/port" >>"$T/brambled.log" 2>&1 &
	SERVER_PID=$!
	_br_pids="$_br_pids $SERVER_PID"
	wait_for 30 test -s "$T/port" || fail "brambled did not start (see $T/brambled.log)"
	PORT=$(cat "$T/port")
}

reloads() { grep -c "exports reloaded\|not reloaded" "$T/brambled.log"; }
more_reloads() { [ "$(reloads)" -gt "$1" ]; }

hup() {                 # hup: SIGHUP and wait until the reload is logged
	local n
	n=$(reloads)
	kill -HUP "$SERVER_PID"
	wait_for 10 more_reloads "$n" || fail "SIGHUP not acted on"
}

# --export and --exports exclude each other; a bad file stops the start
"$BRAMBLED" --export "$X/data" --exports "$T/exports" 2>&1 | grep -q "exclude" ||
	fail "--export with --exports accepted"
printf 'ok %s\nbad %s\nx %s frob\n' "$X/data" "$X/data/sub/file" "$X/data" >"$T/exports"
"$BRAMBLED" --foreground --exports "$T/exports" --state "$STATE" --listen 127.0.0.1:0 \
	>"$T/bad.txt" 2>&1 && fail "a broken exports file was accepted"
grep -q "exports:3: unknown option 'frob'" "$T/bad.txt" || fail "no file:line for an option: $(cat "$T/bad.txt")"

write_exports
start_server
grep -q "export 'pub' (id [0-9]*): $X/pub, read-only" "$T/brambled.log" || fail "exports not logged"

# ---- mounts: by name, name/subdir, absolute path, -o export=
SRC=127.0.0.1:/data br_mount "$T/m-data" -o timeout=10
SRC=127.0.0.1:/data/sub br_mount "$T/m-sub" -o timeout=10
SRC="127.0.0.1:$X/data/sub/deep" br_mount "$T/m-abs" -o timeout=10
br_mount "$T/m-pub" -o timeout=10,export=pub
SRC=127.0.0.1:/rooty br_mount "$T/m-rooty" -o timeout=10
[ "$(as_user cat "$T/m-data/sub/file")" = hello ] || fail "by name"
[ "$(as_user cat "$T/m-sub/file")" = hello ] || fail "by name/subdir"
as_user test -d "$T/m-sub/deep" || fail "name/subdir content"
touch "$X/data/sub/deep/mark"           # server side
as_user test -e "$T/m-abs/mark" || fail "by absolute path"
[ "$(as_user cat "$T/m-pub/file")" = public ] || fail "-o export=pub"
grep -q "^127.0.0.1:/pub $T/m-pub " /proc/mounts || fail "-o export=pub: source not shown as HOST:/pub"
mkdir -p "$T/m-nope"
timeout 20 "$BRAMBLEFS" 127.0.0.1:/nope "$T/m-nope" -f -o "port=$PORT" \
	>"$T/nope.txt" 2>&1 && fail "mounting an unknown export worked"
grep -q "No such file" "$T/nope.txt" || fail "bramblefs on an unknown export: $(cat "$T/nope.txt")"
grep -q "MOUNT 'nope': no such export" "$T/brambled.log" || fail "unknown export not logged"

# ---- read-only (a user) and root squash per export (root, on purpose)
# A read-only export is mounted read-only: EROFS, as from a local ro
# mount, in a directory of root's and in the user's own alike.
grep " $T/m-pub " /proc/mounts | grep -q "[ ,]ro[ ,]" || fail "ro export not mounted ro"
for d in "$T/m-pub" "$T/m-pub/u"; do
	out=$(as_user touch "$d/new" 2>&1) && fail "created a file in the ro export ($d)"
	echo "$out" | grep -q "Read-only file system" || fail "ro export ($d): $out"
done
as_user sh -c "echo x >$T/m-data/sub/user" || fail "user's write to data"
[ "$(stat -c %u "$X/data/sub/user")" = "$BR_UID" ] || fail "user's file not the user's on data"
echo x >"$T/m-data/sub/squashed" || fail "write to data"
echo x >"$T/m-rooty/kept" || fail "write to rooty"
[ "$(stat -c %u "$X/data/sub/squashed")" = 65534 ] || fail "root not squashed on data"
[ "$(stat -c %u "$X/rooty/kept")" = 0 ] || fail "root squashed on rooty (no_root_squash)"

# ---- raw RPC: confinement, EXDEV, EROFS, allow= per call
$CHK "$PORT" confine "$STATE" "$X" || fail "confinement checks"
grep -q "refused: the client is not in export 'lab'" "$T/brambled.log" ||
	fail "allow refusal not logged"
as_user "$BRAMBLE" info "127.0.0.1:$PORT" >"$T/info.txt" 2>&1 || fail "bramble info"
grep -q "data=$X/data" "$T/info.txt" || fail "bramble info lacks the exports: $(cat "$T/info.txt")"

# ---- SIGHUP: add an export, mount it
pubfh=$($CHK "$PORT" handle pub file) || fail "handle of pub/file"
datafh=$($CHK "$PORT" handle data/sub file) || fail "handle of data/sub/file"
write_exports "later $X/later"
hup
grep -q "exports reloaded .*added 'later'" "$T/brambled.log" || fail "reload summary"
SRC=127.0.0.1:/later br_mount "$T/m-later" -o timeout=10
[ "$(as_user cat "$T/m-later/file")" = later ] || fail "added export"

# ---- SIGHUP while calls are in flight: readers on data, while pub goes
# and comes back and data's own entry is replaced (options changed) again
# and again
reader() {      # read data/big through the mount (as the user) until told to stop
	local n=0
	while [ ! -e "$T/stop" ] && [ -d "$X" ]; do
		as_user cmp -s "$T/m-data/big" "$X/data/big" || { echo "read $n differs" >>"$T/reader.err"; }
		as_user stat "$T/m-sub/deep" >/dev/null || echo "stat $n failed" >>"$T/reader.err"
		n=$((n + 1))
		echo "$n" >"$T/reader.count"
	done
}
reader_passes() {
	local n
	n=$(cat "$T/reader.count" 2>/dev/null)
	[ "${n:-0}" -ge "$1" ]
}
reader &
rpid=$!
br_on_cleanup "kill $rpid 2>/dev/null"
# 10 reloads (ending with pub in the table), each followed by two more
# passes of the reader, so that reads overlap every swap
for i in 1 2 3 4 5 6 7 8 9 10; do
	n=$(cat "$T/reader.count" 2>/dev/null)
	if [ $((i % 2)) = 1 ]; then
		{ echo "data $X/data allow=127.0.0.0/8;10.$i.0.0/16"
		  echo "lab $X/lab allow=127.0.0.2/32"
		  echo "rooty $X/rooty no_root_squash"
		  echo "later $X/later"; } >"$T/exports.tmp"
		mv "$T/exports.tmp" "$T/exports"
	else
		write_exports "later $X/later"
	fi
	hup
	wait_for 60 reader_passes $((${n:-0} + 2)) || fail "the reader is stuck"
done
touch "$T/stop"
wait "$rpid"
[ -s "$T/reader.err" ] && fail "reads failed during reloads: $(head -3 "$T/reader.err")"
note "reader: $(cat "$T/reader.count") passes over $i reloads"
kill -0 "$SERVER_PID" || fail "brambled died during reloads"

# ---- removing an export: its handles go stale, other mounts keep working
write_exports "later $X/later"
sed -i '/^pub /d' "$T/exports"
hup
grep "exports reloaded" "$T/brambled.log" | tail -1 | grep -q "4 exports; removed 'pub'$" ||
	fail "removal not in the summary"
[ "$($CHK "$PORT" getattr "$pubfh")" = 116 ] || fail "a removed export's handle is not ESTALE"
[ "$($CHK "$PORT" mount pub)" = 2 ] || fail "a removed export can still be mounted"
as_user cat "$T/m-pub/file" >/dev/null 2>&1 && fail "the removed export's mount still reads"
[ "$(as_user cat "$T/m-data/sub/file")" = hello ] || fail "data after pub's removal"
[ "$($CHK "$PORT" getattr "$datafh")" = 0 ] || fail "data's handle after reloads"

# ---- a broken file on SIGHUP: logged with file:line, the old table stays
{ echo "data $X/data"; echo "later $X/later"; echo "dup $X/lab"; echo "dup $X/rooty"
  echo "zz $X/nothing-here"; } >"$T/exports"
hup
grep -q "not reloaded, the old exports stay" "$T/brambled.log" || fail "broken file not refused"
grep -q "exports:4: duplicate export name 'dup' (first on line 3)" "$T/brambled.log" ||
	fail "duplicate name not reported with its line"
grep -q "exports:5: cannot export '$X/nothing-here'" "$T/brambled.log" &&
	fail "opened exports although the file did not parse"
[ "$($CHK "$PORT" mount rooty)" = 0 ] || fail "old table lost (rooty)"
[ "$(as_user cat "$T/m-later/file")" = later ] || fail "old table lost (later)"
{ echo "data $X/data"; echo "zz $X/nothing-here"; } >"$T/exports"
hup
grep -q "exports:2: cannot export '$X/nothing-here': No such file" "$T/brambled.log" ||
	fail "a missing directory is not reported with its line"
[ "$($CHK "$PORT" mount rooty)" = 0 ] || fail "old table lost after a bad path"

# ---- restart with the file: handles and mounts carry on
write_exports "later $X/later"
br_stop_server
start_server "$PORT"
[ "$($CHK "$PORT" getattr "$datafh")" = 0 ] || fail "data's handle after a restart"
[ "$($CHK "$PORT" getattr "$pubfh")" = 0 ] || fail "pub's handle after a restart"
[ "$(as_user cat "$T/m-data/sub/file")" = hello ] || fail "data mount after a restart"
[ "$(as_user cat "$T/m-later/file")" = later ] || fail "later mount after a restart"
[ "$(as_user cat "$T/m-abs/mark")" = "" ] || fail "abs mount after a restart"
# The EXIT trap unmounts, then stops the server (and fails on any
# sanitizer report in the logs).
exit 0
