/* cachedisk.c - the node cache's disk mode: chunk files under DIR/chunks,
 * kept in step with the index (cachedb.c) across processes.
 *
 * The rule that keeps files and rows in agreement (bramble_cache.h): a
 * chunk file appears or disappears only inside a write transaction of the
 * index.  A put writes DIR/tmp/<pid>.<n> first (no lock), then in one
 * transaction evicts, inserts its row and renames the file into place
 * before COMMIT.  An eviction renames its victims to DIR/tmp/<pid>.e<hash>
 * before COMMIT (put back on ROLLBACK) and unlinks them after; a process
 * killed in between leaves those for the next open to put back (the row
 * survived) or remove (it did not).  Readers never lock: they check the
 * row, read the file and hash it; only a failure takes the lock to look
 * again before repairing.  verify and the cleanup after dead processes are
 * in cacheverify.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cache_int.h"
#include "cachedb.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)
/* A hit writes last_use at most this often per chunk. */
#define TOUCH_MS 10000

void cachedisk_chunk_path(const unsigned char *hash, char out[RELPATH_MAX])
{
	char hex[HEX_LEN + 1];

	cache_hex(hash, hex);
	snprintf(out, RELPATH_MAX, "chunks/%.2s/%s", hex, hex);
}

static void trash_path(const unsigned char *hash, char out[RELPATH_MAX])
{
	char hex[HEX_LEN + 1];

	cache_hex(hash, hex);
	snprintf(out, RELPATH_MAX, "tmp/%ld.e%s", (long)getpid(), hex);
}

/* ---- chunk files */

/* (cache_int.h) */
int cachedisk_read_verify(struct bramble_cache *c, const unsigned char *hash, void *buf,
			  uint64_t len, char *why, size_t whylen)
{
	char path[RELPATH_MAX];
	unsigned char got[BRAMBLE_HASH_LEN];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	cachedisk_chunk_path(hash, path);
	fd = openat(c->dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s", rc == -ENOENT ? "is missing" : strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot be read: %s", strerror(-rc));
	} else if ((uint64_t)st.st_size != len) {
		snprintf(why, whylen, "has %lld bytes, not %llu", (long long)st.st_size,
			 (unsigned long long)len);
		rc = -EIO;
	} else if ((n = read_full(fd, buf, len)) != (ssize_t)len) {
		snprintf(why, whylen, "cannot be read: %s",
			 n < 0 ? strerror((int)-n) : "short read");
		rc = -EIO;
	} else {
		br_hash128(buf, len, got);
		if (memcmp(got, hash, BRAMBLE_HASH_LEN)) {
			snprintf(why, whylen, "does not match its hash");
			rc = -EBADMSG;
		}
	}
	close(fd);
	return rc;
}

/* BRAMBLE_TEST_CACHE_WRITE_MBS=N in the environment: chunk writes of this
 * process go at N MB/s at most, all together, as to a Pi's SD card -- a
 * slow node for the fan-out benchmark (tests/bench/fanout.sh). */
static void slow_disk(size_t len)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static int64_t free_at;
	const char *e = getenv("BRAMBLE_TEST_CACHE_WRITE_MBS");
	int64_t mbs = e ? strtoll(e, NULL, 10) : 0, now, until;

	if (mbs <= 0)
		return;
	pthread_mutex_lock(&mu);
	now = now_ns();
	until = BR_MAX(free_at, now) + (int64_t)len * 1000 / mbs;
	free_at = until;
	pthread_mutex_unlock(&mu);
	if (until > now) {
		struct timespec ts = { (until - now) / 1000000000, (until - now) % 1000000000 };

		nanosleep(&ts, NULL);
	}
}

