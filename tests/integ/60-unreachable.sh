#!/bin/bash
# 60-unreachable: `bramble` commands against a server that does not answer.
#  - brambled stopped (SIGSTOP: it accepts nothing and answers nothing):
#    ping/info/stats -t 2 on the mount, and on a path inside it, give up
#    within 3 s, say "no answer", and never take the mount path for a host
#    name; envcp --check -t 2 on a directory of the mount too;
#  - an unknown host: the resolver's own message;
#  - a port that answers something else (an HTTP-like peer): "not a
#    bramble server", at once;
#  - bramblefs started while the server is down says at once that it is
#    retrying, and for how long.
. "$(dirname "$0")/lib.sh"

# elapsed_ms CMD...: run CMD (output to $T/out), print how long it took.
elapsed_ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$T/out" 2>&1
	echo "$?" >"$T/rc"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

br_start_server
M=$T/mnt
br_mount "$M"
mkdir "$EXPORT/env" && chmod 777 "$EXPORT/env"
"$BRAMBLE" ping -c 1 -t 2 "$M" >"$T/out" 2>&1 || fail "ping of a live mount: $(cat "$T/out")"

kill -STOP "$SERVER_PID"
for cmd in "ping -c 1 -t 2 $M" "info -t 2 $M" "stats -t 2 $M" "ping -t 2 $M/no/such/file" \
	"envcp --check -t 2 $M/env"; do
	ms=$(elapsed_ms "$BRAMBLE" $cmd)
	rc=$(cat "$T/rc")
	note "bramble $cmd: rc $rc in $ms ms: $(head -1 "$T/out")"
	[ "$rc" != 0 ] || { kill -CONT "$SERVER_PID"; fail "bramble $cmd succeeded with the server stopped"; }
	[ "$ms" -le 3000 ] || { kill -CONT "$SERVER_PID"; fail "bramble $cmd took $ms ms (> 3 s)"; }
	grep -q "no answer from 127.0.0.1:$PORT (the server of $M) within 2.0 s" "$T/out" ||
		{ kill -CONT "$SERVER_PID"; fail "bramble $cmd: $(cat "$T/out")"; }
	grep -q "neither a path\|Invalid argument" "$T/out" &&
		{ kill -CONT "$SERVER_PID"; fail "bramble $cmd took the path for a host: $(cat "$T/out")"; }
done
# As the ordinary user, the same (the default -t is a few seconds).
ms=$(elapsed_ms as_user "$BRAMBLE" info "$M")
[ "$(cat "$T/rc")" != 0 ] && [ "$ms" -le 6000 ] ||
	{ kill -CONT "$SERVER_PID"; fail "info as $BR_USER: rc $(cat "$T/rc") in $ms ms: $(cat "$T/out")"; }
kill -CONT "$SERVER_PID"
"$BRAMBLE" ping -c 1 -t 5 "$M" >"$T/out" 2>&1 || fail "ping after SIGCONT: $(cat "$T/out")"
"$BRAMBLE" envcp --check "$M/env" >"$T/out" 2>&1 || fail "envcp --check of an empty dir: $(cat "$T/out")"

# A path that is not there is a path, never a host name.
"$BRAMBLE" ping -t 2 "$T/nonesuch/dir" >"$T/out" 2>&1 && fail "ping of a missing path"
grep -q "cannot access $T/nonesuch/dir: No such file or directory" "$T/out" ||
	fail "missing path: $(cat "$T/out")"

# An unknown host: the resolver says why.
"$BRAMBLE" ping -t 2 nonesuch.invalid >"$T/out" 2>&1 && fail "ping of an unknown host"
grep -q "cannot resolve 'nonesuch.invalid': " "$T/out" || fail "unknown host: $(cat "$T/out")"
grep -q "Invalid argument" "$T/out" && fail "unknown host as EINVAL: $(cat "$T/out")"

# A port that answers, but not as brambled: told at once.
NB=$(br_free_port)
python3 - "$NB" >>"$T/http.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    c.close()
EOF
_br_pids="$_br_pids $!"
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $NB)).close()" ||
	fail "the HTTP-like peer did not start"
ms=$(elapsed_ms "$BRAMBLE" ping -t 10 "127.0.0.1:$NB")
[ "$(cat "$T/rc")" != 0 ] || fail "ping of a non-bramble port succeeded"
grep -q "127.0.0.1:$NB is not a bramble server" "$T/out" || fail "non-bramble port: $(cat "$T/out")"
[ "$ms" -le 2000 ] || fail "non-bramble port took $ms ms"

# bramblefs while the server is down: it says so at once, then retries
# for its timeout (here 4 s) and fails.
DOWN=$(br_free_port)
mkdir -p "$T/mnt2"
t0=$(date +%s%N)
"$BRAMBLEFS" 127.0.0.1:/ "$T/mnt2" -f -o "port=$DOWN,timeout=4,cache_dir=$T/nodecache" \
	>"$T/mount2.log" 2>&1 &
pid=$!
_br_pids="$_br_pids $pid"
wait_for 2 grep -q "not reachable" "$T/mount2.log" ||
	fail "no message within 2 s of mounting a down server: $(cat "$T/mount2.log")"
grep -q "server 127.0.0.1:$DOWN not reachable (Connection refused), retrying for [34] s" \
	"$T/mount2.log" || fail "retry message: $(cat "$T/mount2.log")"
wait "$pid" && fail "bramblefs mounted a server that is down"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 3000 ] || fail "bramblefs gave up after $ms ms, before its timeout"
exit 0
