/* envcp.c - the copy engine of `bramble envcp` (see envcp.h).
 *
 * The walk (main thread) lists SRC depth-first in name order and creates
 * each directory in DST as it goes (owner-writable until the end), while
 * workers take the entries it has listed so far, in order: regular files,
 * symlinks and special files.  (Overlapping the two matters in a mount,
 * where the walk costs a READDIRPLUS per directory and the kernel still
 * has each name's lookup cached when a worker opens it.)  Last, the main
 * thread makes the extra names of hard-linked files, writes the marker,
 * and gives directories their modes, owners and times deepest first
 * (creating entries changes a directory's mtime).  Copying one entry is
 * envcp_file.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "envcp_int.h"
#include "util.h"
#include "xalloc.h"

static struct envcp_stats *live;

const struct envcp_stats *envcp_live_stats(void)
{
	return live;
}

void envcp_ent_issue(struct envcp_ent *x, bool unsafe, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (x->msg)
		return;         /* the first one says what went wrong */
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	x->msg = buf_detach(&b, NULL);
	x->unsafe = unsafe;
	x->failed = !unsafe;
}

static void path_of(struct buf *b, const char *root, const char *rel)
{
	buf_reset(b);
	buf_addf(b, "%s/%s", root, rel);
}

/* ---- the walk */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first name (in walk order) of a hard-linked file is copied; the
 * others become links to its copy.  Open addressing on (dev, ino). */
static ssize_t first_name(struct envcp *e, const struct stat *st, size_t idx)
{
	size_t h;

	if (2 * (e->ninodes + 1) > e->inodes_cap) {
		struct inode_map *old = e->inodes;
		size_t oldcap = e->inodes_cap;

		e->inodes_cap = oldcap ? 2 * oldcap : 256;
		e->inodes = xcalloc(e->inodes_cap, sizeof(*e->inodes));
		e->ninodes = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].idx)
				first_name(e, &(struct stat){ .st_dev = old[i].dev,
							     .st_ino = old[i].ino },
					   old[i].idx - 1);
		free(old);
	}
	h = (size_t)(st->st_ino * 0x9e3779b97f4a7c15ull ^ st->st_dev) & (e->inodes_cap - 1);
	for (;; h = (h + 1) & (e->inodes_cap - 1)) {
		struct inode_map *m = &e->inodes[h];

		if (!m->idx) {
			*m = (struct inode_map){ st->st_dev, st->st_ino, idx + 1 };
			e->ninodes++;
			return -1;
		}
		if (m->dev == st->st_dev && m->ino == st->st_ino)
			return (ssize_t)m->idx - 1;
	}
}

/* List an entry; a worker may take it at once. */
static void add_ent(struct envcp *e, const char *rel, const struct stat *st, bool listed)
{
	struct envcp_ent *x = xcalloc(1, sizeof(*x));

	x->rel = xstrdup(rel);
	x->st = *st;
	x->link_to = -1;
	x->listed = listed;
	if (S_ISREG(st->st_mode) && st->st_nlink > 1)
		x->link_to = first_name(e, st, e->n);   /* e->n: walk thread writes it */
	pthread_mutex_lock(&e->lock);
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 1024;
		e->ents = xrealloc(e->ents, e->cap * sizeof(*e->ents));
	}
	e->ents[e->n++] = x;
	__atomic_store_n(&e->res->st.total, e->n, __ATOMIC_RELAXED);
	pthread_cond_signal(&e->more);
	pthread_mutex_unlock(&e->lock);
}

/* List SRC/rel (a directory) into e->ents, creating DST/rel's children
 * directories.  0 or -errno (the walk stops: DST would be incomplete). */
