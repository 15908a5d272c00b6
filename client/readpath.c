/* readpath.c - the read path (bramble_reader.h, "the read path"): per
 * file, the map a read may use and whether it may use one at all.
 *
 * A table of files by the caller's id (struct rp_file) holds the map kept
 * for each, the attributes of the open it belongs to, and the counts of
 * opens and writers.  Entries of closed files stay (their maps let a warm
 * reopen of an unchanged file skip CHUNKMAP) until the table is full; then
 * every closed one goes at once.  Each drop of a map bumps the entry's
 * generation, so a map fetched without the lock is kept only if nothing
 * dropped the entry's map meanwhile.
 *
 * Locking: one mutex over the table and the flags, never held across a
 * call to the server or the node cache. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_reader.h"
#include "chunkfill.h"
#include "hashtab.h"
#include "log.h"
#include "xalloc.h"

#define FILES_MAX 16384           /* entries kept, open or not */
#define STALE_TRIES 2             /* reads through a fresh map per read */

struct rp_file {
	struct hashtab_node hn;
	uint64_t id;
	struct bramble_filemap *map;   /* NULL: fetch at the next read */
	struct bramble_filemap_attr attr;  /* of the open the map belongs to */
	bool attr_known;               /* false from a change here to the next open */
	unsigned int opens, writers;
	uint64_t gen;                  /* bumped by every drop of the map */
	bool no_kept_map;              /* the node cache had none for this open */
	bool unmapped;                 /* ... nor the server: plain READs */
};

struct bramble_readpath {
	struct bramble_cache *cache;   /* may be NULL */
	struct bramble_reader *reader; /* made at the first read */
	struct chunkfill *fill;        /* NULL without a node cache */
	pthread_mutex_t mu;
	struct hashtab files;
	bool no_chunks;                /* the server has no chunk index */
	uint32_t chunk_size;           /* the server's, as its maps say */
	uint64_t unmapped, filled;     /* counters (atomic) */
};

/* ---- the table (rp->mu held) */

static bool file_is(const struct hashtab_node *n, const void *key)
{
	return HASHTAB_ENTRY(n, struct rp_file, hn)->id == *(const uint64_t *)key;
}

static struct rp_file *file_find(struct bramble_readpath *rp, uint64_t id)
{
	struct hashtab_node *n = hashtab_find(&rp->files, hash_u64(id), file_is, &id);

	return n ? HASHTAB_ENTRY(n, struct rp_file, hn) : NULL;
}

struct sweep {
	struct hashtab *t;
	bool all;                      /* open files too (freeing the table) */
};

static int file_sweep(struct hashtab_node *n, void *arg)
{
	struct rp_file *f = HASHTAB_ENTRY(n, struct rp_file, hn);
	struct sweep *sw = arg;

	if (sw->all || f->opens == 0) {
		hashtab_remove(sw->t, n);
		bramble_filemap_put(f->map);
		free(f);
	}
	return 0;
}

static struct rp_file *file_get(struct bramble_readpath *rp, uint64_t id)
{
	struct rp_file *f = file_find(rp, id);
	struct sweep sw = { .t = &rp->files };

	if (f)
		return f;
	if (rp->files.count >= FILES_MAX)
		hashtab_foreach(&rp->files, file_sweep, &sw);
	f = xcalloc(1, sizeof(*f));
	f->id = id;
	hashtab_insert(&rp->files, &f->hn, hash_u64(id));
	return f;
}

static void file_drop_map(struct rp_file *f)
{
	bramble_filemap_put(f->map);
	f->map = NULL;
	f->gen++;
}

/* ---- setting up */

int bramble_readpath_new(struct bramble_cache *cache, struct bramble_readpath **out)
{
	struct bramble_readpath *rp = xcalloc(1, sizeof(*rp));

	rp->cache = cache;
	rp->fill = cache ? chunkfill_new(cache) : NULL;
	/* brambled's default until a map says otherwise */
	rp->chunk_size = BRAMBLE_READPATH_MIN_FILE;
	pthread_mutex_init(&rp->mu, NULL);
	hashtab_init(&rp->files, 0);
	*out = rp;
	return 0;
}

void bramble_readpath_free(struct bramble_readpath *rp)
{
	struct sweep sw;

	if (!rp)
		return;
	bramble_reader_free(rp->reader);
	chunkfill_free(rp->fill);
	sw = (struct sweep){ .t = &rp->files, .all = true };
	hashtab_foreach(&rp->files, file_sweep, &sw);
	hashtab_release(&rp->files);
	pthread_mutex_destroy(&rp->mu);
	free(rp);
}

/* ---- opens and changes */

void bramble_readpath_open(struct bramble_readpath *rp, uint64_t id,
			   const struct stat *st, bool write)
{
	struct bramble_filemap_attr a;
	struct rp_file *f;

	bramble_filemap_attr_of(&a, st);
	pthread_mutex_lock(&rp->mu);
	f = file_get(rp, id);
	if (f->map && !bramble_filemap_attr_eq(&f->attr, &a))
		file_drop_map(f);
	if (!f->map) {
		/* The next map fetched belongs to this open. */
		f->attr = a;
		f->attr_known = true;
	}
	f->opens++;
	/* a map may have been stored (bramble stage, or the server built
	 * one from the last open's READs) since the last open */
	f->no_kept_map = false;
	f->unmapped = false;
	if (write)
		f->writers++;
	pthread_mutex_unlock(&rp->mu);
}

