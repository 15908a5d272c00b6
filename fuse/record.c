/* record.c - learned input sets (see record.h): the sets, their files and
 * the writer thread; the name map that turns handles into paths is
 * recname.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bramble_ctl.h"
#include "hashtab.h"
#include "log.h"
#include "recjob.h"
#include "recname.h"
#include "record.h"
#include "util.h"
#include "xalloc.h"

#define JOB_MAX RECJOB_MAX
#define SWEEP_NS (30 * 1000000000LL)
#define SWEEP_BATCH 1024           /* buckets per hold of the lock */
#define ESC_MAX (2 * BRAMBLE_PATH_MAX + 4)  /* an escaped path */

/* A path of a set: hash and offset + 1 of its line in text (0: free).
 * An open-addressing array, not common/hashtab: 16 bytes per path that
 * point into text, no allocation per path (a set holds thousands). */
struct pslot {
	uint64_t h;
	size_t off1;
};

struct rset {
	struct rset *next;
	char job[JOB_MAX];
	struct buf text;           /* escaped lines, first-open order */
	struct pslot *tab;         /* open addressing over text's lines */
	size_t tabn, npaths;
	bool truncated, dirty;
	uint64_t pass;             /* flush pass that last looked at it */
	int64_t active;            /* last open of this job */
};

struct record_counters {
	uint64_t opens, added, no_job, unresolved, writes, write_errors,
		 loaded, evicted;
};

struct record {
	char *dir;
	int dirfd, lockfd;
	pthread_mutex_t lock;
	/* protected by lock: */
	struct recname names;
	struct rset *sets;
	size_t nsets;
	uint64_t pass;
	struct record_counters c;
	bool stop;
	pthread_cond_t wake;
	struct recjob *jobs;       /* pid -> job (recjob.h); own lock */
	pthread_mutex_t flush_lock;  /* one flush at a time */
	pthread_t thr;
	bool started;
	struct bfs *fs;
};

/* ---- sets (caller holds r->lock, except for a set not yet linked) */

static bool line_eq(const struct rset *s, size_t off, const char *line, size_t n)
{
	return off + n < s->text.len && !memcmp(s->text.data + off, line, n) &&
	       s->text.data[off + n] == '\n';
}

static void tab_put(struct pslot *tab, size_t tabn, uint64_t h, size_t off1)
{
	size_t i = h & (tabn - 1);

	while (tab[i].off1)
		i = (i + 1) & (tabn - 1);
	tab[i].h = h;
	tab[i].off1 = off1;
}

/* Add line (escaped, without '\n') unless there or the set is full.
 * True when added. */
static bool set_add(struct rset *s, const char *line, size_t n)
{
	uint64_t h = hash_bytes(line, n);

	for (size_t i = h & (s->tabn - 1); s->tab[i].off1; i = (i + 1) & (s->tabn - 1))
		if (s->tab[i].h == h && line_eq(s, s->tab[i].off1 - 1, line, n))
			return false;
	if (s->npaths >= RECORD_MAX_PATHS || s->text.len + n + 1 > RECORD_MAX_BYTES) {
		if (!s->truncated)
			log_warn("record: job %s opened more than %u paths or %u MiB "
				 "of names: its set is truncated", s->job,
				 RECORD_MAX_PATHS, RECORD_MAX_BYTES >> 20);
		s->dirty |= !s->truncated;
		s->truncated = true;
		return false;
	}
	if ((s->npaths + 1) * 2 > s->tabn) {
		struct pslot *old = s->tab;
		size_t oldn = s->tabn;

		s->tabn *= 2;
		s->tab = xcalloc(s->tabn, sizeof(*s->tab));
		for (size_t i = 0; i < oldn; i++)
			if (old[i].off1)
				tab_put(s->tab, s->tabn, old[i].h, old[i].off1);
		free(old);
	}
	tab_put(s->tab, s->tabn, h, s->text.len + 1);
	buf_add(&s->text, line, n);
	buf_add(&s->text, "\n", 1);
	s->npaths++;
	s->dirty = true;
	return true;
}

