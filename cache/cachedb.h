/* cachedb.h - the node cache's SQLite index (DIR/index.db): the only place
 * of the cache where SQLite result codes exist; they become -errno here.
 *
 * Tables: chunks (hash, len, last_use ms, npins), pins (hash, owner,
 * expires), state (used bytes, chunk count, stored quota).  Triggers keep
 * state.used/chunks and chunks.npins exact whatever changes the rows, and
 * deleting a chunk deletes its pins.  maps (file maps by handle, with a
 * last use for their LRU bound) and mapstate (their count, by triggers).
 *
 * Not thread-safe: the caller serialises every call on one struct cachedb
 * (cache.c's c->mu).  Writers bracket their changes with cachedb_begin()
 * (BEGIN IMMEDIATE: waits up to 10 s for other processes' writers) and
 * cachedb_commit()/cachedb_rollback(); calls outside a transaction are
 * their own autocommit transaction. */
#ifndef BR_CACHEDB_H
#define BR_CACHEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bramble_cache.h"

struct cachedb;

struct cachedb_victim {
	unsigned char hash[BRAMBLE_HASH_LEN];
	uint64_t len;
};

/* -EUCLEAN: the file is not a database or is corrupt. */
int cachedb_open(const char *path, struct cachedb **out, char *err, size_t errlen);
void cachedb_close(struct cachedb *db);     /* NULL ok */

int cachedb_begin(struct cachedb *db);
int cachedb_commit(struct cachedb *db);
void cachedb_rollback(struct cachedb *db);

/* The stored quota (0: none yet) and setting it. */
int cachedb_get_quota(struct cachedb *db, uint64_t *quota);
int cachedb_set_quota(struct cachedb *db, uint64_t quota);
int cachedb_used(struct cachedb *db, uint64_t *used, uint64_t *chunks);
int cachedb_pinned(struct cachedb *db, uint64_t *chunks, uint64_t *bytes);

/* 0 or -ENOENT; len / last_use_ms may be NULL. */
int cachedb_lookup(struct cachedb *db, const unsigned char *hash, uint64_t *len,
		   int64_t *last_use_ms);
/* last_use = now_ms if it is older than now_ms - min_age_ms. */
int cachedb_touch(struct cachedb *db, const unsigned char *hash, int64_t now_ms,
		  int64_t min_age_ms);
int cachedb_insert(struct cachedb *db, const unsigned char *hash, uint64_t len,
		   int64_t now_ms);
/* Removes the chunk's row and its pins; 0 also when there was none. */
int cachedb_delete(struct cachedb *db, const unsigned char *hash);

/* Unpinned chunks, least recently used first, until their lengths add up
 * to at least want (or all of them): *out (malloc'd, caller frees), *n,
 * *total bytes. */
int cachedb_lru(struct cachedb *db, uint64_t want, struct cachedb_victim **out,
		size_t *n, uint64_t *total);

/* Adds or re-dates owner's pin of a chunk that must have a row. */
int cachedb_pin(struct cachedb *db, const unsigned char *hash, const char *owner,
		int64_t expires);
int cachedb_unpin(struct cachedb *db, const char *owner, const unsigned char *hash,
		  uint64_t *count);
int cachedb_gc(struct cachedb *db, int64_t now, uint64_t *count);

/* Chunk rows in hash order after `after' (NULL: from the first), at most
 * max of them, into out; *n filled. */
int cachedb_page(struct cachedb *db, const unsigned char *after,
		 struct cachedb_victim *out, size_t max, size_t *n);
/* Every row, LRU first (malloc'd array, caller frees). */
int cachedb_list(struct cachedb *db, struct bramble_cache_entry **out, size_t *n);
/* Pins by owner (malloc'd array and owner strings, caller frees). */
int cachedb_list_pins(struct cachedb *db, struct bramble_cache_pininfo **out, size_t *n);

/* File maps (bramble_cache_map_*), keyed by handle bytes.  put: one
 * transaction that stores the row and drops the least recently used rows
 * beyond max.  get: -ENOENT, or out filled (out->hashes malloc'd) with
 * its last use.  touch: as cachedb_touch. */
int cachedb_map_put(struct cachedb *db, const void *fh, size_t fhlen,
		    const struct bramble_cache_map *m, int64_t now_ms, uint64_t max);
int cachedb_map_get(struct cachedb *db, const void *fh, size_t fhlen,
		    struct bramble_cache_map *out, int64_t *last_use_ms);
int cachedb_map_touch(struct cachedb *db, const void *fh, size_t fhlen, int64_t now_ms,
		      int64_t min_age_ms);
int cachedb_map_drop(struct cachedb *db, const void *fh, size_t fhlen);
int cachedb_map_count(struct cachedb *db, uint64_t *n);

/* Staged sets (bramble_cache_set_*): the digest stored for key, or
 * -ENOENT; store one (autocommit), keeping the max newest. */
int cachedb_set_get(struct cachedb *db, const void *key, size_t keylen,
		    unsigned char digest[BRAMBLE_HASH_LEN]);
int cachedb_set_put(struct cachedb *db, const void *key, size_t keylen,
		    const unsigned char digest[BRAMBLE_HASH_LEN], int64_t now_ms,
		    uint64_t max);

#endif
