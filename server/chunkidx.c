/* chunkidx.c - the chunk index in bramble.db (see chunkidx.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunkcache.h"
#include "chunkidx.h"
#include "log.h"
#include "state.h"
#include "stats.h"
#include "util.h"
#include "xalloc.h"
#include "xxhash128.h"

/* Hash computations that keep seeing the file change give up (-EAGAIN). */
#define HASH_TRIES 3
/* Files hashed at once that others may wait for (the pool has at most
 * 256 workers; beyond this a second hashing simply runs). */
#define HASHING_MAX 256

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS chunk_files ("
	" id INTEGER PRIMARY KEY,"
	" dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
	" version INTEGER NOT NULL,"
	" size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
	" ctime_ns INTEGER NOT NULL, chunk_size INTEGER NOT NULL,"
	" hashed_ns INTEGER NOT NULL,"      /* wall clock when hashing began */
	" UNIQUE (dev, ino));"
	"CREATE TABLE IF NOT EXISTS chunk_hashes ("
	" file INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
	" PRIMARY KEY (file, idx)) WITHOUT ROWID;";

struct chunkidx {
	pthread_mutex_t mu;             /* the connection and the counters */
	sqlite3 *db;
	uint32_t chunk_size;
	int64_t racy_ns;
	struct chunkcache *cache;       /* borrowed; NULL: none */
	struct stats *counters;         /* borrowed; NULL: none */
	struct chunkidx_stats stats;
	/* Files being hashed now (protected by mu): a second CHUNKMAP of
	 * one waits for the first's result instead of reading it again --
	 * eight nodes mapping a new file read it once. */
	pthread_cond_t hashed;          /* an entry left `hashing' */
	unsigned int nhashing;
	struct { uint64_t dev, ino; } hashing[HASHING_MAX];
};

/* What identifies a file's contents as the index saw them. */
struct fstate {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

/* A row of chunk_files. */
struct entry {
	int64_t id;
	uint64_t version;
	struct fstate fs;
	uint32_t chunk_size;
	int64_t hashed_ns;
};

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts_to_ns(&ts);
}

static void fstate_of(struct fstate *fs, const struct stat *st)
{
	fs->dev = (uint64_t)st->st_dev;
	fs->ino = (uint64_t)st->st_ino;
	fs->size = (uint64_t)st->st_size;
	/* Past 2262 these do not order (util.h): compared for equality
	 * only, and settled() looks at ctime alone. */
	fs->mtime_ns = ts_to_ns(&st->st_mtim);
	fs->ctime_ns = ts_to_ns(&st->st_ctim);
}

static int get_fstate(int fd, struct fstate *fs)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	fstate_of(fs, &st);
	return 0;
}

