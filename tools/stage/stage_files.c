/* stage_files.c - many files of one directory (stage_int.h): a learned
 * set names every file a job opened, thousands of them in a few hundred
 * directories.  Resolved one by one they cost a LOOKUP per component
 * and a CHUNKMAP each; here each directory naming two or more of them is
 * resolved once and listed with one TREE of depth 1 (as the user: the
 * handles, attributes and chunk maps of all its entries), and each named
 * file is taken from that listing -- about one call per directory, not
 * two or more per file (unless the directory is far larger than what the
 * set names of it: then path by path).
 *
 * The same as resolving each path: a regular file found in its
 * directory's listing is what LOOKUP of its name would give.  Anything
 * else -- a name not listed, a symbolic link, a directory, an entry the
 * server could not stat, a directory the user may search but not list,
 * a path with "." or ".." -- is left to stage.c's path-by-path staging,
 * which resolves, follows and reports it as before. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stage_int.h"
#include "util.h"
#include "xalloc.h"

struct named {
	const char *dir;           /* the argument up to its last '/' (copy) */
	const char *name;          /* after it (into the argument) */
	size_t dirlen;
	size_t arg;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c;

	if (x->dirlen != y->dirlen)
		return x->dirlen < y->dirlen ? -1 : 1;
	c = memcmp(x->dir, y->dir, x->dirlen);
	return c ? c : strcmp(x->name, y->name);
}

/* A plain absolute path: no "." or ".." component, no trailing '/'. */
static bool plain(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || p[n - 1] == '/')
		return false;
	for (const char *c = p; c; c = strchr(c + 1, '/'))
		if (!strncmp(c, "/./", 3) || !strncmp(c, "/../", 4) ||
		    !strcmp(c, "/.") || !strcmp(c, "/.."))
			return false;
	return true;
}

struct group {
	struct stage *s;
	struct smount *m;
	struct named *v;           /* the group's, sorted by name */
	size_t n;
	bool *done;
};

static int group_entry(void *ctx, const struct bramble_tree_entry *e)
{
	struct group *g = ctx;
	struct named key = { .dir = g->v[0].dir, .dirlen = g->v[0].dirlen, .name = e->path };
	struct named *hit = bsearch(&key, g->v, g->n, sizeof(*g->v), named_cmp);
	struct sfile *f;

	if (!hit || e->status < 0 || !S_ISREG(e->attr->st_mode) || !e->fh->len ||
	    g->done[hit->arg])
		return 0;
	g->done[hit->arg] = true;
	f = stage_file_add(g->s, g->m, hit->arg, g->s->paths[hit->arg], e->fh, e->attr);
	if (f) {
		f->map = bramble_filemap_from_tree(e);
		f->readable = e->has_map && e->map_status == -ENODATA;
	}
	return 0;
}

/* One directory's group: resolve it, list it, take the named files. */
static void stage_group(struct stage *s, struct named *v, size_t n, bool *done)
{
	struct bramble_tree_args ta = { .flags = BRAMBLE_TREE_CHUNKS, .max_depth = 1 };
	struct group g = { .s = s, .v = v, .n = n, .done = done };
	char *dir = xstrndup(v[0].dir, v[0].dirlen);
	char err[512] = "", next[BRAMBLE_PATH_MAX + 1] = "";
	struct bramble_fh fh;
	struct stat st;
	bool eof = false;
	int rc;

	rc = stage_resolve(s, *dir ? dir : "/", &g.m, &fh, &st, err, sizeof(err));
	free(dir);
	if (rc < 0 || !g.m || !S_ISDIR(st.st_mode))
		return;                 /* path by path: the errors said there */
	/* A huge directory (a data set's shards) naming few of its entries:
	 * listing it all would cost more than looking them up.  Its size
	 * hints at its entries (at least ~32 bytes each on common
	 * filesystems): list it when that is at most 256 per file named
	 * (~40 KB of reply each: about the cost of the LOOKUP and CHUNKMAP
	 * round trips it saves on a 1 Gbit/s link). */
	if ((uint64_t)st.st_size / 32 > (uint64_t)n * 256)
		return;
	while (rc == 0 && !eof) {
		ta.cookie = next;
		rc = bramble_tree(g.m->b, &s->cred, &fh, &ta, group_entry, &g, next, &eof);
	}
}

void stage_add_siblings(struct stage *s, bool *done)
{
	struct named *v = xcalloc(BR_MAX(s->npaths, (size_t)1), sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < s->npaths; i++) {
		const char *p = s->paths[i], *slash;

		if (!plain(p))
			continue;
		slash = strrchr(p, '/');
		v[n] = (struct named){ .dir = p, .dirlen = (size_t)(slash - p),
				       .name = slash + 1, .arg = i };
		n++;
	}
	qsort(v, n, sizeof(*v), named_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && v[j].dirlen == v[i].dirlen &&
		     !memcmp(v[j].dir, v[i].dir, v[i].dirlen); j++)
			;
		if (j - i >= 2)
			stage_group(s, &v[i], j - i, done);
	}
	free(v);
}