static void set_free(struct rset *s)
{
	if (!s)
		return;
	buf_release(&s->text);
	free(s->tab);
	free(s);
}

static struct rset *find_set(struct record *r, const char *job)
{
	struct rset *s = r->sets;

	while (s && strcmp(s->job, job))
		s = s->next;
	return s;
}

/* A new set for job, with what DIR/job-ID.set already lists (bramblefs
 * restarted, or the set was dropped from memory while idle). */
static struct rset *set_load(struct record *r, const char *job, bool *loaded)
{
	struct rset *s = xcalloc(1, sizeof(*s));
	struct buf b = BUF_INIT;
	char name[JOB_MAX + 16];
	ssize_t n;
	int fd;

	snprintf(s->job, sizeof(s->job), "%s", job);
	buf_init(&s->text, 0);
	s->tabn = 64;
	s->tab = xcalloc(s->tabn, sizeof(*s->tab));
	*loaded = false;
	snprintf(name, sizeof(name), "job-%s.set", job);
	fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return s;
	do {
		buf_grow(&b, 65536);
		n = read(fd, b.data + b.len, 65536);
		if (n > 0)
			buf_setlen(&b, b.len + (size_t)n);
	} while (n > 0 && b.len <= RECORD_MAX_BYTES + 4096);
	close(fd);
	if (n < 0 || strncmp(b.data, RECORD_HEADER, strlen(RECORD_HEADER))) {
		log_warn("record: %s/%s: %s: starting the set afresh", r->dir, name,
			 n < 0 ? strerror(errno) : "not a learned set");
		buf_release(&b);
		return s;
	}
	for (char *p = b.data, *nl; (nl = memchr(p, '\n', b.len - (size_t)(p - b.data)));
	     p = nl + 1) {
		if (*p == '#')
			s->truncated |= !strncmp(p, "# truncated", 11);
		else if (nl > p)
			set_add(s, p, (size_t)(nl - p));
	}
	s->dirty = false;
	*loaded = true;
	buf_release(&b);
	return s;
}

/* ---- writing */

static int write_set(struct record *r, const char *job, const struct buf *text,
		     bool truncated)
{
	char name[JOB_MAX + 16], tmp[JOB_MAX + 32];
	int fd, rc = 0;

	snprintf(name, sizeof(name), "job-%s.set", job);
	snprintf(tmp, sizeof(tmp), ".job-%s.set.tmp", job);
	fd = openat(r->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, RECORD_HEADER, strlen(RECORD_HEADER));
	if (rc == 0)
		rc = write_all(fd, text->data, text->len);
	if (rc == 0 && truncated) {
		char line[160];

		snprintf(line, sizeof(line), "# truncated: more than %u paths or "
			 "%u MiB; later opens were not recorded\n",
			 RECORD_MAX_PATHS, RECORD_MAX_BYTES >> 20);
		rc = write_all(fd, line, strlen(line));
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(r->dirfd, tmp, r->dirfd, name) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(r->dirfd, tmp, 0);
	return rc;
}

/* Write every set changed since its last write, one at a time (a copy
 * taken under the lock, written without it). */
static void flush_all(struct record *r)
{
	struct buf copy = BUF_INIT;
	uint64_t pass;

	pthread_mutex_lock(&r->flush_lock);
	pthread_mutex_lock(&r->lock);
	pass = ++r->pass;
	for (;;) {
		struct rset *s = r->sets;
		char job[JOB_MAX];
		bool truncated;
		int rc;

		while (s && !(s->dirty && s->pass != pass))
			s = s->next;
		if (!s)
			break;
		s->pass = pass;
		s->dirty = false;
		truncated = s->truncated;
		memcpy(job, s->job, JOB_MAX);
		buf_reset(&copy);
		buf_add(&copy, s->text.data, s->text.len);
		pthread_mutex_unlock(&r->lock);
		rc = write_set(r, job, &copy, truncated);
		pthread_mutex_lock(&r->lock);
		if (rc == 0) {
			r->c.writes++;
			continue;
		}
		r->c.write_errors++;
		if ((s = find_set(r, job)))
			s->dirty = true;  /* next time */
		log_warn_rl("record: cannot write %s/job-%s.set: %s", r->dir, job,
			    strerror(-rc));
	}
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->flush_lock);
	buf_release(&copy);
}

