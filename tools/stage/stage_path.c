/* stage_path.c - staging (stage_int.h): a path to its mount and handle,
 * resolved as the user staging is for, without touching the mounts.
 *
 * A Prolog runs `bramble stage` as root for the job's user.  A stat or
 * realpath through the mount would reach the server with root's
 * credentials, which it squashes (a file in the user's 0700 directory:
 * "Permission denied", though the user may read it), and would wait for a
 * server that is down.  So the path is resolved as realpath(3) does, one
 * component at a time: outside bramblefs mounts locally (lstat,
 * readlink), inside them with LOOKUP and READLINK on the mount's server,
 * as the user (s->cred) -- the server checks every step with the user's
 * rights.  Mount points come from /proc/self/mountinfo, read once; only
 * a mount's .bramble (answered by bramblefs itself) is read through it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mountinfo.h"
#include "stage_int.h"
#include "util.h"
#include "xalloc.h"

/* Every mount point of this machine, once per run. */
void stage_load_mounts(struct stage *s)
{
	struct mountinfo *v;
	size_t n;

	mountinfo_read(&v, &n);
	s->mnts = xcalloc(n ? n : 1, sizeof(*s->mnts));
	for (size_t i = 0; i < n; i++) {
		s->mnts[i].dir = v[i].dir;
		v[i].dir = NULL;        /* s->mnts's now */
		s->mnts[i].bramble = !strcmp(v[i].type, BRAMBLE_MOUNT_TYPE);
	}
	s->nmnts = n;
	mountinfo_free(v, n);
}

/* ---- directories resolved already (this run): a learned set names
 * thousands of files in a few hundred directories; each directory is
 * looked up once, each file then costs the LOOKUP of its own name.  Keys
 * are resolved paths (no symlink, "." or ".." in them): such a path,
 * given again, resolves to the same directory (within one run). */
struct sdir {
	struct hashtab_node hn;
	struct smount *m;
	struct bramble_fh fh;
	struct stat st;
	size_t len;
	char path[];
};

static bool sdir_is(const struct hashtab_node *n, const void *key)
{
	const struct sdir *d = HASHTAB_ENTRY(n, struct sdir, hn);
	const struct sdir *k = key;

	return d->len == k->len && !memcmp(d->path, k->path, k->len);
}

static struct sdir *dir_find(struct stage *s, const char *path, size_t len)
{
	struct { struct sdir d; char buf[4096]; } k;
	struct hashtab_node *n;

	if (!s->dirs_init || len >= sizeof(k.buf))
		return NULL;
	k.d.len = len;
	memcpy(k.d.path, path, len);
	n = hashtab_find(&s->dirs, hash_bytes(path, len), sdir_is, &k.d);
	return n ? HASHTAB_ENTRY(n, struct sdir, hn) : NULL;
}

static void dir_add(struct stage *s, const char *path, struct smount *m,
		    const struct bramble_fh *fh, const struct stat *st)
{
	size_t len = strlen(path);
	struct sdir *d;

	if (!S_ISDIR(st->st_mode) || dir_find(s, path, len))
		return;
	if (!s->dirs_init) {
		hashtab_init(&s->dirs, 256);
		s->dirs_init = true;
	}
	d = xmalloc(sizeof(*d) + len + 1);
	d->m = m;
	d->fh = *fh;
	d->st = *st;
	d->len = len;
	memcpy(d->path, path, len + 1);
	hashtab_insert(&s->dirs, &d->hn, hash_bytes(path, len));
}

static int dir_free(struct hashtab_node *n, void *arg)
{
	(void)arg;
	free(HASHTAB_ENTRY(n, struct sdir, hn));
	return 0;
}

void stage_forget_dirs(struct stage *s)
{
	if (!s->dirs_init)
		return;
	hashtab_foreach(&s->dirs, dir_free, NULL);
	hashtab_release(&s->dirs);
	s->dirs_init = false;
}

/* The mount on dir (absolute, resolved): the last one mounted there. */
static const struct smnt *mnt_at(const struct stage *s, const char *dir)
{
	for (size_t i = s->nmnts; i-- > 0;)
		if (!strcmp(s->mnts[i].dir, dir))
			return &s->mnts[i];
	return NULL;
}

#define MAX_LINKS 40

/* Where resolve() is: cur is the resolved absolute path so far ("" for
 * "/"); inside a bramble mount m, fhs[depth] is cur's handle (fhs[0] the
 * mount's root); rest[pos...] is what is left to resolve. */
struct res {
	struct stage *s;
	struct buf cur, rest;
	size_t pos;
	struct smount *m;
	struct bramble_fh *fhs;
	size_t depth, cap;
	unsigned int links;
	bool st_ok;                /* *st describes cur */
};

static void res_push(struct res *r, const struct bramble_fh *fh)
{
	if (r->depth + 1 >= r->cap) {
		r->cap *= 2;
		r->fhs = xrealloc(r->fhs, r->cap * sizeof(*r->fhs));
	}
	r->fhs[++r->depth] = *fh;
}

/* Continue with text (a link's target, or cur when starting over after
 * "..") followed by what was left. */
static int res_splice(struct res *r, const char *text, bool link)
{
	struct buf n = BUF_INIT;

	if (link && ++r->links > MAX_LINKS)
		return -ELOOP;
	buf_addf(&n, "%s/%s", text, r->rest.data + r->pos);
	buf_release(&r->rest);
	r->rest = n;
	r->pos = 0;
	if (text[0] == '/') {
		buf_setlen(&r->cur, 0);
		r->m = NULL;
		r->depth = 0;
	}
	return 0;
}

/* cand is a mount point: a bramble mount's root (connected, its root's
 * handle and attributes as the user), or another filesystem. */