static int walk(struct envcp *e, const char *rel)
{
	struct buf sp = BUF_INIT, dp = BUF_INIT, r = BUF_INIT;
	char **names = NULL;
	size_t nn = 0;
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	path_of(&sp, e->res->src, rel);
	dir = opendir(sp.data);
	if (!dir) {
		rc = -errno;
		fprintf(stderr, "bramble envcp: cannot open directory '%s': %s\n",
			sp.data, strerror(-rc));
		goto out;
	}
	while ((d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (!*rel && !strncmp(d->d_name, ENVCP_MARKER, strlen(ENVCP_MARKER)))
			continue;       /* DST gets its own */
		names = xrealloc(names, (nn + 1) * sizeof(*names));
		names[nn++] = xstrdup(d->d_name);
	}
	closedir(dir);
	if (nn)
		qsort(names, nn, sizeof(*names), cmp_name);
	for (size_t i = 0; i < nn && rc == 0; i++) {
		struct stat st;

		buf_reset(&r);
		buf_addf(&r, *rel ? "%s/%s" : "%s%s", rel, names[i]);
		path_of(&sp, e->res->src, r.data);
		if (lstat(sp.data, &st) < 0) {
			rc = -errno;
			fprintf(stderr, "bramble envcp: cannot stat '%s': %s\n", sp.data,
				strerror(-rc));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			/* Before its entries are listed: workers create in it. */
			path_of(&dp, e->res->dst, r.data);
			if (mkdir(dp.data, (st.st_mode & 0777) | 0700) < 0) {
				rc = -errno;
				fprintf(stderr, "bramble envcp: cannot create directory "
						"'%s': %s\n", dp.data, strerror(-rc));
				break;
			}
		}
		add_ent(e, r.data, &st, e->trust && S_ISREG(st.st_mode) &&
					envcp_marker_lists(&e->mk, r.data));
		if (S_ISDIR(st.st_mode))
			rc = walk(e, r.data);
	}
out:
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	buf_release(&sp);
	buf_release(&dp);
	buf_release(&r);
	return rc;
}

static void *worker(void *arg)
{
	struct envcp *e = arg;
	struct buf sp = BUF_INIT, dp = BUF_INIT;
	size_t i;

	for (;;) {
		struct envcp_ent *x;
		mode_t m;
		int rc = 0;

		pthread_mutex_lock(&e->lock);
		while (e->next == e->n && !e->walked)
			pthread_cond_wait(&e->more, &e->lock);
		if (e->next == e->n) {
			pthread_mutex_unlock(&e->lock);
			break;
		}
		i = e->next++;
		x = e->ents[i];
		pthread_mutex_unlock(&e->lock);
		m = x->st.st_mode;

		if (S_ISDIR(m) || x->link_to >= 0) {
			ENVCP_ADD(e, done, 1);
			continue;       /* the main thread's, afterwards */
		}
		path_of(&sp, e->res->src, x->rel);
		path_of(&dp, e->res->dst, x->rel);
		rc = envcp_ent_copy(e, x, i, sp.data, dp.data);
		if (rc < 0)
			envcp_ent_issue(x, false, "%s", strerror(-rc));
		ENVCP_ADD(e, done, 1);
	}
	buf_release(&sp);
	buf_release(&dp);
	return NULL;
}

/* ---- after the workers */

/* Owner, mode and times of a directory whose entries are all in place.
 * made: the mode it has now (mkdir gave the walk's directories (mode &
 * 0777) | 0700, owned by us: in a mount each call saved is a round trip),
 * or (mode_t)-1 when not known (DST itself: made 0700, or found empty). */
static int set_dir_meta(struct envcp *e, const char *path, const struct stat *st,
			mode_t made)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	bool chowned = e->root && (st->st_uid != geteuid() || st->st_gid != getegid());

	if (chowned && lchown(path, st->st_uid, st->st_gid) < 0)
		return -errno;
	if ((chowned || (st->st_mode & 07777) != made) && chmod(path, st->st_mode & 07777) < 0)
		return -errno;
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		return -errno;
	return 0;
}

