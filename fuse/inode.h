/* inode.h - the mount's inode table: FUSE inode numbers <-> server handles.
 *
 * bramblefs allocates FUSE inode numbers itself (never reused while
 * mounted); attributes still report the server's st_ino.  The same handle
 * bytes always map to the same inode number while the kernel knows the
 * inode.  Lookup counts live here and only here: +1 for each entry given
 * to the kernel (inode_ref), -n on forget (inode_forget); at zero the
 * inode is dropped.  The root is FUSE_ROOT_ID and never dropped;
 * INODE_CTL_INO is reserved for the control file (.bramble).
 *
 * The table also keeps, per inode, what the close-to-open check needs
 * (the attributes seen at the last open or own change), the attributes
 * last handed to the kernel (so open invalidates the kernel's copy only
 * when it is wrong), and the count of opens on this node with the
 * silly-rename name to remove at last close.
 *
 * Thread-safe: one mutex, never held while calling out. */
#ifndef BR_FUSE_INODE_H
#define BR_FUSE_INODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "bramble.h"

#define INODE_ROOT_INO 1
#define INODE_CTL_INO 2
#define INODE_FIRST_INO 16  /* below: reserved */

struct inode_table;

/* The table starts with the root.  Returns 0; *out owns it (free:
 * inode_table_free). */
int inode_table_new(const struct bramble_fh *root, struct inode_table **out);
void inode_table_free(struct inode_table *t);

/* Copy ino's handle into *fh.  0, or -ESTALE for an unknown number. */
int inode_fh(struct inode_table *t, uint64_t ino, struct bramble_fh *fh);

/* The inode number of fh, created if new, with its lookup count + 1.
 * Call it just before replying with the entry. */
uint64_t inode_ref(struct inode_table *t, const struct bramble_fh *fh);
/* Lookup count - n; drops the inode at zero.  Unknown numbers are
 * ignored (the kernel may forget what a failed reply never gave it). */
void inode_forget(struct inode_table *t, uint64_t ino, uint64_t n);
/* Current lookup count (0 if unknown): for tests and assertions. */
/* The inode number of fh if the table has it (no reference taken). */
bool inode_find_fh(struct inode_table *t, const struct bramble_fh *fh,
		   uint64_t *ino);
uint64_t inode_nlookup(struct inode_table *t, uint64_t ino);
size_t inode_count(struct inode_table *t);

/* ---- close-to-open */

/* Compare st (fresh from the server at open) with what this node last
 * saw of ino (size, mtime, ctime) and remember st.  True when unchanged,
 * i.e. the kernel's page cache may be kept. */
bool inode_cto_unchanged(struct inode_table *t, uint64_t ino,
			 const struct stat *st);
/* Remember st after a change this node made itself (write, truncate). */
void inode_cto_note(struct inode_table *t, uint64_t ino, const struct stat *st);
/* Same, unless what is remembered has a later ctime: write-behind
 * completions arrive out of order. */
void inode_cto_note_newer(struct inode_table *t, uint64_t ino,
			  const struct stat *st);

/* ---- attributes the kernel holds */

/* Remember st as handed to the kernel (entry, getattr, setattr reply). */
void inode_kattr_note(struct inode_table *t, uint64_t ino, const struct stat *st);
/* The kernel grew the file to end by a write(2) this node took: its
 * i_size is now at least that (no-op without a note). */
void inode_kattr_grow(struct inode_table *t, uint64_t ino, uint64_t end);
/* The attributes the kernel holds for ino, as noted and grown: false when
 * nothing is noted. */
bool inode_kattr_get(struct inode_table *t, uint64_t ino, struct stat *st);
/* Forget the note: the kernel may hold other attributes (a reply that
 * failed to reach it). */
void inode_kattr_clear(struct inode_table *t, uint64_t ino);
/* Does st (fresh from the server) have the size, mtime and ctime this
 * node last handed to the kernel for ino?  False when nothing was. */
bool inode_kattr_same(struct inode_table *t, uint64_t ino, const struct stat *st);

/* ---- opens and silly rename */

void inode_open(struct inode_table *t, uint64_t ino);
/* One close.  Returns what the last one leaves to do: INODE_CLOSED_SILLY
 * (the file was renamed aside: remove *dir / *name, which the caller
 * frees), INODE_CLOSED_ORPHAN (the server keeps it removed: tell it the
 * last open is over), else INODE_CLOSED. */
enum { INODE_CLOSED, INODE_CLOSED_SILLY, INODE_CLOSED_ORPHAN };
int inode_close(struct inode_table *t, uint64_t ino, struct bramble_fh *dir,
		char **name);
/* Is the object with handle fh open on this node?  (*ino gets it.) */
bool inode_fh_is_open(struct inode_table *t, const struct bramble_fh *fh,
		      uint64_t *ino);
/* Cheap pre-check: is anything open at all? */
bool inode_any_open(struct inode_table *t);
/* Record that ino was removed while open and the server keeps it
 * (REMOVE_OPEN), so that its last close says so.  false when ino has no
 * open left (its last close raced with the removal): the caller says so
 * itself. */
bool inode_set_orphan(struct inode_table *t, uint64_t ino);
/* Record that ino was renamed aside to dir/name (copied), so that its
 * last close removes it.  false when ino has no open left (its last
 * close raced with the rename): nothing recorded, the caller removes it. */
bool inode_set_silly(struct inode_table *t, uint64_t ino,
		     const struct bramble_fh *dir, const char *name);

#endif
