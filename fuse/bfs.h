/* bfs.h - state of one bramblefs mount, shared by its modules.
 *
 * struct bfs is built by main.c before the session starts and read-only
 * afterwards, except the parts with their own locks (inode table, cred
 * cache).  Handlers reach it through fuse_req_userdata(). */
#ifndef BR_FUSE_BFS_H
#define BR_FUSE_BFS_H

#define _GNU_SOURCE 1
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bramble.h"
#include "buf.h"
#include "inode.h"
#include "opts.h"

struct lease_table;      /* lease.h */

#define BFS_SILLY_PREFIX ".bramble-silly."
#define BFS_CTL_ST_INO 0xfffffffeULL  /* st_ino of .bramble */

struct cred_cache;
struct wb;
struct wb_req;           /* wb.c */
struct bfs_locks;
struct chunkfs;
struct record;
struct stagereq;

struct bfs {
	struct bfs_opts opts;
	struct bramble *cl;
	struct inode_table *inodes;
	struct cred_cache *creds;
	struct wb *wb;             /* write-behind (wb.h) */
	struct lease_table *leases; /* trusted attributes (lease.h) */
	struct bfs_locks *locks;   /* locks held (ops_lock.c); NULL: -o nolock
	                            * (or -o bg before the server answered) */
	struct chunkfs *chunks;    /* chunk reads (chunkfs.h); NULL: cache=off */
	struct record *rec;        /* learned sets (record.h); NULL: no -o record */
	struct stagereq *stagereq; /* users' staging (stagereq.h); NULL: none */
	struct fuse_session *se;
	struct bramble_fh root_fh;
	uint32_t max_data;         /* largest READ/WRITE, from MOUNT */
	bool read_only;
	struct buf ctl;            /* content of .bramble, fixed at start */
	bool trace;
};

/* One open file: the opener's credentials are used for every later
 * read/write/flush/release of it (writeback and release arrive with
 * unrelated ones).  Writes of it may still be in flight (wb.h): it is
 * freed only after wb_close_file(). */
struct bfs_file {
	uint64_t ino;
	struct bramble_fh fh;
	struct bramble_cred cred;
	bool sync;                 /* O_SYNC/O_DSYNC: stable writes */
	bool writer;               /* opened for writing */
	/* The server holds the open file for us (BRAMBLE_OPEN_HOLD): release
	 * sends CLOSE with these BRAMBLE_OPEN_READ/WRITE flags; 0: none. */
	unsigned int hold;
	/* write-behind, protected by fs->wb's lock (wb.h): */
	size_t wb_bytes;           /* bytes in flight */
	unsigned int wb_pending;   /* writes in flight */
	int wb_err;                /* first failed write's -errno, once */
	struct wb_req *wb_tail;    /* newest request, until a writer takes it */
	uint64_t wb_end;           /* where the last write ended */
	struct bfs_file *wb_next_open;  /* the inode's writers (wb_open_file) */
};

/* fi->fh of an open of .bramble: its snapshot (a struct buf), tagged so
 * it is never taken for a struct bfs_file (pointers never have bit 63
 * set, on 32-bit systems neither). */
#define BFS_CTL_FH_TAG (1ULL << 63)

/* The open file of fi, or NULL for .bramble. */
static inline struct bfs_file *file_of(const struct fuse_file_info *fi)
{
	if (fi->fh & BFS_CTL_FH_TAG)
		return NULL;
	return (struct bfs_file *)(uintptr_t)fi->fh;
}

/* The snapshot of an open of .bramble, or NULL. */
static inline struct buf *ctl_of(const struct fuse_file_info *fi)
{
	if (!(fi->fh & BFS_CTL_FH_TAG))
		return NULL;
	return (struct buf *)(uintptr_t)(fi->fh & ~BFS_CTL_FH_TAG);
}

/* Register the operations (ops.c). */
extern const struct fuse_lowlevel_ops bfs_ops;

/* ---- ctl.c: the control file .bramble */

/* Render the fixed part of .bramble from fs (once, at start). */
void ctl_render(struct bfs *fs, const char *mountpoint);
/* What an open of .bramble reads: the fixed part, then the mount's
 * counters as they are now (`key=value' lines, see ctl.c). */
void ctl_snapshot(struct bfs *fs, struct buf *out);
/* Attributes of .bramble. */
void ctl_stat(const struct bfs *fs, struct stat *st);

/* ---- cred.c: caller credentials with supplementary groups */

int cred_cache_new(struct cred_cache **out);
void cred_cache_free(struct cred_cache *cc);
/* The caller of req: uid, gid and (cached per pid for about a second)
 * supplementary groups. */
void cred_of_req(struct bfs *fs, fuse_req_t req, struct bramble_cred *out);

/* ---- trace */

/* One log line when -o trace: op, ino, rc, µs since t0. */
void bfs_trace(const struct bfs *fs, const char *op, uint64_t ino, int rc,
	       int64_t t0);
/* libbramble's -errno -> what the kernel gets: transport failures
 * (ETIMEDOUT, protocol errors) become EIO. */
int bfs_errno(int rc);

#endif