static int res_enter(struct res *r, const struct smnt *mt, const char *cand,
		     struct stat *st, char *err, size_t len)
{
	struct target t;
	int rc;

	r->m = NULL;
	r->depth = 0;
	r->st_ok = false;
	if (!mt->bramble)
		return 0;
	rc = target_mount_root(cand, &t);
	if (rc < 0) {
		if (rc == -EPROTO)
			snprintf(err, len, "its mount's .bramble names no server");
		else
			snprintf(err, len, "cannot read %s/.bramble: %s", cand, strerror(-rc));
		return rc;
	}
	r->m = stage_mount_for(r->s, &t, err, len);
	if (!r->m)
		return -EIO;
	r->fhs[0] = r->m->root;
	rc = bramble_getattr(r->m->b, &r->s->cred, &r->m->root, st);
	r->st_ok = rc == 0;
	if (rc == 0)
		dir_add(r->s, cand, r->m, &r->m->root, st);
	return rc;
}

/* One component c of the path, from cur. */
static int res_step(struct res *r, const char *c, struct stat *st, char *err, size_t len)
{
	struct buf cand = BUF_INIT;
	const struct smnt *mt;
	struct bramble_fh next;
	char target[4096];
	ssize_t n;
	int rc = 0;

	if (!strcmp(c, "..")) {
		char *slash = strrchr(r->cur.data, '/');

		char *up;

		buf_setlen(&r->cur, slash ? (size_t)(slash - r->cur.data) : 0);
		if (r->m && r->depth > 0) {
			r->depth--;
			r->st_ok = false;
			return 0;
		}
		/* Out of a mount's root, or outside any: start again from the
		 * parent, so that the mount it is in (if any) is found. */
		up = xstrdup(r->cur.len ? r->cur.data : "/");
		rc = res_splice(r, up, false);
		free(up);
		return rc;
	}
	buf_addf(&cand, "%s/%s", r->cur.data, c);
	mt = mnt_at(r->s, cand.data);
	if (mt) {
		rc = res_enter(r, mt, cand.data, st, err, len);
	} else if (r->m) {
		rc = bramble_lookup(r->m->b, &r->s->cred, &r->fhs[r->depth], c, &next, st);
		if (rc == 0 && S_ISLNK(st->st_mode)) {
			n = bramble_readlink(r->m->b, &r->s->cred, &next, target, sizeof(target) - 1);
			if (n < 0)
				rc = (int)n;
			else
				target[n] = '\0';
			rc = rc < 0 ? rc : res_splice(r, target, true);
			goto out;
		}
		if (rc == 0) {
			res_push(r, &next);
			r->st_ok = true;
			dir_add(r->s, cand.data, r->m, &next, st);
		}
	} else {
		rc = lstat(cand.data, st) < 0 ? -errno : 0;
		if (rc == 0 && S_ISLNK(st->st_mode)) {
			n = readlink(cand.data, target, sizeof(target) - 1);
			if (n < 0)
				rc = -errno;
			else
				target[n] = '\0';
			rc = rc < 0 ? rc : res_splice(r, target, true);
			goto out;
		}
	}
	if (rc == 0) {
		struct buf old = r->cur;

		r->cur = cand;
		cand = old;
	}
out:
	buf_release(&cand);
	return rc;
}

/* Start from the longest leading part of r->rest that is a directory
 * resolved already, if any. */
static void start_known(struct res *r, struct stat *st)
{
	const char *p = r->rest.data;
	size_t len = r->rest.len;

	while (len > 1) {
		struct sdir *d;

		while (len > 1 && p[len - 1] == '/')
			len--;
		d = dir_find(r->s, p, len);
		if (d) {
			buf_add(&r->cur, p, len);
			r->pos = len;
			r->m = d->m;
			r->fhs[0] = d->fh;
			r->depth = 0;
			*st = d->st;
			r->st_ok = true;
			return;
		}
		while (len > 0 && p[len - 1] != '/')
			len--;
	}
}

/* path resolved as realpath(3) would, then to a handle, as the user
 * (s->cred): components outside bramblefs mounts are looked at locally
 * (lstat, readlink), those inside with LOOKUP and READLINK on the mount's
 * server -- never through the mount, whose calls would carry this
 * process's credentials (root's, squashed by the server, in a Prolog)
 * and wait for a server that is down.  0 with *mp NULL: not in a bramble
 * mount.  -errno, with err set when it is not strerror's. */
int stage_resolve(struct stage *s, const char *path, struct smount **mp,
		   struct bramble_fh *fh, struct stat *st, char *err, size_t len)
{
	struct res r = { .s = s, .cur = BUF_INIT, .rest = BUF_INIT };
	char cwd[4096];
	int rc = 0;

	*mp = NULL;
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		buf_addf(&r.rest, "%s/", cwd);
	}
	buf_adds(&r.rest, path);
	r.cap = 16;
	r.fhs = xmalloc(r.cap * sizeof(*r.fhs));
	start_known(&r, st);
	while (rc == 0) {
		const char *p = r.rest.data + r.pos;
		size_t n;
		char *c;

		p += strspn(p, "/");
		if (!*p)
			break;
		n = strcspn(p, "/");
		c = xstrndup(p, n);
		r.pos = (size_t)(p - r.rest.data) + n;
		if (strcmp(c, "."))
			rc = res_step(&r, c, st, err, len);
		free(c);
	}
	if (rc == 0 && r.m && !r.st_ok)
		rc = bramble_getattr(r.m->b, &s->cred, &r.fhs[r.depth], st);
	if (rc == 0 && r.m) {
		*mp = r.m;
		*fh = r.fhs[r.depth];
	}
	buf_release(&r.cur);
	buf_release(&r.rest);
	free(r.fhs);
	return rc;
}

