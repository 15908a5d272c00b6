/* stage_sets.c - staging a directory staged before (stage_int.h): a
 * digest of everything its TREE walk returned -- each entry's path,
 * status, handle, type, size, mtime, ctime and chunk map, as the user
 * staged for sees them -- is kept in the node cache per directory
 * (bramble_cache_set_*) once the directory was staged completely.  The
 * next staging compares: the same digest means every file TREE mapped has
 * the same map kept already, so it stores none (a thousand-file tree:
 * one comparison instead of a thousand transactions of the index).  Any
 * change -- a byte of a file (new map, version or times), an entry added,
 * removed, renamed or made unreadable -- gives another digest, and the
 * directory is staged as the first time.  The chunks are not covered:
 * staging pins them (pin_cached), which also finds those evicted since. */
#include <stdlib.h>
#include <string.h>

#include "stage_int.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

struct sset {
	struct br_hash128_stream *h;
	struct scache *sc;
	struct bramble_fh fh;          /* the directory's: the key */
	bool incomplete;               /* an entry the walk could not give whole */
	bool same;                     /* the digest kept is this walk's */
	unsigned char digest[BRAMBLE_HASH_LEN];
};

void stage_set_begin(struct stage *s, size_t arg, struct smount *m,
		     const struct bramble_fh *fh)
{
	struct sset *set;

	if (!s->sets)
		s->sets = xcalloc(BR_MAX(s->npaths, (size_t)1), sizeof(*s->sets));
	set = s->sets[arg] = xcalloc(1, sizeof(*set));
	set->h = br_hash128_stream_new();
	set->sc = m->sc;
	set->fh = *fh;
}

static void add(struct sset *set, const void *p, size_t n)
{
	br_hash128_stream_update(set->h, p, n);
}

static void add_i64(struct sset *set, int64_t v)
{
	add(set, &v, sizeof(v));
}

void stage_set_entry(struct stage *s, size_t arg, const struct bramble_tree_entry *e)
{
	struct sset *set = s->sets ? s->sets[arg] : NULL;
	const struct stat *a = e->attr;

	if (!set)
		return;
	add(set, e->path, strlen(e->path) + 1);
	add_i64(set, e->status);
	add_i64(set, e->fh->len);
	add(set, e->fh->data, e->fh->len);
	add_i64(set, a->st_mode);
	add_i64(set, a->st_size);
	add_i64(set, a->st_mtim.tv_sec);
	add_i64(set, a->st_mtim.tv_nsec);
	add_i64(set, a->st_ctim.tv_sec);
	add_i64(set, a->st_ctim.tv_nsec);
	add(set, e->target, strlen(e->target) + 1);
	add_i64(set, e->has_map);
	if (e->has_map) {
		add_i64(set, e->map_status);
		add_i64(set, (int64_t)e->map.version);
		add_i64(set, (int64_t)e->map.size);
		add_i64(set, e->map.chunk_size);
		add_i64(set, e->map.count);
		if (e->map_status == 0 && e->map.count)
			add(set, e->hashes, (size_t)e->map.count * BRAMBLE_CHUNK_HASH_LEN);
	}
	if (e->status < 0)
		set->incomplete = true;
}

void stage_set_compare(struct stage *s)
{
	unsigned char kept[BRAMBLE_HASH_LEN];

	for (size_t i = 0; s->sets && i < s->npaths; i++) {
		struct sset *set = s->sets[i];

		if (!set)
			continue;
		br_hash128_stream_digest(set->h, set->digest);
		set->same = !set->incomplete && !s->arg_failed[i] &&
			    bramble_cache_set_get(set->sc->cache, set->fh.data, set->fh.len,
						  kept) == 0 &&
			    !memcmp(kept, set->digest, BRAMBLE_HASH_LEN);
	}
}

bool stage_set_same(const struct stage *s, size_t arg)
{
	return s->sets && s->sets[arg] && s->sets[arg]->same;
}

void stage_set_store(struct stage *s)
{
	bool *bad;

	if (!s->sets)
		return;
	bad = xcalloc(BR_MAX(s->npaths, (size_t)1), sizeof(*bad));
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i].err || !s->files[i].map)
			bad[s->files[i].arg] = true;
	for (size_t i = 0; i < s->npaths; i++) {
		struct sset *set = s->sets[i];

		if (set && !set->same && !set->incomplete && !bad[i] && !s->arg_failed[i])
			bramble_cache_set_put(set->sc->cache, set->fh.data, set->fh.len,
					      set->digest);
	}
	free(bad);
}

void stage_set_free(struct stage *s)
{
	for (size_t i = 0; s->sets && i < s->npaths; i++) {
		if (s->sets[i])
			br_hash128_stream_free(s->sets[i]->h);
		free(s->sets[i]);
	}
	free(s->sets);
	s->sets = NULL;
}
