/* cacheram.c - the node cache's RAM mode: the same API over a bounded LRU
 * in this process's memory (a hash table of entries on one LRU list, pins
 * kept on each entry).  Nothing is shared or kept across opens.
 *
 * Everything is under c->mu except copying a put's bytes in and hashing a
 * get's bytes (which a get copies out under the lock first). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache_int.h"
#include "hashtab.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

#define GIB (1ull << 30)
#define MIN_BUCKETS 64

struct rpin {
	struct rpin *next;
	int64_t expires;
	char owner[];
};

struct rent {
	struct hashtab_node hn;         /* in ram->table, by hash */
	struct rent *prev, *next;       /* LRU list: ram->lru.next is the oldest */
	struct rpin *pins;
	unsigned npins;
	int64_t last_use_ms;
	unsigned char hash[BRAMBLE_HASH_LEN];
	size_t len;
	unsigned char data[];
};

struct cacheram {
	struct hashtab table;           /* of entries, by their chunk's hash */
	struct rent lru;                /* sentinel of the circular LRU list */
	uint64_t used;
};

/* The chunk's hash is already uniform: its first bytes serve the table. */
static uint64_t key_hash(const unsigned char *hash)
{
	uint64_t k;

	memcpy(&k, hash, sizeof(k));
	return k;
}

static bool entry_is(const struct hashtab_node *n, const void *hash)
{
	return !memcmp(HASHTAB_ENTRY(n, struct rent, hn)->hash, hash, BRAMBLE_HASH_LEN);
}

static struct rent *find(struct cacheram *r, const unsigned char *hash)
{
	struct hashtab_node *n = hashtab_find(&r->table, key_hash(hash), entry_is, hash);

	return n ? HASHTAB_ENTRY(n, struct rent, hn) : NULL;
}

