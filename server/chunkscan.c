/* chunkscan.c - chunk maps built from READs (see chunkscan.h).
 *
 * A scan is an entry of a small table, found by (st_dev, st_ino): the
 * attributes of its first READ, how far its bytes are hashed (next), the
 * XXH3 stream of the chunk being hashed, the hashes done, and the pieces
 * that arrived ahead of next, sorted by offset. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunkidx.h"
#include "chunkscan.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

#define SCAN_MAX 16               /* files scanned at once */
/* A READ further than this ahead of the next byte expected is not a
 * sequential reader's: the scan is given up. */
#define AHEAD_MAX (16u << 20)
/* Bytes waiting for a gap to fill, all scans together. */
#define PENDING_MAX (64u << 20)

struct piece {
	struct piece *next;
	uint64_t off;
	size_t len;
	char data[];
};

struct scan {
	struct stat st;                /* before its first READ */
	int64_t began;                 /* wall clock then (ns) */
	uint64_t next;                 /* bytes [0, next) are hashed */
	uint32_t nchunks;
	unsigned char (*h)[CHUNKIDX_HASH_LEN];
	struct br_hash128_stream *hs;  /* of the chunk next is in */
	struct piece *ahead;           /* sorted by off */
	size_t ahead_bytes;
	uint64_t used;                 /* s->tick when last fed */
};

struct chunkscan {
	struct chunkidx *ci;
	uint32_t csize;
	pthread_mutex_t mu;
	struct scan *scans[SCAN_MAX];  /* protected by mu, as all below */
	size_t ahead_bytes;
	uint64_t tick;
	struct chunkscan_stats st;
};