void bramble_readpath_release(struct bramble_readpath *rp, uint64_t id, bool write)
{
	struct rp_file *f;

	pthread_mutex_lock(&rp->mu);
	f = file_find(rp, id);
	if (f) {
		if (f->opens)
			f->opens--;
		if (write && f->writers) {
			f->writers--;
			/* Its last writer: the attributes the map would be
			 * checked against are this node's own change. */
			file_drop_map(f);
		}
	}
	pthread_mutex_unlock(&rp->mu);
}

void bramble_readpath_changed(struct bramble_readpath *rp, uint64_t id)
{
	struct rp_file *f;

	pthread_mutex_lock(&rp->mu);
	f = file_find(rp, id);
	if (f) {
		file_drop_map(f);
		f->attr_known = false;
	}
	pthread_mutex_unlock(&rp->mu);
	chunkfill_forget(rp->fill, id);
}

/* ---- which map */

static int reader_get(struct bramble_readpath *rp, struct bramble *b,
		      struct bramble_reader **out)
{
	int rc = 0;

	pthread_mutex_lock(&rp->mu);
	if (!rp->reader)
		rc = bramble_reader_new(b, rp->cache, NULL, &rp->reader);
	*out = rp->reader;
	pthread_mutex_unlock(&rp->mu);
	return rc;
}

/* No map for this open of id (unless a drop since gen made it a later
 * open's question): the node cache has none (do not ask it again until
 * the next open), or, server, the server has none either (plain READs
 * until then). */
static void none_for_open(struct bramble_readpath *rp, uint64_t id, uint64_t gen,
			  bool server)
{
	struct rp_file *f;

	pthread_mutex_lock(&rp->mu);
	f = file_find(rp, id);
	if (f && f->gen == gen && server)
		f->unmapped = true;
	else if (f && f->gen == gen)
		f->no_kept_map = true;
	pthread_mutex_unlock(&rp->mu);
}

/* Keep a map fetched by CHUNKMAP for the next open, on any process of the
 * node (bramble_filemap_keep refuses one of another size than the open
 * saw: the file changed between OPEN and CHUNKMAP). */
static void keep(struct bramble_readpath *rp, const struct bramble_fh *fh,
		 const struct bramble_filemap *m, const struct bramble_filemap_attr *a)
{
	int rc;

	if (!rp->cache)
		return;
	rc = bramble_filemap_keep(rp->cache, fh, m, a);
	if (rc < 0 && rc != -EINVAL && rc != -ESTALE)
		log_debug("node cache: cannot keep a file map: %s", strerror(-rc));
}

/* Whether to have the server hash fh now (CHUNKMAP) when it has no map
 * of it: when this node kept a map of an earlier version, most chunks of
 * the new one are likely in the node cache already, so reading the file
 * once more on the server saves moving all but the changed chunks. */
static bool worth_hashing(struct bramble_readpath *rp, struct bramble *b,
			  const struct bramble_fh *fh)
{
	return !bramble_server_can(b, BRAMBLE_CAP_CHUNKMAP_KNOWN) ||
	       (rp->cache && bramble_filemap_kept_any(rp->cache, fh));
}

/* A map from the server, or NULL (plain READ).  One the server already
 * has (CHUNKMAP_KNOWN), so the first byte never waits for the server to
 * hash the whole file: without one, this open reads with READs, which
 * the server builds the map from -- unless worth_hashing() says to have
 * the server hash it (CHUNKMAP, also for a server without
 * CHUNKMAP_KNOWN).  A server without a chunk index is remembered: every
 * later read is plain at once. */
static struct bramble_filemap *map_fetch(struct bramble_readpath *rp, struct bramble *b,
					 const struct bramble_cred *cr,
					 const struct bramble_fh *fh, uint64_t id,
					 uint64_t gen, const struct bramble_filemap_attr *a)
{
	struct bramble_filemap *m;
	int rc = -ENODATA;

	if (bramble_server_can(b, BRAMBLE_CAP_CHUNKMAP_KNOWN))
		rc = bramble_filemap_known(b, cr, fh, &m);
	if (rc == -ENODATA && worth_hashing(rp, b, fh))
		rc = bramble_filemap_get(b, cr, fh, &m);
	if (rc == -ENODATA)
		none_for_open(rp, id, gen, true);
	if (rc == -ENOSYS || rc == -EOPNOTSUPP) {
		log_info("the server has no chunk index: plain reads");
		pthread_mutex_lock(&rp->mu);
		rp->no_chunks = true;
		pthread_mutex_unlock(&rp->mu);
	}
	if (rc < 0)
		return NULL;
	keep(rp, fh, m, a);
	return m;
}

