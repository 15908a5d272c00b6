/* peerstore.c - the chunks this process fetched lately, for its peer
 * service (peers.h).
 *
 * One entry per chunk: expected (being fetched: `fetching' > 0) and/or
 * ready (its wire bytes held).  Ready entries are on an LRU list bounded
 * by max_bytes; an expected entry without bytes is on no list and goes
 * when its last fetch ends.  Why RAM and not only the node cache: the next
 * node in a chain asks within milliseconds, the bytes are still here in
 * their compressed form, and a slow disk (a Pi's SD card) then never
 * holds up the nodes behind this one. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hashtab.h"
#include "peers.h"
#include "util.h"
#include "xalloc.h"

struct pent {
	struct hashtab_node hn;
	struct pent *older, *newer;     /* LRU of ready entries */
	unsigned char hash[BRAMBLE_CHUNK_HASH_LEN];
	unsigned int fetching;
	bool ready;
	br_chunk_enc enc;
	uint32_t len;
	void *data;
	size_t data_len;
};

struct peerstore {
	pthread_mutex_t mu;
	pthread_cond_t cv;              /* an expected chunk arrived or failed */
	struct hashtab t;
	struct pent *oldest, *newest;
	size_t bytes, max_bytes;
	bool closing;                   /* peerstore_close: nobody waits */
};

struct peerstore *peerstore_new(size_t max_bytes)
{
	struct peerstore *s = xcalloc(1, sizeof(*s));
	pthread_condattr_t ca;

	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	hashtab_init(&s->t, 256);
	s->max_bytes = max_bytes ? max_bytes : PEERS_RAM_DEFAULT;
	return s;
}

static int free_one(struct hashtab_node *n, void *arg)
{
	struct pent *e = HASHTAB_ENTRY(n, struct pent, hn);

	(void)arg;
	free(e->data);
	free(e);
	return 0;
}

void peerstore_free(struct peerstore *s)
{
	if (!s)
		return;
	hashtab_foreach(&s->t, free_one, NULL);
	hashtab_release(&s->t);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static bool pent_is(const struct hashtab_node *n, const void *key)
{
	return memcmp(HASHTAB_ENTRY(n, struct pent, hn)->hash, key,
		      BRAMBLE_CHUNK_HASH_LEN) == 0;
}

static struct pent *find(struct peerstore *s, const unsigned char *hash)
{
	struct hashtab_node *n = hashtab_find(&s->t, hash_bytes(hash, BRAMBLE_CHUNK_HASH_LEN),
					      pent_is, hash);

	return n ? HASHTAB_ENTRY(n, struct pent, hn) : NULL;
}

static void lru_unlink(struct peerstore *s, struct pent *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		s->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_append(struct peerstore *s, struct pent *e)
{
	e->older = s->newest;
	if (s->newest)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
}

/* Drop e's bytes; e itself too unless a fetch still expects it. */
static void drop(struct peerstore *s, struct pent *e)
{
	if (e->ready) {
		lru_unlink(s, e);
		s->bytes -= e->data_len;
		free(e->data);
		e->data = NULL;
		e->ready = false;
	}
	if (e->fetching == 0) {
		hashtab_remove(&s->t, &e->hn);
		free(e);
	}
}

void peerstore_expect(struct peerstore *s, const unsigned char *hash)
{
	struct pent *e;

	pthread_mutex_lock(&s->mu);
	e = find(s, hash);
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->hash, hash, sizeof(e->hash));
		hashtab_insert(&s->t, &e->hn, hash_bytes(hash, BRAMBLE_CHUNK_HASH_LEN));
	}
	e->fetching++;
	pthread_mutex_unlock(&s->mu);
}

/* Keep e's wire bytes (a copy), evicting the oldest past the bound. */
static void keep(struct peerstore *s, struct pent *e, br_chunk_enc enc, uint32_t len,
		 const void *enc_data, size_t enc_len)
{
	if (e->ready || enc_len > s->max_bytes)
		return;
	while (s->bytes + enc_len > s->max_bytes && s->oldest)
		drop(s, s->oldest);
	e->data = xmalloc(enc_len ? enc_len : 1);
	memcpy(e->data, enc_data, enc_len);
	e->data_len = enc_len;
	e->enc = enc;
	e->len = len;
	e->ready = true;
	s->bytes += enc_len;
	lru_append(s, e);
}

void peerstore_done(struct peerstore *s, const unsigned char *hash,
		    br_chunk_enc enc, uint32_t len, const void *enc_data, size_t enc_len)
{
	struct pent *e;

	pthread_mutex_lock(&s->mu);
	e = find(s, hash);
	if (e) {
		if (e->fetching)
			e->fetching--;
		if (enc_data)
			keep(s, e, enc, len, enc_data, enc_len);
		if (!e->ready && e->fetching == 0)
			drop(s, e);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void peerstore_close(struct peerstore *s)
{
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static struct timespec deadline_in(int ms)
{
	int64_t d = now_ns() + (int64_t)ms * 1000000;

	return (struct timespec){ .tv_sec = d / 1000000000, .tv_nsec = d % 1000000000 };
}

int peerstore_get(struct peerstore *s, const unsigned char *hash, int wait_ms,
		  br_chunk_enc *enc, uint32_t *len, void **data, size_t *data_len)
{
	struct timespec ts = deadline_in(wait_ms);
	struct pent *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&s->mu);
	/* The entry is looked up again after every wake: it may be gone. */
	while (!s->closing && (e = find(s, hash)) && !e->ready && e->fetching)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) {
			rc = -EAGAIN;
			break;
		}
	e = find(s, hash);
	if (e && e->ready) {
		lru_unlink(s, e);
		lru_append(s, e);
		*enc = e->enc;
		*len = e->len;
		*data_len = e->data_len;
		*data = xmalloc(e->data_len ? e->data_len : 1);
		memcpy(*data, e->data, e->data_len);
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}
