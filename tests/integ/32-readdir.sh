#!/bin/bash
# Directory listings: complete and in one round trip per batch.  The call
# that resumes after the last entry the server sent with end-of-directory
# costs no round trip; a new listing (a new opendir) asks the server again
# and sees entries added meanwhile through another mount.
. "$(dirname "$0")/lib.sh"

mkdir -p "$EXPORT/empty" "$EXPORT/small" "$EXPORT/big"
for i in $(seq 1 10); do : >"$EXPORT/small/f$i"; done
for i in $(seq 1 3000); do : >"$EXPORT/big/file-with-a-longer-name-$i"; done
br_start_server --no-root-squash --trace
br_mount "$T/mnt"
br_mount "$T/mnt2"

calls() { grep -c 'trace READDIRPLUS' "$T/brambled.log"; }

n0=$(calls)
[ "$(ls -a "$T/mnt/empty" | wc -l)" = 2 ] || fail "empty dir: $(ls -a "$T/mnt/empty")"
[ $(($(calls) - n0)) = 1 ] || fail "listing an empty dir took $(($(calls) - n0)) READDIRPLUS calls"
n0=$(calls)
[ "$(ls "$T/mnt/small" | wc -l)" = 10 ] || fail "small dir"
[ $(($(calls) - n0)) = 1 ] || fail "listing 10 entries took $(($(calls) - n0)) READDIRPLUS calls"

diff <(ls -a "$EXPORT/big") <(ls -a "$T/mnt/big") >/dev/null || fail "big dir listing differs"

# A new entry made through another mount shows in the next listing.
: >"$T/mnt2/small/new"
[ "$(ls "$T/mnt/small" | wc -l)" = 11 ] || fail "new entry not listed: $(ls "$T/mnt/small")"
rm "$T/mnt2/small/f1"
ls "$T/mnt/small" | grep -qx f1 && fail "removed entry still listed"
exit 0
