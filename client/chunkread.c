/* chunkread.c - the chunk reader (bramble_reader.h).
 *
 * The RAM front is a short list of chunk entries, most recently used
 * first.  An entry is either being fetched (its fetcher owns the buffer;
 * others wait on the reader's condition variable) or ready (its bytes are
 * verified and immutable).  Entries are reference-counted so a reader may
 * copy from one after the lock is dropped; the front keeps at most
 * front_chunks ready entries nobody holds.  The list is scanned linearly:
 * it holds a few dozen entries of 1 MiB, never thousands.
 *
 * Workers take jobs from a bounded queue: a prefetch (load one chunk
 * into the front) or one chunk of a bramble_reader_fetch() batch (into the
 * node cache, pinned).  A full queue drops prefetches: read-ahead is a
 * hint, and the reader fetches what it needs itself. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bramble_reader.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

#define RA_DEFAULT 4
#define THREADS_DEFAULT 4
#define QUEUE_MAX 256

/* Bytes in chunk idx of m. */
static size_t chunk_len(const struct bramble_filemap *m, uint32_t idx)
{
	uint64_t start = (uint64_t)idx * m->chunk_size;

	return (size_t)BR_MIN((uint64_t)m->chunk_size, m->size - start);
}

/* ---- the reader */

struct chunk_ent {
	unsigned char hash[BRAMBLE_CHUNK_HASH_LEN];
	bool ready;
	bool listed;               /* in r->ents (a failed one leaves) */
	int err;                   /* fetch failed: -errno for the waiters */
	unsigned int refs;
	void *data;
	size_t len;
	struct chunk_ent *prev, *next;
};

/* The progress of one bramble_reader_fetch(). */
struct fetch_batch {
	unsigned int pending;
	int err;
	struct bramble_fetch_result res;
	const char *pin_owner;
	int64_t pin_expires;
};

struct job {
	struct bramble_cred cred;
	struct bramble_fh fh;
	struct bramble_filemap *map;
	uint32_t idx;
	struct fetch_batch *batch; /* NULL: a prefetch into the front */
	struct job *next;
};

struct bramble_reader {
	struct bramble *b;
	struct bramble_cache *cache;
	unsigned int readahead, front_max, nthreads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t ready_cv;   /* an entry became ready or failed */
	pthread_cond_t job_cv;     /* a job was queued, or stopping */
	pthread_cond_t batch_cv;   /* a batch job finished */
	struct chunk_ent *ents;    /* most recently used first */
	struct job *q_head, *q_tail;
	unsigned int q_len;
	bool stopping;
	/* per map read-ahead state, keyed by the last map read (a single
	 * sequential stream per reader is the case that matters: one
	 * file copied or loaded at a time; others just prefetch less) */
	const struct bramble_filemap *ra_map;
	uint32_t ra_last, ra_next;
	uint64_t ra_end;           /* where the last read of ra_map ended */
	struct bramble_reader_stats st;
};

static void ent_unlink(struct bramble_reader *r, struct chunk_ent *e)
{
	if (!e->listed)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		r->ents = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
	e->listed = false;
}

static void ent_push_front(struct bramble_reader *r, struct chunk_ent *e)
{
	e->prev = NULL;
	e->next = r->ents;
	if (r->ents)
		r->ents->prev = e;
	r->ents = e;
	e->listed = true;
}

static void ent_free(struct chunk_ent *e)
{
	free(e->data);
	free(e);
}

/* Drop one reference (r->mu held); an unlisted entry goes at zero. */
static void ent_unref(struct chunk_ent *e)
{
	if (--e->refs == 0 && !e->listed)
		ent_free(e);
}

/* Keep at most front_max idle ready entries: drop the least recently
 * used beyond that (r->mu held). */
static void front_trim(struct bramble_reader *r)
{
	struct chunk_ent *e, *tail = NULL, *prev;
	unsigned int idle = 0;

	for (e = r->ents; e; e = e->next) {
		tail = e;
		if (e->ready && e->refs == 0)
			idle++;
	}
	for (e = tail; e && idle > r->front_max; e = prev) {
		prev = e->prev;
		if (e->ready && e->refs == 0) {
			ent_unlink(r, e);
			ent_free(e);
			idle--;
		}
	}
}