/* Write data to a new DIR/tmp/<pid>.<n>; its name into name. */
static int write_tmp(struct bramble_cache *c, const void *data, size_t len,
		     char name[RELPATH_MAX])
{
	int fd, rc;

	do {
		unsigned long n = __atomic_fetch_add(&c->tmpseq, 1, __ATOMIC_RELAXED);

		snprintf(name, RELPATH_MAX, "tmp/%ld.%lu", (long)getpid(), n);
		fd = openat(c->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	} while (fd < 0 && errno == EEXIST);   /* a dead namesake's leftover */
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	slow_disk(len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		log_warn("node cache: cannot write '%s/%s': %s", c->dir, name, strerror(-rc));
		unlinkat(c->dirfd, name, 0);
	}
	return rc;
}

/* Rename tmp into chunk hash's place, making chunks/ab on first use. */
static int place(struct bramble_cache *c, const char *tmp, const unsigned char *hash)
{
	char path[RELPATH_MAX];

	cachedisk_chunk_path(hash, path);
	if (renameat(c->dirfd, tmp, c->dirfd, path) == 0)
		return 0;
	if (errno == ENOENT) {
		path[9] = '\0';                 /* "chunks/ab" */
		if (mkdirat(c->dirfd, path, 0700) < 0 && errno != EEXIST)
			return -errno;
		cachedisk_chunk_path(hash, path);
		if (renameat(c->dirfd, tmp, c->dirfd, path) == 0)
			return 0;
	}
	return -errno;
}

/* ---- eviction (inside a write transaction) */

/* Evict unpinned chunks, LRU first, worth at least want bytes (fewer if
 * that is all there is) but at least need: their rows go, their files move
 * to the trash.  -ENOSPC (nothing done) when need cannot be met even after
 * dropping expired pins.  *v / *nv: the victims (caller frees). */
static int evict_locked(struct bramble_cache *c, uint64_t need, uint64_t want,
			struct cachedb_victim **v, size_t *nv)
{
	uint64_t total = 0, expired = 0;
	char from[RELPATH_MAX], to[RELPATH_MAX];
	int rc = cachedb_lru(c->db, want, v, nv, &total);

	if (rc == 0 && total < need) {
		free(*v);
		*v = NULL;
		rc = cachedb_gc(c->db, time(NULL), &expired);
		if (rc == 0 && expired)
			rc = cachedb_lru(c->db, want, v, nv, &total);
		if (rc == 0 && total < need) {
			free(*v);
			*v = NULL;
			rc = -ENOSPC;
		}
	}
	if (rc < 0) {
		*nv = 0;
		return rc;
	}
	for (size_t i = 0; i < *nv; i++) {
		cachedisk_chunk_path((*v)[i].hash, from);
		trash_path((*v)[i].hash, to);
		if (renameat(c->dirfd, from, c->dirfd, to) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc == 0)
			rc = cachedb_delete(c->db, (*v)[i].hash);
		if (rc < 0) {
			*nv = i + 1;            /* for put_back */
			return rc;
		}
	}
	return 0;
}

/* After a ROLLBACK: the victims' rows are back, so are their files. */
static void put_back(struct bramble_cache *c, const struct cachedb_victim *v, size_t nv)
{
	char from[RELPATH_MAX], to[RELPATH_MAX];

	for (size_t i = 0; i < nv; i++) {
		trash_path(v[i].hash, from);
		cachedisk_chunk_path(v[i].hash, to);
		renameat(c->dirfd, from, c->dirfd, to);
	}
}

/* After a COMMIT, with c->mu held: the victims are gone for good. */
static void empty_trash(struct bramble_cache *c, const struct cachedb_victim *v, size_t nv)
{
	char path[RELPATH_MAX];
	uint64_t bytes = 0;

	for (size_t i = 0; i < nv; i++) {
		trash_path(v[i].hash, path);
		unlinkat(c->dirfd, path, 0);
		bytes += v[i].len;
	}
	c->st.evictions += nv;
	c->st.bytes_evicted += bytes;
}

/* Commit, or roll back and undo the file moves.  Called with c->mu. */
static int finish(struct bramble_cache *c, int rc, struct cachedb_victim *v, size_t nv)
{
	if (rc >= 0) {
		int crc = cachedb_commit(c->db);

		if (crc == 0) {
			empty_trash(c, v, nv);
			free(v);
			return rc;
		}
		rc = crc;
	}
	cachedb_rollback(c->db);
	put_back(c, v, nv);
	free(v);
	return rc;
}

/* ---- put */

/* In the transaction: 1 when already there (pinned if asked), -EAGAIN
 * when it is not and no file was written, else 0 once placed. */
static int put_locked(struct bramble_cache *c, const unsigned char *hash, size_t len,
		      const char *owner, int64_t expires, const char *tmp,
		      struct cachedb_victim **v, size_t *nv)
{
	uint64_t used, chunks;
	int rc = cachedb_lookup(c->db, hash, NULL, NULL);

	if (rc == 0 && owner)
		rc = cachedb_pin(c->db, hash, owner, expires);
	if (rc == 0)
		return 1;
	if (rc != -ENOENT)
		return rc;
	if (!tmp)
		return -EAGAIN;
	rc = cachedb_used(c->db, &used, &chunks);
	if (rc == 0 && used + len > c->quota) {
		uint64_t need = used + len - c->quota;

		rc = evict_locked(c, need, need + cache_headroom(c->quota), v, nv);
	}
	if (rc == 0)
		rc = cachedb_insert(c->db, hash, len, cache_wall_ms());
	if (rc == 0 && owner)
		rc = cachedb_pin(c->db, hash, owner, expires);
	if (rc == 0)
		rc = place(c, tmp, hash);
	return rc;
}

static int cd_put(struct bramble_cache *c, const unsigned char *hash, const void *data,
		  size_t len, const char *owner, int64_t expires)
{
	char tmp[RELPATH_MAX];
	bool have_tmp = false;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_lookup(c->db, hash, NULL, NULL);
	pthread_mutex_unlock(&c->mu);
	if (rc == 0 && !owner) {
		cache_count_put(c, len, true);
		return 0;
	}
	for (int tries = 0; tries < 3; tries++) {
		struct cachedb_victim *v = NULL;
		size_t nv = 0;

		if (rc == -ENOENT && !have_tmp) {
			rc = write_tmp(c, data, len, tmp);
			if (rc < 0)
				return rc;
			have_tmp = true;
		}
		pthread_mutex_lock(&c->mu);
		rc = cachedb_begin(c->db);
		if (rc == 0)
			rc = put_locked(c, hash, len, owner, expires, have_tmp ? tmp : NULL,
					&v, &nv);
		if (rc == 0)
			have_tmp = false;       /* renamed into place */
		rc = finish(c, rc, v, nv);
		pthread_mutex_unlock(&c->mu);
		if (rc != -EAGAIN)
			break;
		rc = -ENOENT;                   /* evicted since we looked: write it */
	}
	if (have_tmp)
		unlinkat(c->dirfd, tmp, 0);
	if (rc >= 0)
		cache_count_put(c, len, rc == 1);
	return rc < 0 ? rc : 0;
}

/* ---- get */

/* (cache_int.h) Files only change under the write lock: what fails under
 * it is really bad. */
ssize_t cachedisk_recheck(struct bramble_cache *c, const unsigned char *hash, void *buf,
			  size_t size, bool *removed)
{
	char why[128], path[RELPATH_MAX];
	uint64_t len = 0;
	int rc;

	*removed = false;
	pthread_mutex_lock(&c->mu);
	rc = cachedb_begin(c->db);
	if (rc == 0)
		rc = cachedb_lookup(c->db, hash, &len, NULL);
	if (rc == 0 && len > size)
		rc = -ENOSPC;
	if (rc == 0 && cachedisk_read_verify(c, hash, buf, len, why, sizeof(why)) < 0) {
		cachedisk_chunk_path(hash, path);
		log_warn("node cache: chunk file '%s/%s' %s: removed, it will be fetched again",
			 c->dir, path, why);
		if (unlinkat(c->dirfd, path, 0) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc == 0)
			rc = cachedb_delete(c->db, hash);
		if (rc == 0)
			rc = cachedb_commit(c->db);
		*removed = rc == 0;
		rc = -ENOENT;
	}
	cachedb_rollback(c->db);                /* nothing to keep otherwise */
	pthread_mutex_unlock(&c->mu);
	return rc < 0 ? rc : (ssize_t)len;
}

static ssize_t cd_get(struct bramble_cache *c, const unsigned char *hash, void *buf,
		      size_t size)
{
	char why[128];
	uint64_t len = 0;
	int64_t last = 0, now;
	bool removed;
	ssize_t n;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_lookup(c->db, hash, &len, &last);
	pthread_mutex_unlock(&c->mu);
	if (rc == 0 && len > size)
		return -ENOSPC;
	if (rc == 0 && cachedisk_read_verify(c, hash, buf, len, why, sizeof(why)) < 0) {
		n = cachedisk_recheck(c, hash, buf, size, &removed);
		if (n < 0) {
			if (n == -ENOENT)
				cache_count_miss(c, removed);
			return n;
		}
	}
	if (rc < 0) {
		if (rc == -ENOENT)
			cache_count_miss(c, false);
		return rc;
	}
	cache_count_hit(c, len);
	now = cache_wall_ms();
	if (now - last >= TOUCH_MS) {
		pthread_mutex_lock(&c->mu);
		cachedb_touch(c->db, hash, now, TOUCH_MS);   /* LRU order only */
		pthread_mutex_unlock(&c->mu);
	}
	return (ssize_t)len;
}

static bool cd_has(struct bramble_cache *c, const unsigned char *hash)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_lookup(c->db, hash, NULL, NULL);
	pthread_mutex_unlock(&c->mu);
	return rc == 0;
}

