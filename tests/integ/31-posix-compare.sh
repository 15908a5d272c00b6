#!/bin/bash
# The same sequence of POSIX operations (errno values, link counts, modes,
# rename rules, sticky directories, open-unlinked files, xattrs, an ordinary
# user's permissions) on a local directory and on the mount: the two
# transcripts must be identical.
. "$(dirname "$0")/lib.sh"

br_start_server --no-root-squash
br_mount "$T/mnt" -o allow_other
br_posix_compare "$T/local" "$T/mnt/cmp"
# And the export holds exactly what the mount showed: same names, types,
# modes, sizes, owners, link targets and contents.
tree() { (cd "$1" && find . -printf '%P %y %m %s %U %l\n' | sort); }
tree "$T/local" >"$T/local.tree"
tree "$EXPORT/cmp" >"$T/export.tree"
diff -u "$T/local.tree" "$T/export.tree" >"$T/tree.log" ||
	fail "export differs from the local result: $(cat "$T/tree.log")"
(cd "$T/local" && find . -type f -print0) | while IFS= read -r -d '' f; do
	cmp -s "$T/local/$f" "$EXPORT/cmp/$f" || fail "content of $f differs"
done || exit 1
exit 0
