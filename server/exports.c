/* exports.c - the live set of exports: opening, lookups, reload (exports.h).
 * Reading the exports file is exports_parse.c's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exports.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

#define EXPORTS_FILE_MAX (1 << 20)      /* bytes: a file bigger is a mistake */
#define EXPORTS_CACHE_MIN 64            /* decoded handles per export, at least */

/* ---- entries and tables */

static void entry_free(struct exports_entry *e)
{
	if (!e)
		return;
	export_close(e->ex);
	allow_release(&e->allow);
	free(e->name);
	free(e->path);
	free(e);
}

static struct exports_entry *entry_ref(struct exports_entry *e)
{
	atomic_fetch_add(&e->refs, 1);
	return e;
}

void exports_unref(struct exports_entry *e)
{
	/* The last reference frees the export and closes its cached fds. */
	if (e && atomic_fetch_sub(&e->refs, 1) == 1)
		entry_free(e);
}

/* ---- opening */

static int read_text(const char *file, char **out, struct buf *err)
{
	struct buf b = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		rc = -errno;
		buf_addf(err, "cannot read exports file '%s': %s\n", file, strerror(-rc));
		return rc;
	}
	while ((n = read_full(fd, chunk, sizeof(chunk))) > 0) {
		buf_add(&b, chunk, (size_t)n);
		if (b.len > EXPORTS_FILE_MAX) {
			n = -EFBIG;
			break;
		}
	}
	close(fd);
	if (n < 0) {
		rc = (int)n;
		buf_addf(err, "cannot read exports file '%s': %s\n", file, strerror(-rc));
		buf_release(&b);
		return rc;
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

/* Kernel handles, or the persistent table (--handles): the table where
 * asked, or where the filesystem cannot make kernel handles. */
static int entry_handles(struct exports_entry *e, const struct exports_defaults *d,
			 const char *where, struct buf *err)
{
	char msg[512];
	bool kernel = export_kernel_handles(e->ex);
	int rc;

	if (d->handles == EXPORT_HANDLES_KERNEL || (kernel && d->handles == EXPORT_HANDLES_AUTO)) {
		if (kernel)
			return 0;
		buf_addf(err, "%scannot export '%s': its filesystem does not support "
			 "file handles (try --handles=table)\n", where, e->path);
		return -EOPNOTSUPP;
	}
	if (!d->db_path) {
		buf_addf(err, "%scannot export '%s': no database for a handle table\n",
			 where, e->path);
		return -EOPNOTSUPP;
	}
	rc = export_use_table(e->ex, d->db_path, e->name, msg, sizeof(msg));
	if (rc < 0)
		buf_addf(err, "%scannot export '%s': %s\n", where, e->path, msg);
	return rc;
}

static int entry_open(struct exports_entry *e, const char *file,
		      const unsigned char *key, unsigned int cache_max,
		      const struct exports_defaults *d, struct buf *err)
{
	struct stat st;
	char where[4200];
	int rc;

	if (file)
		snprintf(where, sizeof(where), "%s:%u: ", file, e->line);
	else
		where[0] = '\0';
	if (stat(e->path, &st) < 0) {
		rc = -errno;
		buf_addf(err, "%scannot export '%s': %s\n", where, e->path, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		buf_addf(err, "%scannot export '%s': not a directory\n", where, e->path);
		return -ENOTDIR;
	}
	rc = export_open_id(e->path, e->id, key, cache_max, &e->ex);
	if (rc < 0) {
		buf_addf(err, "%scannot export '%s': %s\n", where, e->path, strerror(-rc));
		return rc;
	}
	rc = entry_handles(e, d, where, err);
	if (rc < 0)
		return rc;
	e->local = export_is_local(e->ex);
	return 0;
}

static bool same_options(const struct exports_entry *a, const struct exports_entry *b)
{
	return !strcmp(a->path, b->path) && a->id == b->id &&
	       a->read_only == b->read_only && a->root_squash == b->root_squash &&
	       a->auth == b->auth && a->allow.n == b->allow.n &&
	       !memcmp(a->allow.nets, b->allow.nets, a->allow.n * sizeof(*a->allow.nets));
}

/* Is e's open root still what its path leads to?  A directory removed and
 * made again under the same path is another export. */
static bool same_dir(const struct exports_entry *e)
{
	struct stat now, open;

	return stat(e->path, &now) == 0 && fstat(export_root_fd(e->ex), &open) == 0 &&
	       now.st_dev == open.st_dev && now.st_ino == open.st_ino;
}

static struct exports_entry *find_name(const struct exports_table *t, const char *name)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (!strcmp(t->v[i]->name, name))
			return t->v[i];
	return NULL;
}

/* Open every export of t; one unchanged since prev is taken over from it
 * (same object, same cache).  Every failure is reported. */
static int table_open(struct exports *xs, struct exports_table *t,
		      const struct exports_table *prev, struct buf *err)
{
	unsigned int per = BR_MAX(EXPORTS_CACHE_MIN, xs->cache_max / (unsigned int)t->n);
	int rc = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct exports_entry *old = find_name(prev, t->v[i]->name);
		int r;

		if (old && same_options(old, t->v[i]) && same_dir(old)) {
			exports_unref(t->v[i]);
			t->v[i] = entry_ref(old);
			continue;
		}
		r = entry_open(t->v[i], xs->file, xs->key, per, &xs->def, err);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

static struct exports *set_new(const char *file, const struct exports_defaults *d,
			       const unsigned char *key, unsigned int cache_max)
{
	struct exports *xs = xcalloc(1, sizeof(*xs));

	pthread_mutex_init(&xs->lock, NULL);
	xs->file = file ? xstrdup(file) : NULL;
	xs->def = *d;
	xs->def.allow = d->allow ? xstrdup(d->allow) : NULL;
	xs->def.db_path = d->db_path ? xstrdup(d->db_path) : NULL;
	memcpy(xs->key, key, EXPORT_KEY_LEN);
	xs->cache_max = cache_max;
	return xs;
}

/* Read, parse and open the file: a complete table or -errno. */
static int load_file(struct exports *xs, const struct exports_table *prev,
		     struct exports_table **out, struct buf *err)
{
	struct exports_table *t = NULL;
	char *text = NULL;
	int rc = read_text(xs->file, &text, err);

	if (rc == 0)
		rc = exports_parse(xs->file, text, &xs->def, &t, err);
	free(text);
	if (rc == 0)
		rc = table_open(xs, t, prev, err);
	if (rc < 0)
		exports_table_free(t);
	else
		*out = t;
	return rc;
}

int exports_new_file(const char *file, const struct exports_defaults *d,
		     const unsigned char key[EXPORT_KEY_LEN], unsigned int cache_max,
		     struct exports **out, struct buf *err)
{
	struct exports *xs = set_new(file, d, key, cache_max);
	int rc = load_file(xs, NULL, &xs->cur, err);

	if (rc < 0)
		exports_free(xs);
	else
		*out = xs;
	return rc;
}

int exports_new_dir(const char *dir, const struct exports_defaults *d,
		    const unsigned char key[EXPORT_KEY_LEN], unsigned int cache_max,
		    struct exports **out, struct buf *err)
{
	struct exports *xs = set_new(NULL, d, key, cache_max);
	struct exports_entry *e = xcalloc(1, sizeof(*e));
	const char *base;
	char real[PATH_MAX];
	int rc = 0;

	atomic_init(&e->refs, 1);
	/* The command line may say "../x" or name a symlink: the export is
	 * the directory it leads to. */
	if (!realpath(dir, real)) {
		rc = -errno;
		buf_addf(err, "cannot export '%s': %s\n", dir, strerror(-rc));
		goto out;
	}
	e->path = xstrdup(real);
	/* Named after its directory, so that moving it into an exports file
	 * as "NAME DIR" keeps every handle valid. */
	base = strrchr(e->path, '/') + 1;
	e->name = xstrdup(*base && exports_name_ok(base) ? base : "root");
	e->id = exports_name_id(e->name);
	e->read_only = d->read_only;
	e->root_squash = d->root_squash;
	e->auth = d->auth;
	if (allow_parse(&e->allow, d->allow ? d->allow : "127.0.0.0/8") < 0) {
		buf_addf(err, "--allow: '%s' is not a list of networks\n", d->allow);
		rc = -EINVAL;
		goto out;
	}
	rc = entry_open(e, NULL, key, cache_max, d, err);
out:
	xs->cur = xcalloc(1, sizeof(*xs->cur));
	exports_table_add(xs->cur, e);
	if (rc < 0)
		exports_free(xs);
	else
		*out = xs;
	return rc;
}

void exports_free(struct exports *xs)
{
	if (!xs)
		return;
	exports_table_free(xs->cur);
	pthread_mutex_destroy(&xs->lock);
	sodium_memzero(xs->key, sizeof(xs->key));
	free((char *)xs->def.allow);
	free((char *)xs->def.db_path);
	free(xs->file);
	free(xs);
}

void exports_log(struct exports *xs)
{
	pthread_mutex_lock(&xs->lock);
	for (size_t i = 0; i < xs->cur->n; i++) {
		const struct exports_entry *e = xs->cur->v[i];

		log_info("export '%s' (id %u): %s, %s, %s%s, %zu network%s%s", e->name,
			 e->id, e->path, e->read_only ? "read-only" : "read-write",
			 e->root_squash ? "root squashed" : "root not squashed",
			 e->auth == EXPORT_AUTH_MUNGE ? ", auth munge" : "",
			 e->allow.n, e->allow.n == 1 ? "" : "s",
			 e->local ? "" : "; not a known local filesystem: every "
					 "call goes to the workers");
	}
	pthread_mutex_unlock(&xs->lock);
}

void exports_each(struct exports *xs, void (*fn)(void *arg, const struct exports_entry *e),
		  void *arg)
{
	pthread_mutex_lock(&xs->lock);
	for (size_t i = 0; i < xs->cur->n; i++)
		fn(arg, xs->cur->v[i]);
	pthread_mutex_unlock(&xs->lock);
}

static void summarize(const struct exports_table *old, const struct exports_table *new,
		      struct buf *out)
{
	size_t added = 0, removed = 0, changed = 0;

	buf_addf(out, "%zu export%s", new->n, new->n == 1 ? "" : "s");
	for (size_t i = 0; i < new->n; i++) {
		struct exports_entry *o = find_name(old, new->v[i]->name);

		if (!o)
			buf_addf(out, "%s added '%s'", added++ ? "," : ";", new->v[i]->name);
	}
	for (size_t i = 0; i < old->n; i++) {
		if (!find_name(new, old->v[i]->name))
			buf_addf(out, "%s removed '%s'", removed++ ? "," : ";",
				 old->v[i]->name);
	}
	for (size_t i = 0; i < new->n; i++) {
		struct exports_entry *o = find_name(old, new->v[i]->name);

		if (o && o != new->v[i])
			buf_addf(out, "%s changed '%s'", changed++ ? "," : ";",
				 new->v[i]->name);
	}
	if (!added && !removed && !changed)
		buf_adds(out, "; nothing changed");
}

int exports_reload(struct exports *xs, struct buf *summary, struct buf *err)
{
	struct exports_table *t = NULL, *old;
	int rc;

	if (!xs->file)
		return 0;
	/* Only the loop thread swaps tables, so reading xs->cur here
	 * without the lock races with nobody. */
	rc = load_file(xs, xs->cur, &t, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&xs->lock);
	old = xs->cur;
	xs->cur = t;
	pthread_mutex_unlock(&xs->lock);
	summarize(old, t, summary);
	/* Entries still used by a call live on until it drops them. */
	exports_table_free(old);
	return 0;
}

/* ---- lookups */

struct exports_entry *exports_get_id(struct exports *xs, uint16_t id)
{
	struct exports_entry *e = NULL;

	pthread_mutex_lock(&xs->lock);
	for (size_t i = 0; i < xs->cur->n; i++) {
		if (xs->cur->v[i]->id == id) {
			e = entry_ref(xs->cur->v[i]);
			break;
		}
	}
	pthread_mutex_unlock(&xs->lock);
	return e;
}

struct exports_entry *exports_get_name(struct exports *xs, const char *name)
{
	struct exports_entry *e;

	pthread_mutex_lock(&xs->lock);
	e = find_name(xs->cur, name);
	if (e)
		entry_ref(e);
	pthread_mutex_unlock(&xs->lock);
	return e;
}

struct exports_entry *exports_get_fh(struct exports *xs, const void *fh, size_t len)
{
	uint16_t id;

	if (export_fh_id(fh, len, &id) < 0)
		return NULL;
	return exports_get_id(xs, id);
}

size_t exports_count(struct exports *xs)
{
	size_t n;

	pthread_mutex_lock(&xs->lock);
	n = xs->cur->n;
	pthread_mutex_unlock(&xs->lock);
	return n;
}

/* Does the path (no leading '/') lie at or beneath e's path?  The length
 * of e's path without its '/', or -1. */
static long path_prefix(const struct exports_entry *e, const char *path)
{
	const char *ep = e->path + 1;
	size_t el = strlen(ep);

	if (el == 0)
		return 0;               /* "/" holds everything */
	if (strncmp(path, ep, el) || (path[el] && path[el] != '/'))
		return -1;
	return (long)el;
}

static const char *skip_slashes(const char *s)
{
	while (*s == '/')
		s++;
	return s;
}

int exports_find_mount(struct exports *xs, const char *path,
		       struct exports_entry **out, const char **rest)
{
	const struct exports_table *t;
	struct exports_entry *e = NULL;
	const char *p = skip_slashes(path), *r = p;
	size_t first = strcspn(p, "/");
	long best = -1;

	pthread_mutex_lock(&xs->lock);
	t = xs->cur;
	for (size_t i = 0; *p && i < t->n && !e; i++) {
		if (strlen(t->v[i]->name) == first && !strncmp(t->v[i]->name, p, first)) {
			e = t->v[i];
			r = p + first;
		}
	}
	for (size_t i = 0; *p && i < t->n && !e; i++) {
		long l = path_prefix(t->v[i], p);

		if (l > best) {
			best = l;
			r = p + l;
		}
	}
	for (size_t i = 0; best >= 0 && i < t->n; i++)
		if (path_prefix(t->v[i], p) == best) {
			e = t->v[i];
			break;
		}
	if (!e && t->n == 1) {
		e = t->v[0];            /* "", "/", "sub": as with one --export */
		r = p;
	}
	if (e)
		entry_ref(e);
	pthread_mutex_unlock(&xs->lock);
	if (!e)
		return -ENOENT;
	*out = e;
	*rest = skip_slashes(r);
	return 0;
}

/* ---- networks */

bool exports_entry_allows(const struct exports_entry *e, const struct sockaddr *peer)
{
	return allow_match(&e->allow, peer);
}

bool exports_accepts(struct exports *xs, const struct sockaddr *sa)
{
	bool ok = false;

	pthread_mutex_lock(&xs->lock);
	for (size_t i = 0; i < xs->cur->n && !ok; i++)
		ok = allow_match(&xs->cur->v[i]->allow, sa);
	pthread_mutex_unlock(&xs->lock);
	return ok;
}

void exports_describe(struct exports *xs, const struct sockaddr *peer,
		      struct buf *out, bool *read_only)
{
	const struct exports_table *t;
	size_t shown = 0;

	*read_only = true;
	pthread_mutex_lock(&xs->lock);
	t = xs->cur;
	if (t->n == 1) {
		/* One export: its path, as INFO always said. */
		buf_adds(out, t->v[0]->path);
		*read_only = t->v[0]->read_only;
	}
	for (size_t i = 0; t->n > 1 && i < t->n; i++) {
		const struct exports_entry *e = t->v[i];

		if (!exports_entry_allows(e, peer))
			continue;
		/* INFO's text field is bounded: keep well inside it. */
		if (out->len + strlen(e->name) + strlen(e->path) + 16 > BR_PATH_MAX) {
			buf_adds(out, "; ...");
			break;
		}
		buf_addf(out, "%s%s=%s%s", shown++ ? "; " : "", e->name, e->path,
			 e->read_only ? " (ro)" : "");
		*read_only = *read_only && e->read_only;
	}
	if (t->n > 1 && !shown)
		*read_only = false;
	pthread_mutex_unlock(&xs->lock);
}
