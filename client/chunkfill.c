/* chunkfill.c - the node cache filled from plain READs (chunkfill.h).
 *
 * SLOTS buffers, each gathering one chunk of one file: which pages of it
 * arrived (a bitmap of 4 KiB pages: a chunk is at most 1 MiB), how many
 * bytes that makes, and when it was last fed. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "chunkfill.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

#define SLOTS 8
#define PAGE 4096u
#define MAX_CHUNK (1u << 20)
/* A piece this small starts gathering a chunk only at the chunk's first
 * or last byte (where a sequential reader's READ that straddles two
 * chunks cuts it): a random reader's 4 KiB reads would otherwise take
 * every buffer and complete none. */
#define SMALL_PIECE (64u << 10)
#define PAGE_WORDS (MAX_CHUNK / PAGE / 64)

struct slot {
	bool used;
	uint64_t id;
	uint32_t idx;                  /* chunk index in the file */
	size_t len;                    /* the chunk's length */
	size_t have;                   /* bytes arrived */
	uint64_t pages[PAGE_WORDS];    /* which pages arrived */
	uint64_t tick;
	char *buf;                     /* MAX_CHUNK bytes, made when first used */
};

struct chunkfill {
	struct bramble_cache *cache;
	pthread_mutex_t mu;
	struct slot slots[SLOTS];      /* protected by mu, as tick */
	uint64_t tick;
};

struct chunkfill *chunkfill_new(struct bramble_cache *cache)
{
	struct chunkfill *f = xcalloc(1, sizeof(*f));

	f->cache = cache;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

void chunkfill_free(struct chunkfill *f)
{
	if (!f)
		return;
	for (int i = 0; i < SLOTS; i++)
		free(f->slots[i].buf);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* ---- slots (f->mu held) */

/* The slot gathering chunk idx of id, taken if need be and may_take (the
 * least recently fed one goes), else NULL. */
static struct slot *slot_get(struct chunkfill *f, uint64_t id, uint32_t idx,
			     size_t len, bool may_take)
{
	struct slot *s, *lru = &f->slots[0];

	for (int i = 0; i < SLOTS; i++) {
		s = &f->slots[i];
		if (s->used && s->id == id && s->idx == idx)
			return s;
		if (!s->used || (lru->used && s->tick < lru->tick))
			lru = s;
	}
	if (!may_take)
		return NULL;
	s = lru;
	if (!s->buf)
		s->buf = xmalloc(MAX_CHUNK);
	s->used = true;
	s->id = id;
	s->idx = idx;
	s->len = len;
	s->have = 0;
	memset(s->pages, 0, sizeof(s->pages));
	return s;
}

/* Copy the pages of [from, from + n) of the chunk that s lacks. */
static void slot_fill(struct slot *s, size_t from, const char *p, size_t n)
{
	for (size_t o = from; o < from + n; o += PAGE) {
		size_t pg = o / PAGE, k = BR_MIN((size_t)PAGE, from + n - o);
		uint64_t bit = 1ull << (pg % 64);

		if (s->pages[pg / 64] & bit)
			continue;
		s->pages[pg / 64] |= bit;
		memcpy(s->buf + o, p + (o - from), k);
		s->have += k;
	}
}

/* ---- storing */

/* Hash and store a complete chunk (no lock held). */
static void store(struct chunkfill *f, const char *buf, size_t len)
{
	unsigned char h[BR_HASH128_LEN];
	int rc;

	br_hash128(buf, len, h);
	rc = bramble_cache_put(f->cache, h, buf, len, NULL, 0);
	if (rc < 0)
		log_debug("node cache: cannot store a chunk read: %s", strerror(-rc));
}

/* One chunk's part of a READ reply: chunk idx, [from, from + n) of it.
 * Returns the chunk's buffer when this completed it (the slot is freed;
 * the caller stores it), else NULL. */
static char *add_piece(struct chunkfill *f, uint64_t id, uint32_t idx,
		       size_t clen, size_t from, const char *p, size_t n)
{
	struct slot *s;
	char *done;

	/* Pages only, so an overlap is never counted twice; the last page
	 * of a chunk may be short. */
	if (from % PAGE || (n % PAGE && from + n != clen))
		return NULL;
	s = slot_get(f, id, idx, clen,
		     from == 0 || from + n == clen || n >= SMALL_PIECE);
	if (!s)
		return NULL;
	s->tick = ++f->tick;
	slot_fill(s, from, p, n);
	if (s->have < s->len)
		return NULL;
	done = s->buf;
	s->buf = NULL;
	s->used = false;
	return done;
}

unsigned int chunkfill_add(struct chunkfill *f, uint64_t id, uint64_t size,
			   uint32_t chunk_size, uint64_t off, const void *data,
			   size_t len)
{
	const char *p = data;
	uint64_t end = BR_MIN(off + len, size);
	unsigned int stored = 0;

	if (!f || !chunk_size || chunk_size > MAX_CHUNK || chunk_size % PAGE)
		return 0;
	while (off < end) {
		uint32_t idx = (uint32_t)(off / chunk_size);
		uint64_t cstart = (uint64_t)idx * chunk_size;
		size_t clen = (size_t)BR_MIN((uint64_t)chunk_size, size - cstart);
		size_t n = (size_t)BR_MIN(end - off, cstart + clen - off);
		char *done;

		if (off == cstart && n == clen) {
			/* A whole chunk in one READ (the usual case with
			 * 1 MiB READs): stored from the reply, no copy. */
			store(f, p, clen);
			stored++;
		} else {
			pthread_mutex_lock(&f->mu);
			done = add_piece(f, id, idx, clen, (size_t)(off - cstart), p, n);
			pthread_mutex_unlock(&f->mu);
			if (done) {
				store(f, done, clen);
				free(done);
				stored++;
			}
		}
		off += n;
		p += n;
	}
	return stored;
}

void chunkfill_forget(struct chunkfill *f, uint64_t id)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < SLOTS; i++)
		if (f->slots[i].used && f->slots[i].id == id)
			f->slots[i].used = false;
	pthread_mutex_unlock(&f->mu);
}