/* ---- pins, eviction */

static int cd_pin(struct bramble_cache *c, const unsigned char *hash, const char *owner,
		  int64_t expires)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_begin(c->db);
	if (rc == 0)
		rc = cachedb_lookup(c->db, hash, NULL, NULL);
	if (rc == 0)
		rc = cachedb_pin(c->db, hash, owner, expires);
	if (rc == 0)
		rc = cachedb_commit(c->db);
	cachedb_rollback(c->db);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Pins of many chunks, PIN_BATCH to a transaction: a set of thousands of
 * chunks costs a few commits, not one each, and holds the index's write
 * lock briefly at a time. */
#define PIN_BATCH 4096

static int cd_pin_many(struct bramble_cache *c, const unsigned char (*hashes)[BRAMBLE_HASH_LEN],
		       size_t n, const char *owner, int64_t expires, bool *missing)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0;) {
		size_t end = i + PIN_BATCH < n ? i + PIN_BATCH : n;

		pthread_mutex_lock(&c->mu);
		rc = cachedb_begin(c->db);
		for (; rc == 0 && i < end; i++) {
			rc = cachedb_lookup(c->db, hashes[i], NULL, NULL);
			missing[i] = rc == -ENOENT;
			if (rc == 0)
				rc = cachedb_pin(c->db, hashes[i], owner, expires);
			else if (rc == -ENOENT)
				rc = 0;
		}
		if (rc == 0)
			rc = cachedb_commit(c->db);
		cachedb_rollback(c->db);
		pthread_mutex_unlock(&c->mu);
	}
	return rc;
}

