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
#include "proto.h"
#include "xalloc.h"

/* A map read marks its row used at most once per 10 s (as chunks do). */
#define TOUCH_MIN_AGE_MS 10000
/* RAM mode: the hashes of all maps kept, at most. */
#define RAM_MAP_BYTES_MAX (64u << 20)
#define RAM_MIN_BUCKETS 256

struct mapent {
	struct mapent *hnext;
	struct mapent *prev, *next;     /* LRU: ram->lru.next is the oldest */
	struct bramble_cache_map m;     /* m.hashes owned */
	size_t fhlen;
	unsigned char fh[];
};

struct cachemapram {
	struct mapent **buckets;
	size_t nbuckets, n, bytes;
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
		r->nbuckets = RAM_MIN_BUCKETS;
		r->buckets = xcalloc(r->nbuckets, sizeof(*r->buckets));
		r->lru.next = r->lru.prev = &r->lru;
		c->mapram = r;
	}
	return r;
}

/* FNV-1a: handles end in a MAC, so their bytes are well spread anyway. */
static size_t ram_bucket(const struct cachemapram *r, const void *fh, size_t fhlen)
{
	const unsigned char *p = fh;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < fhlen; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return (size_t)(h & (r->nbuckets - 1));
}

static struct mapent **ram_find(struct cachemapram *r, const void *fh, size_t fhlen)
{
	struct mapent **pp = &r->buckets[ram_bucket(r, fh, fhlen)];

	while (*pp && ((*pp)->fhlen != fhlen || memcmp((*pp)->fh, fh, fhlen)))
		pp = &(*pp)->hnext;
	return pp;
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

/* Unlink *pp from its chain and the LRU, and free it. */
static void ram_remove(struct cachemapram *r, struct mapent **pp)
{
	struct mapent *e = *pp;

	*pp = e->hnext;
	ram_lru_unlink(e);
	r->n--;
	r->bytes -= map_bytes(&e->m);
	free(e->m.hashes);
	free(e);
}

static void ram_grow(struct cachemapram *r)
{
	size_t old = r->nbuckets;
	struct mapent **ob = r->buckets;

	r->nbuckets *= 2;
	r->buckets = xcalloc(r->nbuckets, sizeof(*r->buckets));
	for (size_t i = 0; i < old; i++) {
		struct mapent *e, *next;

		for (e = ob[i]; e; e = next) {
			size_t b = ram_bucket(r, e->fh, e->fhlen);

			next = e->hnext;
			e->hnext = r->buckets[b];
			r->buckets[b] = e;
		}
	}
	free(ob);
}

static void ram_put(struct bramble_cache *c, const void *fh, size_t fhlen,
		    const struct bramble_cache_map *m)
{
	struct cachemapram *r = ram_get(c);
	struct mapent **pp = ram_find(r, fh, fhlen), *e;

	if (*pp)
		ram_remove(r, pp);
	/* the oldest go first, until the new one fits both bounds */
	while (r->n && (r->n + 1 > c->maps_max ||
			r->bytes + map_bytes(m) > RAM_MAP_BYTES_MAX)) {
		struct mapent *old = r->lru.next;

		ram_remove(r, ram_find(r, old->fh, old->fhlen));
	}
	if (r->n + 1 > r->nbuckets)
		ram_grow(r);
	e = xcalloc(1, sizeof(*e) + fhlen);
	memcpy(e->fh, fh, fhlen);
	e->fhlen = fhlen;
	map_copy(&e->m, m);
	pp = &r->buckets[ram_bucket(r, fh, fhlen)];
	e->hnext = *pp;
	*pp = e;
	ram_lru_push(r, e);
	r->n++;
	r->bytes += map_bytes(m);
}

static int ram_get_map(struct bramble_cache *c, const void *fh, size_t fhlen,
		       struct bramble_cache_map *out)
{
	struct cachemapram *r = ram_get(c);
	struct mapent *e = *ram_find(r, fh, fhlen);

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
	while (r->n)
		ram_remove(r, ram_find(r, r->lru.next->fh, r->lru.next->fhlen));
	free(r->buckets);
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

int bramble_cache_map_get(struct bramble_cache *c, const void *fh, size_t fhlen,
			  struct bramble_cache_map *out)
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
		if (rc == 0 && last < now - TOUCH_MIN_AGE_MS)
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
		struct mapent **pp = ram_find(r, fh, fhlen);

		if (*pp)
			ram_remove(r, pp);
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
		*n = c->mapram ? c->mapram->n : 0;
	pthread_mutex_unlock(&c->mu);
	return rc;
}
