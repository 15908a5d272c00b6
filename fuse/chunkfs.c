/* chunkfs.c - reads through chunks for bramblefs (see chunkfs.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bfs.h"
#include "chunkfs.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

#define NBUCKETS 4096
#define MAX_ENTS 16384        /* maps kept, open or not */
#define STALE_TRIES 2
/* Smaller files are read with plain READs unless their map is known:
 * a cold read then costs one round trip (READ) instead of two (CHUNKMAP,
 * READ_CHUNK), as on NFS.  Their bytes are not cached on the node. */
#define CHUNKFS_MIN_FILE (1u << 20)

struct cf_ent {
	uint64_t ino;
	struct bramble_filemap *map;   /* NULL: fetch at the next read */
	struct timespec mtime, ctime;  /* of the open the map belongs to */
	uint64_t size;
	unsigned int opens, writers;
	uint64_t gen;                  /* bumped by every drop of the map */
	bool no_kept_map;              /* the node cache had no map for this open */
	struct cf_ent *next;           /* bucket chain */
};

struct chunkfs {
	struct bfs *fs;
	struct bramble_cache *cache;   /* NULL with cache=off or failure */
	struct bramble_reader *reader; /* made at the first read (fs->cl) */
	pthread_mutex_t mu;
	struct cf_ent *buckets[NBUCKETS];
	size_t count;
	bool no_chunks;                /* the server has no chunk index */
};

static struct cf_ent **bucket(struct chunkfs *cf, uint64_t ino)
{
	return &cf->buckets[(ino * 0x9E3779B97F4A7C15ULL) >> 52];
}

static struct cf_ent *ent_find(struct chunkfs *cf, uint64_t ino)
{
	for (struct cf_ent *e = *bucket(cf, ino); e; e = e->next)
		if (e->ino == ino)
			return e;
	return NULL;
}

