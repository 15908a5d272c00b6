/* chunkcache.c - the hot-chunk cache (chunkcache.h): a hash table of
 * entries, the ready ones on a doubly linked LRU list. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkcache.h"
#include "hashtab.h"
#include "util.h"
#include "xalloc.h"

enum state {
	LOADING,        /* a fill ticket is out; in the table, not on the LRU */
	READY,          /* bytes present; in the table and on the LRU */
	DEAD,           /* out of the table; freed by its last reference */
};

struct entry {
	unsigned char key[CHUNKCACHE_KEY_LEN];
	struct hashtab_node hn;         /* in the table, by key */
	struct entry *prev, *next;      /* LRU list (READY only) */
	void *data;
	size_t len;
	/* Its compressed form (chunkcache_set_zstd), kept beside the bytes:
	 * zdata/zlen with CHUNKCACHE_Z_HAVE. */
	enum chunkcache_z z;
	void *zdata;
	size_t zlen;
	unsigned int refs;              /* lookups copying it out or waiting on it */
	enum state state;
};

/* A fill ticket is the LOADING entry itself. */
struct chunkcache_fill {
	struct entry e;
};

struct chunkcache {
	pthread_mutex_t mu;             /* everything below */
	pthread_cond_t loaded;          /* a LOADING entry changed state */
	struct hashtab table;           /* of entries (LOADING and READY), by key */
	struct entry lru;               /* sentinel: lru.next most recent */
	struct chunkcache_stats st;     /* used, bound, entries kept current */
};

#define MIN_BUCKETS 64

static size_t cost(size_t len)
{
	return len + sizeof(struct entry);
}

/* What a READY entry holds: its bytes, its compressed form, itself. */
static size_t entry_cost(const struct entry *e)
{
	return cost(e->len) + e->zlen;
}

static void entry_free(struct entry *e)
{
	free(e->zdata);
	free(e->data);
	free(e);
}

/* The key is a good hash already: its first bytes serve as the table's. */
static uint64_t key_hash(const unsigned char *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return h;
}

struct chunkcache *chunkcache_new(uint64_t bound)
{
	struct chunkcache *cc = xcalloc(1, sizeof(*cc));

	pthread_mutex_init(&cc->mu, NULL);
	pthread_cond_init(&cc->loaded, NULL);
	hashtab_init(&cc->table, MIN_BUCKETS);
	cc->lru.next = cc->lru.prev = &cc->lru;
	cc->st.bound = bound;
	return cc;
}

/* Frees an entry without unlinking it: the whole table goes next. */
static int free_entry(struct hashtab_node *n, void *unused)
{
	entry_free(HASHTAB_ENTRY(n, struct entry, hn));
	return 0;
}

void chunkcache_free(struct chunkcache *cc)
{
	if (!cc)
		return;
	hashtab_foreach(&cc->table, free_entry, NULL);
	hashtab_release(&cc->table);
	pthread_cond_destroy(&cc->loaded);
	pthread_mutex_destroy(&cc->mu);
	free(cc);
}

uint64_t chunkcache_default_bound(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t ram;

	if (pages <= 0 || psize <= 0)
		return CHUNKCACHE_DEFAULT_MAX / 8;  /* unknown: stay modest */
	ram = (uint64_t)pages * (uint64_t)psize;
	return BR_MIN(ram / 8, CHUNKCACHE_DEFAULT_MAX);
}

bool chunkcache_enabled(const struct chunkcache *cc)
{
	return cc && cc->st.bound > 0;
}

bool chunkcache_wants_file(const struct chunkcache *cc, uint64_t size)
{
	/* The bound is set once at creation: no lock needed to read it. */
	return cc && size <= CHUNKCACHE_HASHED_FILE_MAX && size <= cc->st.bound / 64;
}

/* ---- table and list (cc->mu held) */

static bool entry_is(const struct hashtab_node *n, const void *key)
{
	return !memcmp(HASHTAB_ENTRY(n, struct entry, hn)->key, key, CHUNKCACHE_KEY_LEN);
}

static struct entry *find(struct chunkcache *cc, const unsigned char *key)
{
	struct hashtab_node *n = hashtab_find(&cc->table, key_hash(key), entry_is, key);