static bool same_fstate(const struct fstate *a, const struct fstate *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static uint32_t nchunks_of(uint64_t size, uint32_t csize)
{
	return (uint32_t)((size + csize - 1) / csize);
}

void chunkidx_hash(const void *data, size_t len,
		   unsigned char out[CHUNKIDX_HASH_LEN])
{
	br_hash128(data, len, out);      /* common/: the client's copy too */
}

int chunkidx_open(const struct chunkidx_opts *o, struct chunkidx **out,
		  char *err, size_t errlen)
{
	uint32_t cs = o->chunk_size ? o->chunk_size : CHUNKIDX_DEFAULT_CHUNK;
	struct chunkidx *ci;
	sqlite3 *db;
	int rc;

	if (cs < CHUNKIDX_MIN_CHUNK || cs > CHUNKIDX_MAX_CHUNK || (cs & (cs - 1))) {
		snprintf(err, errlen, "chunk size %u is not a power of two from %u to %u",
			 cs, CHUNKIDX_MIN_CHUNK, CHUNKIDX_MAX_CHUNK);
		return -EINVAL;
	}
	rc = state_db_open(o->db_path, "chunk index", schema, &db, err, errlen);
	if (rc < 0)
		return rc;
	ci = xcalloc(1, sizeof(*ci));
	pthread_mutex_init(&ci->mu, NULL);
	pthread_cond_init(&ci->hashed, NULL);
	ci->db = db;
	ci->chunk_size = cs;
	ci->racy_ns = o->racy_ns < 0 ? CHUNKIDX_RACY_NS : o->racy_ns;
	ci->cache = o->cache;
	ci->counters = o->stats;
	*out = ci;
	return 0;
}

void chunkidx_close(struct chunkidx *ci)
{
	if (!ci)
		return;
	sqlite3_close(ci->db);
	pthread_cond_destroy(&ci->hashed);
	pthread_mutex_destroy(&ci->mu);
	free(ci);
}

uint32_t chunkidx_chunk_size(const struct chunkidx *ci)
{
	return ci->chunk_size;
}

void chunkidx_get_stats(struct chunkidx *ci, struct chunkidx_stats *out)
{
	pthread_mutex_lock(&ci->mu);
	*out = ci->stats;
	pthread_mutex_unlock(&ci->mu);
}

void chunkidx_map_release(struct chunkidx_map *m)
{
	free(m->hashes);
	m->hashes = NULL;
	m->count = 0;
}

/* ---- database access (ci->mu held) */

static int prep(struct chunkidx *ci, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(ci->db, sql, -1, st, NULL);

	if (rc != SQLITE_OK) {
		log_err("chunk index: %s", sqlite3_errmsg(ci->db));
		return state_sqlite_errno(rc);
	}
	return 0;
}

static int exec(struct chunkidx *ci, const char *sql)
{
	int rc = sqlite3_exec(ci->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		log_err("chunk index: %s: %s", sql, sqlite3_errmsg(ci->db));
		return state_sqlite_errno(rc);
	}
	return 0;
}

/* 1 and *e when (dev, ino) has a row, 0 when not, or -errno. */
static int load_entry(struct chunkidx *ci, uint64_t dev, uint64_t ino,
		      struct entry *e)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(ci, "SELECT id, version, size, mtime_ns, ctime_ns, chunk_size,"
		  " hashed_ns FROM chunk_files WHERE dev = ? AND ino = ?", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)dev);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ino);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		e->id = sqlite3_column_int64(st, 0);
		e->version = (uint64_t)sqlite3_column_int64(st, 1);
		e->fs.dev = dev;
		e->fs.ino = ino;
		e->fs.size = (uint64_t)sqlite3_column_int64(st, 2);
		e->fs.mtime_ns = sqlite3_column_int64(st, 3);
		e->fs.ctime_ns = sqlite3_column_int64(st, 4);
		e->chunk_size = (uint32_t)sqlite3_column_int64(st, 5);
		e->hashed_ns = sqlite3_column_int64(st, 6);
		rc = 1;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		log_err("chunk index: %s", sqlite3_errmsg(ci->db));
		rc = state_sqlite_errno(rc);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Hashes [first, first+count) of row id into out; 0 or -errno (-EIO when
 * a hash is missing: a damaged database). */
static int load_hashes(struct chunkidx *ci, int64_t id, uint32_t first,
		       uint32_t count, unsigned char (*out)[CHUNKIDX_HASH_LEN])
{
	sqlite3_stmt *st;
	uint32_t got = 0;
	int rc;

	rc = prep(ci, "SELECT idx, hash FROM chunk_hashes WHERE file = ?"
		  " AND idx >= ? AND idx < ? ORDER BY idx", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, first);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)first + count);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 0) != (sqlite3_int64)first + got ||
		    sqlite3_column_bytes(st, 1) != CHUNKIDX_HASH_LEN)
			break;
		memcpy(out[got++], sqlite3_column_blob(st, 1), CHUNKIDX_HASH_LEN);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_errno(rc);
	if (got != count) {
		log_err("chunk index: file %lld lacks hashes from chunk %u",
			(long long)id, first + got);
		return -EIO;
	}
	return 0;
}

/* Write the row and hashes of a file just hashed (in a transaction). */
static int store(struct chunkidx *ci, struct entry *e, bool has_row,
		 unsigned char (*hashes)[CHUNKIDX_HASH_LEN], uint32_t n)
{
	sqlite3_stmt *st;
	int rc;

	rc = prep(ci, has_row ?
		  "UPDATE chunk_files SET version = ?2, size = ?3, mtime_ns = ?4,"
		  " ctime_ns = ?5, chunk_size = ?6, hashed_ns = ?7 WHERE id = ?1" :
		  "INSERT INTO chunk_files (dev, ino, version, size, mtime_ns,"
		  " ctime_ns, chunk_size, hashed_ns) VALUES (?8, ?9, ?2, ?3, ?4,"
		  " ?5, ?6, ?7)", &st);
	if (rc < 0)
		return rc;
	if (has_row)
		sqlite3_bind_int64(st, 1, e->id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->version);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)e->fs.size);
	sqlite3_bind_int64(st, 4, e->fs.mtime_ns);
	sqlite3_bind_int64(st, 5, e->fs.ctime_ns);
	sqlite3_bind_int64(st, 6, e->chunk_size);
	sqlite3_bind_int64(st, 7, e->hashed_ns);
	if (!has_row) {
		sqlite3_bind_int64(st, 8, (sqlite3_int64)e->fs.dev);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)e->fs.ino);
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return state_sqlite_errno(rc);
	if (!has_row)
		e->id = sqlite3_last_insert_rowid(ci->db);

	rc = prep(ci, "DELETE FROM chunk_hashes WHERE file = ?", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, e->id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return state_sqlite_errno(rc);

	rc = prep(ci, "INSERT INTO chunk_hashes (file, idx, hash) VALUES (?, ?, ?)", &st);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, e->id);
		sqlite3_bind_int64(st, 2, i);
		sqlite3_bind_blob(st, 3, hashes[i], CHUNKIDX_HASH_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || n == 0 ? 0 : state_sqlite_errno(rc);
}

