/* cache_int.h - what the node cache's modules share (not public):
 * cache.c checks arguments, keeps the counters and dispatches to a mode
 * (cachedisk.c over cachedb.c, or cacheram.c) through struct cache_ops.
 *
 * Locking: c->mu guards the index connection (disk) or the table (RAM)
 * and the counters in c->st.  Modes take it themselves, never across
 * file reads or hashing of a chunk. */
#ifndef BR_CACHE_INT_H
#define BR_CACHE_INT_H

#include <pthread.h>

#include "bramble_cache.h"

struct cachedb;
struct cacheram;
struct cachemapram;

struct cache_ops {
	ssize_t (*get)(struct bramble_cache *c, const unsigned char *hash, void *buf,
		       size_t size);
	bool (*has)(struct bramble_cache *c, const unsigned char *hash);
	int (*put)(struct bramble_cache *c, const unsigned char *hash, const void *data,
		   size_t len, const char *owner, int64_t expires);
	int (*pin)(struct bramble_cache *c, const unsigned char *hash, const char *owner,
		   int64_t expires);
	/* NULL: bramble_cache_pin_many() calls pin for each */
	int (*pin_many)(struct bramble_cache *c, const unsigned char (*hashes)[BRAMBLE_HASH_LEN],
			size_t n, const char *owner, int64_t expires, bool *missing);
	int (*unpin)(struct bramble_cache *c, const char *owner, const unsigned char *hash,
		     uint64_t *count);
	int (*gc)(struct bramble_cache *c, int64_t now, uint64_t *expired);
	int (*evict)(struct bramble_cache *c, uint64_t keep, uint64_t *freed);
	int (*verify)(struct bramble_cache *c, struct bramble_cache_verify *r);
	/* the "from the index now" part of the stats; called with c->mu held */
	void (*index_stats)(struct bramble_cache *c, struct bramble_cache_stats *s);
	/* whole listings into malloc'd arrays (caller frees; pininfo owners too) */
	int (*list)(struct bramble_cache *c, struct bramble_cache_entry **out, size_t *n);
	int (*list_pins)(struct bramble_cache *c, struct bramble_cache_pininfo **out,
			 size_t *n);
	void (*close)(struct bramble_cache *c);
};

struct bramble_cache {
	int mode;
	uint64_t quota;                 /* this open's; fixed after open */
	const struct cache_ops *ops;
	pthread_mutex_t mu;
	struct bramble_cache_stats st;  /* process counters: protected by mu */
	/* disk mode */
	char *dir;
	int dirfd;                      /* the cache directory, for *at() calls */
	struct cachedb *db;             /* protected by mu */
	unsigned long tmpseq;           /* protected by mu */
	/* RAM mode */
	struct cacheram *ram;           /* protected by mu */
	/* file maps (cachemap.c): the bound, and the RAM mode's table */
	uint64_t maps_max;
	struct cachemapram *mapram;     /* protected by mu */
};

/* cachemap.c: free the RAM mode's maps (at close). */
void cachemap_free(struct bramble_cache *c);

extern const struct cache_ops cachedisk_ops, cacheram_ops;

/* Mode openers: fill c (c->quota from o->size or the mode's default).
 * 0 or -errno with err set. */
int cachedisk_open(struct bramble_cache *c, const struct bramble_cache_opts *o,
		   char *err, size_t errlen);
int cacheram_open(struct bramble_cache *c, const struct bramble_cache_opts *o,
		  char *err, size_t errlen);

/* The quota's 1/64 headroom an eviction frees beyond what a put needs. */
static inline uint64_t cache_headroom(uint64_t quota)
{
	return quota / 64;
}

/* Counter updates (take c->mu). */
void cache_count_hit(struct bramble_cache *c, uint64_t len);
void cache_count_miss(struct bramble_cache *c, bool verify_failure);
void cache_count_failure(struct bramble_cache *c);     /* verify's, not a miss */
void cache_count_put(struct bramble_cache *c, uint64_t len, bool dedup);

/* "0123...ef" (32 digits + NUL) of a hash; 0 or -EINVAL for parse. */
void cache_hex(const unsigned char *hash, char out[2 * BRAMBLE_HASH_LEN + 1]);
int cache_unhex(const char *s, unsigned char hash[BRAMBLE_HASH_LEN]);

/* Wall clock in milliseconds (last use is kept in ms for LRU order). */
int64_t cache_wall_ms(void);

/* ---- disk mode internals shared by cachedisk.c and cacheverify.c */

#define HEX_LEN (2 * BRAMBLE_HASH_LEN)
/* "chunks/ab/<32 hex>" and "tmp/<pid>.e<32 hex>", relative to c->dirfd */
#define RELPATH_MAX 64

void cachedisk_chunk_path(const unsigned char *hash, char out[RELPATH_MAX]);
/* Read chunk `hash' (len bytes per its row) into buf and check it.  0, or
 * -ENOENT (missing), -EIO (wrong size, read error), -EBADMSG (hash) with
 * why filled for the log. */
int cachedisk_read_verify(struct bramble_cache *c, const unsigned char *hash, void *buf,
			  uint64_t len, char *why, size_t whylen);
/* After a failed lock-free read: look again under the write lock, remove
 * the chunk if it is still bad.  Its length when fine after all, else
 * -ENOENT (*removed: a bad copy was removed) or -errno.  Takes c->mu. */
ssize_t cachedisk_recheck(struct bramble_cache *c, const unsigned char *hash, void *buf,
			  size_t size, bool *removed);
/* Remove (or put back) DIR/tmp leftovers of dead processes; *count += files
 * removed.  Takes c->mu. */
int cachedisk_clean_tmp(struct bramble_cache *c, uint64_t *count);
int cachedisk_verify(struct bramble_cache *c, struct bramble_cache_verify *r);

#endif