static int write_marker(struct envcp *e)
{
	char **rw = NULL, **un = NULL;
	size_t nrw = 0, nun = 0;
	int rc;

	for (size_t i = 0; i < e->n; i++) {
		struct envcp_ent *x = e->ents[i];
		struct envcp_ent *f = x->link_to >= 0 ? e->ents[x->link_to] : x;

		if (!S_ISREG(x->st.st_mode))
			continue;
		if (f->holds) {
			rw = xrealloc(rw, (nrw + 1) * sizeof(*rw));
			rw[nrw++] = x->rel;
		}
		if (f->unsafe) {
			un = xrealloc(un, (nun + 1) * sizeof(*un));
			un[nun++] = x->rel;
		}
	}
	rc = envcp_marker_write(e->res->dst, e->res->new_prefix, e->res->old_prefix,
				rw, nrw, un, nun);
	free(rw);
	free(un);
	return rc;
}

static int cmp_issue(const void *a, const void *b)
{
	return strcmp(((const struct envcp_issue *)a)->path,
		      ((const struct envcp_issue *)b)->path);
}

/* Owners are kept only where root may set them: a local disk, or an
 * export that does not squash root.  A squashed root (nobody on the
 * server) learns it from DST's own chown -- to SRC's owner, which DST
 * wants anyway -- instead of failing on every file.  Modes are kept
 * either way. */
static bool may_chown(const char *dst, const struct stat *src)
{
	if (lchown(dst, src->st_uid, src->st_gid) == 0)
		return true;
	if (errno != EPERM && errno != EINVAL)
		return true;    /* another failure: each file will say */
	fprintf(stderr, "bramble envcp: %s: owners not kept (root may not set them "
		"there: a root-squashing server?); modes are\n", dst);
	return false;
}

/* Resolve SRC, DST and the old prefix into res; create DST.  0 or -errno,
 * with a message. */
