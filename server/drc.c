/* drc.c - the duplicate-request cache: hash table plus an age list,
 * written through to bramble.db (drcstore.c). */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "drc.h"
#include "drcstore.h"
#include "hashtab.h"
#include "log.h"
#include "xalloc.h"

struct drc_entry {
	struct drc_key key;
	struct hashtab_node hn;        /* in the table, by key */
	struct drc_entry *older, *newer; /* age list */
	int64_t t_ns;                  /* when the first copy began */
	bool done;                     /* reply stored */
	/* Loaded from an intent row without its reply: a previous run began
	 * the call and died before storing the answer (drc.h). */
	bool uncertain;
	unsigned int waiters;          /* duplicates waiting for done */
	char *reply;                   /* the reply record (owned) */
	size_t reply_len;
};

struct drc {
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* broadcast when an entry is done */
	unsigned int max;
	int64_t ttl_ns;
	struct hashtab table;          /* protected by lock; at most max entries */
	struct drc_entry *oldest, *newest; /* protected by lock */
	struct drcstore *store;        /* NULL: memory only; set before use */
	unsigned int stores;           /* protected by lock: since the last prune */
};

struct drc *drc_new(unsigned int max, int64_t ttl_ns)
{
	struct drc *d = xcalloc(1, sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->max = max ? max : 1;
	d->ttl_ns = ttl_ns;
	/* As many buckets as entries allowed: the table never grows. */
	hashtab_init(&d->table, d->max);
	return d;
}

void drc_free(struct drc *d)
{
	if (!d)
		return;
	while (d->oldest) {
		struct drc_entry *e = d->oldest;

		d->oldest = e->newer;
		free(e->reply);
		free(e);
	}
	hashtab_release(&d->table);
	drcstore_close(d->store);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

bool drc_client_id(const char *machname, uint64_t *id)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; machname[i]; i++) {
		char ch = machname[i];
		unsigned int x;

		if (ch >= '0' && ch <= '9')
			x = (unsigned int)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			x = (unsigned int)(ch - 'a' + 10);
		else
			return false;
		if (i >= DRC_CLIENT_ID_LEN)
			return false;
		v = v << 4 | x;
	}
	if (i != DRC_CLIENT_ID_LEN)
		return false;
	*id = v;
	return true;
}

/* FNV-1a, 64 bits: the arguments of the cached calls are a few hundred
 * bytes at most, and this only tells a retransmission from a reused XID. */