static int cd_unpin(struct bramble_cache *c, const char *owner, const unsigned char *hash,
		    uint64_t *count)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_unpin(c->db, owner, hash, count);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int cd_gc(struct bramble_cache *c, int64_t now, uint64_t *expired)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_gc(c->db, now, expired);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int cd_evict(struct bramble_cache *c, uint64_t keep, uint64_t *freed)
{
	struct cachedb_victim *v = NULL;
	uint64_t used = 0, chunks;
	size_t nv = 0;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_begin(c->db);
	if (rc == 0)
		rc = cachedb_used(c->db, &used, &chunks);
	/* need 0: evict what there is of the want */
	if (rc == 0 && used > keep)
		rc = evict_locked(c, 0, used - keep, &v, &nv);
	for (size_t i = 0; rc == 0 && i < nv; i++)
		*freed += v[i].len;
	rc = finish(c, rc, v, nv);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* ---- the rest of the table */

static void cd_index_stats(struct bramble_cache *c, struct bramble_cache_stats *s)
{
	cachedb_used(c->db, &s->used, &s->chunks);
	cachedb_pinned(c->db, &s->pinned_chunks, &s->pinned_bytes);
}

static int cd_list(struct bramble_cache *c, struct bramble_cache_entry **out, size_t *n)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_list(c->db, out, n);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int cd_list_pins(struct bramble_cache *c, struct bramble_cache_pininfo **out,
			size_t *n)
{
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_list_pins(c->db, out, n);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void cd_close(struct bramble_cache *c)
{
	cachedb_close(c->db);
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->dir);
}

const struct cache_ops cachedisk_ops = {
	.get = cd_get, .has = cd_has, .put = cd_put, .pin = cd_pin,
	.pin_many = cd_pin_many, .unpin = cd_unpin, .gc = cd_gc, .evict = cd_evict, .verify = cachedisk_verify,
	.index_stats = cd_index_stats, .list = cd_list, .list_pins = cd_list_pins,
	.close = cd_close,
};

/* ---- open */

/* mkdir -p with mode 0700 for what it creates. */
static int mkdirs(const char *path)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; rc == 0; s++) {
		bool end = *s == '\0';

		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

/* 10% of the cache's filesystem, within [256 MiB, 16 GiB]. */
static uint64_t default_quota(int dirfd)
{
	struct statvfs sv;
	uint64_t q = 256 * MIB;

	if (fstatvfs(dirfd, &sv) == 0)
		q = (uint64_t)sv.f_blocks * sv.f_frsize / 10;
	return BR_MIN(BR_MAX(q, 256 * MIB), 16 * GIB);
}

static int open_quota(struct bramble_cache *c, uint64_t size)
{
	uint64_t stored = 0;
	int rc = cachedb_get_quota(c->db, &stored);

	if (rc < 0)
		return rc;
	c->quota = size ? size : stored ? stored : default_quota(c->dirfd);
	return c->quota == stored ? 0 : cachedb_set_quota(c->db, c->quota);
}

/* A cache is only a copy: an index that is not a database any more is
 * replaced by an empty one, and the chunk files it named, now named by no
 * row, are removed (verify's orphan sweep) so they do not hold space
 * outside the quota. */
static int fresh_index(struct bramble_cache *c, char *idx, char *err, size_t errlen)
{
	struct bramble_cache_verify r = { 0 };
	size_t n = strlen(idx);
	int rc;

	log_warn("node cache: %s: starting an empty cache", err);
	if (unlink(idx) < 0 && errno != ENOENT)
		return -errno;
	strcpy(idx + n, "-wal");
	unlink(idx);
	strcpy(idx + n, "-shm");
	unlink(idx);
	idx[n] = '\0';
	rc = cachedb_open(idx, &c->db, err, errlen);
	if (rc == 0)
		rc = cachedisk_verify(c, &r);
	if (rc == 0 && r.orphans)
		log_info("node cache: removed %llu chunk file(s) of the old index",
			 (unsigned long long)r.orphans);
	return rc;
}

int cachedisk_open(struct bramble_cache *c, const struct bramble_cache_opts *o,
		   char *err, size_t errlen)
{
	const char *dir = o->dir && *o->dir ? o->dir : BRAMBLE_CACHE_DIR;
	char *idx = NULL;
	uint64_t cleaned = 0;
	bool ours;
	int rc;

	c->dir = xstrdup(dir);
	rc = mkdirs(dir);
	if (rc == 0) {
		c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->dirfd < 0)
			rc = -errno;
	}
	/* a directory that had no chunks/ may hold someone else's index.db */
	ours = rc == 0 && faccessat(c->dirfd, "chunks", F_OK, 0) == 0;
	if (rc == 0 && ((mkdirat(c->dirfd, "chunks", 0700) < 0 && errno != EEXIST) ||
			(mkdirat(c->dirfd, "tmp", 0700) < 0 && errno != EEXIST)))
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "cannot open the node cache directory '%s': %s", dir,
			 strerror(-rc));
		return rc;
	}
	idx = xmalloc(strlen(dir) + sizeof("/index.db-wal"));
	sprintf(idx, "%s/index.db", dir);
	rc = cachedb_open(idx, &c->db, err, errlen);
	if (rc == -EUCLEAN && ours)
		rc = fresh_index(c, idx, err, errlen);
	free(idx);
	if (rc == 0 && (rc = open_quota(c, o->size)) < 0)
		snprintf(err, errlen, "cannot read the node cache quota in '%s': %s", dir,
			 strerror(-rc));
	if (rc == 0 && (rc = cachedisk_clean_tmp(c, &cleaned)) < 0)
		snprintf(err, errlen, "cannot clean '%s/tmp': %s", dir, strerror(-rc));
	if (cleaned)
		log_info("node cache: removed %llu leftover file(s) in '%s/tmp'",
			 (unsigned long long)cleaned, dir);
	return rc;
}
