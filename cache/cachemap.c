/* cachemap.c - file maps in the node cache (bramble_cache.h,
 * bramble_cache_map_*): argument checks, then the disk mode's table in
 * the index (cachedb.c) or, in RAM mode, a hash table of this process on
 * one LRU list, bounded in rows and in hash bytes.
 *
 * Locking: c->mu around every use of the index connection or the table;
 * copies of the hashes are made under it (maps are small: 16 bytes per
 * chunk). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "cachedb.h"
#include "hashtab.h"
#include "proto.h"
#include "xalloc.h"

/* A map read marks its row used at most once per 10 s (as chunks do). */
#define TOUCH_MIN_AGE_MS 10000
/* RAM mode: the hashes of all maps kept, at most. */
#define RAM_MAP_BYTES_MAX (64u << 20)
#define RAM_MIN_BUCKETS 256

struct mapent {
	struct hashtab_node hn;         /* in ram->table, by fh */
	struct mapent *prev, *next;     /* LRU: ram->lru.next is the oldest */
	struct bramble_cache_map m;     /* m.hashes owned */
	size_t fhlen;
	unsigned char fh[];
};

struct cachemapram {
	struct hashtab table;           /* of mapent, by fh */
	size_t bytes;
	struct mapent lru;              /* sentinel */
};

static size_t map_bytes(const struct bramble_cache_map *m)
{
	return (size_t)m->nchunks * BRAMBLE_HASH_LEN;
}

/* The chunks cover exactly the size (as chunkread.c checks CHUNKMAP). */
static bool map_ok(const struct bramble_cache_map *m)
{
	uint64_t cover = (uint64_t)m->nchunks * m->chunk_size;

	if (m->nchunks > BRAMBLE_CACHE_MAP_CHUNKS_MAX || (m->nchunks && !m->hashes))
		return false;
	if (m->nchunks == 0)
		return m->size == 0;
	return m->chunk_size && cover >= m->size && cover - m->chunk_size < m->size;
}

static bool fh_ok(const void *fh, size_t fhlen)
{
	return fh && fhlen >= 1 && fhlen <= BR_FH_MAX;
}

static void map_copy(struct bramble_cache_map *dst, const struct bramble_cache_map *src)
{
	size_t bytes = map_bytes(src);

	*dst = *src;
	dst->hashes = xmalloc(bytes ? bytes : 1);
	if (bytes)
		memcpy(dst->hashes, src->hashes, bytes);
}

void bramble_cache_map_release(struct bramble_cache_map *m)
{
	if (!m)
		return;
	free(m->hashes);
	m->hashes = NULL;
	m->nchunks = 0;
}

/* ---- RAM mode */

static struct cachemapram *ram_get(struct bramble_cache *c)
{
	struct cachemapram *r = c->mapram;

	if (!r) {
		r = xcalloc(1, sizeof(*r));
		hashtab_init(&r->table, RAM_MIN_BUCKETS);
		r->lru.next = r->lru.prev = &r->lru;
		c->mapram = r;
	}
	return r;
}

struct fh_key {
	const void *fh;
	size_t fhlen;
};

static bool mapent_is(const struct hashtab_node *n, const void *key)
{
	const struct mapent *e = HASHTAB_ENTRY(n, struct mapent, hn);
	const struct fh_key *k = key;

	return e->fhlen == k->fhlen && !memcmp(e->fh, k->fh, k->fhlen);
}

static struct mapent *ram_find(struct cachemapram *r, const void *fh, size_t fhlen)
{
	struct fh_key k = { fh, fhlen };
	struct hashtab_node *n = hashtab_find(&r->table, hash_bytes(fh, fhlen),
					      mapent_is, &k);

	return n ? HASHTAB_ENTRY(n, struct mapent, hn) : NULL;
}

