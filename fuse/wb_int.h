/* wb_int.h - write-behind's insides, shared by wb.c (the requests, the
 * writers, the waits) and wb_attrs.c (deferred SETATTRs).  Nothing else
 * includes it: the rest of bramblefs uses wb.h.  Everything here is
 * protected by wb->lock unless it says otherwise. */
#ifndef BR_FUSE_WB_INT_H
#define BR_FUSE_WB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bfs.h"
#include "hashtab.h"
#include "wb.h"

/* Completions remembered for wb_changed_since: enough for the writes one
 * LOOKUP or READDIRPLUS round trip can overlap; older ones answer yes. */
#define WB_RING 1024

enum wb_state { WB_HELD, WB_QUEUED, WB_SENDING };

/* The bytes of one wb_write. */
struct wb_seg {
	struct wb_seg *next;
	size_t len;
	char data[];
};

struct wb_req {
	struct wb_req *next_q;             /* wb->plugs or the queue, by state */
	struct wb_req *next, *prev;        /* the inode's list, by seq */
	struct bfs_file *f;
	enum wb_state state;
	uint64_t seq;                      /* order of acknowledgement */
	uint64_t off;
	size_t len;                        /* the segments' total */
	struct wb_seg *segs, *segs_tail;   /* in file order */
	int64_t held_ns, joined_ns;        /* HELD: since when; last join */
	bool attrs;                        /* a SETATTR, not bytes */
	struct bramble_cred cred;          /* attrs: the caller's */
	struct bramble_setattr sa;         /* attrs: what to set */
};

/* An inode with writes in flight or open for writing here; freed when
 * neither. */
struct wb_inode {
	uint64_t ino;
	struct wb_req *head, *tail;        /* ascending seq */
	struct bfs_file *files;            /* open for writing (wb_open_file) */
	struct hashtab_node hn;            /* in wb->inodes, by ino */
};

struct wb {
	struct bfs *fs;
	pthread_mutex_t lock;
	pthread_cond_t work;               /* writers wait for requests */
	pthread_cond_t done;               /* everyone else waits for completions */
	/* protected by lock: */
	struct wb_req *q_head, *q_tail;    /* QUEUED, oldest first */
	struct wb_req *plugs;              /* HELD, at most one per open file */
	struct hashtab inodes;             /* of wb_inode */
	size_t bytes, max_bytes, max_file_bytes;
	size_t held_bytes;                 /* of bytes, those HELD */
	uint64_t seq;                      /* last seq handed out */
	uint64_t ndone;                    /* completed writes */
	uint64_t ring[WB_RING];            /* ino of completion k at (k-1) % RING */
	struct wb_stats stats;
	bool stop;
	/* fixed after wb_new: */
	pthread_t *threads;
	unsigned int nthreads;
};

/* The inode's entry, or NULL / made if missing; put frees it once it
 * has neither requests nor open files. */
struct wb_inode *wb_find_inode(struct wb *wb, uint64_t ino);
struct wb_inode *wb_get_inode(struct wb *wb, uint64_t ino);
void wb_put_inode(struct wb *wb, struct wb_inode *wi);
/* A new request of f for s (NULL: an attribute request), last on its
 * inode's list; the caller holds or queues it. */
struct wb_req *wb_req_new(struct wb *wb, struct bfs_file *f, uint64_t off,
			  struct wb_seg *s);
/* Hold r back (a stream's tail, or deferred attributes). */
void wb_hold(struct wb *wb, struct wb_req *r);
/* Let the inode's / the file's held requests go to the writers. */
void wb_unplug_ino(struct wb *wb, uint64_t ino);
void wb_unplug_file(struct wb *wb, struct bfs_file *f);

/* Send an attribute request (wb_attrs.c); no lock held.  0 or -errno. */
int wb_send_attrs(struct wb *wb, struct wb_req *r);

#endif
