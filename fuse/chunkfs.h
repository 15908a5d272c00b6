/* chunkfs.h - bramblefs reads through chunks: the node cache -o cache=
 * names, and client/'s read path over it (bramble_reader.h, "the read
 * path": which reads go through chunks, which are plain READs, and when a
 * kept map still belongs to the file).  This module only feeds it
 * bramblefs's events by inode number: opens with OPEN's attributes,
 * releases, and changes (write, truncate, copy_file_range into the file,
 * a lock granted).
 *
 * Modes (-o cache=): disk (node cache under cache_dir, shared by every
 * process on the node), ram (a bounded cache in this process), off (no
 * chunk reads at all: every read is a plain READ, as before chunks).
 *
 * Thread-safe (the read path locks for itself). */
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
/* Once connected (the server's capabilities known): peer fan-out for the
 * chunks this mount fetches, unless -o nopeers or the server has none
 * (bramble_peers_start).  chunkfs_peer_port: its service's port, 0: off. */
void chunkfs_peers_start(struct chunkfs *cf);
unsigned int chunkfs_peer_port(const struct chunkfs *cf);

/* An open of ino succeeded with attributes st (from OPEN or CREATE). */
void chunkfs_open(struct chunkfs *cf, uint64_t ino, const struct stat *st,
		  bool write);
/* Its release. */
void chunkfs_release(struct chunkfs *cf, uint64_t ino, bool write);
/* This node changed ino (or may see another node's change): drop its
 * map. */
void chunkfs_changed(struct chunkfs *cf, uint64_t ino);

/* Read through chunks: byte count, -errno, or -ENOTSUP when the read
 * path makes this read a plain READ. */
ssize_t chunkfs_read(struct chunkfs *cf, struct bfs_file *f, uint64_t off,
		     void *buf, size_t len);

/* A plain READ (after -ENOTSUP) returned buf[0 .. len) at off: the read
 * path may keep its chunks (bramble_readpath_read_done). */
void chunkfs_read_done(struct chunkfs *cf, uint64_t ino, uint64_t off,
		       const void *buf, size_t len);

/* Counters for .bramble and `bramble stats` (cache may be all zero). */
void chunkfs_stats(struct chunkfs *cf, struct bramble_reader_stats *rd,
		   struct bramble_cache_stats *cache);

#endif
