/* lease_int.h - the lease table's insides, shared by lease.c (the
 * tables, callbacks, the operations) and lease_kernel.c (what the kernel
 * may keep, names this mount makes).  Nothing else includes it: the rest
 * of bramblefs uses lease.h.  Everything here is protected by t->lock
 * unless it says otherwise; the functions expect the caller to hold it. */
#ifndef BR_FUSE_LEASE_INT_H
#define BR_FUSE_LEASE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "bfs.h"
#include "lease.h"

#define LEASE_BUCKETS 4096
/* Past these, everything is dropped at once (trust is only an
 * optimisation; a tree walked once more costs one RPC per object). */
#define LEASE_MAX_RECS (256 * 1024)
#define LEASE_MAX_ENTS (256 * 1024)
#define LEASE_MEMO 4
/* Names and attributes the kernel may hold for long (klease.h). */
#define LEASE_KERNEL_MAX (256 * 1024)

enum memo_kind { MEMO_OPEN_RDONLY = 1, MEMO_SEARCH = 2 };

/* Who may do what, as the server once decided. */
struct memo {
	uint32_t uid, gid;
	uint64_t groups;           /* hash of the supplementary groups */
	int kind;
};

/* One object (by handle). */
struct lrec {
	struct lrec *next;
	uint64_t hash;
	struct bramble_fh fh;
	bool valid;                /* trusted, if gen and expires agree */
	uint64_t gen;              /* table gen when it became trusted */
	int64_t expires;           /* CLOCK_MONOTONIC ns */
	uint64_t stamp;            /* new each time it becomes trusted */
	uint64_t called;           /* t->cbseq when a callback last named it */
	unsigned int nnoted;       /* names found under stamp (a directory) */
	bool refetch;              /* renewed after its lease ran out with
	                            * many names: lease_dir_refetch says yes */
	bool st_valid;             /* st holds its attributes */
	struct stat st;
	struct memo memo[LEASE_MEMO];
	unsigned int nmemo;
};

/* One name in a directory: valid while the directory's record is, with
 * the stamp it had when the entry was noted. */
struct lent {
	struct lent *next;
	uint64_t hash;
	struct bramble_fh dir;
	uint64_t stamp;
	bool negative;
	struct bramble_fh fh;
	char name[];
};

struct lease_table {
	struct bfs *fs;
	int64_t lease_ns;
	pthread_mutex_t lock;
	/* protected by lock: */
	struct lrec *recs[LEASE_BUCKETS];
	struct lent *ents[LEASE_BUCKETS];
	size_t nrecs, nents;
	uint64_t gen, stamps;
	uint64_t cbseq;            /* callback objects seen (lrec.called) */
	struct lease_counters c;
	struct klease *k;          /* what the kernel holds (own lock) */
};

/* Enough names of a directory to say a tree is being walked again. */
#define REFETCH_MIN_NOTED 16

struct lrec *rec_find(struct lease_table *t, const struct bramble_fh *fh);
/* Trusted now: no callback since, within the lease, this connection's. */
bool rec_trusted(const struct lease_table *t, const struct lrec *r);
/* r was trusted until its lease ran out (nothing called back), with many
 * of its names found. */
bool lapsed(const struct lease_table *t, const struct lrec *r);
/* The entry dir/name (*slot: where it hangs, for removal), or NULL. */
struct lent *ent_find(struct lease_table *t, const struct bramble_fh *dir,
		      const char *name, struct lent ***slot);
/* Note dir/name -> fh (NULL: missing) under dir's stamp. */
void ent_put(struct lease_table *t, const struct bramble_fh *dir,
	     const char *name, uint64_t stamp, const struct bramble_fh *fh);

#endif