/* Drop every entry of a closed file (cf->mu held): the table is full. */
static void ent_sweep(struct chunkfs *cf)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct cf_ent **pp = &cf->buckets[i], *e;

		while ((e = *pp)) {
			if (e->opens == 0) {
				*pp = e->next;
				bramble_filemap_put(e->map);
				free(e);
				cf->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

static struct cf_ent *ent_get(struct chunkfs *cf, uint64_t ino)
{
	struct cf_ent *e = ent_find(cf, ino), **b;

	if (e)
		return e;
	if (cf->count >= MAX_ENTS)
		ent_sweep(cf);
	e = xcalloc(1, sizeof(*e));
	e->ino = ino;
	b = bucket(cf, ino);
	e->next = *b;
	*b = e;
	cf->count++;
	return e;
}

static void ent_drop_map(struct cf_ent *e)
{
	bramble_filemap_put(e->map);
	e->map = NULL;
	e->gen++;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* ---- setting up */

static int cache_opts(const struct bfs *fs, struct bramble_cache_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->mode = fs->opts.cache_mode;
	co->dir = fs->opts.cache_dir;
	co->size = fs->opts.cache_size;
	return co->mode == BRAMBLE_CACHE_OFF ? -ENOENT : 0;
}

int chunkfs_check(const struct bfs *fs, char *err, size_t errlen)
{
	struct bramble_cache_opts co;
	struct bramble_cache *c;
	int rc;

	if (cache_opts(fs, &co) < 0)
		return 0;
	rc = bramble_cache_open(&co, &c, err, errlen);
	if (rc == 0)
		bramble_cache_close(c);
	return rc;
}

int chunkfs_new(struct bfs *fs, struct chunkfs **out, char *err, size_t errlen)
{
	struct bramble_cache_opts co;
	struct chunkfs *cf;
	int rc;

	*out = NULL;
	if (cache_opts(fs, &co) < 0)
		return 0;
	cf = xcalloc(1, sizeof(*cf));
	cf->fs = fs;
	pthread_mutex_init(&cf->mu, NULL);
	rc = bramble_cache_open(&co, &cf->cache, err, errlen);
	if (rc < 0) {
		chunkfs_free(cf);
		return rc;
	}
	*out = cf;
	return 0;
}

void chunkfs_free(struct chunkfs *cf)
{
	if (!cf)
		return;
	bramble_reader_free(cf->reader);
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct cf_ent *e, *next;

		for (e = cf->buckets[i]; e; e = next) {
			next = e->next;
			bramble_filemap_put(e->map);
			free(e);
		}
	}
	bramble_cache_close(cf->cache);
	pthread_mutex_destroy(&cf->mu);
	free(cf);
}

/* ---- opens and changes */

void chunkfs_open(struct chunkfs *cf, uint64_t ino, const struct stat *st,
		  bool write)
{
	struct cf_ent *e;

	if (!cf)
		return;
	pthread_mutex_lock(&cf->mu);
	e = ent_get(cf, ino);
	if (e->map && (e->size != (uint64_t)st->st_size ||
		       !same_time(&e->mtime, &st->st_mtim) ||
		       !same_time(&e->ctime, &st->st_ctim)))
		ent_drop_map(e);
	if (!e->map) {
		/* The next map fetched belongs to this open. */
		e->size = (uint64_t)st->st_size;
		e->mtime = st->st_mtim;
		e->ctime = st->st_ctim;
	}
	e->opens++;
	/* a map may have been stored (bramble stage) since the last open */
	e->no_kept_map = false;
	if (write)
		e->writers++;
	pthread_mutex_unlock(&cf->mu);
}

void chunkfs_release(struct chunkfs *cf, uint64_t ino, bool write)
{
	struct cf_ent *e;

	if (!cf)
		return;
	pthread_mutex_lock(&cf->mu);
	e = ent_find(cf, ino);
	if (e) {
		if (e->opens)
			e->opens--;
		if (write && e->writers) {
			e->writers--;
			/* Its last writer: the attributes the map would be
			 * checked against are this node's own change. */
			ent_drop_map(e);
		}
	}
	pthread_mutex_unlock(&cf->mu);
}

void chunkfs_changed(struct chunkfs *cf, uint64_t ino)
{
	struct cf_ent *e;

	if (!cf)
		return;
	pthread_mutex_lock(&cf->mu);
	e = ent_find(cf, ino);
	if (e) {
		ent_drop_map(e);
		/* Until the next open: no attributes to check a map
		 * against, so no map (see chunkfs_read). */
		e->size = UINT64_MAX;
	}
	pthread_mutex_unlock(&cf->mu);
}

/* ---- reading */

static int reader_get(struct chunkfs *cf, struct bramble_reader **out)
{
	int rc = 0;

	pthread_mutex_lock(&cf->mu);
	if (!cf->reader)
		rc = bramble_reader_new(cf->fs->cl, cf->cache, NULL, &cf->reader);
	*out = cf->reader;
	pthread_mutex_unlock(&cf->mu);
	return rc;
}

/* The map the node cache keeps for f (bramble stage, or an earlier
 * CHUNKMAP of any mount on this node), if it belongs to the version of
 * the file this open saw: size, mtime and ctime as OPEN returned them. */
static struct bramble_filemap *map_persisted(struct chunkfs *cf, struct bfs_file *f,
					     uint64_t size, const struct timespec *mtime,
					     const struct timespec *ctime)
{
	struct bramble_cache_map cm;

	if (!cf->cache || bramble_cache_map_get(cf->cache, f->fh.data, f->fh.len, &cm) < 0)
		return NULL;
	if (cm.size != size || cm.mtime_ns != ts_to_ns(mtime) ||
	    cm.ctime_ns != ts_to_ns(ctime)) {
		bramble_cache_map_release(&cm);
		return NULL;
	}
	return bramble_filemap_from_cache(&cm);
}

/* The node cache has no map for this open of ino: do not ask again
 * until the next open. */
static void map_none_kept(struct chunkfs *cf, uint64_t ino, uint64_t gen)
{
	struct cf_ent *e;

	pthread_mutex_lock(&cf->mu);
	e = ent_find(cf, ino);
	if (e && e->gen == gen)
		e->no_kept_map = true;
	pthread_mutex_unlock(&cf->mu);
}

/* Keep a map fetched by CHUNKMAP for the next open, on any mount of the
 * node -- only when it is of the size the open saw (else the file
 * changed between OPEN and CHUNKMAP: its attributes are not the map's). */
static void map_persist(struct chunkfs *cf, struct bfs_file *f,
			const struct bramble_filemap *m, const struct timespec *mtime,
			const struct timespec *ctime)
{
	struct bramble_cache_map cm = {
		.size = m->size, .mtime_ns = ts_to_ns(mtime), .ctime_ns = ts_to_ns(ctime),
		.version = m->version, .chunk_size = m->chunk_size,
		.nchunks = m->nchunks, .hashes = m->hashes,
	};
	int rc;

	if (!cf->cache)
		return;
	rc = bramble_cache_map_put(cf->cache, f->fh.data, f->fh.len, &cm);
	if (rc < 0 && rc != -EINVAL)
		log_debug("node cache: cannot keep a file map: %s", strerror(-rc));
}

/* The map to read ino with, fetched if need be: a reference, or NULL
 * when the read must be a plain READ.  A map kept in the node cache
 * serves files of any size (a staged small file is read with no data
 * call); without one, files under CHUNKFS_MIN_FILE are READ. */
static struct bramble_filemap *map_for(struct chunkfs *cf, struct bfs_file *f)
{
	struct bramble_filemap *m = NULL;
	struct timespec mtime, ctime;
	struct cf_ent *e;
	uint64_t gen, size;
	int rc;

	pthread_mutex_lock(&cf->mu);
	e = ent_find(cf, f->ino);
	if (!e || e->writers || e->size == UINT64_MAX || cf->no_chunks) {
		pthread_mutex_unlock(&cf->mu);
		return NULL;
	}
	if (e->map) {
		m = bramble_filemap_ref(e->map);
		pthread_mutex_unlock(&cf->mu);
		return m;
	}
	gen = e->gen;
	size = e->size;
	mtime = e->mtime;
	ctime = e->ctime;
	/* one node-cache lookup per open, not per read of a small file */
	if (e->no_kept_map && size < CHUNKFS_MIN_FILE) {
		pthread_mutex_unlock(&cf->mu);
		return NULL;
	}
	pthread_mutex_unlock(&cf->mu);

	m = map_persisted(cf, f, size, &mtime, &ctime);
	if (!m)
		map_none_kept(cf, f->ino, gen);
	if (!m && size < CHUNKFS_MIN_FILE)
		return NULL;
	if (!m) {
		rc = bramble_filemap_get(cf->fs->cl, &f->cred, &f->fh, &m);
		if (rc < 0) {
			if (rc == -ENOSYS || rc == -EOPNOTSUPP) {
				log_info("the server has no chunk index: plain reads");
				cf->no_chunks = true;
			}
			return NULL;
		}
		if (m->size == size)
			map_persist(cf, f, m, &mtime, &ctime);
	}
	pthread_mutex_lock(&cf->mu);
	e = ent_find(cf, f->ino);
	/* Not kept when the file changed meanwhile (this read still
	 * uses it: the map is at least as new as the open). */
	if (e && e->gen == gen && !e->map)
		e->map = bramble_filemap_ref(m);
	pthread_mutex_unlock(&cf->mu);
	return m;
}

/* The map m was found stale: forget it (unless already replaced), and
 * the node cache's copy too -- that is where a stale map of a file whose
 * attributes did not change (mtime set back) would come from again, so
 * the retry goes to CHUNKMAP (or READ) instead of the same map. */
static void map_stale(struct chunkfs *cf, struct bfs_file *f,
		      const struct bramble_filemap *m)
{
	struct cf_ent *e;

	pthread_mutex_lock(&cf->mu);
	e = ent_find(cf, f->ino);
	if (e && e->map == m)
		ent_drop_map(e);
	pthread_mutex_unlock(&cf->mu);
	if (cf->cache)
		bramble_cache_map_drop(cf->cache, f->fh.data, f->fh.len);
}

ssize_t chunkfs_read(struct chunkfs *cf, struct bfs_file *f, uint64_t off,
		     void *buf, size_t len)
{
	struct bramble_reader *r;
	struct bramble_filemap *m;
	ssize_t n = -ENOTSUP;

	if (!cf || reader_get(cf, &r) < 0)
		return -ENOTSUP;
	for (int i = 0; i < STALE_TRIES; i++) {
		m = map_for(cf, f);
		if (!m)
			return -ENOTSUP;
		n = bramble_reader_read(r, &f->cred, &f->fh, m, off, buf, len);
		if (n == -ESTALE)
			map_stale(cf, f, m);
		bramble_filemap_put(m);
		if (n != -ESTALE)
			break;
	}
	/* Still changing under us, or a small random read: READ it. */
	return n == -ESTALE || n == -EAGAIN ? -ENOTSUP : n;
}

void chunkfs_stats(struct chunkfs *cf, struct bramble_reader_stats *rd,
		   struct bramble_cache_stats *cache)
{
	struct bramble_reader *r = NULL;

	memset(rd, 0, sizeof(*rd));
	memset(cache, 0, sizeof(*cache));
	if (!cf)
		return;
	pthread_mutex_lock(&cf->mu);
	r = cf->reader;
	pthread_mutex_unlock(&cf->mu);
	if (r)
		bramble_reader_get_stats(r, rd);
	if (cf->cache)
		bramble_cache_get_stats(cf->cache, cache);
}