static void lru_unlink(struct rent *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

/* To the most recently used end. */
static void lru_push(struct cacheram *r, struct rent *e)
{
	e->prev = r->lru.prev;
	e->next = &r->lru;
	r->lru.prev->next = e;
	r->lru.prev = e;
}

static void insert(struct cacheram *r, struct rent *e)
{
	hashtab_insert(&r->table, &e->hn, key_hash(e->hash));
	lru_push(r, e);
	r->used += e->len;
}

static void free_pins(struct rent *e)
{
	struct rpin *p, *nx;

	for (p = e->pins; p; p = nx) {
		nx = p->next;
		free(p);
	}
	e->pins = NULL;
	e->npins = 0;
}

static void remove_entry(struct cacheram *r, struct rent *e)
{
	hashtab_remove(&r->table, &e->hn);
	lru_unlink(e);
	r->used -= e->len;
	free_pins(e);
	free(e);
}

static void add_pin(struct rent *e, const char *owner, int64_t expires)
{
	struct rpin *p;
	size_t n;

	for (p = e->pins; p; p = p->next)
		if (!strcmp(p->owner, owner)) {
			p->expires = expires;
			return;
		}
	n = strlen(owner) + 1;
	p = xmalloc(sizeof(*p) + n);
	memcpy(p->owner, owner, n);
	p->expires = expires;
	p->next = e->pins;
	e->pins = p;
	e->npins++;
}

/* Drop e's pins that match (owner NULL: any owner; now >= 0: only those
 * expired by now).  Returns how many. */
static uint64_t drop_pins(struct rent *e, const char *owner, int64_t now)
{
	struct rpin **pp = &e->pins, *p;
	uint64_t n = 0;

	while ((p = *pp)) {
		if ((!owner || !strcmp(p->owner, owner)) &&
		    (now < 0 || (p->expires > 0 && p->expires <= now))) {
			*pp = p->next;
			free(p);
			e->npins--;
			n++;
		} else {
			pp = &p->next;
		}
	}
	return n;
}

static uint64_t gc_all(struct cacheram *r, int64_t now)
{
	uint64_t n = 0;

	for (struct rent *e = r->lru.next; e != &r->lru; e = e->next)
		n += drop_pins(e, NULL, now);
	return n;
}

/* Bytes of unpinned entries, oldest first, until at least want. */
static uint64_t evictable(struct cacheram *r, uint64_t want)
{
	uint64_t sum = 0;

	for (struct rent *e = r->lru.next; e != &r->lru && sum < want; e = e->next)
		if (!e->npins)
			sum += e->len;
	return sum;
}

/* Evict unpinned entries, oldest first, until want bytes went (or all). */
static void evict_upto(struct bramble_cache *c, uint64_t want)
{
	struct cacheram *r = c->ram;
	struct rent *e = r->lru.next, *nx;
	uint64_t sum = 0;

	for (; e != &r->lru && sum < want; e = nx) {
		nx = e->next;
		if (e->npins)
			continue;
		sum += e->len;
		c->st.evictions++;
		c->st.bytes_evicted += e->len;
		remove_entry(r, e);
	}
}

static ssize_t cr_get(struct bramble_cache *c, const unsigned char *hash, void *buf,
		      size_t size)
{
	unsigned char got[BRAMBLE_HASH_LEN];
	struct rent *e;
	size_t len;

	pthread_mutex_lock(&c->mu);
	e = find(c->ram, hash);
	if (!e) {
		c->st.misses++;
		pthread_mutex_unlock(&c->mu);
		return -ENOENT;
	}
	len = e->len;
	if (len > size) {
		pthread_mutex_unlock(&c->mu);
		return -ENOSPC;
	}
	memcpy(buf, e->data, len);
	lru_unlink(e);
	lru_push(c->ram, e);
	e->last_use_ms = cache_wall_ms();
	pthread_mutex_unlock(&c->mu);
	br_hash128(buf, len, got);
	if (memcmp(got, hash, BRAMBLE_HASH_LEN) == 0) {
		cache_count_hit(c, len);
		return (ssize_t)len;
	}
	/* Memory does not usually rot, but the reader must never see wrong
	 * bytes whatever broke them. */
	pthread_mutex_lock(&c->mu);
	e = find(c->ram, hash);
	if (e) {
		br_hash128(e->data, e->len, got);
		if (memcmp(got, hash, BRAMBLE_HASH_LEN)) {
			log_warn("node cache (ram): a chunk of %zu bytes does not match its "
				 "hash: removed, it will be fetched again", e->len);
			remove_entry(c->ram, e);
			c->st.verify_failures++;
		}
	}
	c->st.misses++;
	pthread_mutex_unlock(&c->mu);
	return -ENOENT;
}

static bool cr_has(struct bramble_cache *c, const unsigned char *hash)
{
	bool there;

	pthread_mutex_lock(&c->mu);
	there = find(c->ram, hash) != NULL;
	pthread_mutex_unlock(&c->mu);
	return there;
}

/* Room for len more bytes: -ENOSPC (nothing changed but expired pins)
 * when only pinned entries could make it. */
static int make_room(struct bramble_cache *c, size_t len)
{
	struct cacheram *r = c->ram;
	uint64_t need, want;

	if (r->used + len <= c->quota)
		return 0;
	need = r->used + len - c->quota;
	want = need + cache_headroom(c->quota);
	if (evictable(r, need) < need && (gc_all(r, time(NULL)) == 0 ||
					  evictable(r, need) < need))
		return -ENOSPC;
	evict_upto(c, want);
	return 0;
}

static int cr_put(struct bramble_cache *c, const unsigned char *hash, const void *data,
		  size_t len, const char *owner, int64_t expires)
{
	struct rent *e = xmalloc(sizeof(*e) + len), *old;
	int rc = 0;

	memcpy(e->data, data, len);         /* outside the lock */
	memcpy(e->hash, hash, BRAMBLE_HASH_LEN);
	e->len = len;
	e->pins = NULL;
	e->npins = 0;
	e->last_use_ms = cache_wall_ms();
	pthread_mutex_lock(&c->mu);
	old = find(c->ram, hash);
	if (old) {
		if (owner)
			add_pin(old, owner, expires);
		c->st.dedup_puts++;
		free(e);
	} else if ((rc = make_room(c, len)) == 0) {
		if (owner)
			add_pin(e, owner, expires);
		insert(c->ram, e);
		c->st.puts++;
		c->st.bytes_put += len;
	} else {
		free(e);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int cr_pin(struct bramble_cache *c, const unsigned char *hash, const char *owner,
		  int64_t expires)
{
	struct rent *e;

	pthread_mutex_lock(&c->mu);
	e = find(c->ram, hash);
	if (e)
		add_pin(e, owner, expires);
	pthread_mutex_unlock(&c->mu);
	return e ? 0 : -ENOENT;
}

static int cr_unpin(struct bramble_cache *c, const char *owner, const unsigned char *hash,
		    uint64_t *count)
{
	struct cacheram *r = c->ram;

	pthread_mutex_lock(&c->mu);
	if (hash) {
		struct rent *e = find(r, hash);

		*count = e ? drop_pins(e, owner, -1) : 0;
	} else {
		for (struct rent *e = r->lru.next; e != &r->lru; e = e->next)
			*count += drop_pins(e, owner, -1);
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int cr_gc(struct bramble_cache *c, int64_t now, uint64_t *expired)
{
	pthread_mutex_lock(&c->mu);
	*expired = gc_all(c->ram, now < 0 ? 0 : now);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int cr_evict(struct bramble_cache *c, uint64_t keep, uint64_t *freed)
{
	uint64_t before;

	pthread_mutex_lock(&c->mu);
	before = c->st.bytes_evicted;
	if (c->ram->used > keep)
		evict_upto(c, c->ram->used - keep);
	*freed = c->st.bytes_evicted - before;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int cr_verify(struct bramble_cache *c, struct bramble_cache_verify *v)
{
	struct cacheram *r = c->ram;
	unsigned char got[BRAMBLE_HASH_LEN];
	struct rent *e, *nx;

	/* Under the lock: hashing RAM runs at memory speed. */
	pthread_mutex_lock(&c->mu);
	for (e = r->lru.next; e != &r->lru; e = nx) {
		nx = e->next;
		v->checked++;
		v->bytes += e->len;
		br_hash128(e->data, e->len, got);
		if (memcmp(got, e->hash, BRAMBLE_HASH_LEN)) {
			v->bad++;
			c->st.verify_failures++;
			remove_entry(r, e);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static void cr_index_stats(struct bramble_cache *c, struct bramble_cache_stats *s)
{
	struct cacheram *r = c->ram;

	s->used = r->used;
	s->chunks = r->table.count;
	for (struct rent *e = r->lru.next; e != &r->lru; e = e->next)
		if (e->npins) {
			s->pinned_chunks++;
			s->pinned_bytes += e->len;
		}
}

static int cr_list(struct bramble_cache *c, struct bramble_cache_entry **out, size_t *n)
{
	struct cacheram *r = c->ram;
	struct bramble_cache_entry *a;
	size_t i = 0;

	pthread_mutex_lock(&c->mu);
	a = xmalloc((r->table.count ? r->table.count : 1) * sizeof(*a));
	for (struct rent *e = r->lru.next; e != &r->lru; e = e->next, i++) {
		memcpy(a[i].hash, e->hash, BRAMBLE_HASH_LEN);
		a[i].len = e->len;
		a[i].last_use = e->last_use_ms / 1000;
		a[i].npins = e->npins;
	}
	pthread_mutex_unlock(&c->mu);
	*out = a;
	*n = i;
	return 0;
}

static int by_owner(const void *a, const void *b)
{
	return strcmp(((const struct bramble_cache_pininfo *)a)->owner,
		      ((const struct bramble_cache_pininfo *)b)->owner);
}

/* One row per owner; the owners are few, so a linear search will do. */
static int cr_list_pins(struct bramble_cache *c, struct bramble_cache_pininfo **out,
			size_t *n)
{
	struct cacheram *r = c->ram;
	struct bramble_cache_pininfo *a = NULL;
	size_t cnt = 0, cap = 0, i;

	pthread_mutex_lock(&c->mu);
	for (struct rent *e = r->lru.next; e != &r->lru; e = e->next)
		for (struct rpin *p = e->pins; p; p = p->next) {
			for (i = 0; i < cnt && strcmp(a[i].owner, p->owner); i++)
				;
			if (i == cnt) {
				if (cnt == cap) {
					cap = cap ? 2 * cap : 8;
					a = xrealloc(a, cap * sizeof(*a));
				}
				a[cnt++] = (struct bramble_cache_pininfo){
					.owner = xstrdup(p->owner), .expires = p->expires };
			}
			a[i].chunks++;
			a[i].bytes += e->len;
			if (a[i].expires && (!p->expires || p->expires > a[i].expires))
				a[i].expires = p->expires;
		}
	pthread_mutex_unlock(&c->mu);
	if (cnt)
		qsort(a, cnt, sizeof(*a), by_owner);
	*out = a;
	*n = cnt;
	return 0;
}

static void cr_close(struct bramble_cache *c)
{
	struct cacheram *r = c->ram;

	if (!r)
		return;
	while (r->lru.next != &r->lru)
		remove_entry(r, r->lru.next);
	hashtab_release(&r->table);
	free(r);
}

const struct cache_ops cacheram_ops = {
	.get = cr_get, .has = cr_has, .put = cr_put, .pin = cr_pin, .unpin = cr_unpin,
	.gc = cr_gc, .evict = cr_evict, .verify = cr_verify,
	.index_stats = cr_index_stats, .list = cr_list, .list_pins = cr_list_pins,
	.close = cr_close,
};

/* 1/8 of the machine's RAM, at most 1 GiB. */
static uint64_t default_quota(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t q = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 8 : GIB;

	return BR_MIN(q, GIB);
}

int cacheram_open(struct bramble_cache *c, const struct bramble_cache_opts *o,
		  char *err, size_t errlen)
{
	struct cacheram *r = xcalloc(1, sizeof(*r));

	(void)err;
	(void)errlen;
	hashtab_init(&r->table, MIN_BUCKETS);
	r->lru.next = r->lru.prev = &r->lru;
	c->ram = r;
	c->quota = o->size ? o->size : default_quota();
	return 0;
}