static int setup(struct envcp *e)
{
	const struct envcp_opts *o = e->o;
	struct envcp_result *res = e->res;
	size_t sl;
	struct stat st;
	DIR *d;
	int rc;

	res->src = path_abs_lexical(o->src);
	res->dst = path_abs_lexical(o->dst);
	res->new_prefix = xstrdup(res->dst);
	rc = stat(res->src, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (rc < 0) {
		fprintf(stderr, "bramble envcp: %s: %s\n", o->src, strerror(-rc));
		return rc;
	}
	sl = strlen(res->src);
	if (!strcmp(res->src, "/") || !strcmp(res->dst, "/") ||
	    (!strncmp(res->dst, res->src, sl) &&
	     (res->dst[sl] == '/' || res->dst[sl] == '\0'))) {
		fprintf(stderr, "bramble envcp: cannot copy '%s' into '%s'\n", res->src, res->dst);
		return -EINVAL;
	}
	rc = envcp_marker_read(res->src, &e->mk);
	if (rc < 0 && rc != -ENOENT)
		fprintf(stderr, "bramble envcp: ignoring %s/%s: %s\n", res->src,
			ENVCP_MARKER, rc == -EPROTO ? "not an envcp marker" : strerror(-rc));
	if (o->old_prefix) {
		res->old_prefix = path_abs_lexical(o->old_prefix);
		res->old_from = "option";
	} else if (rc == 0) {
		res->old_prefix = path_abs_lexical(e->mk.prefix);
		res->old_from = "marker";
	} else {
		res->old_prefix = xstrdup(res->src);
		res->old_from = "path";
	}
	e->trust = rc == 0 && !strcmp(e->mk.prefix, res->old_prefix);
	if (!strcmp(res->old_prefix, "/")) {
		fprintf(stderr, "bramble envcp: the old prefix cannot be /\n");
		return -EINVAL;
	}
	envcp_prefixes_init(&e->p, res->old_prefix, res->new_prefix);
	if (mkdir(res->dst, 0700) == 0) {
		e->root = e->root && may_chown(res->dst, &st);
		return 0;
	}
	rc = -errno;
	if (rc == -EEXIST && (d = opendir(res->dst))) {
		struct dirent *de;
		bool empty = true;

		while (empty && (de = readdir(d)))
			empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
		closedir(d);
		if (empty) {
			e->root = e->root && may_chown(res->dst, &st);
			return 0;
		}
	}
	fprintf(stderr, "bramble envcp: cannot create '%s': %s\n", res->dst,
		rc == -EEXIST ? "exists and is not an empty directory" : strerror(-rc));
	return rc;
}

int envcp_copy(const struct envcp_opts *o, struct envcp_result *res)
{
	struct envcp e = { .o = o, .res = res, .cfr = 1,
			   .lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER };
	struct buf a = BUF_INIT, b = BUF_INIT;
	int64_t t0 = now_ns();
	unsigned int nt = o->threads ? o->threads : 1;
	pthread_t *th = xcalloc(nt, sizeof(*th));
	struct stat rootst;
	mode_t old_umask = umask(0);
	int rc;

	memset(res, 0, sizeof(*res));
	live = &res->st;
	e.root = geteuid() == 0;
	rc = setup(&e);
	if (rc < 0)
		goto out;
	if (stat(res->src, &rootst) < 0) {
		rc = -errno;
		goto out;
	}
	for (unsigned int i = 0; i < nt; i++)
		if (pthread_create(&th[i], NULL, worker, &e) != 0) {
			nt = i;
			break;
		}
	rc = walk(&e, "");
	pthread_mutex_lock(&e.lock);
	e.walked = true;
	if (rc < 0)
		e.next = e.n;   /* DST would be incomplete: stop the workers */
	pthread_cond_broadcast(&e.more);
	pthread_mutex_unlock(&e.lock);
	if (nt == 0 && rc == 0)
		worker(&e);
	for (unsigned int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < e.n; i++) {
		struct envcp_ent *x = e.ents[i];

		if (x->link_to < 0)
			continue;
		if (e.ents[x->link_to]->failed) {
			envcp_ent_issue(x, false, "not linked: its other name failed");
			continue;
		}
		path_of(&a, res->dst, e.ents[x->link_to]->rel);
		path_of(&b, res->dst, x->rel);
		if (link(a.data, b.data) < 0)
			envcp_ent_issue(x, false, "link to %s: %s", e.ents[x->link_to]->rel,
					strerror(errno));
		else
			res->st.hardlinks++;
	}
	rc = write_marker(&e);
	if (rc < 0)
		fprintf(stderr, "bramble envcp: cannot write %s/%s: %s\n", res->dst,
			ENVCP_MARKER, strerror(-rc));
	for (size_t i = e.n; i-- > 0;) {
		struct envcp_ent *x = e.ents[i];

		if (!S_ISDIR(x->st.st_mode))
			continue;
		res->st.dirs++;
		path_of(&a, res->dst, x->rel);
		if (set_dir_meta(&e, a.data, &x->st, (x->st.st_mode & 0777) | 0700) < 0)
			envcp_ent_issue(x, false, "directory attributes: %s", strerror(errno));
	}
	if (set_dir_meta(&e, res->dst, &rootst, (mode_t)-1) < 0 && rc == 0) {
		rc = -errno;
		fprintf(stderr, "bramble envcp: %s: %s\n", res->dst, strerror(-rc));
	}
out:
	for (size_t i = 0; i < e.n; i++) {
		struct envcp_ent *x = e.ents[i];

		if (x->msg) {
			res->issues = xrealloc(res->issues, (res->nissues + 1) * sizeof(*res->issues));
			res->issues[res->nissues++] = (struct envcp_issue){
				.path = x->rel, .msg = x->msg, .unsafe = x->unsafe };
			x->rel = NULL;
			if (x->failed)
				res->st.errors++;
		}
		free(x->rel);
		free(x);
	}
	if (res->nissues)
		qsort(res->issues, res->nissues, sizeof(*res->issues), cmp_issue);
	free(e.ents);
	free(e.inodes);
	free(th);
	envcp_marker_release(&e.mk);
	buf_release(&a);
	buf_release(&b);
	umask(old_umask);
	res->seconds = (double)(now_ns() - t0) / 1e9;
	live = NULL;
	return rc;
}

void envcp_result_release(struct envcp_result *res)
{
	free(res->src);
	free(res->dst);
	free(res->old_prefix);
	free(res->new_prefix);
	for (size_t i = 0; i < res->nissues; i++) {
		free(res->issues[i].path);
		free(res->issues[i].msg);
	}
	free(res->issues);
	memset(res, 0, sizeof(*res));
}
