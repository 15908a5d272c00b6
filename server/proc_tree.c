/* proc_tree.c - TREE: the metadata of a whole directory tree in a few
 * round trips (bramble_prot.x has the contract; this is how it is kept).
 *
 * The walk.  Depth first, a directory right before its contents, the
 * names of each directory sorted with strcmp.  One `struct level' per
 * directory on the current path holds its fd (opened as the caller) and
 * its sorted names; the deepest level is the one being listed.  Entries
 * are made as the caller: fstatat(AT_SYMLINK_NOFOLLOW), export_fh_at()
 * (the handle READDIRPLUS would give), readlinkat() for a symlink's
 * target.  A directory is entered only through openat(parent, name,
 * O_DIRECTORY | O_NOFOLLOW) as the caller -- the kernel checks read
 * permission, and no symlink is ever followed -- and only when it has a
 * handle of this export (not another mount: export_fh_at() refuses
 * those, as LOOKUP does) and is still the object just stat'ed.  So the
 * walk never leaves the export, exactly as a client walking with LOOKUP
 * and READDIRPLUS could not.
 *
 * Resuming.  The cookie is the path of the last entry returned, and the
 * server keeps nothing between calls: it re-opens the directories on the
 * cookie's path (as the caller, by the same rules), lists and sorts each,
 * and carries on after the cookie's component at every level -- inside
 * the cookie itself when the walk would enter it.  Why not a cursor table
 * on the server: cursors would need a bound, an expiry, a story for a
 * reconnect, a server restart (handles survive it, so a walk should too)
 * and for clients that vanish mid-walk; an id that names server memory is
 * also one more thing a hostile client can aim at.  The stateless cookie
 * costs re-listing `depth' directories per call, small next to the
 * thousands of entries a call returns (and a directory of N entries
 * listed N / max_entries times at worst).  Since the order is a total
 * order on paths and every call starts strictly after its cookie, a walk
 * over a changing tree ends and never repeats an entry.
 *
 * Chunk maps come from the chunk index (chunkidx.h); see the .x for when
 * a file is hashed here.  SQLite is used as root (call_as_root), as
 * proc_chunk.c does; everything else runs as the caller. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkidx.h"
#include "exportpath.h"
#include "log.h"
#include "orphans.h"
#include "proc.h"
#include "xalloc.h"

_Static_assert(BR_TREE_BYTES_MAX + 2 * 10240 < BR_RECORD_MAX, "a reply fits a record");

/* The reply's own words around the entries: RPC header, status, array
 * length, eof; the cookie (the last entry's path) is counted with it. */
#define TREE_OVERHEAD (32 + 4 + 4 + 4)

struct level {
	int fd;                 /* the directory, O_RDONLY, opened as the caller */
	char **names;           /* its entries, sorted */
	size_t n, next;         /* next: the first name not yet returned */
	size_t pathlen;         /* its path in walk.path ("" for the root) */
	unsigned int depth;     /* of its entries: 1 in the walk's root */
};

struct walk {
	struct call *c;
	const br_tree_args *a;
	dev_t dev;                      /* the walk's root filesystem */
	unsigned int nlv;
	struct level lv[BR_TREE_DEPTH_MAX];
	char path[BR_PATH_MAX + 1];     /* of the deepest level, then more */
	/* the reply */
	br_tree_entry *ents;
	unsigned int n, cap, max;
	size_t bytes, max_bytes;
	uint64_t hashed;                /* bytes hashed for maps so far */
	int fatal;                      /* -errno that ends the call */
};