static struct chunk_ent *front_find(struct bramble_reader *r,
				    const unsigned char *hash)
{
	for (struct chunk_ent *e = r->ents; e; e = e->next)
		if (!memcmp(e->hash, hash, BRAMBLE_CHUNK_HASH_LEN))
			return e;
	return NULL;
}

/* A chunk fetched for bramble_reader_fetch() is stored pinned at once
 * (one index transaction, not a put and then a pin). */
struct pin_req {
	const char *owner;
	int64_t expires;
	bool stored;               /* out: stored (pinned) by the load */
	int err;                   /* out: the put's -errno */
};

/* Fill e (not yet ready, owned by this thread) with chunk idx: from the
 * node cache, else from the server, storing it in the node cache. */
static int ent_load(struct bramble_reader *r, const struct bramble_cred *cr,
		    const struct bramble_fh *fh,
		    const struct bramble_filemap *m, uint32_t idx,
		    struct chunk_ent *e, struct pin_req *pin)
{
	struct bramble_chunk_wire wire = { .keep = false };
	ssize_t n = -ENOENT;
	int rc;

	e->data = xmalloc(m->chunk_size ? m->chunk_size : 1);
	if (r->cache)
		n = bramble_cache_get(r->cache, e->hash, e->data, m->chunk_size);
	if (n >= 0) {
		__atomic_add_fetch(&r->st.cache_hits, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->st.bytes_from_cache, (uint64_t)n,
				   __ATOMIC_RELAXED);
		e->len = (size_t)n;
		return 0;
	}
	n = bramble_read_chunk_ex(r->b, cr, fh, idx, e->hash, m->version,
				  e->data, m->chunk_size, &wire);
	if (n < 0)
		return (int)n;
	e->len = (size_t)n;
	__atomic_add_fetch(&r->st.fetches, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->st.bytes_from_server, (uint64_t)n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&r->st.wire_from_server, (uint64_t)wire.wire_len,
			   __ATOMIC_RELAXED);
	if (wire.enc == BRAMBLE_ENC_ZSTD)
		__atomic_add_fetch(&r->st.zstd_fetches, 1, __ATOMIC_RELAXED);
	if (r->cache) {
		rc = bramble_cache_put(r->cache, e->hash, e->data, e->len,
				       pin ? pin->owner : NULL, pin ? pin->expires : 0);
		if (pin) {
			/* A fetch for staging: its caller reports it. */
			pin->stored = rc == 0;
			pin->err = rc;
		} else if (rc < 0) {
			/* The read goes on from memory; the cache is
			 * full of pinned chunks or its disk failed. */
			if (__atomic_fetch_add(&r->st.cache_put_errors, 1,
					       __ATOMIC_RELAXED) == 0)
				log_warn("node cache: cannot store a chunk: %s",
					 strerror(-rc));
		}
	}
	return 0;
}

/* A reference to the ready entry of chunk idx of m, loading it if need
 * be, or waiting for whoever is.  0 or -errno. */
static int chunk_get(struct bramble_reader *r, const struct bramble_cred *cr,
		     const struct bramble_fh *fh,
		     const struct bramble_filemap *m, uint32_t idx,
		     struct pin_req *pin, struct chunk_ent **out)
{
	const unsigned char *hash = m->hashes[idx];
	struct chunk_ent *e;
	int rc;

	pthread_mutex_lock(&r->mu);
	e = front_find(r, hash);
	if (e) {
		e->refs++;
		ent_unlink(r, e);
		ent_push_front(r, e);
		if (e->ready)
			r->st.front_hits++;
		else
			r->st.waits++;
		while (!e->ready && !e->err)
			pthread_cond_wait(&r->ready_cv, &r->mu);
		rc = e->err;
		if (rc < 0)
			ent_unref(e);
		pthread_mutex_unlock(&r->mu);
		if (rc == 0)
			*out = e;
		return rc;
	}
	e = xcalloc(1, sizeof(*e));
	memcpy(e->hash, hash, BRAMBLE_CHUNK_HASH_LEN);
	e->refs = 1;
	ent_push_front(r, e);
	front_trim(r);
	pthread_mutex_unlock(&r->mu);

	rc = ent_load(r, cr, fh, m, idx, e, pin);