	return n ? HASHTAB_ENTRY(n, struct entry, hn) : NULL;
}

static void table_add(struct chunkcache *cc, struct entry *e)
{
	hashtab_insert(&cc->table, &e->hn, key_hash(e->key));
	cc->st.entries++;
}

static void table_del(struct chunkcache *cc, struct entry *e)
{
	hashtab_remove(&cc->table, &e->hn);
	cc->st.entries--;
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct chunkcache *cc, struct entry *e)
{
	e->next = cc->lru.next;
	e->prev = &cc->lru;
	cc->lru.next->prev = e;
	cc->lru.next = e;
}

static void drop_ready(struct chunkcache *cc, struct entry *e)
{
	lru_unlink(e);
	table_del(cc, e);
	cc->st.used -= entry_cost(e);
	if (e->z == CHUNKCACHE_Z_HAVE) {
		cc->st.zstd_entries--;
		cc->st.zstd_bytes -= e->zlen;
	}
	entry_free(e);
}

/* Evict from the cold end until need more bytes fit; entries being
 * copied out are passed by.  false when the room cannot be made. */
static bool make_room(struct chunkcache *cc, size_t need)
{
	struct entry *e = cc->lru.prev, *prev;

	if (need > cc->st.bound)
		return false;
	while (cc->st.used + need > cc->st.bound && e != &cc->lru) {
		prev = e->prev;
		if (e->refs == 0) {
			drop_ready(cc, e);
			cc->st.evictions++;
		}
		e = prev;
	}
	return cc->st.used + need <= cc->st.bound;
}

/* Make e READY with a copy of data, or false when it does not fit. */
static bool keep(struct chunkcache *cc, struct entry *e, const void *data, size_t len)
{
	if (!make_room(cc, cost(len)))
		return false;
	e->data = xmemdup(data, len ? len : 1);
	e->len = len;
	e->state = READY;
	cc->st.used += cost(len);
	cc->st.inserts++;
	lru_front(cc, e);
	return true;
}

static void unref(struct entry *e)
{
	if (--e->refs == 0 && e->state == DEAD)
		entry_free(e);
}

/* ---- lookups */

/* Copy a READY entry out, compressed when want_zstd and it has that
 * form (mu held on entry and on return; dropped for the copy, e
 * referenced meanwhile so eviction leaves it, and its forms, once set,
 * never change while it lives). */
static void copy_out(struct chunkcache *cc, struct entry *e, bool want_zstd,
		     struct chunkcache_copy *out)
{
	const void *src = e->data;
	size_t n = e->len;

	lru_unlink(e);
	lru_front(cc, e);
	e->refs++;
	cc->st.hits++;
	cc->st.hit_bytes += e->len;
	out->len = e->len;
	out->z = e->z;
	out->zstd = want_zstd && e->z == CHUNKCACHE_Z_HAVE;
	if (out->zstd) {
		src = e->zdata;
		n = e->zlen;
	}
	pthread_mutex_unlock(&cc->mu);
	out->size = n;
	out->data = xmemdup(src, n ? n : 1);
	pthread_mutex_lock(&cc->mu);
	unref(e);
}

int chunkcache_get2(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
		    bool want_zstd, struct chunkcache_copy *out,
		    struct chunkcache_fill **fill)
{
	struct entry *e;

	*fill = NULL;
	pthread_mutex_lock(&cc->mu);
	for (;;) {
		if (cc->st.bound == 0 || !(e = find(cc, key))) {
			cc->st.misses++;
			if (cc->st.bound) {
				e = xcalloc(1, sizeof(struct chunkcache_fill));
				memcpy(e->key, key, CHUNKCACHE_KEY_LEN);
				e->state = LOADING;
				table_add(cc, e);
				*fill = (struct chunkcache_fill *)e;
			}
			pthread_mutex_unlock(&cc->mu);
			return 0;
		}
		if (e->state == READY) {
			copy_out(cc, e, want_zstd, out);
			pthread_mutex_unlock(&cc->mu);
			return 1;
		}
		/* Another lookup is loading it: wait, then look again (it is
		 * READY, or gone when the load failed or did not fit). */
		cc->st.waits++;
		e->refs++;
		while (e->state == LOADING)
			pthread_cond_wait(&cc->loaded, &cc->mu);
		if (e->state == READY) {
			e->refs--;      /* READY: copy_out takes its own reference */
			copy_out(cc, e, want_zstd, out);
			pthread_mutex_unlock(&cc->mu);
			return 1;
		}
		unref(e);
	}
}

