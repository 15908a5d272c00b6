/* fhandle.h - an export's file handles: making, checking and decoding
 * them, and the decoded-handle cache.  Paths beneath the export root are
 * exportpath.h's.
 * (One struct export per exported directory; the table of exports is
 * exports.h.)
 *
 * Wire handle layout (at most BR_FH_MAX = 64 bytes):
 *
 *   [0]      EXPORT_FH_VERSION (2)
 *   [1..3)   the export's id, big-endian (exports.h: derived from the
 *            export's name, so it survives restarts and reloads); it says
 *            which export decodes the handle
 *   [3]      kernel handle_type (0..254; larger types are refused), or
 *            EXPORT_FH_TABLE (255, the kernel's FILEID_INVALID) for a
 *            handle of the persistent handle table (handletab.h)
 *   [4..n)   the kernel's file_handle bytes (name_to_handle_at), or the
 *            table row's 64-bit id, big-endian
 *   [n..+16) MAC: BLAKE2b (libsodium crypto_generichash) keyed with the
 *            state's handle.key, over the export root's own kernel handle
 *            (with a table: 255 and the table's uuid) followed by bytes
 *            [0..n)
 *
 * so the same object always yields the same bytes, handles survive a
 * restart (same key, same filesystem, same export name), a handle cannot
 * be forged or altered, and one made for another export (even with the
 * same key, even over the same directory, even with its id bytes changed)
 * does not verify.  Version 1 handles (no id) are no longer accepted.  Decoding checks the MAC first (-ESTALE), then opens the
 * object with open_by_handle_at (which needs CAP_DAC_READ_SEARCH: call as
 * fsuid 0), checks it lives on the export's filesystem and, for a
 * directory, that the export root is one of its ancestors.  Non-directories
 * are guarded by the MAC alone: handles are only ever issued for objects
 * reached beneath the export.
 *
 * Decoded objects are kept as O_PATH fds in a bounded LRU keyed by the
 * handle bytes, so a hot handle costs no open_by_handle_at.  A cached
 * directory is verified beneath the root again (the same walk of "..")
 * when it was last verified 100 ms ago or more: one the administrator
 * moves out of the export (mv on the server's disk) is -ESTALE, and its
 * entry dropped, within that time; one moved within the export keeps
 * working.  (A write that lands in that time is one that could as well
 * have come just before the move.)  All functions
 * are thread-safe (the cache has its own lock).  They return 0 or -errno:
 * -ESTALE for any handle that does not verify or no longer names an
 * object, -EOPNOTSUPP for an object the filesystem cannot give a handle
 * for (too large, another mount). */
#ifndef BR_FHANDLE_H
#define BR_FHANDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "proto.h"

#define EXPORT_FH_VERSION 2
#define EXPORT_FH_HDR 4          /* version, id (2), handle type */
#define EXPORT_FH_TABLE 255      /* handle type of a table handle */
#define EXPORT_MAC_LEN 16
#define EXPORT_KEY_LEN 32
/* Kernel handle bytes that fit beside the header and MAC. */
#define EXPORT_KH_MAX (BR_FH_MAX - EXPORT_FH_HDR - EXPORT_MAC_LEN)

struct export_fh {
	uint32_t len;
	unsigned char data[BR_FH_MAX];
};

struct export;

/* Open dir (which must be a directory) as the export whose handles carry
 * id.  The key is copied.  cache_max bounds the decoded-handle cache (0: a
 * default).  On success *out owns the export (free: export_close()). */
int export_open_id(const char *dir, uint16_t id,
		   const unsigned char key[EXPORT_KEY_LEN], unsigned int cache_max,
		   struct export **out);
/* The same with id 0 (a lone export, as in the unit tests). */
int export_open(const char *dir, const unsigned char key[EXPORT_KEY_LEN],
		unsigned int cache_max, struct export **out);
void export_close(struct export *ex);

/* Make this export's handles from the persistent handle table in the
 * database at db_path, under the export's name (handletab.h), instead of
 * kernel handles: for filesystems that cannot make them
 * (export_kernel_handles() false after opening) or when asked to
 * (--handles=table).  Call once, before any handle is made.  On failure
 * err says why. */
int export_use_table(struct export *ex, const char *db_path, const char *name,
		     char *err, size_t errlen);
bool export_kernel_handles(const struct export *ex);
bool export_has_table(const struct export *ex);
/* The server renamed or removed an entry (already done): keep the table's
 * rows right.  Nothing to do with kernel handles. */
void export_renamed(struct export *ex, int olddirfd, const char *oldname,
		    int newdirfd, const char *newname);
void export_removed(struct export *ex, int dirfd, const char *name,
		    bool last_link);
uint16_t export_id(const struct export *ex);
/* The export id a wire handle claims (not verified: only its owner's MAC
 * check can tell).  0, or -ESTALE when it is no handle of this version. */
int export_fh_id(const void *fh, size_t len, uint16_t *id);

/* The export root: an O_RDONLY directory fd (open_by_handle_at refuses an
 * O_PATH mount fd), owned by the export. */
int export_root_fd(const struct export *ex);
const char *export_path(const struct export *ex);

/* Handle of the object open at fd (any kind of fd, O_PATH included), which
 * the caller reached beneath the export.  The fd is also remembered in the
 * cache (as a duplicate), so the next decode of this handle is free. */
int export_fh_from_fd(struct export *ex, int fd, struct export_fh *out);
/* Handle of dirfd/name without opening it (never follows a symlink); for
 * READDIRPLUS.  -EOPNOTSUPP for a mount point or a foreign filesystem. */
int export_fh_at(struct export *ex, int dirfd, const char *name,
		 struct export_fh *out);

/* Decode a wire handle: *fd_out gets a new O_PATH fd (the caller closes
 * it) and *st its attributes.  Must run with fsuid 0. */
int export_fh_open(struct export *ex, const void *fh, size_t len, int *fd_out,
		   struct stat *st);
/* The same, from the cache only: -EAGAIN when the handle is not cached
 * (decoding it could read the disk) or names a removed file (dropping it
 * could free its blocks).  A cached object is held open, so
 * fstat() of it needs no I/O on a local filesystem; fit for the loop
 * thread.  Needs no particular fs identity. */
int export_fh_open_cached(struct export *ex, const void *fh, size_t len,
			  int *fd_out, struct stat *st);
/* Only the attributes of a cached handle (no fd is duplicated): 0,
 * -ESTALE for a handle that does not verify, or -EAGAIN when it is not
 * cached or names a removed file (then use export_fh_open()). */
int export_fh_stat_cached(struct export *ex, const void *fh, size_t len,
			  struct stat *st);
/* Drop the cached fd of a handle (if any), e.g. of an object just
 * removed: the cache would keep its inode, and so its blocks, alive until
 * evicted.  Closing may free those blocks: not on the loop thread. */
void export_forget(struct export *ex, const void *fh, size_t len);
/* Does the export live on a local filesystem (ext4, XFS, btrfs, tmpfs,
 * F2FS), where fstat of an open inode and a lookup in the dentry cache
 * never wait for I/O?  Network filesystems revalidate on both. */
bool export_is_local(const struct export *ex);

/* A short printable id of a wire handle for traces: 8 hex digits of its
 * MAC (or "-" for an empty one).  buf: at least 12 bytes. */
void export_fh_short(const void *fh, size_t len, char *buf, size_t buflen);

#endif
