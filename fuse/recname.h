/* recname.h - the name map of the learned sets (record.h, "Paths"): which
 * name (parent handle, name) the kernel was last given for each handle,
 * so an open's handle can be turned into a path below the mount root.
 *
 * Two hash tables over one set of entries: by handle (every entry)
 * and by (parent handle, name) (entries with a name), so a name given to
 * another handle, or renamed away, is taken from its old holder at once.
 *
 * Not thread-safe: record.c holds its lock around every call. */
#ifndef BR_FUSE_RECNAME_H
#define BR_FUSE_RECNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bramble.h"
#include "hashtab.h"

struct inode_table;

struct recname {
	struct hashtab by_fh;      /* every entry (by_fh.count: entries) */
	struct hashtab by_link;    /* the entries with a name */
};

void recname_init(struct recname *nm);
void recname_release(struct recname *nm);

/* fh is dir/name now (the kernel is about to get it), touched at now_ns. */
void recname_set(struct recname *nm, const struct bramble_fh *dir,
		 const char *name, const struct bramble_fh *fh, int64_t now_ns);
/* A successful rename (flags: RENAME_*). */
void recname_rename(struct recname *nm, const struct bramble_fh *from,
		    const char *name, const struct bramble_fh *to,
		    const char *newname, unsigned int flags);

/* The path of fh relative to root, escaped as the sets write it (record.h,
 * "Format"), into out (NUL-ended): its length, or -ENOENT (a name on the
 * way is unknown, or fh is root) / -ENAMETOOLONG. */
ssize_t recname_path(const struct recname *nm, const struct bramble_fh *root,
		     const struct bramble_fh *fh, char *out, size_t cap);

/* Drop the entries of buckets [first, first + n) of the by-handle table
 * (hashtab_foreach_range) untouched since before older_ns whose handle
 * inodes no longer knows.  False when first is past the last bucket (the
 * sweep is over). */
bool recname_sweep(struct recname *nm, size_t first, size_t n, int64_t older_ns,
		   struct inode_table *inodes);

#endif