int chunkcache_get(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
		   void **data, size_t *len, struct chunkcache_fill **fill)
{
	struct chunkcache_copy c;
	int rc = chunkcache_get2(cc, key, false, &c, fill);

	if (rc == 1) {
		*data = c.data;
		*len = c.len;
	}
	return rc;
}

/* Keep z (zlen bytes) as key's compressed form, or, z NULL, remember that
 * it has none worth sending.  mu held. */
static void set_z(struct chunkcache *cc, struct entry *e, const void *z, size_t zlen)
{
	bool room;

	if (!z) {
		e->z = CHUNKCACHE_Z_NONE;
		return;
	}
	/* e itself must not be evicted to make the room: referenced. */
	e->refs++;
	room = make_room(cc, zlen);
	e->refs--;
	if (!room)
		return;         /* stays UNTRIED: compressed again next time */
	e->zdata = xmemdup(z, zlen ? zlen : 1);
	e->zlen = zlen;
	e->z = CHUNKCACHE_Z_HAVE;
	cc->st.used += zlen;
	cc->st.zstd_entries++;
	cc->st.zstd_bytes += zlen;
}

void chunkcache_set_zstd(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
			 const void *z, size_t zlen)
{
	struct entry *e;

	if (!cc || cc->st.bound == 0)
		return;
	pthread_mutex_lock(&cc->mu);
	e = find(cc, key);
	/* Only the first answer counts (two workers may have compressed
	 * the same chunk at once: both forms are right). */
	if (e && e->state == READY && e->z == CHUNKCACHE_Z_UNTRIED)
		set_z(cc, e, z, zlen);
	pthread_mutex_unlock(&cc->mu);
}

void chunkcache_fill_done_z(struct chunkcache *cc, struct chunkcache_fill *fill,
			    const void *data, size_t len, enum chunkcache_z z,
			    const void *zdata, size_t zlen)
{
	struct entry *e = &fill->e;

	pthread_mutex_lock(&cc->mu);
	if (!data || !keep(cc, e, data, len)) {
		table_del(cc, e);
		e->state = DEAD;
		e->refs++;      /* the loader's own, dropped at once */
		unref(e);
	} else if (z != CHUNKCACHE_Z_UNTRIED) {
		/* Before the waiters wake: they get the form too. */
		set_z(cc, e, z == CHUNKCACHE_Z_HAVE ? zdata : NULL, zlen);
	}
	pthread_cond_broadcast(&cc->loaded);
	pthread_mutex_unlock(&cc->mu);
}

void chunkcache_fill_done(struct chunkcache *cc, struct chunkcache_fill *fill,
			  const void *data, size_t len)
{
	chunkcache_fill_done_z(cc, fill, data, len, CHUNKCACHE_Z_UNTRIED, NULL, 0);
}

void chunkcache_put(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
		    const void *data, size_t len)
{
	struct entry *e;

	if (!cc || cc->st.bound == 0)
		return;
	pthread_mutex_lock(&cc->mu);
	if (!find(cc, key) && cost(len) <= cc->st.bound) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->key, key, CHUNKCACHE_KEY_LEN);
		/* Room first: make_room never touches a LOADING entry, and e
		 * is not in the table yet. */
		if (make_room(cc, cost(len))) {
			table_add(cc, e);
			keep(cc, e, data, len);
		} else {
			free(e);
		}
	}
	pthread_mutex_unlock(&cc->mu);
}

void chunkcache_count_miss(struct chunkcache *cc)
{
	if (!cc)
		return;
	pthread_mutex_lock(&cc->mu);
	cc->st.misses++;
	pthread_mutex_unlock(&cc->mu);
}

void chunkcache_get_stats(struct chunkcache *cc, struct chunkcache_stats *out)
{
	if (!cc) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&cc->mu);
	*out = cc->st;
	pthread_mutex_unlock(&cc->mu);
}