	pthread_mutex_lock(&r->mu);
	if (rc < 0) {
		/* Failed: the next lookup tries again; waiters get rc. */
		e->err = rc;
		ent_unlink(r, e);
		ent_unref(e);
	} else {
		e->ready = true;
		*out = e;
	}
	pthread_cond_broadcast(&r->ready_cv);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void chunk_put(struct bramble_reader *r, struct chunk_ent *e)
{
	pthread_mutex_lock(&r->mu);
	ent_unref(e);
	front_trim(r);
	pthread_mutex_unlock(&r->mu);
}

/* ---- workers */

/* Queue a job (r->mu held).  False when the queue is full. */
static bool job_queue(struct bramble_reader *r, struct job *j)
{
	if (r->q_len >= QUEUE_MAX || r->stopping)
		return false;
	j->next = NULL;
	if (r->q_tail)
		r->q_tail->next = j;
	else
		r->q_head = j;
	r->q_tail = j;
	r->q_len++;
	pthread_cond_signal(&r->job_cv);
	return true;
}

static struct job *job_new(const struct bramble_cred *cr,
			   const struct bramble_fh *fh,
			   struct bramble_filemap *m, uint32_t idx,
			   struct fetch_batch *batch)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->cred = *cr;
	j->fh = *fh;
	j->map = bramble_filemap_ref(m);
	j->idx = idx;
	j->batch = batch;
	return j;
}

static void job_free(struct job *j)
{
	bramble_filemap_put(j->map);
	free(j);
}

/* One chunk of a fetch batch: into the node cache, pinned. */
static int batch_chunk(struct bramble_reader *r, struct job *j, bool *fetched)
{
	const struct fetch_batch *fb = j->batch;
	const unsigned char *hash = j->map->hashes[j->idx];
	struct pin_req pin = { .owner = fb->pin_owner, .expires = fb->pin_expires };
	struct chunk_ent *e;
	int rc;

	*fetched = false;
	if (bramble_cache_has(r->cache, hash)) {
		rc = fb->pin_owner ? bramble_cache_pin(r->cache, hash, fb->pin_owner,
						       fb->pin_expires) : 0;
		if (rc != -ENOENT)
			return rc;  /* evicted meanwhile: fetch it */
	}
	rc = chunk_get(r, &j->cred, &j->fh, j->map, j->idx, &pin, &e);
	if (rc < 0)
		return rc;
	if (pin.stored || pin.err < 0) {
		rc = pin.err;
	} else {
		/* Found in the front or the node cache, or loaded by another
		 * thread: store it pinned. */
		rc = bramble_cache_put(r->cache, hash, e->data, e->len,
				       fb->pin_owner, fb->pin_expires);
	}
	chunk_put(r, e);
	*fetched = rc == 0;
	return rc;
}

static void job_run(struct bramble_reader *r, struct job *j)
{
	struct fetch_batch *fb = j->batch;
	size_t len = chunk_len(j->map, j->idx);
	struct chunk_ent *e;
	bool fetched;
	int rc;

	if (!fb) {
		if (chunk_get(r, &j->cred, &j->fh, j->map, j->idx, NULL, &e) == 0)
			chunk_put(r, e);
		return;
	}
	rc = batch_chunk(r, j, &fetched);
	pthread_mutex_lock(&r->mu);
	if (rc < 0 && fb->err == 0)
		fb->err = rc;
	if (rc == 0 && fetched) {
		fb->res.fetched++;
		fb->res.bytes_fetched += len;
	} else if (rc == 0) {
		fb->res.cached++;
		fb->res.bytes_cached += len;
	}
	fb->pending--;
	pthread_cond_broadcast(&r->batch_cv);
	pthread_mutex_unlock(&r->mu);
}

static void *worker(void *arg)
{
	struct bramble_reader *r = arg;
	struct job *j;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->q_head && !r->stopping)
			pthread_cond_wait(&r->job_cv, &r->mu);
		if (!r->q_head)
			break;
		j = r->q_head;
		r->q_head = j->next;
		if (!r->q_head)
			r->q_tail = NULL;
		r->q_len--;
		pthread_mutex_unlock(&r->mu);
		job_run(r, j);
		job_free(j);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int bramble_reader_new(struct bramble *b, struct bramble_cache *cache,
		       const struct bramble_reader_opts *o,
		       struct bramble_reader **out)
{
	struct bramble_reader *r = xcalloc(1, sizeof(*r));
	unsigned int ra = o && o->readahead ? o->readahead : RA_DEFAULT;
	int rc = 0;

