/* chunkfs.h - bramblefs reads through the chunk reader and the node cache
 * (client/bramble_reader.h, bramble_cache.h): the per-inode chunk maps
 * and the rules for when a map may be used.
 *
 * A map is kept per inode together with the attributes (size, mtime,
 * ctime) of the open it was fetched under.  An open whose OPEN attributes
 * differ drops it (close-to-open: another node changed the file), and so
 * does every change this node makes to the file (write, truncate,
 * copy_file_range into it) and a lock being granted (the holder before
 * may have written).  Files under 1 MiB whose map is not known are
 * read with plain READs: one round trip cold, as on NFS, rather than a
 * CHUNKMAP and a READ_CHUNK.  While the file is open for writing on this node its
 * reads are plain READs: the file changes under the map.  Maps of closed
 * files are kept (bounded) so a warm reopen of an unchanged file needs no
 * CHUNKMAP.  Maps also live in the node cache (bramble_cache_map_*), keyed
 * by handle with the size/mtime/ctime they belong to: `bramble stage'
 * stores them, and so does every CHUNKMAP here, so a staged file, small
 * or not, is read with no data call at all; a map found stale there is
 * dropped there too.
 *
 * Modes (-o cache=): disk (node cache under cache_dir, shared by every
 * process on the node), ram (a bounded cache in this process), off (no
 * chunk reads at all: every read is a plain READ, as before chunks).
 *
 * Thread-safe: one mutex over the table, never held across a call. */
#ifndef BR_FUSE_CHUNKFS_H
#define BR_FUSE_CHUNKFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "bramble_cache.h"
#include "bramble_reader.h"

struct bfs;
struct bfs_file;
struct chunkfs;

/* Check the cache options (the directory can be made and written) before
 * the mount daemonizes, so a bad cache_dir= fails the mount on the
 * terminal.  0, or -errno with err set. */
int chunkfs_check(const struct bfs *fs, char *err, size_t errlen);
/* Open the cache (after daemonizing: SQLite must not cross a fork).
 * With cache=off, *out is NULL and every chunkfs_ call below is a no-op
 * that sends reads to READ. */
int chunkfs_new(struct bfs *fs, struct chunkfs **out, char *err, size_t errlen);
void chunkfs_free(struct chunkfs *cf);

/* An open of ino succeeded with attributes st (from OPEN or CREATE). */
void chunkfs_open(struct chunkfs *cf, uint64_t ino, const struct stat *st,
		  bool write);
/* Its release. */
void chunkfs_release(struct chunkfs *cf, uint64_t ino, bool write);
/* This node changed ino (or may see another node's change): drop its
 * map. */
void chunkfs_changed(struct chunkfs *cf, uint64_t ino);

/* Read through the chunk reader.  Byte count, -errno, or -ENOTSUP when
 * this read must be a plain READ (open for writing here, a server
 * without chunks, a small random read of an uncached chunk, a file that
 * kept changing). */
ssize_t chunkfs_read(struct chunkfs *cf, struct bfs_file *f, uint64_t off,
		     void *buf, size_t len);

/* Counters for .bramble and `bramble stats` (cache may be all zero). */
void chunkfs_stats(struct chunkfs *cf, struct bramble_reader_stats *rd,
		   struct bramble_cache_stats *cache);

#endif