static void ram_lru_unlink(struct mapent *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void ram_lru_push(struct cachemapram *r, struct mapent *e)
{
	e->prev = r->lru.prev;
	e->next = &r->lru;
	r->lru.prev->next = e;
	r->lru.prev = e;
}

/* Unlink e from the table and the LRU, and free it. */
static void ram_remove(struct cachemapram *r, struct mapent *e)
{
	hashtab_remove(&r->table, &e->hn);
	ram_lru_unlink(e);
	r->bytes -= map_bytes(&e->m);
	free(e->m.hashes);
	free(e);
}

static void ram_put(struct bramble_cache *c, const void *fh, size_t fhlen,
		    const struct bramble_cache_map *m)
{
	struct cachemapram *r = ram_get(c);
	struct mapent *e = ram_find(r, fh, fhlen);

	if (e)
		ram_remove(r, e);
	/* the oldest go first, until the new one fits both bounds */
	while (r->table.count && (r->table.count + 1 > c->maps_max ||
				  r->bytes + map_bytes(m) > RAM_MAP_BYTES_MAX))
		ram_remove(r, r->lru.next);
	e = xcalloc(1, sizeof(*e) + fhlen);
	memcpy(e->fh, fh, fhlen);
	e->fhlen = fhlen;
	map_copy(&e->m, m);
	hashtab_insert(&r->table, &e->hn, hash_bytes(fh, fhlen));
	ram_lru_push(r, e);
	r->bytes += map_bytes(m);
}

static int ram_get_map(struct bramble_cache *c, const void *fh, size_t fhlen,
		       struct bramble_cache_map *out)
{
	struct cachemapram *r = ram_get(c);
	struct mapent *e = ram_find(r, fh, fhlen);

	if (!e)
		return -ENOENT;
	ram_lru_unlink(e);
	ram_lru_push(r, e);
	map_copy(out, &e->m);
	return 0;
}

void cachemap_free(struct bramble_cache *c)
{
	struct cachemapram *r = c->mapram;

	if (!r)
		return;
	while (r->table.count)
		ram_remove(r, r->lru.next);
	hashtab_release(&r->table);
	free(r);
	c->mapram = NULL;
}

/* ---- the API */

int bramble_cache_map_put(struct bramble_cache *c, const void *fh, size_t fhlen,
			  const struct bramble_cache_map *m)
{
	int rc = 0;

	if (!fh_ok(fh, fhlen) || !map_ok(m))
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	if (c->mode == BRAMBLE_CACHE_DISK)
		rc = cachedb_map_put(c->db, fh, fhlen, m, cache_wall_ms(), c->maps_max);
	else
		ram_put(c, fh, fhlen, m);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* touch: mark it used (the LRU of maps) */
static int map_get(struct bramble_cache *c, const void *fh, size_t fhlen,
		   struct bramble_cache_map *out, bool touch)
{
	int64_t last = 0, now = cache_wall_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	if (!fh_ok(fh, fhlen))
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	if (c->mode != BRAMBLE_CACHE_DISK) {
		rc = ram_get_map(c, fh, fhlen, out);
	} else {
		rc = cachedb_map_get(c->db, fh, fhlen, out, &last);
		/* a row that is not a map (damaged): forget it */
		if (rc == -EUCLEAN) {
			cachedb_map_drop(c->db, fh, fhlen);
			rc = -ENOENT;
		}
		/* LRU is a hint: a failed touch does not fail the get */
		if (touch && rc == 0 && last < now - TOUCH_MIN_AGE_MS)
			(void)cachedb_map_touch(c->db, fh, fhlen, now, TOUCH_MIN_AGE_MS);
	}
	pthread_mutex_unlock(&c->mu);
	if (rc == 0 && !map_ok(out)) {
		bramble_cache_map_release(out);
		bramble_cache_map_drop(c, fh, fhlen);
		rc = -ENOENT;
	}
	return rc;
}

int bramble_cache_map_get(struct bramble_cache *c, const void *fh, size_t fhlen,
			  struct bramble_cache_map *out)
{
	return map_get(c, fh, fhlen, out, true);
}

int bramble_cache_map_peek(struct bramble_cache *c, const void *fh, size_t fhlen,
			   struct bramble_cache_map *out)
{
	return map_get(c, fh, fhlen, out, false);
}

int bramble_cache_map_drop(struct bramble_cache *c, const void *fh, size_t fhlen)
{
	int rc = 0;

	if (!fh_ok(fh, fhlen))
		return -EINVAL;
	pthread_mutex_lock(&c->mu);
	if (c->mode == BRAMBLE_CACHE_DISK) {
		rc = cachedb_map_drop(c->db, fh, fhlen);
	} else {
		struct cachemapram *r = ram_get(c);
		struct mapent *e = ram_find(r, fh, fhlen);

		if (e)
			ram_remove(r, e);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int bramble_cache_map_count(struct bramble_cache *c, uint64_t *n)
{
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (c->mode == BRAMBLE_CACHE_DISK)
		rc = cachedb_map_count(c->db, n);
	else
		*n = c->mapram ? c->mapram->table.count : 0;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* ---- staged sets (disk mode only: a RAM cache is never staged into) */

static int set_args(const struct bramble_cache *c, const void *key, size_t keylen)
{
	if (!fh_ok(key, keylen))
		return -EINVAL;
	return c->mode == BRAMBLE_CACHE_DISK ? 0 : -EOPNOTSUPP;
}

int bramble_cache_set_get(struct bramble_cache *c, const void *key, size_t keylen,
			  unsigned char digest[BRAMBLE_HASH_LEN])
{
	int rc = set_args(c, key, keylen);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->mu);
	rc = cachedb_set_get(c->db, key, keylen, digest);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int bramble_cache_set_put(struct bramble_cache *c, const void *key, size_t keylen,
			  const unsigned char digest[BRAMBLE_HASH_LEN])
{
	int rc = set_args(c, key, keylen);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->mu);
	rc = cachedb_set_put(c->db, key, keylen, digest, cache_wall_ms(),
			     BRAMBLE_CACHE_SETS_MAX);
	pthread_mutex_unlock(&c->mu);
	return rc;
}