/* Drop names whose handle the kernel no longer knows (the inode table
 * dropped it) and that nobody touched for SWEEP_NS: a lookup records its
 * name just before it takes the inode reference. */
static void sweep(struct record *r)
{
	struct inode_table *inodes = __atomic_load_n(&r->fs->inodes, __ATOMIC_ACQUIRE);
	int64_t old = now_ns() - SWEEP_NS;
	bool more = inodes != NULL;

	for (size_t b0 = 0; more; b0 += SWEEP_BATCH) {
		pthread_mutex_lock(&r->lock);
		more = recname_sweep(&r->names, b0, SWEEP_BATCH, old, inodes);
		pthread_mutex_unlock(&r->lock);
	}
}

/* Free sets written and idle for RECORD_IDLE_S (set_load brings them
 * back if their job opens more). */
static void evict_idle(struct record *r)
{
	int64_t old = now_ns() - RECORD_IDLE_S * 1000000000LL;

	pthread_mutex_lock(&r->lock);
	for (struct rset **pp = &r->sets; *pp;) {
		struct rset *s = *pp;

		if (!s->dirty && s->active < old) {
			*pp = s->next;
			r->nsets--;
			r->c.evicted++;
			set_free(s);
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static void *writer_main(void *arg)
{
	struct record *r = arg;
	int64_t last_sweep = now_ns();

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += RECORD_INTERVAL_S;
		pthread_cond_timedwait(&r->wake, &r->lock, &ts);
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->lock);
		flush_all(r);
		if (now_ns() - last_sweep >= SWEEP_NS) {
			sweep(r);
			evict_idle(r);
			last_sweep = now_ns();
		}
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- lifecycle */

/* mkdir -p path, 0755. */
static int mkdirs(const char *path)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c)
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

int record_new(const char *dir, struct record **out, char *err, size_t errlen)
{
	struct record *r;
	pthread_condattr_t ca;
	int rc;

	if (dir[0] != '/') {
		snprintf(err, errlen, "record=%s: not an absolute path", dir);
		return -EINVAL;
	}
	r = xcalloc(1, sizeof(*r));
	r->dir = xstrdup(dir);
	r->dirfd = r->lockfd = -1;
	if ((rc = mkdirs(dir)) < 0) {
		snprintf(err, errlen, "record=%s: cannot make it: %s", dir, strerror(-rc));
		goto fail;
	}
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "record=%s: %s", dir, strerror(-rc));
		goto fail;
	}
	/* Creating the lock file proves the directory writable too. */
	r->lockfd = openat(r->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (r->lockfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "record=%s: cannot write there: %s", dir,
			 strerror(-rc));
		goto fail;
	}
	if (flock(r->lockfd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		snprintf(err, errlen, "record=%s: %s", dir, rc == -EWOULDBLOCK ?
			 "another bramblefs records there (one directory per mount)" :
			 strerror(-rc));
		goto fail;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->jobs = recjob_new();
	pthread_mutex_init(&r->flush_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	recname_init(&r->names);
	*out = r;
	return 0;
fail:
	if (r->lockfd >= 0)
		close(r->lockfd);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->dir);
	free(r);
	return rc;
}

int record_start(struct bfs *fs)
{
	struct record *r = fs->rec;
	int rc;

	if (!r)
		return 0;
	r->fs = fs;
	rc = -pthread_create(&r->thr, NULL, writer_main, r);
	r->started = rc == 0;
	return rc;
}

void record_free(struct record *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thr, NULL);
	}
	flush_all(r);
	recname_release(&r->names);
	while (r->sets) {
		struct rset *s = r->sets;

		r->sets = s->next;
		set_free(s);
	}
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->flush_lock);
	recjob_free(r->jobs);
	pthread_mutex_destroy(&r->lock);
	close(r->lockfd);  /* the lock goes with it */
	close(r->dirfd);
	free(r->dir);
	free(r);
}

