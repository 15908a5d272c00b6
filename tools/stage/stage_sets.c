/* stage_sets.c - staging a directory staged before (stage_int.h).
 *
 * Once a directory has been staged completely -- every entry walked,
 * every file's chunks pinned and map kept -- the node cache keeps a
 * digest of what its TREE walk returned (bramble_cache_set_*): each
 * entry's path, status, handle, type and permissions, owner, size, mtime,
 * ctime and symlink target.  The key is the directory's handle and the
 * credentials it was staged with (uid, gid, groups): the digest vouches
 * for what that user could see and read.
 *
 * Staging it again starts with one TREE walk of attributes only (the
 * server stats each entry: no file opened, no chunk index asked) and
 * compares.  The same digest means nothing changed since that complete
 * staging -- no byte (a write changes mtime and ctime), no permission, no
 * entry -- so each file's map is the one the node cache kept for these
 * attributes (the rule the mount's reads follow), taken without a call;
 * the chunks are then pinned for the new owner in a few transactions,
 * which also finds any evicted since (fetched).  A file whose kept map is
 * gone gets a CHUNKMAP.  Another digest (a change, another user, a walk
 * with an error) and the directory is walked again with chunk maps and
 * staged as the first time; the digest of that walk is kept when it
 * completes. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stage_int.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

struct sset {
	struct br_hash128_stream *h;
	struct scache *sc;
	unsigned char key[BRAMBLE_HASH_LEN];
	bool incomplete;               /* an entry the walk could not give whole */
};

static void add(struct br_hash128_stream *h, const void *p, size_t n)
{
	br_hash128_stream_update(h, p, n);
}

static void add_i64(struct br_hash128_stream *h, int64_t v)
{
	add(h, &v, sizeof(v));
}

/* One entry into the digest (its attributes, never its map). */
static void digest_entry(struct br_hash128_stream *h, const struct bramble_tree_entry *e)
{
	const struct stat *a = e->attr;

	add(h, e->path, strlen(e->path) + 1);
	add_i64(h, e->status);
	add_i64(h, e->fh->len);
	add(h, e->fh->data, e->fh->len);
	add_i64(h, a->st_mode);
	add_i64(h, a->st_uid);
	add_i64(h, a->st_gid);
	add_i64(h, a->st_size);
	add_i64(h, a->st_mtim.tv_sec);
	add_i64(h, a->st_mtim.tv_nsec);
	add_i64(h, a->st_ctim.tv_sec);
	add_i64(h, a->st_ctim.tv_nsec);
	add(h, e->target, strlen(e->target) + 1);
}

/* The key of directory fh staged as s->cred. */
static void set_key(const struct stage *s, const struct bramble_fh *fh,
		    unsigned char key[BRAMBLE_HASH_LEN])
{
	struct buf b = BUF_INIT;
	const struct bramble_cred *c = &s->cred;

	buf_add(&b, fh->data, fh->len);
	buf_add(&b, &c->uid, sizeof(c->uid));
	buf_add(&b, &c->gid, sizeof(c->gid));
	buf_add(&b, c->groups, c->ngroups * sizeof(c->groups[0]));
	br_hash128(b.data, b.len, key);
	buf_release(&b);
}

/* ---- the first walk: attributes only */

struct quick {
	struct stage *s;
	struct br_hash128_stream *h;
	bool bad;                      /* an entry with an error */
	struct qfile { char *path; struct bramble_fh fh; struct stat st; } *v;
	size_t n, cap;
};

static int quick_entry(void *ctx, const struct bramble_tree_entry *e)
{
	struct quick *q = ctx;

	digest_entry(q->h, e);
	if (e->status < 0)
		q->bad = true;
	if (e->status < 0 || !S_ISREG(e->attr->st_mode) || !e->fh->len)
		return 0;
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 256;
		q->v = xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	q->v[q->n++] = (struct qfile){ xstrdup(e->path), *e->fh, *e->attr };
	return 0;
}

bool stage_set_again(struct stage *s, size_t arg, struct smount *m,
		     const struct bramble_fh *fh, const char *base)
{
	struct quick q = { .s = s, .h = br_hash128_stream_new() };
	unsigned char key[BRAMBLE_HASH_LEN], now[BRAMBLE_HASH_LEN], kept[BRAMBLE_HASH_LEN];
	bool same;
	int rc;

	set_key(s, fh, key);
	same = bramble_cache_set_get(m->sc->cache, key, sizeof(key), kept) == 0;
	if (same) {                    /* else not staged completely before: no walk */
		rc = bramble_tree_walk(m->b, &s->cred, fh, 0, quick_entry, &q);
		br_hash128_stream_digest(q.h, now);
		same = rc == 0 && !q.bad && !memcmp(now, kept, sizeof(now));
	}
	for (size_t i = 0; i < q.n; i++) {
		struct qfile *e = &q.v[i];
		struct bramble_filemap_attr a;
		struct buf path = BUF_INIT;
		struct sfile *f;

		if (same) {
			buf_addf(&path, "%s/%s", base, e->path);
			f = stage_file_add(s, m, arg, path.data, &e->fh, &e->st);
			if (f) {
				bramble_filemap_attr_of(&a, &f->st);
				f->map = bramble_filemap_peek(m->sc->cache, &f->fh, &a);
				f->from_set = f->map != NULL;
			}
			buf_release(&path);
		}
		free(e->path);
	}
	free(q.v);
	br_hash128_stream_free(q.h);
	return same;
}

/* ---- the walk with maps: its digest, kept when everything was staged */

void stage_set_begin(struct stage *s, size_t arg, struct smount *m,
		     const struct bramble_fh *fh)
{
	struct sset *set;

	if (!s->sets)
		s->sets = xcalloc(BR_MAX(s->npaths, (size_t)1), sizeof(*s->sets));
	set = s->sets[arg] = xcalloc(1, sizeof(*set));
	set->h = br_hash128_stream_new();
	set->sc = m->sc;
	set_key(s, fh, set->key);
}

void stage_set_entry(struct stage *s, size_t arg, const struct bramble_tree_entry *e)
{
	struct sset *set = s->sets ? s->sets[arg] : NULL;

	if (!set)
		return;
	digest_entry(set->h, e);
	if (e->status < 0)
		set->incomplete = true;
}

void stage_set_store(struct stage *s)
{
	unsigned char d[BRAMBLE_HASH_LEN];
	bool *bad;

	if (!s->sets)
		return;
	bad = xcalloc(BR_MAX(s->npaths, (size_t)1), sizeof(*bad));
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->files[i].err || !s->files[i].map)
			bad[s->files[i].arg] = true;
	for (size_t i = 0; i < s->npaths; i++) {
		struct sset *set = s->sets[i];

		if (!set || set->incomplete || bad[i] || s->arg_failed[i])
			continue;
		br_hash128_stream_digest(set->h, d);
		bramble_cache_set_put(set->sc->cache, set->key, sizeof(set->key), d);
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
