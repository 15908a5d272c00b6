/* filemap.c - file maps (bramble_reader.h, "file maps"): fetched with
 * CHUNKMAP, made from what TREE or the node cache hands over, and the
 * rule for when a map kept in the node cache belongs to the file's
 * current version.
 *
 * A map is immutable once made; only its reference count changes (atomic,
 * so maps cross threads without a lock). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_reader.h"
#include "util.h"
#include "xalloc.h"

/* CHUNKMAP passes over a file that keeps changing before giving up. */
#define MAP_TRIES 3

/* ---- fetching and making maps */

/* One pass over the file's CHUNKMAP pages; -ESTALE when the version
 * moved between pages. */
static int map_fetch_once(struct bramble *b, const struct bramble_cred *cr,
			  const struct bramble_fh *fh, bool known,
			  struct bramble_filemap *m)
{
	struct bramble_chunkmap page;
	uint32_t have = 0, cap = 0;
	int rc;

	for (;;) {
		if (have + BRAMBLE_CHUNKS_MAX > cap) {
			cap = cap ? cap * 2 : BRAMBLE_CHUNKS_MAX;
			m->hashes = xrealloc(m->hashes, (size_t)cap *
					     BRAMBLE_CHUNK_HASH_LEN);
		}
		rc = (known ? bramble_chunkmap_known : bramble_chunkmap)(
			b, cr, fh, have, 0, m->hashes + have, &page);
		if (rc < 0)
			return rc;
		if (have == 0) {
			m->version = page.version;
			m->size = page.size;
			m->chunk_size = page.chunk_size;
		} else if (page.version != m->version ||
			   page.chunk_size != m->chunk_size) {
			return -ESTALE;
		}
		have += page.count;
		if (page.eof || page.count == 0)
			break;
	}
	m->nchunks = have;
	/* The map must cover the size it claims, or reads would run off
	 * its end. */
	if ((uint64_t)have * m->chunk_size < m->size ||
	    (have && (uint64_t)(have - 1) * m->chunk_size >= m->size))
		return -EBADMSG;
	return 0;
}

/* bramble_filemap_get or, known, bramble_filemap_known. */
static int map_get(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, bool known,
		   struct bramble_filemap **out)
{
	struct bramble_filemap *m;
	int rc = -ESTALE;

	for (int i = 0; i < MAP_TRIES && rc == -ESTALE; i++) {
		m = xcalloc(1, sizeof(*m));
		m->refs = 1;
		rc = map_fetch_once(b, cr, fh, known, m);
		if (rc == 0) {
			*out = m;
			return 0;
		}
		bramble_filemap_put(m);
	}
	return rc;
}

int bramble_filemap_get(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *fh,
			struct bramble_filemap **out)
{
	return map_get(b, cr, fh, false, out);
}

int bramble_filemap_known(struct bramble *b, const struct bramble_cred *cr,
			  const struct bramble_fh *fh,
			  struct bramble_filemap **out)
{
	return map_get(b, cr, fh, true, out);
}

struct bramble_filemap *bramble_filemap_new(uint64_t version, uint64_t size,
					    uint32_t chunk_size, uint32_t nchunks,
					    unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN])
{
	struct bramble_filemap *m = xcalloc(1, sizeof(*m));

	m->version = version;
	m->size = size;
	m->chunk_size = chunk_size;
	m->nchunks = nchunks;
	m->hashes = hashes;
	m->refs = 1;
	return m;
}

struct bramble_filemap *bramble_filemap_from_cache(struct bramble_cache_map *m)
{
	struct bramble_filemap *f;

	f = bramble_filemap_new(m->version, m->size, m->chunk_size, m->nchunks,
				m->hashes);
	m->hashes = NULL;
	m->nchunks = 0;
	return f;
}

struct bramble_filemap *bramble_filemap_ref(struct bramble_filemap *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void bramble_filemap_put(struct bramble_filemap *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(m->hashes);
		free(m);
	}
}