static size_t xdr_pad(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* All names of the directory open at fd but "." and "..", sorted.  The
 * fd is duplicated for readdir, so its own offset does not matter. */
static int list_dir(int fd, char ***out, size_t *nout)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	if (dfd < 0)
		return -errno;
	dir = fdopendir(dfd);
	if (!dir) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	for (;;) {
		errno = 0;
		d = readdir(dir);
		if (!d) {
			rc = -errno;
			break;
		}
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
		    orphans_reserved(d->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(d->d_name);
	}
	closedir(dir);
	if (rc < 0) {
		free_names(names, n);
		return rc;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*nout = n;
	return 0;
}

/* Push the directory open at fd (ownership passes to the walk) whose
 * path is name appended to the deepest level's (name NULL: the root). */
static int push(struct walk *w, int fd, const char *name)
{
	struct level *up = w->nlv ? &w->lv[w->nlv - 1] : NULL;
	struct level *l = &w->lv[w->nlv];
	int rc;

	assert(w->nlv < BR_TREE_DEPTH_MAX);
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->depth = up ? up->depth + 1 : 1;
	if (up) {
		size_t len = strlen(name);

		l->pathlen = up->pathlen + (up->pathlen ? 1 : 0) + len;
		assert(l->pathlen <= BR_PATH_MAX);
		if (up->pathlen)
			w->path[up->pathlen] = '/';
		memcpy(w->path + l->pathlen - len, name, len);
	}
	rc = list_dir(fd, &l->names, &l->n);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	w->nlv++;
	return 0;
}

static void pop(struct walk *w)
{
	struct level *l = &w->lv[--w->nlv];

	close(l->fd);
	free_names(l->names, l->n);
}

/* Would the walk enter a directory whose entries are at depth `depth'
 * (1 + its own) and whose path is pathlen bytes?  0: yes; 1: no, by the
 * caller's max_depth (status BR_OK); -ENAMETOOLONG: no, by the server's
 * bounds (the entry says so). */
static int depth_rule(const struct walk *w, unsigned int depth, size_t pathlen)
{
	if (w->a->max_depth && depth > w->a->max_depth)
		return 1;
	if (depth > BR_TREE_DEPTH_MAX || pathlen > BR_PATH_MAX - 1 - BR_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Open the directory dirfd/name, which was stat'ed as *st, to enter it:
 * as the caller, no symlink followed, and only if it still is that
 * object and lives on the walk's filesystem.  The fd, or -errno. */
static int open_dir(const struct walk *w, int dirfd, const char *name,
		    const struct stat *st)
{
	struct stat now;
	int fd, rc;

	if (st->st_dev != w->dev)
		return -EXDEV;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &now) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return -ESTALE;         /* replaced (or mounted on) meanwhile */
	}
	return fd;
}

/* ---- chunk maps */

static void chunks_from_map(br_tree_chunks *ch, struct chunkidx_map *m)
{
	if (m->count < m->nchunks) {    /* grew past the bound meanwhile */
		chunkidx_map_release(m);
		ch->status = BR_EFBIG;
		return;
	}
	ch->file_version = m->version;
	ch->size = m->size;
	ch->chunk_size = m->chunk_size;
	ch->hashes.hashes_len = m->count;
	ch->hashes.hashes_val = (br_chunk_hash *)m->hashes;  /* xdr_free frees it */
	m->hashes = NULL;
}

/* The map of regular file dirfd/name (stat'ed as *st) for its entry. */
static br_tree_chunks *chunk_map(struct walk *w, int dirfd, const char *name,
				 const struct stat *st)
{
	struct chunkidx *ci = w->c->svc->chunks;
	br_tree_chunks *ch = xcalloc(1, sizeof(*ch));
	struct chunkidx_map m;
	struct stat now;
	uint32_t cs;
	int fd, rc;

	if (!ci) {
		ch->status = BR_EOPNOTSUPP;
		return ch;
	}
	cs = chunkidx_chunk_size(ci);
	if (((uint64_t)st->st_size + cs - 1) / cs > BR_TREE_CHUNKS_MAX) {
		ch->status = BR_EFBIG;
		return ch;
	}
	/* As the caller: read permission, as CHUNKMAP needs.  O_NONBLOCK:
	 * a fifo swapped in meanwhile must not hang the worker. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		ch->status = br_stat_from_errno(errno);
		return ch;
	}
	if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || !S_ISREG(now.st_mode)) {
		close(fd);
		ch->status = BR_ESTALE;
		return ch;
	}
	call_as_root(w->c);             /* the database is the server's */
	rc = chunkidx_map_indexed(ci, fd, 0, BR_TREE_CHUNKS_MAX, &m);
	if (rc == -ENODATA && ((uint64_t)now.st_size <= BR_TREE_HASH_SMALL ||
			       (w->a->flags & BR_TREE_HASH))) {
		rc = chunkidx_map(ci, fd, 0, BR_TREE_CHUNKS_MAX, &m);
		if (rc == 0)
			w->hashed += m.size;
	}
	close(fd);
	if (call_as_user(w->c) < 0)
		w->fatal = -EPERM;
	if (rc < 0)
		ch->status = br_stat_from_errno(-rc);
	else
		chunks_from_map(ch, &m);
	return ch;
}

/* ---- entries */

static size_t entry_bytes(const br_tree_entry *e)
{
	size_t n = 4 + xdr_pad(strlen(e->path)) + 4 + 4 + xdr_pad(e->fh.br_fh_len) +
		   88 + 4 + xdr_pad(strlen(e->target)) + 4;

	if (e->chunks)
		n += 4 + 8 + 8 + 4 + 4 + e->chunks->hashes.hashes_len * sizeof(br_chunk_hash);
	return n;
}

static void entry_free(br_tree_entry *e)
{
	xdr_free((xdrproc_t)xdr_br_tree_entry, (char *)e);
	memset(e, 0, sizeof(*e));
}

/* Make the entry of name in level l into *e.  Returns 1 when the name is
 * gone (nothing made), else 0; *child gets the fd of a directory the
 * walk enters next (-1: none). */
static int make_entry(struct walk *w, struct level *l, const char *name,
		      br_tree_entry *e, int *child)
{
	size_t len = strlen(name), plen = l->pathlen + (l->pathlen ? 1 : 0) + len;
	struct export_fh fh;
	struct stat st;
	int rc;

	*child = -1;
	memset(e, 0, sizeof(*e));
	if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 1;       /* removed since the listing */
		e->status = br_stat_from_errno(errno);
		memset(&st, 0, sizeof(st));
	} else {
		rc = export_fh_at(w->c->exp->ex, l->fd, name, &fh);
		if (rc == -ENOENT)
			return 1;
		if (rc == 0 && st.st_dev == w->dev)
			call_fh_set(&e->fh, &fh);
		else
			e->status = br_stat_from_errno(rc == -EOPNOTSUPP || rc == 0 ?
						       EXDEV : -rc);
		call_attr(w->c, &e->attr, &st);
	}
	e->path = xmalloc(plen + 1);
	memcpy(e->path, w->path, l->pathlen);
	if (l->pathlen)
		e->path[l->pathlen] = '/';
	memcpy(e->path + plen - len, name, len + 1);
	e->target = NULL;
	if (e->status == BR_OK && S_ISLNK(st.st_mode)) {
		char buf[BR_PATH_MAX + 1];
		ssize_t n = readlinkat(l->fd, name, buf, sizeof(buf));

		if (n < 0 || (size_t)n > BR_PATH_MAX)
			e->status = br_stat_from_errno(n < 0 ? errno : ENAMETOOLONG);
		else
			e->target = xstrndup(buf, (size_t)n);
	}
	if (!e->target)
		e->target = xstrdup("");
	if (e->status == BR_OK && S_ISREG(st.st_mode) && (w->a->flags & BR_TREE_CHUNKS))
		e->chunks = chunk_map(w, l->fd, name, &st);
	if (e->status == BR_OK && S_ISDIR(st.st_mode)) {
		rc = depth_rule(w, l->depth + 1, plen);
		if (rc == 0) {
			rc = open_dir(w, l->fd, name, &st);
			if (rc >= 0) {
				*child = rc;
				rc = 0;
			}
		}
		if (rc < 0)
			e->status = br_stat_from_errno(-rc);
	}
	return 0;
}

/* Add room for one more entry. */
static br_tree_entry *next_slot(struct walk *w)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->ents = xrealloc(w->ents, w->cap * sizeof(*w->ents));
	}
	return &w->ents[w->n];
}