static bool same_attrs(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

struct chunkscan *chunkscan_new(struct chunkidx *ci)
{
	struct chunkscan *s = xcalloc(1, sizeof(*s));

	s->ci = ci;
	s->csize = chunkidx_chunk_size(ci);
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

/* ---- the table (s->mu held) */

static void scan_free(struct chunkscan *s, struct scan *sc)
{
	struct piece *p;

	while ((p = sc->ahead)) {
		sc->ahead = p->next;
		free(p);
	}
	s->ahead_bytes -= sc->ahead_bytes;
	br_hash128_stream_free(sc->hs);
	free(sc->h);
	free(sc);
}

/* Take slot i's scan out of the table (the caller frees it). */
static struct scan *scan_take(struct chunkscan *s, int i)
{
	struct scan *sc = s->scans[i];

	s->scans[i] = NULL;
	return sc;
}

static void scan_drop(struct chunkscan *s, int i)
{
	scan_free(s, scan_take(s, i));
	s->st.abandoned++;
}

static int scan_find(const struct chunkscan *s, const struct stat *st)
{
	for (int i = 0; i < SCAN_MAX; i++)
		if (s->scans[i] && s->scans[i]->st.st_dev == st->st_dev &&
		    s->scans[i]->st.st_ino == st->st_ino)
			return i;
	return -1;
}

/* A new scan of a file with attributes st, in a free slot or the least
 * recently fed one's. */
static int scan_start(struct chunkscan *s, const struct stat *st)
{
	struct scan *sc = xcalloc(1, sizeof(*sc));
	struct timespec ts;
	int i, lru = 0;

	for (i = 0; i < SCAN_MAX && s->scans[i]; i++)
		if (s->scans[i]->used < s->scans[lru]->used)
			lru = i;
	if (i == SCAN_MAX) {
		scan_drop(s, lru);
		i = lru;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	sc->st = *st;
	sc->began = ts_to_ns(&ts);
	sc->nchunks = (uint32_t)(((uint64_t)st->st_size + s->csize - 1) / s->csize);
	sc->h = xmalloc((size_t)sc->nchunks * CHUNKIDX_HASH_LEN);
	sc->hs = br_hash128_stream_new();
	s->scans[i] = sc;
	return i;
}

/* ---- hashing (s->mu held) */

/* Hash the n bytes at sc->next, closing each chunk they complete. */
static void consume(const struct chunkscan *s, struct scan *sc, const char *p,
		    size_t n)
{
	uint64_t size = (uint64_t)sc->st.st_size;

	while (n) {
		uint64_t cend = BR_MIN((sc->next / s->csize + 1) * s->csize, size);
		size_t k = (size_t)BR_MIN((uint64_t)n, cend - sc->next);

		br_hash128_stream_update(sc->hs, p, k);
		sc->next += k;
		p += k;
		n -= k;
		if (sc->next == cend)
			br_hash128_stream_digest(sc->hs, sc->h[(cend - 1) / s->csize]);
	}
}

/* Keep a piece that came ahead of sc->next.  False: give the scan up. */
static bool keep_ahead(struct chunkscan *s, struct scan *sc, uint64_t off,
		       const void *data, size_t len)
{
	struct piece *p, **pp;

	if (off - sc->next > AHEAD_MAX || s->ahead_bytes + len > PENDING_MAX)
		return false;
	p = xmalloc(sizeof(*p) + len);
	p->off = off;
	p->len = len;
	memcpy(p->data, data, len);
	for (pp = &sc->ahead; *pp && (*pp)->off < off; pp = &(*pp)->next)
		;
	p->next = *pp;
	*pp = p;
	sc->ahead_bytes += len;
	s->ahead_bytes += len;
	return true;
}

/* The bytes [off, off + len) of the scanned file.  False: give up. */
static bool scan_bytes(struct chunkscan *s, struct scan *sc, uint64_t off,
		       const char *data, size_t len)
{
	struct piece *p;

	if (off + len > (uint64_t)sc->st.st_size)
		return false;           /* grew under its attributes */
	if (off > sc->next)
		return keep_ahead(s, sc, off, data, len);
	if (off + len > sc->next)
		consume(s, sc, data + (sc->next - off), (size_t)(off + len - sc->next));
	while ((p = sc->ahead) && p->off <= sc->next) {
		sc->ahead = p->next;
		sc->ahead_bytes -= p->len;
		s->ahead_bytes -= p->len;
		if (p->off + p->len > sc->next)
			consume(s, sc, p->data + (sc->next - p->off),
				(size_t)(p->off + p->len - sc->next));
		free(p);
	}
	return true;
}

/* ---- feeding */

bool chunkscan_may_block(const struct chunkscan *s, const struct stat *st,
			 uint64_t off, size_t count)
{
	return s && S_ISREG(st->st_mode) && (uint64_t)st->st_size >= s->csize &&
	       (off == 0 || off + count >= (uint64_t)st->st_size);
}

/* Whether the index already has a settled map of the file open as fd. */
static bool indexed(struct chunkscan *s, int fd)
{
	struct chunkidx_map m;

	if (chunkidx_map_indexed(s->ci, fd, 0, 0, &m) < 0)
		return false;
	chunkidx_map_release(&m);
	return true;
}

/* Record a finished scan (taken out of the table; s->mu not held). */
static void finish(struct chunkscan *s, int fd, struct scan *sc)
{
	int rc = chunkidx_record_read(s->ci, fd, &sc->st, sc->began, sc->h,
				      sc->nchunks);

	pthread_mutex_lock(&s->mu);
	if (rc == 0) {
		s->st.files++;
		s->st.bytes += (uint64_t)sc->st.st_size;
	} else {
		s->st.abandoned++;
		if (rc != -ESTALE)
			log_warn("chunk index: cannot record a map read: %s",
				 strerror(-rc));
	}
	scan_free(s, sc);
	pthread_mutex_unlock(&s->mu);
}

void chunkscan_feed(struct chunkscan *s, int fd, const struct stat *st,
		    uint64_t off, const void *data, size_t len)
{
	struct scan *done = NULL;
	int i;

	if (!s || !len || !S_ISREG(st->st_mode) || (uint64_t)st->st_size < s->csize)
		return;
	pthread_mutex_lock(&s->mu);
	i = scan_find(s, st);
	if (i >= 0 && !same_attrs(&s->scans[i]->st, st)) {
		scan_drop(s, i);        /* the file changed */
		i = -1;
	}
	if (i < 0 && off == 0) {
		pthread_mutex_unlock(&s->mu);
		if (indexed(s, fd))
			return;
		pthread_mutex_lock(&s->mu);
		i = scan_find(s, st);
		if (i >= 0 && !same_attrs(&s->scans[i]->st, st))
			scan_drop(s, i);
		if (i < 0 || !s->scans[i])
			i = scan_start(s, st);
	}
	if (i >= 0) {
		s->scans[i]->used = ++s->tick;
		if (!scan_bytes(s, s->scans[i], off, data, len))
			scan_drop(s, i);
		else if (s->scans[i]->next == (uint64_t)st->st_size)
			done = scan_take(s, i);
	}
	pthread_mutex_unlock(&s->mu);
	if (done)
		finish(s, fd, done);
}

void chunkscan_get_stats(struct chunkscan *s, struct chunkscan_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	pthread_mutex_unlock(&s->mu);
}

void chunkscan_free(struct chunkscan *s)
{
	if (!s)
		return;
	for (int i = 0; i < SCAN_MAX; i++)
		if (s->scans[i])
			scan_free(s, scan_take(s, i));
	pthread_mutex_destroy(&s->mu);
	free(s);
}