/* ---- hashing (no lock held) */

/* pread until len bytes or the end: bytes read or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* pread_full, counted as a disk read in the server's counters. */
static ssize_t disk_read(struct chunkidx *ci, int fd, void *buf, size_t len,
			 uint64_t off)
{
	int64_t t0 = now_ns();
	ssize_t n = pread_full(fd, buf, len, off);

	if (n > 0)
		stats_disk(ci->counters, false, (uint64_t)n, now_ns() - t0);
	return n;
}

/* Hash the fs->size bytes of fd into *out (malloc'd, nchunks entries).
 * -EAGAIN when the file turned out shorter or longer than fs says.  The
 * chunks of a small file go to the hot-chunk cache on the way (no read
 * more: whoever asked for its map reads it next, chunkcache.h). */
static int hash_file(struct chunkidx *ci, int fd, const struct fstate *fs,
		     uint32_t csize, unsigned char (**out)[CHUNKIDX_HASH_LEN])
{
	uint32_t n = nchunks_of(fs->size, csize);
	bool keep = chunkcache_wants_file(ci->cache, fs->size);
	unsigned char (*h)[CHUNKIDX_HASH_LEN];
	char *buf, extra;
	int rc = 0;

	if (fs->size > (uint64_t)UINT32_MAX * csize)
		return -EFBIG;
	h = n ? xmalloc((size_t)n * CHUNKIDX_HASH_LEN) : NULL;
	buf = xmalloc(csize);
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		uint64_t off = (uint64_t)i * csize;
		size_t want = (size_t)BR_MIN((uint64_t)csize, fs->size - off);
		ssize_t got = disk_read(ci, fd, buf, want, off);

		if (got < 0) {
			rc = (int)got;
		} else if ((size_t)got != want) {
			rc = -EAGAIN;           /* shrank while we read */
		} else {
			chunkidx_hash(buf, want, h[i]);
			/* The bytes hash to h[i] whatever happens to the
			 * file next: right for the cache even on -EAGAIN. */
			if (keep)
				chunkcache_put(ci->cache, h[i], buf, want);
		}
	}
	/* Grown while we read?  The fstat afterwards says so too, unless
	 * the timestamps did not move (coarse clock): look. */
	if (rc == 0 && pread_full(fd, &extra, 1, fs->size) == 1)
		rc = -EAGAIN;
	free(buf);
	if (rc < 0) {
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

/* Hash fd until two fstats around the reading agree. */
static int hash_stable(struct chunkidx *ci, int fd, struct fstate *fs,
		       uint32_t csize, int64_t *began,
		       unsigned char (**out)[CHUNKIDX_HASH_LEN])
{
	struct fstate after;
	int rc = -EAGAIN;

	for (int t = 0; t < HASH_TRIES && rc == -EAGAIN; t++) {
		*began = wall_ns();
		rc = hash_file(ci, fd, fs, csize, out);
		if (rc < 0)
			continue;
		rc = get_fstate(fd, &after);
		if (rc == 0 && !same_fstate(fs, &after))
			rc = -EAGAIN;
		if (rc < 0)
			free(*out);
		if (rc == -EAGAIN && get_fstate(fd, fs) < 0)
			return -EIO;
	}
	return rc;
}

/* Was e hashed at least racy_ns after the file last changed (not racy,
 * chunkidx.h)?  A change to the bytes sets ctime to the kernel's clock
 * (mtime too, but mtime is anyone's to set, even to 2286 -- with it, such
 * a file would stay racy, and be hashed again on every CHUNKMAP, for
 * ever; and past 2262 the stored value does not even order).  The stored
 * times may be anything: no subtraction that can overflow. */
static bool settled(const struct chunkidx *ci, const struct entry *e)
{
	int64_t since;

	if (__builtin_sub_overflow(e->hashed_ns, e->fs.ctime_ns, &since))
		return e->fs.ctime_ns < 0;
	return since >= ci->racy_ns;
}

/* An entry that can be served as it is. */
static bool entry_fresh(const struct chunkidx *ci, const struct entry *e,
			const struct fstate *fs)
{
	return same_fstate(&e->fs, fs) && e->chunk_size == ci->chunk_size &&
	       settled(ci, e);
}

static bool same_hashes(struct chunkidx *ci, const struct entry *e,
			unsigned char (*h)[CHUNKIDX_HASH_LEN], uint32_t n)
{
	unsigned char (*old)[CHUNKIDX_HASH_LEN];
	bool same;

	if (n == 0)
		return true;
	old = xmalloc((size_t)n * CHUNKIDX_HASH_LEN);
	same = load_hashes(ci, e->id, 0, n, old) == 0 &&
	       !memcmp(old, h, (size_t)n * CHUNKIDX_HASH_LEN);
	free(old);
	return same;
}

/* Record what was just hashed: a new version unless another thread (or
 * an earlier racy pass) stored the same bytes for the same state. */
static int record(struct chunkidx *ci, const struct fstate *fs, int64_t began,
		  unsigned char (*h)[CHUNKIDX_HASH_LEN], uint32_t n,
		  struct entry *e)
{
	int has, rc;

	rc = exec(ci, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	has = load_entry(ci, fs->dev, fs->ino, e);
	if (has < 0) {
		exec(ci, "ROLLBACK");
		return has;
	}
	if (has && same_fstate(&e->fs, fs) && e->chunk_size == ci->chunk_size &&
	    same_hashes(ci, e, h, n)) {
		e->hashed_ns = BR_MAX(e->hashed_ns, began);
	} else {
		e->version = has ? e->version + 1 : 1;
		e->fs = *fs;
		e->chunk_size = ci->chunk_size;
		e->hashed_ns = began;
	}
	rc = store(ci, e, has, h, n);
	if (rc < 0) {
		exec(ci, "ROLLBACK");
		return rc;
	}
	rc = exec(ci, "COMMIT");
	if (rc < 0)
		exec(ci, "ROLLBACK");
	return rc;
}

/* The slice [first, first+max) of all n hashes h into m. */
static void slice(struct chunkidx_map *m, unsigned char (*h)[CHUNKIDX_HASH_LEN],
		  uint32_t n, uint32_t first, uint32_t max)
{
	m->first = first;
	m->count = first < n ? BR_MIN(max, n - first) : 0;
	if (m->count) {
		m->hashes = xmalloc((size_t)m->count * CHUNKIDX_HASH_LEN);
		memcpy(m->hashes, h[first], (size_t)m->count * CHUNKIDX_HASH_LEN);
	}
}

static int map_from_db(struct chunkidx *ci, const struct entry *e,
		       uint32_t first, uint32_t max, struct chunkidx_map *m)
{
	int rc;

	m->first = first;
	m->count = first < m->nchunks ? BR_MIN(max, m->nchunks - first) : 0;
	if (!m->count)
		return 0;
	m->hashes = xmalloc((size_t)m->count * CHUNKIDX_HASH_LEN);
	rc = load_hashes(ci, e->id, first, m->count, m->hashes);
	if (rc < 0)
		chunkidx_map_release(m);
	return rc;
}

static void map_head(struct chunkidx_map *m, const struct entry *e)
{
	memset(m, 0, sizeof(*m));
	m->version = e->version;
	m->size = e->fs.size;
	m->chunk_size = e->chunk_size;
	m->nchunks = nchunks_of(e->fs.size, e->chunk_size);
}

int chunkidx_map_indexed(struct chunkidx *ci, int fd, uint32_t first,
			 uint32_t max, struct chunkidx_map *out)
{
	struct fstate fs;
	struct entry e;
	int has, rc;

	rc = get_fstate(fd, &fs);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ci->mu);
	has = load_entry(ci, fs.dev, fs.ino, &e);
	if (has == 1 && entry_fresh(ci, &e, &fs)) {
		map_head(out, &e);
		rc = map_from_db(ci, &e, first, max, out);
		if (rc == 0)
			ci->stats.map_hits++;
	} else {
		rc = has < 0 ? has : -ENODATA;
	}
	pthread_mutex_unlock(&ci->mu);
	return rc;
}

/* ---- one hashing per file at a time (ci->mu held) */

static int hashing_find(const struct chunkidx *ci, const struct fstate *fs)
{
	for (unsigned int i = 0; i < ci->nhashing; i++)
		if (ci->hashing[i].dev == fs->dev && ci->hashing[i].ino == fs->ino)
			return (int)i;
	return -1;
}

/* true: the caller hashes fs and must call hashing_end(); false: another
 * thread is at it (wait on ci->hashed), or the table is full (hash
 * anyway, without the mark: *mine false). */
static bool hashing_begin(struct chunkidx *ci, const struct fstate *fs, bool *mine)
{
	*mine = false;
	if (hashing_find(ci, fs) >= 0)
		return false;
	if (ci->nhashing < HASHING_MAX) {
		ci->hashing[ci->nhashing].dev = fs->dev;
		ci->hashing[ci->nhashing++].ino = fs->ino;
		*mine = true;
	}
	return true;
}

static void hashing_end(struct chunkidx *ci, const struct fstate *fs)
{
	int i = hashing_find(ci, fs);

	if (i >= 0)
		ci->hashing[i] = ci->hashing[--ci->nhashing];
	pthread_cond_broadcast(&ci->hashed);
}

int chunkidx_map(struct chunkidx *ci, int fd, uint32_t first, uint32_t max,
		 struct chunkidx_map *out)
{
	unsigned char (*h)[CHUNKIDX_HASH_LEN] = NULL;
	struct fstate fs;
	struct entry e;
	int64_t began;
	bool mine = false;
	int has, rc;

	rc = get_fstate(fd, &fs);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ci->mu);
	for (;;) {
		has = load_entry(ci, fs.dev, fs.ino, &e);
		if (has < 0 || (has == 1 && entry_fresh(ci, &e, &fs)) ||
		    hashing_begin(ci, &fs, &mine))
			break;
		/* Another worker is hashing this file: its result, once
		 * stored, is ours too (or, if it failed, we hash). */
		pthread_cond_wait(&ci->hashed, &ci->mu);
	}
	if (has == 1 && entry_fresh(ci, &e, &fs)) {
		map_head(out, &e);
		rc = map_from_db(ci, &e, first, max, out);
		if (rc == 0)
			ci->stats.map_hits++;
		pthread_mutex_unlock(&ci->mu);
		if (rc == 0)
			log_debug("chunk index: %llu:%llu version %llu from the index",
				  (unsigned long long)fs.dev, (unsigned long long)fs.ino,
				  (unsigned long long)e.version);
		return rc;
	}
	pthread_mutex_unlock(&ci->mu);
	if (has < 0)
		return has;

	rc = hash_stable(ci, fd, &fs, ci->chunk_size, &began, &h);
	if (rc < 0)
		h = NULL;               /* hash_stable freed what it made */
	pthread_mutex_lock(&ci->mu);
	if (rc == 0)
		rc = record(ci, &fs, began, h, nchunks_of(fs.size, ci->chunk_size), &e);
	if (rc == 0) {
		ci->stats.files_hashed++;
		ci->stats.bytes_hashed += fs.size;
	}
	/* After record(): a waiter wakes to the stored entry. */
	if (mine)
		hashing_end(ci, &fs);
	pthread_mutex_unlock(&ci->mu);
	if (rc == 0) {
		log_debug("chunk index: hashed %llu:%llu, %llu bytes, version %llu",
			  (unsigned long long)fs.dev, (unsigned long long)fs.ino,
			  (unsigned long long)fs.size, (unsigned long long)e.version);
		map_head(out, &e);
		slice(out, h, out->nchunks, first, max);
	}
	free(h);
	return rc;
}