/* Everything after the current position returned? */
static bool walk_done(const struct walk *w)
{
	for (unsigned int i = 0; i < w->nlv; i++)
		if (w->lv[i].next < w->lv[i].n)
			return false;
	return true;
}

/* Return entries until the walk ends or a bound is met.  true: eof. */
static bool run(struct walk *w)
{
	while (w->nlv && !w->fatal) {
		struct level *l = &w->lv[w->nlv - 1];
		br_tree_entry *e;
		size_t need, cookie;
		int child;

		if (l->next == l->n) {
			pop(w);
			continue;
		}
		e = next_slot(w);
		if (make_entry(w, l, l->names[l->next], e, &child) == 1) {
			l->next++;
			continue;
		}
		need = entry_bytes(e);
		/* With the cookie this entry's path would become. */
		cookie = 4 + xdr_pad(strlen(e->path));
		if (w->n > 0 && w->bytes + need + cookie > w->max_bytes) {
			/* Made again by the next call, which starts here. */
			entry_free(e);
			if (child >= 0)
				close(child);
			return false;
		}
		l->next++;
		w->bytes += need;
		w->n++;
		if (child >= 0) {
			int rc = push(w, child, l->names[l->next - 1]);

			if (rc < 0)         /* opened but not listable */
				e->status = br_stat_from_errno(-rc);
		}
		if (w->n >= w->max || w->bytes + cookie >= w->max_bytes ||
		    w->hashed >= BR_TREE_HASH_BUDGET)
			return walk_done(w);
	}
	return true;
}

/* ---- the cookie */

/* Split cookie (modified in place) into components, each a valid name.
 * 0 or -EINVAL. */
