#!/bin/bash
# Directory listings: complete and in one round trip per batch.  The call
# that resumes after the last entry the server sent with end-of-directory
# costs no round trip; a new listing (a new opendir) asks the server again
# and sees entries added meanwhile through another mount.  The tree and
# the listings are an ordinary user's (as_user); the server squashes root.
. "$(dirname "$0")/lib.sh"

mkdir -p "$EXPORT/empty" "$EXPORT/small" "$EXPORT/big"
for i in $(seq 1 10); do : >"$EXPORT/small/f$i"; done
for i in $(seq 1 3000); do : >"$EXPORT/big/file-with-a-longer-name-$i"; done
chown -R "$BR_UID:$BR_GID" "$EXPORT"
br_start_server --trace
br_mount "$T/mnt"
br_mount "$T/mnt2"

calls() { grep -c 'trace READDIRPLUS' "$T/brambled.log"; }

n0=$(calls)
[ "$(as_user ls -a "$T/mnt/empty" | wc -l)" = 2 ] || fail "empty dir: $(as_user ls -a "$T/mnt/empty")"
[ $(($(calls) - n0)) = 1 ] || fail "listing an empty dir took $(($(calls) - n0)) READDIRPLUS calls"
n0=$(calls)
[ "$(as_user ls "$T/mnt/small" | wc -l)" = 10 ] || fail "small dir"
[ $(($(calls) - n0)) = 1 ] || fail "listing 10 entries took $(($(calls) - n0)) READDIRPLUS calls"

diff <(ls -a "$EXPORT/big") <(as_user ls -a "$T/mnt/big") >/dev/null || fail "big dir listing differs"

# A new entry made through another mount shows in the next listing.
as_user touch "$T/mnt2/small/new" || fail "touch new"
[ "$(as_user ls "$T/mnt/small" | wc -l)" = 11 ] || fail "new entry not listed: $(as_user ls "$T/mnt/small")"
as_user rm "$T/mnt2/small/f1" || fail "rm f1"
as_user ls "$T/mnt/small" | grep -qx f1 && fail "removed entry still listed"
exit 0
