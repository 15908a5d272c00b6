/* stage_fetch.c - the parallel phases of staging (stage_int.h): maps by
 * CHUNKMAP for files TREE did not describe, then the chunks, several
 * files at once (each bramble_reader_fetch() keeps the reader's threads
 * busy on one file; several of them keep the connection full when the
 * files are small), with the progress line. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stage_int.h"
#include "util.h"
#include "xalloc.h"

#define THREADS_DEFAULT 8
#define PROGRESS_MS 250
/* Chunks per bramble_reader_fetch(): progress moves within large files. */
#define FETCH_SLICE 32

void stage_human(uint64_t bytes, char *out, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* ---- a parallel loop over the files */

struct pool {
	struct stage *s;
	void (*fn)(struct stage *s, struct sfile *f);
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	struct stage *s = p->s;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&s->mu);
		i = s->next++;
		pthread_mutex_unlock(&s->mu);
		if (i >= s->nfiles)
			return NULL;
		p->fn(s, &s->files[i]);
	}
}

static void run_pool(struct stage *s, void (*fn)(struct stage *, struct sfile *),
		     void (*tick)(struct stage *))
{
	unsigned n = s->o->threads ? s->o->threads : THREADS_DEFAULT;
	pthread_t th[64];
	struct pool p = { .s = s, .fn = fn };
	unsigned started = 0;

	s->next = 0;
	n = BR_MIN(n, (unsigned)ARRAY_SIZE(th));
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&th[started], NULL, pool_worker, &p) == 0)
			started++;
	if (started == 0)
		pool_worker(&p);
	if (tick) {
		for (;;) {
			struct timespec ts = { 0, PROGRESS_MS * 1000000L };
			bool done;

			nanosleep(&ts, NULL);
			pthread_mutex_lock(&s->mu);
			done = s->done_files >= s->todo_files;
			pthread_mutex_unlock(&s->mu);
			if (done)
				break;
			tick(s);
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/* ---- maps */

static void map_one(struct stage *s, struct sfile *f)
{
	int rc;

	if (f->map || f->err)
		return;
	/* A map the node cache kept for the file as it is now (the rule the
	 * mount's reads follow), when TREE found the user may read it. */
	if (f->readable) {
		struct bramble_filemap_attr a;

		bramble_filemap_attr_of(&a, &f->st);
		f->map = bramble_filemap_kept(f->m->sc->cache, &f->fh, &a);
		if (f->map)
			return;
	}
	rc = bramble_filemap_get_attr(f->m->b, &s->cred, &f->fh, &f->map, &f->st);
	pthread_mutex_lock(&s->mu);
	if (rc < 0)
		stage_fail_file(s, f, rc);
	pthread_mutex_unlock(&s->mu);
}

void stage_fetch_maps(struct stage *s)
{
	run_pool(s, map_one, NULL);
}

/* ---- chunks */

static void progress(struct stage *s)
{
	uint64_t done, todo;
	size_t fdone, ftodo;
	double secs = (double)(now_ns() - s->start_ns) / 1e9, rate;
	char a[32], b[32], c[32], left[32] = "?";

	pthread_mutex_lock(&s->mu);
	done = s->done_bytes;
	todo = s->todo_bytes;
	fdone = s->done_files;
	ftodo = s->todo_files;
	pthread_mutex_unlock(&s->mu);
	rate = secs > 0 ? (double)done / secs : 0;
	if (rate > 0) {
		unsigned long t = (unsigned long)((double)(todo - done) / rate);

		snprintf(left, sizeof(left), "%lu:%02lu", t / 60, t % 60);
	}
	stage_human(done, a, sizeof(a));
	stage_human(todo, b, sizeof(b));
	stage_human((uint64_t)rate, c, sizeof(c));
	fprintf(stderr, "\rstaging: %zu/%zu files, %s/%s, %s/s, %s left\033[K",
		fdone, ftodo, a, b, c, left);
	fflush(stderr);
}

/* Fetch chunks [first, first + n) of f, counting progress. */
static int fetch_run(struct stage *s, struct sfile *f, uint32_t first, uint32_t n)
{
	struct bramble_fetch_result res = { 0 };
	int rc = bramble_reader_fetch(f->m->rd, &s->cred, &f->fh, f->map, first, n,
				      s->o->owner, s->o->expires, &res);

	pthread_mutex_lock(&s->mu);
	s->done_bytes += res.bytes_fetched + res.bytes_cached;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* The chunks f fetches: runs of them, FETCH_SLICE at most per call. */
static void fetch_one(struct stage *s, struct sfile *f)
{
	uint32_t k = 0, n = f->map && f->mine ? f->map->nchunks : 0;
	int rc = 0;

	if (f->err || f->m->sc->nofit)
		n = 0;
	while (k < n && rc == 0) {
		uint32_t end = k;

		if (!f->mine[k]) {
			k++;
			continue;
		}
		while (end < n && f->mine[end] && end - k < FETCH_SLICE)
			end++;
		rc = fetch_run(s, f, k, end - k);
		pthread_mutex_lock(&s->mu);
		for (uint32_t i = k; i < end; i++)
			f->chunks[i]->state = rc == 0 ? CH_DONE : CH_FAILED;
		pthread_mutex_unlock(&s->mu);
		k = end;
	}
	pthread_mutex_lock(&s->mu);
	if (rc < 0)
		stage_fail_file(s, f, rc);
	if (f->need_bytes)
		s->done_files++;
	pthread_mutex_unlock(&s->mu);
}

void stage_fetch_chunks(struct stage *s)
{
	s->todo_bytes = s->done_bytes = 0;
	s->todo_files = s->done_files = 0;
	for (size_t i = 0; i < s->nfiles; i++) {
		struct sfile *f = &s->files[i];

		if (f->need_bytes && !f->err && !f->m->sc->nofit) {
			s->todo_bytes += f->need_bytes;
			s->todo_files++;
		} else {
			f->need_bytes = 0;   /* not counted in done_files either */
		}
	}
	run_pool(s, fetch_one, s->o->progress ? progress : NULL);
	if (s->o->progress && s->todo_files)
		progress(s);
	if (s->o->progress)
		fputs("\r\033[K", stderr);
}