uint64_t drc_sum(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static bool key_eq(const struct drc_key *a, const struct drc_key *b)
{
	return a->client == b->client && a->xid == b->xid &&
	       a->proc == b->proc && a->sum == b->sum;
}

static uint64_t key_hash(const struct drc_key *k)
{
	uint64_t f[3] = { k->client, (uint64_t)k->xid << 32 | k->proc, k->sum };

	return hash_bytes(f, sizeof(f));
}

static bool entry_is(const struct hashtab_node *n, const void *k)
{
	return key_eq(&HASHTAB_ENTRY(n, struct drc_entry, hn)->key, k);
}

static struct drc_entry *find(struct drc *d, const struct drc_key *k)
{
	struct hashtab_node *n = hashtab_find(&d->table, key_hash(k), entry_is, k);

	return n ? HASHTAB_ENTRY(n, struct drc_entry, hn) : NULL;
}

/* Only a finished entry nobody waits for may go. */
static bool removable(const struct drc_entry *e)
{
	return e->done && e->waiters == 0;
}

static void remove_entry(struct drc *d, struct drc_entry *e)
{
	assert(removable(e));
	hashtab_remove(&d->table, &e->hn);
	if (e->older)
		e->older->newer = e->newer;
	else
		d->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		d->newest = e->older;
	free(e->reply);
	free(e);
}

/* Drop what is older than the ttl, then, if still full, the oldest
 * finished entry.  False if the cache stays full. */
static bool make_room(struct drc *d, int64_t now_ns)
{
	struct drc_entry *e, *next;

	for (e = d->oldest; e && now_ns - e->t_ns >= d->ttl_ns; e = next) {
		next = e->newer;
		if (removable(e))
			remove_entry(d, e);
	}
	for (e = d->oldest; e && d->table.count >= d->max; e = next) {
		next = e->newer;
		if (removable(e))
			remove_entry(d, e);
	}
	return d->table.count < d->max;
}

/* A new entry for k, newest in the age list.  Lock held; room made. */
static struct drc_entry *insert(struct drc *d, const struct drc_key *k,
				int64_t now_ns)
{
	struct drc_entry *e = xcalloc(1, sizeof(*e));

	e->key = *k;
	e->t_ns = now_ns;
	hashtab_insert(&d->table, &e->hn, key_hash(k));
	e->older = d->newest;
	if (d->newest)
		d->newest->newer = e;
	else
		d->oldest = e;
	d->newest = e;
	return e;
}

static void store(struct drc *d, struct drc_entry *e, const void *reply,
		  size_t len);

enum drc_result drc_begin(struct drc *d, const struct drc_key *k,
			  int64_t now_ns, struct buf *reply,
			  struct drc_entry **out)
{
	struct drc_entry *e;

	*out = NULL;
	pthread_mutex_lock(&d->lock);
	e = find(d, k);
	if (e && e->done && now_ns - e->t_ns >= d->ttl_ns && removable(e)) {
		remove_entry(d, e);
		e = NULL;
	}
	if (e && e->uncertain && e->waiters == 0) {
		/* The previous run may or may not have done it: run it
		 * again, telling the caller so; duplicates wait for us. */
		e->uncertain = false;
		e->done = false;
		*out = e;
		pthread_mutex_unlock(&d->lock);
		return DRC_UNCERTAIN;
	}
	if (e) {
		/* Running on another worker: its reply is the answer.  An
		 * entry is never freed while waited for. */
		e->waiters++;
		while (!e->done)
			pthread_cond_wait(&d->cond, &d->lock);
		e->waiters--;
		buf_add(reply, e->reply, e->reply_len);
		pthread_mutex_unlock(&d->lock);
		return DRC_HIT;
	}
	if (make_room(d, now_ns))
		*out = insert(d, k, now_ns);
	pthread_mutex_unlock(&d->lock);
	if (*out && d->store)
		store(d, *out, "", 0);  /* the intent, before the call runs */
	return DRC_NEW;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Write e's reply through to the database (no cache lock held: the
 * entry is ours until done is set), and every DRC_PRUNE_EVERY stores
 * drop what has aged out or fell off the bound. */
static void store(struct drc *d, struct drc_entry *e, const void *reply,
		  size_t len)
{
	int64_t t = real_ns();
	bool prune;
	int rc = drcstore_put(d->store, &e->key, t, reply, len);

	if (rc < 0)
		log_warn_rl("duplicate-request cache: cannot store a reply in "
			    "bramble.db: %s (kept in memory only)", strerror(-rc));
	pthread_mutex_lock(&d->lock);
	prune = ++d->stores >= DRC_PRUNE_EVERY;
	if (prune)
		d->stores = 0;
	pthread_mutex_unlock(&d->lock);
	if (prune && (rc = drcstore_prune(d->store, t - d->ttl_ns, d->max)) < 0)
		log_warn_rl("duplicate-request cache: cannot prune bramble.db: %s",
			    strerror(-rc));
}

void drc_done(struct drc *d, struct drc_entry *e, const void *reply,
	      size_t len)
{
	if (!e)
		return;
	assert(len <= DRC_REPLY_MAX);
	if (d->store)
		store(d, e, reply, len);
	pthread_mutex_lock(&d->lock);
	e->reply = xmemdup(reply, len);
	e->reply_len = len;
	e->done = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

struct load_ctx {
	struct drc *d;
	int64_t now_ns;
};

/* One stored row: a reply makes a finished entry (a later reply of the
 * same key wins); an intent (no reply) an uncertain one, unless the reply
 * is known. */
static void load_row(void *ctx, const struct drc_key *k, const void *reply,
		     size_t len)
{
	struct load_ctx *lc = ctx;
	struct drc *d = lc->d;
	struct drc_entry *e = find(d, k);

	if (len == 0) {
		if (e)
			return;
		if (!make_room(d, lc->now_ns))
			return;
		e = insert(d, k, lc->now_ns);
		e->done = true;         /* nothing to wait for */
		e->uncertain = true;
		return;
	}
	if (e) {
		free(e->reply);
		e->uncertain = false;
	} else {
		if (!make_room(d, lc->now_ns))
			return;
		e = insert(d, k, lc->now_ns);
	}
	e->reply = xmemdup(reply, len);
	e->reply_len = len;
	e->done = true;
}

int drc_persist(struct drc *d, const char *db_path, int64_t now_ns,
		char *err, size_t errlen)
{
	struct load_ctx lc = { d, now_ns };
	int rc;

	assert(!d->store);
	rc = drcstore_open(db_path, &d->store, err, errlen);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	rc = drcstore_load(d->store, d->max, real_ns(), load_row, &lc);
	if (rc >= 0)
		rc = (int)d->table.count;     /* entries: an intent and its reply are one */
	pthread_mutex_unlock(&d->lock);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the duplicate-request table of "
			 "'%s': %s", db_path, strerror(-rc));
		drcstore_close(d->store);
		d->store = NULL;
	}
	return rc;
}

unsigned int drc_count(struct drc *d)
{
	unsigned int n;

	pthread_mutex_lock(&d->lock);
	n = (unsigned int)d->table.count;
	pthread_mutex_unlock(&d->lock);
	return n;
}