int chunkidx_record_read(struct chunkidx *ci, int fd, const struct stat *st,
			 int64_t began, unsigned char (*h)[CHUNKIDX_HASH_LEN],
			 uint32_t n)
{
	struct fstate before, now;
	struct entry e;
	int rc = get_fstate(fd, &now);

	fstate_of(&before, st);
	if (rc == 0 && (!same_fstate(&before, &now) ||
			n != nchunks_of(now.size, ci->chunk_size)))
		rc = -ESTALE;
	pthread_mutex_lock(&ci->mu);
	if (rc == 0)
		rc = record(ci, &now, began, h, n, &e);
	pthread_mutex_unlock(&ci->mu);
	return rc;
}

/* ---- READ_CHUNK */

/* The stored entry of fs when it still describes the file: 1, 0, -errno. */
static int current_entry(struct chunkidx *ci, const struct fstate *fs,
			 struct entry *e)
{
	int has = load_entry(ci, fs->dev, fs->ino, e);

	return has == 1 && !same_fstate(&e->fs, fs) ? 0 : has;
}

int chunkidx_chunk_current(struct chunkidx *ci, int fd, uint32_t idx,
			   const unsigned char hash[CHUNKIDX_HASH_LEN],
			   uint64_t version)
{
	unsigned char stored[CHUNKIDX_HASH_LEN];
	struct fstate fs;
	struct entry e;
	int cur, rc;

	rc = get_fstate(fd, &fs);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ci->mu);
	cur = current_entry(ci, &fs, &e);
	if (cur == 1) {
		/* A racy entry may describe bytes the file no longer holds
		 * although its stat did not move: only the disk can tell. */
		if (e.version != version || !settled(ci, &e) ||
		    idx >= nchunks_of(e.fs.size, e.chunk_size))
			cur = 0;
	}
	if (cur == 1) {
		rc = load_hashes(ci, e.id, idx, 1, &stored);
		cur = rc < 0 ? rc : !memcmp(stored, hash, CHUNKIDX_HASH_LEN);
	}
	pthread_mutex_unlock(&ci->mu);
	return cur;
}