/* ---- the hooks */

void record_name(struct bfs *fs, const struct bramble_fh *dir,
		 const char *name, const struct bramble_fh *fh)
{
	struct record *r = fs->rec;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	recname_set(&r->names, dir, name, fh, now_ns());
	pthread_mutex_unlock(&r->lock);
}

void record_rename(struct bfs *fs, const struct bramble_fh *from,
		   const char *name, const struct bramble_fh *to,
		   const char *newname, unsigned int flags)
{
	struct record *r = fs->rec;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	recname_rename(&r->names, from, name, to, newname, flags);
	pthread_mutex_unlock(&r->lock);
}

void record_open(struct bfs *fs, fuse_req_t req, const struct bramble_fh *fh)
{
	struct record *r = fs->rec;
	struct rset *s, *fresh = NULL;
	char job[JOB_MAX], path[ESC_MAX];
	bool loaded = false;
	ssize_t n;

	if (!r)
		return;
	if (!recjob_of(r->jobs, fuse_req_ctx(req)->pid, job)) {
		__atomic_add_fetch(&r->c.no_job, 1, __ATOMIC_RELAXED);
		return;
	}
	pthread_mutex_lock(&r->lock);
	n = recname_path(&r->names, &fs->root_fh, fh, path, sizeof(path));
	if (n < 0) {
		r->c.unresolved++;
		pthread_mutex_unlock(&r->lock);
		log_debug("record: job %s opened a file whose path is unknown: %s",
			  job, strerror((int)-n));
		return;
	}
	if (!(s = find_set(r, job))) {
		pthread_mutex_unlock(&r->lock);
		fresh = set_load(r, job, &loaded);  /* file I/O: unlocked */
		pthread_mutex_lock(&r->lock);
		if (!(s = find_set(r, job))) {
			s = fresh;
			fresh = NULL;
			s->next = r->sets;
			r->sets = s;
			r->nsets++;
			r->c.loaded += loaded;
		}
	}
	s->active = now_ns();
	r->c.opens++;
	if (set_add(s, path, (size_t)n))
		r->c.added++;
	pthread_mutex_unlock(&r->lock);
	set_free(fresh);
}

void record_create(struct bfs *fs, fuse_req_t req, const struct bramble_fh *dir,
		   const char *name, const struct bramble_fh *fh)
{
	record_name(fs, dir, name, fh);
	record_open(fs, req, fh);
}

void record_ctl(struct bfs *fs, struct buf *out)
{
	struct record *r = fs->rec;
	size_t paths = 0;

	if (!r)
		return;
	flush_all(r);
	pthread_mutex_lock(&r->lock);
	for (const struct rset *s = r->sets; s; s = s->next)
		paths += s->npaths;
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "jobs=%zu\n", r->nsets);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "paths=%zu\n", paths);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "names=%zu\n", r->names.by_fh.count);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "opens=%llu\n", (unsigned long long)r->c.opens);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "added=%llu\n", (unsigned long long)r->c.added);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "no_job=%llu\n",
		 (unsigned long long)__atomic_load_n(&r->c.no_job, __ATOMIC_RELAXED));
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "unresolved=%llu\n", (unsigned long long)r->c.unresolved);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "writes=%llu\n", (unsigned long long)r->c.writes);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "write_errors=%llu\n", (unsigned long long)r->c.write_errors);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "loaded=%llu\n", (unsigned long long)r->c.loaded);
	buf_addf(out, BRAMBLE_CTL_PREFIX_RECORD "evicted=%llu\n", (unsigned long long)r->c.evicted);
	pthread_mutex_unlock(&r->lock);
}
