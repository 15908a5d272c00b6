/* orphans.c - files removed while open, kept in the orphan directory
 * (orphans.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "orphans.h"
#include "util.h"
#include "xalloc.h"

struct orphan {
	dev_t dev;
	ino_t ino;
	uint64_t client;
	char *path;                     /* its link in the orphan directory */
	struct orphan *next;
};

struct orphans {
	pthread_mutex_t lock;
	struct orphan *list;            /* protected by lock; short */
	atomic_uint count;              /* written under lock */
};

struct orphans *orphans_new(void)
{
	struct orphans *o = xcalloc(1, sizeof(*o));

	pthread_mutex_init(&o->lock, NULL);
	return o;
}

void orphans_free(struct orphans *o)
{
	if (!o)
		return;
	while (o->list) {
		struct orphan *e = o->list;

		o->list = e->next;
		free(e->path);
		free(e);
	}
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static void add(struct orphans *o, dev_t dev, ino_t ino, uint64_t client,
		char *path)
{
	struct orphan *e = xcalloc(1, sizeof(*e));

	e->dev = dev;
	e->ino = ino;
	e->client = client;
	e->path = path;
	pthread_mutex_lock(&o->lock);
	e->next = o->list;
	o->list = e;
	atomic_fetch_add(&o->count, 1);
	pthread_mutex_unlock(&o->lock);
}

/* Unlink and free a list of entries taken off the table (as root: the
 * orphan directory is root's).  The last unlink frees the blocks. */
static void drop_all(struct orphan *dead)
{
	while (dead) {
		struct orphan *e = dead;

		dead = e->next;
		if (unlink(e->path) < 0 && errno != ENOENT)
			log_warn("cannot remove orphan '%s': %s", e->path, strerror(errno));
		free(e->path);
		free(e);
	}
}

/* Take client's entries (by_ino: only those of dev, ino) off the table. */
static struct orphan *take(struct orphans *o, uint64_t client, bool by_ino,
			   dev_t dev, ino_t ino)
{
	struct orphan *dead = NULL, **pp;

	pthread_mutex_lock(&o->lock);
	pp = &o->list;
	while (*pp) {
		struct orphan *e = *pp;

		if (e->client == client && (!by_ino || (e->dev == dev && e->ino == ino))) {
			*pp = e->next;
			e->next = dead;
			dead = e;
			atomic_fetch_sub(&o->count, 1);
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&o->lock);
	return dead;
}

static char *dir_path(const char *export_path)
{
	char *p;

	if (asprintf(&p, "%s/%s", strcmp(export_path, "/") ? export_path : "",
		     ORPHAN_DIR) < 0)
		abort();
	return p;
}

int orphans_load(struct orphans *o, const char *export_path,
		 void (*fn)(void *arg, uint64_t client), void *arg)
{
	char *dpath = dir_path(export_path);
	DIR *d = opendir(dpath);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		rc = errno == ENOENT ? 0 : -errno;
		free(dpath);
		return rc;
	}
	while ((de = readdir(d))) {
		uint64_t client;
		struct stat st;
		char *path;

		if (de->d_name[0] == '.' ||
		    sscanf(de->d_name, "%16" SCNx64 ".", &client) != 1)
			continue;
		if (asprintf(&path, "%s/%s", dpath, de->d_name) < 0)
			abort();
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		add(o, st.st_dev, st.st_ino, client, path);
		fn(arg, client);
	}
	closedir(d);
	if (atomic_load(&o->count))
		log_info("%u orphan%s kept from before the restart in %s",
			 atomic_load(&o->count), atomic_load(&o->count) == 1 ? "" : "s",
			 dpath);
	free(dpath);
	return 0;
}

/* The orphan directory of an export, made 0700 root when missing.  Its fd
 * (O_PATH) or -errno. */
static int open_dir(const char *dpath)
{
	struct stat st;
	int fd;

	if (mkdir(dpath, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dpath, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 0077)) {
		log_warn_rl("'%s' is not a directory only root may use: open files "
			    "removed on the mounts are removed at once", dpath);
		close(fd);
		return -EPERM;
	}
	return fd;
}

int orphans_remove(struct orphans *o, const char *export_path, int dirfd,
		   const char *name, const struct stat *st, uint64_t client,
		   int (*become_user)(void *arg), void (*become_root)(void *arg),
		   void *arg)
{
	char *dpath = dir_path(export_path), oname[40], *opath = NULL;
	uint64_t rnd = 0;
	int ofd = -1, ffd = -1, rc;

	ofd = open_dir(dpath);
	rc = ofd < 0 ? ofd : 0;
	/* The file itself, so the link is to what was checked. */
	if (rc == 0) {
		ffd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (ffd < 0)
			rc = -errno;
	}
	if (rc == 0 && getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)now_ns();
	snprintf(oname, sizeof(oname), "%016" PRIx64 ".%016" PRIx64, client, rnd);
	if (rc == 0 && linkat(ffd, "", ofd, oname, AT_EMPTY_PATH) < 0)
		rc = -errno;
	if (rc == 0) {
		/* The removal is the caller's, with its permission checks. */
		rc = become_user(arg);
		if (rc == 0 && unlinkat(dirfd, name, 0) < 0)
			rc = -errno;
		become_root(arg);
		if (rc < 0)
			unlinkat(ofd, oname, 0);
	}
	if (rc == 0) {
		if (asprintf(&opath, "%s/%s", dpath, oname) < 0)
			abort();
		add(o, st->st_dev, st->st_ino, client, opath);
	}
	if (ffd >= 0)
		close(ffd);
	if (ofd >= 0)
		close(ofd);
	free(dpath);
	return rc;
}

bool orphans_is(struct orphans *o, dev_t dev, ino_t ino)
{
	bool is = false;

	if (!o || atomic_load(&o->count) == 0)
		return false;
	pthread_mutex_lock(&o->lock);
	for (struct orphan *e = o->list; e && !is; e = e->next)
		is = e->dev == dev && e->ino == ino;
	pthread_mutex_unlock(&o->lock);
	return is;
}

void orphans_release(struct orphans *o, uint64_t client, dev_t dev, ino_t ino)
{
	if (o && atomic_load(&o->count))
		drop_all(take(o, client, true, dev, ino));
}

void orphans_client_gone(struct orphans *o, uint64_t client)
{
	if (o && atomic_load(&o->count))
		drop_all(take(o, client, false, 0, 0));
}

unsigned int orphans_count(struct orphans *o)
{
	return atomic_load(&o->count);
}