/* The bytes of chunk idx differ from what the current entry says: the
 * entry is stale although size and timestamps match (a racy write).
 * Drop it: the next CHUNKMAP hashes again and bumps the version. */
static void drop_if_stale(struct chunkidx *ci, const struct entry *e,
			  uint32_t idx, const unsigned char *hash)
{
	unsigned char stored[CHUNKIDX_HASH_LEN];
	sqlite3_stmt *st;

	if (load_hashes(ci, e->id, idx, 1, &stored) < 0 ||
	    memcmp(stored, hash, CHUNKIDX_HASH_LEN))
		return;
	if (prep(ci, "UPDATE chunk_files SET hashed_ns = 0, mtime_ns = -1"
		 " WHERE id = ?", &st) < 0)
		return;
	sqlite3_bind_int64(st, 1, e->id);
	if (sqlite3_step(st) == SQLITE_DONE) {
		ci->stats.stale_dropped++;
		log_warn("chunk index: chunk %u of %llu:%llu changed without a "
			 "new size or timestamp; hashing the file again on next use",
			 idx, (unsigned long long)e->fs.dev,
			 (unsigned long long)e->fs.ino);
	}
	sqlite3_finalize(st);
}

int chunkidx_read_chunk(struct chunkidx *ci, int fd, uint32_t idx,
			const unsigned char hash[CHUNKIDX_HASH_LEN],
			uint64_t version, void **data, size_t *len)
{
	unsigned char got[CHUNKIDX_HASH_LEN];
	struct fstate fs;
	struct entry e;
	uint32_t csize;
	uint64_t off;
	ssize_t n;
	void *buf;
	int cur, rc;

	rc = get_fstate(fd, &fs);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ci->mu);
	cur = current_entry(ci, &fs, &e);
	pthread_mutex_unlock(&ci->mu);
	if (cur < 0)
		return cur;
	/* The client's map was made with the entry's chunk size (it may
	 * predate a restart with another --chunk-size). */
	csize = cur ? e.chunk_size : ci->chunk_size;
	off = (uint64_t)idx * csize;
	if (off >= fs.size)
		return cur && e.version == version ? -EINVAL : -ESTALE;
	*len = (size_t)BR_MIN((uint64_t)csize, fs.size - off);
	buf = xmalloc(*len);
	n = disk_read(ci, fd, buf, *len, off);
	if (n < 0 || (size_t)n != *len) {
		free(buf);
		return n < 0 ? (int)n : -ESTALE;   /* shrank meanwhile */
	}
	pthread_mutex_lock(&ci->mu);
	ci->stats.chunks_read++;
	ci->stats.chunk_bytes_read += (uint64_t)n;
	pthread_mutex_unlock(&ci->mu);
	chunkidx_hash(buf, *len, got);
	if (!memcmp(got, hash, CHUNKIDX_HASH_LEN)) {
		*data = buf;
		return 0;
	}
	free(buf);
	if (cur && e.version == version) {
		pthread_mutex_lock(&ci->mu);
		drop_if_stale(ci, &e, idx, hash);
		pthread_mutex_unlock(&ci->mu);
	}
	return -ESTALE;
}