static int split_cookie(char *cookie, char **comp, unsigned int *ncomp)
{
	unsigned int n = 0;
	char *s = cookie, *slash;

	*ncomp = 0;
	if (!*cookie)
		return 0;
	for (;;) {
		if (n == BR_TREE_DEPTH_MAX)
			return -EINVAL;
		slash = strchr(s, '/');
		if (slash)
			*slash = '\0';
		if (exportpath_check_name(s) < 0)
			return -EINVAL;
		comp[n++] = s;
		if (!slash)
			break;
		s = slash + 1;
	}
	*ncomp = n;
	return 0;
}

/* First index of names[0..n) greater than name; *found when names has it. */
static size_t after(char **names, size_t n, const char *name, bool *found)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(names[mid], name) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo > 0 && !strcmp(names[lo - 1], name);
	return lo;
}

/* Re-walk to the cookie: at each level start after its component, and
 * go into it when it is a directory the walk enters (by make_entry's
 * rules, so a walk resumes exactly where it stopped).  A component that
 * is gone or changed ends the descent: the walk goes on after it. */
static void position(struct walk *w, char **comp, unsigned int ncomp)
{
	for (unsigned int i = 0; i < ncomp; i++) {
		struct level *l = &w->lv[w->nlv - 1];
		struct export_fh fh;
		struct stat st;
		size_t plen;
		bool found;
		int fd;

		l->next = after(l->names, l->n, comp[i], &found);
		if (!found || fstatat(l->fd, comp[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			return;
		plen = l->pathlen + (l->pathlen ? 1 : 0) + strlen(comp[i]);
		if (depth_rule(w, l->depth + 1, plen) != 0 ||
		    export_fh_at(w->c->exp->ex, l->fd, comp[i], &fh) < 0)
			return;
		fd = open_dir(w, l->fd, comp[i], &st);
		if (fd < 0 || push(w, fd, comp[i]) < 0)
			return;
	}
}

/* ---- the call */

static void release_walk(struct walk *w)
{
	while (w->nlv)
		pop(w);
	for (unsigned int i = 0; i < w->n; i++)
		entry_free(&w->ents[i]);
	free(w->ents);
	free(w);
}

/* The root of the walk, reopened as the caller (read permission). */
static int open_root(struct call *c, const br_fh *dir, dev_t *dev)
{
	char path[32];
	struct stat st;
	int pfd, fd, rc;

	rc = call_fh(c, dir, &pfd, &st);
	if (rc < 0)
		return rc;
	if (!S_ISDIR(st.st_mode)) {
		close(pfd);
		return -ENOTDIR;
	}
	*dev = st.st_dev;
	call_fd_path(pfd, path, sizeof(path));
	rc = call_as_user(c);
	if (rc == 0) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? -errno : fd;
	}
	close(pfd);
	return rc;
}

int proc_tree(struct call *c, void *args, void *res)
{
	br_tree_args *a = args;
	br_tree_ok *ok = &((br_tree_res *)res)->br_tree_res_u.ok;
	char *comp[BR_TREE_DEPTH_MAX];
	unsigned int ncomp;
	char *cookie;
	struct walk *w;
	bool eof = false;
	int fd, rc;

	if (a->flags & ~(unsigned int)(BR_TREE_CHUNKS | BR_TREE_HASH))
		return -EINVAL;
	cookie = xstrdup(a->cookie ? a->cookie : "");
	rc = split_cookie(cookie, comp, &ncomp);
	if (rc == 0 && a->max_depth && ncomp > a->max_depth)
		rc = -EINVAL;
	if (rc < 0) {
		free(cookie);
		return rc;
	}
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->a = a;
	w->max = a->max_entries && a->max_entries < BR_TREE_ENTRIES_MAX ?
		 a->max_entries : BR_TREE_ENTRIES_MAX;
	w->max_bytes = a->max_bytes && a->max_bytes < BR_TREE_BYTES_MAX ?
		       a->max_bytes : BR_TREE_BYTES_MAX;
	w->bytes = TREE_OVERHEAD;
	fd = open_root(c, &a->dir, &w->dev);
	rc = fd < 0 ? fd : push(w, fd, NULL);
	if (rc == 0) {
		position(w, comp, ncomp);
		eof = run(w);
		rc = w->fatal;
	}
	free(cookie);
	if (rc < 0) {
		release_walk(w);
		return rc;
	}
	ok->entries.entries_len = w->n;
	ok->entries.entries_val = w->ents;
	ok->cookie = xstrdup(eof || !w->n ? "" : w->ents[w->n - 1].path);
	ok->eof = eof;
	w->n = 0;
	w->ents = NULL;
	release_walk(w);
	return 0;
}