/* The map to read id by, fetched if need be: a reference, or NULL when
 * the read must be a plain READ. */
static struct bramble_filemap *map_for(struct bramble_readpath *rp, struct bramble *b,
				       const struct bramble_cred *cr,
				       const struct bramble_fh *fh, uint64_t id)
{
	struct bramble_filemap *m = NULL;
	struct bramble_filemap_attr a;
	struct rp_file *f;
	uint64_t gen;
	bool small, ask_cache;

	pthread_mutex_lock(&rp->mu);
	f = file_find(rp, id);
	if (!f || f->writers || !f->attr_known || rp->no_chunks) {
		pthread_mutex_unlock(&rp->mu);
		return NULL;
	}
	if (f->map) {
		m = bramble_filemap_ref(f->map);
		pthread_mutex_unlock(&rp->mu);
		return m;
	}
	if (f->unmapped) {
		pthread_mutex_unlock(&rp->mu);
		__atomic_add_fetch(&rp->unmapped, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	gen = f->gen;
	a = f->attr;
	small = a.size < BRAMBLE_READPATH_MIN_FILE;
	/* one node-cache lookup per open, not per read of a small file */
	ask_cache = !(f->no_kept_map && small);
	pthread_mutex_unlock(&rp->mu);

	if (!ask_cache)
		return NULL;
	if (rp->cache)
		m = bramble_filemap_kept(rp->cache, fh, &a);
	if (!m)
		none_for_open(rp, id, gen, false);
	if (!m && small)
		return NULL;
	if (!m && !(m = map_fetch(rp, b, cr, fh, id, gen, &a)))
		return NULL;
	pthread_mutex_lock(&rp->mu);
	rp->chunk_size = m->chunk_size;
	f = file_find(rp, id);
	/* Not kept when the file changed meanwhile (this read still uses
	 * it: the map is at least as new as the open). */
	if (f && f->gen == gen && !f->map)
		f->map = bramble_filemap_ref(m);
	pthread_mutex_unlock(&rp->mu);
	return m;
}

/* The map m proved stale: forget it (unless already replaced), and the
 * node cache's copy too -- that is where a stale map of a file whose
 * attributes did not change (mtime set back) would come from again, so
 * the retry goes to CHUNKMAP (or READ) instead of the same map. */
static void map_stale(struct bramble_readpath *rp, const struct bramble_fh *fh,
		      uint64_t id, const struct bramble_filemap *m)
{
	struct rp_file *f;

	pthread_mutex_lock(&rp->mu);
	f = file_find(rp, id);
	if (f && f->map == m)
		file_drop_map(f);
	pthread_mutex_unlock(&rp->mu);
	if (rp->cache)
		bramble_filemap_forget(rp->cache, fh);
}

/* ---- reading */

ssize_t bramble_readpath_read(struct bramble_readpath *rp, struct bramble *b,
			      const struct bramble_cred *cr,
			      const struct bramble_fh *fh, uint64_t id,
			      uint64_t off, void *buf, size_t len)
{
	struct bramble_reader *r;
	struct bramble_filemap *m;
	ssize_t n = -ENOTSUP;

	if (reader_get(rp, b, &r) < 0)
		return -ENOTSUP;
	for (int i = 0; i < STALE_TRIES; i++) {
		m = map_for(rp, b, cr, fh, id);
		if (!m)
			return -ENOTSUP;
		n = bramble_reader_read(r, cr, fh, m, off, buf, len);
		if (n == -ESTALE)
			map_stale(rp, fh, id, m);
		bramble_filemap_put(m);
		if (n != -ESTALE)
			break;
	}
	/* Still changing under us, or a small random read: READ it. */
	return n == -ESTALE || n == -EAGAIN ? -ENOTSUP : n;
}

void bramble_readpath_read_done(struct bramble_readpath *rp, uint64_t id,
				uint64_t off, const void *buf, size_t len)
{
	struct rp_file *f;
	uint64_t size = 0;
	uint32_t csize;
	bool fill;

	if (!rp->fill || !len)
		return;
	pthread_mutex_lock(&rp->mu);
	f = file_find(rp, id);
	fill = f && f->unmapped && !f->writers && f->attr_known;
	if (fill)
		size = f->attr.size;
	csize = rp->chunk_size;
	pthread_mutex_unlock(&rp->mu);
	if (fill)
		__atomic_add_fetch(&rp->filled,
				   chunkfill_add(rp->fill, id, size, csize, off, buf, len),
				   __ATOMIC_RELAXED);
}

void bramble_readpath_get_stats(struct bramble_readpath *rp,
				struct bramble_reader_stats *out)
{
	struct bramble_reader *r;

	pthread_mutex_lock(&rp->mu);
	r = rp->reader;
	pthread_mutex_unlock(&rp->mu);
	memset(out, 0, sizeof(*out));
	if (r)
		bramble_reader_get_stats(r, out);
	out->unmapped = __atomic_load_n(&rp->unmapped, __ATOMIC_RELAXED);
	out->filled = __atomic_load_n(&rp->filled, __ATOMIC_RELAXED);
}