	r->b = b;
	r->cache = cache;
	r->readahead = ra == BRAMBLE_READER_NO_READAHEAD ? 0 : ra;
	r->front_max = o && o->front_chunks ? o->front_chunks : 2 * r->readahead + 4;
	r->nthreads = o && o->threads ? o->threads : THREADS_DEFAULT;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->ready_cv, NULL);
	pthread_cond_init(&r->job_cv, NULL);
	pthread_cond_init(&r->batch_cv, NULL);
	r->threads = xcalloc(r->nthreads, sizeof(*r->threads));
	for (unsigned int i = 0; i < r->nthreads; i++) {
		rc = -pthread_create(&r->threads[i], NULL, worker, r);
		if (rc < 0) {
			r->nthreads = i;
			bramble_reader_free(r);
			return rc;
		}
	}
	*out = r;
	return 0;
}

void bramble_reader_free(struct bramble_reader *r)
{
	struct chunk_ent *e;

	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	/* Queued prefetches are dropped; batches never outlive their
	 * bramble_reader_fetch() call, so none is queued now. */
	while (r->q_head) {
		struct job *j = r->q_head;

		r->q_head = j->next;
		job_free(j);
	}
	r->q_tail = NULL;
	pthread_cond_broadcast(&r->job_cv);
	pthread_mutex_unlock(&r->mu);
	for (unsigned int i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	while ((e = r->ents)) {
		ent_unlink(r, e);
		ent_free(e);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->ready_cv);
	pthread_cond_destroy(&r->job_cv);
	pthread_cond_destroy(&r->batch_cv);
	free(r->threads);
	free(r);
}

/* A read of len bytes (chunks [c0, c1] of m) at off.  True when it is
 * sequential: a large one that starts the file or is near what was read
 * last -- within the read-ahead window either way: the kernel's own
 * read-ahead sends several reads at once, and bramblefs' threads may take
 * them slightly out of order; a small one (O_DIRECT, or an application's
 * own small reads) only when it starts the file or where the last one
 * ended, since a random reader's small reads land "near" often enough
 * that fetching whole chunks for them would move hundreds of times the
 * bytes asked for.  Then queue the chunks up to readahead ahead that are
 * not queued yet. */
static bool readahead(struct bramble_reader *r, const struct bramble_cred *cr,
		      const struct bramble_fh *fh, struct bramble_filemap *m,
		      uint64_t off, size_t len, uint32_t c0, uint32_t c1)
{
	uint64_t win = (uint64_t)r->readahead + 1;
	bool near = r->ra_map == m && c0 <= r->ra_last + win &&
		    c1 + win >= r->ra_last;
	bool small = len < m->chunk_size / 4;
	bool seq = small ? off == 0 || (r->ra_map == m && off == r->ra_end)
			 : c0 == 0 || near;
	uint32_t to;

	if (!near) {
		r->ra_map = m;
		r->ra_next = c1 + 1;
		r->ra_last = c1;
	}
	r->ra_last = BR_MAX(r->ra_last, c1);
	r->ra_end = off + len;
	if (!seq || !r->readahead)
		return seq;
	r->ra_next = BR_MAX(r->ra_next, r->ra_last + 1);
	to = (uint32_t)BR_MIN((uint64_t)r->ra_last + r->readahead,
			      (uint64_t)m->nchunks - 1);
	for (; r->ra_next <= to; r->ra_next++) {
		struct job *j;

		if (front_find(r, m->hashes[r->ra_next]))
			continue;
		j = job_new(cr, fh, m, r->ra_next, NULL);
		if (!job_queue(r, j)) {
			job_free(j);
			break;
		}
		r->st.readahead++;
	}
	return seq;
}

/* A small read away from where the file was being read, of a chunk no
 * cache has: fetching the whole chunk would multiply the bytes moved
 * (1 MiB for a 4 KiB random read), so such reads go to the server as
 * plain READs. */
static bool small_random_miss(struct bramble_reader *r,
			      const struct bramble_filemap *m, uint32_t c0,
			      uint32_t c1, size_t len)
{
	const unsigned char *hash = m->hashes[c0];

	if (c0 != c1 || len >= m->chunk_size / 4)
		return false;
	if (front_find(r, hash))
		return false;
	return !r->cache || !bramble_cache_has(r->cache, hash);
}

ssize_t bramble_reader_read(struct bramble_reader *r,
			    const struct bramble_cred *cr,
			    const struct bramble_fh *fh,
			    struct bramble_filemap *m, uint64_t off,
			    void *buf, size_t len)
{
	uint64_t end = BR_MIN(off + len, m->size);
	uint32_t c0, c1;
	size_t done = 0;
	bool seq, random_miss;
	int rc = 0;

	__atomic_add_fetch(&r->st.reads, 1, __ATOMIC_RELAXED);
	if (off >= end)
		return 0;
	c0 = (uint32_t)(off / m->chunk_size);
	c1 = (uint32_t)((end - 1) / m->chunk_size);
	pthread_mutex_lock(&r->mu);
	seq = readahead(r, cr, fh, m, off, len, c0, c1);
	random_miss = !seq && small_random_miss(r, m, c0, c1, len);
	pthread_mutex_unlock(&r->mu);
	if (random_miss) {
		__atomic_add_fetch(&r->st.passed, 1, __ATOMIC_RELAXED);
		return -EAGAIN;
	}
	for (uint32_t i = c0; i <= c1; i++) {
		uint64_t cstart = (uint64_t)i * m->chunk_size;
		uint64_t from = BR_MAX(off, cstart) - cstart;
		uint64_t to = BR_MIN(end - cstart, (uint64_t)m->chunk_size);
		struct chunk_ent *e;

		rc = chunk_get(r, cr, fh, m, i, NULL, &e);
		if (rc < 0)
			break;
		if (e->len < to) {
			/* A chunk shorter than its map says: the map and
			 * the bytes disagree, so the map is stale. */
			chunk_put(r, e);
			rc = -ESTALE;
			break;
		}
		memcpy((char *)buf + done, (char *)e->data + from, to - from);
		done += to - from;
		chunk_put(r, e);
	}
	if (rc == -ESTALE)
		__atomic_add_fetch(&r->st.stale, 1, __ATOMIC_RELAXED);
	if (rc < 0)
		return rc;
	__atomic_add_fetch(&r->st.bytes_read, done, __ATOMIC_RELAXED);
	return (ssize_t)done;
}

int bramble_reader_fetch(struct bramble_reader *r,
			 const struct bramble_cred *cr,
			 const struct bramble_fh *fh,
			 struct bramble_filemap *m, uint32_t first,
			 uint32_t count, const char *pin_owner,
			 int64_t pin_expires, struct bramble_fetch_result *res)
{
	struct fetch_batch fb = { .pin_owner = pin_owner,
				  .pin_expires = pin_expires };
	uint32_t end = (uint32_t)BR_MIN((uint64_t)first + count, (uint64_t)m->nchunks);
	uint32_t i = first;

	if (!r->cache)
		return -EINVAL;
	pthread_mutex_lock(&r->mu);
	while (i < end || fb.pending) {
		/* Keep about two jobs per worker queued: enough to keep
		 * every worker busy without flooding the queue. */
		while (i < end && fb.err == 0 && fb.pending < 2 * r->nthreads) {
			struct job *j = job_new(cr, fh, m, i, &fb);

			if (!job_queue(r, j)) {
				job_free(j);
				break;
			}
			fb.pending++;
			fb.res.chunks++;
			i++;
		}
		if (fb.err && fb.pending == 0)
			break;
		if (fb.pending == 0 && i < end) {
			/* The queue is full of prefetches: wait for it. */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&r->batch_cv, &r->mu, &ts);
			continue;
		}
		if (fb.pending)
			pthread_cond_wait(&r->batch_cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	if (res)
		*res = fb.res;
	return fb.err;
}

void bramble_reader_get_stats(struct bramble_reader *r,
			      struct bramble_reader_stats *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->st;
	pthread_mutex_unlock(&r->mu);
}