struct bramble_filemap *bramble_filemap_from_tree(const struct bramble_tree_entry *e)
{
	unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN];

	/* A part of a map, or one of another size than the attributes TREE
	 * gave with it (the file changed in between), is no map of them. */
	if (!e->has_map || e->map_status != 0 || !e->map.eof || e->map.first != 0 ||
	    e->map.size != (uint64_t)e->attr->st_size)
		return NULL;
	hashes = xmalloc((size_t)BR_MAX(e->map.count, 1u) * BRAMBLE_CHUNK_HASH_LEN);
	memcpy(hashes, e->hashes, (size_t)e->map.count * BRAMBLE_CHUNK_HASH_LEN);
	return bramble_filemap_new(e->map.version, e->map.size, e->map.chunk_size,
				   e->map.count, hashes);
}

int bramble_filemap_get_attr(struct bramble *b, const struct bramble_cred *cr,
			     const struct bramble_fh *fh, struct bramble_filemap **out,
			     struct stat *st)
{
	struct bramble_filemap *m;
	struct stat now;
	int rc = bramble_filemap_get(b, cr, fh, &m);

	if (rc < 0)
		return rc;
	/* The attributes after the map, of the same size: a change between
	 * the two that kept the size is caught by the map's chunk hashes at
	 * the first read (-ESTALE), one that did not is caught here. */
	rc = bramble_getattr(b, cr, fh, &now);
	if (rc == 0 && m->size != (uint64_t)now.st_size)
		rc = -ESTALE;
	if (rc < 0) {
		bramble_filemap_put(m);
		return rc;
	}
	*out = m;
	*st = now;
	return 0;
}

/* ---- the attributes a map belongs to */

void bramble_filemap_attr_of(struct bramble_filemap_attr *a, const struct stat *st)
{
	a->size = (uint64_t)st->st_size;
	/* util.h's ts_to_ns: far times map to distinct values too */
	a->mtime_ns = ts_to_ns(&st->st_mtim);
	a->ctime_ns = ts_to_ns(&st->st_ctim);
}

bool bramble_filemap_attr_eq(const struct bramble_filemap_attr *a,
			     const struct bramble_filemap_attr *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns;
}

/* ---- maps kept in the node cache */

int bramble_filemap_keep(struct bramble_cache *c, const struct bramble_fh *fh,
			 const struct bramble_filemap *m,
			 const struct bramble_filemap_attr *a)
{
	struct bramble_cache_map cm = {
		.size = m->size, .mtime_ns = a->mtime_ns, .ctime_ns = a->ctime_ns,
		.version = m->version, .chunk_size = m->chunk_size,
		.nchunks = m->nchunks, .hashes = m->hashes,
	};

	if (m->size != a->size)
		return -ESTALE;
	return bramble_cache_map_put(c, fh->data, fh->len, &cm);
}

static struct bramble_filemap *kept(struct bramble_cache *c, const struct bramble_fh *fh,
				    const struct bramble_filemap_attr *a, bool touch)
{
	struct bramble_filemap_attr k;
	struct bramble_cache_map cm;

	if ((touch ? bramble_cache_map_get : bramble_cache_map_peek)(c, fh->data, fh->len,
								      &cm) < 0)
		return NULL;
	k = (struct bramble_filemap_attr){
		.size = cm.size, .mtime_ns = cm.mtime_ns, .ctime_ns = cm.ctime_ns,
	};
	if (!bramble_filemap_attr_eq(&k, a)) {
		bramble_cache_map_release(&cm);
		return NULL;
	}
	return bramble_filemap_from_cache(&cm);
}

struct bramble_filemap *bramble_filemap_kept(struct bramble_cache *c,
					     const struct bramble_fh *fh,
					     const struct bramble_filemap_attr *a)
{
	return kept(c, fh, a, true);
}

struct bramble_filemap *bramble_filemap_peek(struct bramble_cache *c,
					     const struct bramble_fh *fh,
					     const struct bramble_filemap_attr *a)
{
	return kept(c, fh, a, false);
}

bool bramble_filemap_kept_any(struct bramble_cache *c, const struct bramble_fh *fh)
{
	struct bramble_cache_map cm;

	if (bramble_cache_map_get(c, fh->data, fh->len, &cm) < 0)
		return false;
	bramble_cache_map_release(&cm);
	return true;
}

int bramble_filemap_forget(struct bramble_cache *c, const struct bramble_fh *fh)
{
	return bramble_cache_map_drop(c, fh->data, fh->len);
}
