/* cachedb.c - the node cache's SQLite index (see cachedb.h). */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachedb.h"
#include "sqlerr.h"
#include "xalloc.h"

/* Writers of several processes queue on the database lock: a put holds it
 * for one insert and a few renames, so 10 s means something is stuck. */
#define BUSY_MS 10000

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS state ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" used INTEGER NOT NULL, chunks INTEGER NOT NULL, quota INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO state VALUES (1, 0, 0, 0);"
	"CREATE TABLE IF NOT EXISTS chunks ("
	" hash BLOB PRIMARY KEY, len INTEGER NOT NULL,"
	" last_use INTEGER NOT NULL,"        /* unix ms */
	" npins INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	/* eviction walks only the unpinned, oldest first */
	"CREATE INDEX IF NOT EXISTS chunks_lru ON chunks (last_use) WHERE npins = 0;"
	"CREATE TABLE IF NOT EXISTS pins ("
	" hash BLOB NOT NULL, owner TEXT NOT NULL, expires INTEGER NOT NULL,"
	" PRIMARY KEY (hash, owner)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS pins_owner ON pins (owner);"
	"CREATE INDEX IF NOT EXISTS pins_expires ON pins (expires) WHERE expires > 0;"
	"CREATE TRIGGER IF NOT EXISTS chunk_in AFTER INSERT ON chunks BEGIN"
	" UPDATE state SET used = used + new.len, chunks = chunks + 1; END;"
	"CREATE TRIGGER IF NOT EXISTS chunk_out AFTER DELETE ON chunks BEGIN"
	" UPDATE state SET used = used - old.len, chunks = chunks - 1;"
	" DELETE FROM pins WHERE hash = old.hash; END;"
	"CREATE TRIGGER IF NOT EXISTS pin_in AFTER INSERT ON pins BEGIN"
	" UPDATE chunks SET npins = npins + 1 WHERE hash = new.hash; END;"
	"CREATE TRIGGER IF NOT EXISTS pin_out AFTER DELETE ON pins BEGIN"
	" UPDATE chunks SET npins = npins - 1 WHERE hash = old.hash; END;"
	/* file maps (bramble_cache_map_*): a row count kept by triggers so
	 * the bound costs no count(*) */
	"CREATE TABLE IF NOT EXISTS maps ("
	" fh BLOB NOT NULL UNIQUE, size INTEGER NOT NULL, mtime INTEGER NOT NULL,"
	" ctime INTEGER NOT NULL, version INTEGER NOT NULL, chunk_size INTEGER NOT NULL,"
	" nchunks INTEGER NOT NULL, hashes BLOB NOT NULL, last_use INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS maps_lru ON maps (last_use);"
	"CREATE TABLE IF NOT EXISTS mapstate ("
	" id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO mapstate VALUES (1, 0);"
	"CREATE TRIGGER IF NOT EXISTS map_in AFTER INSERT ON maps BEGIN"
	" UPDATE mapstate SET n = n + 1; END;"
	"CREATE TRIGGER IF NOT EXISTS map_out AFTER DELETE ON maps BEGIN"
	" UPDATE mapstate SET n = n - 1; END;"
	/* staged sets (bramble_cache_set_*): a digest per staged directory */
	"CREATE TABLE IF NOT EXISTS stagesets ("
	" key BLOB PRIMARY KEY, digest BLOB NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;";

enum stmt_id {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_GET_QUOTA, S_SET_QUOTA, S_USED, S_PINNED,
	S_LOOKUP, S_TOUCH, S_INSERT, S_DELETE, S_LRU, S_PIN, S_UNPIN_ONE,
	S_UNPIN_ALL, S_GC, S_PAGE_FIRST, S_PAGE, S_LIST, S_LIST_PINS,
	S_MAP_PUT, S_MAP_GET, S_MAP_TOUCH, S_MAP_DROP, S_MAP_COUNT, S_MAP_TRIM,
	S_SET_GET, S_SET_PUT, S_SET_TRIM, S_NSTMT
};

static const char *const sql[S_NSTMT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_GET_QUOTA] = "SELECT quota FROM state",
	[S_SET_QUOTA] = "UPDATE state SET quota = ?1",
	[S_USED] = "SELECT used, chunks FROM state",
	[S_PINNED] = "SELECT count(*), total(len) FROM chunks WHERE npins > 0",
	[S_LOOKUP] = "SELECT len, last_use FROM chunks WHERE hash = ?1",
	[S_TOUCH] = "UPDATE chunks SET last_use = ?2 WHERE hash = ?1 AND last_use < ?3",
	[S_INSERT] = "INSERT INTO chunks (hash, len, last_use) VALUES (?1, ?2, ?3)",
	[S_DELETE] = "DELETE FROM chunks WHERE hash = ?1",
	[S_LRU] = "SELECT hash, len FROM chunks WHERE npins = 0 ORDER BY last_use",
	[S_PIN] = "INSERT INTO pins (hash, owner, expires) VALUES (?1, ?2, ?3)"
		  " ON CONFLICT (hash, owner) DO UPDATE SET expires = excluded.expires",
	[S_UNPIN_ONE] = "DELETE FROM pins WHERE owner = ?1 AND hash = ?2",
	[S_UNPIN_ALL] = "DELETE FROM pins WHERE owner = ?1",
	[S_GC] = "DELETE FROM pins WHERE expires > 0 AND expires <= ?1",
	[S_PAGE_FIRST] = "SELECT hash, len FROM chunks ORDER BY hash LIMIT ?1",
	[S_PAGE] = "SELECT hash, len FROM chunks WHERE hash > ?2 ORDER BY hash LIMIT ?1",
	[S_LIST] = "SELECT hash, len, last_use, npins FROM chunks ORDER BY last_use, hash",
	[S_LIST_PINS] = "SELECT p.owner, count(*), total(c.len), min(p.expires),"
			" max(p.expires) FROM pins p JOIN chunks c ON c.hash = p.hash"
			" GROUP BY p.owner ORDER BY p.owner",
	/* an upsert, not REPLACE: REPLACE would not fire map_out */
	[S_MAP_PUT] = "INSERT INTO maps (fh, size, mtime, ctime, version, chunk_size,"
		      " nchunks, hashes, last_use) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		      " ON CONFLICT (fh) DO UPDATE SET size = excluded.size,"
		      " mtime = excluded.mtime, ctime = excluded.ctime,"
		      " version = excluded.version, chunk_size = excluded.chunk_size,"
		      " nchunks = excluded.nchunks, hashes = excluded.hashes,"
		      " last_use = excluded.last_use",
	[S_MAP_GET] = "SELECT size, mtime, ctime, version, chunk_size, nchunks, hashes,"
		      " last_use FROM maps WHERE fh = ?1",
	[S_MAP_TOUCH] = "UPDATE maps SET last_use = ?2 WHERE fh = ?1 AND last_use < ?3",
	[S_MAP_DROP] = "DELETE FROM maps WHERE fh = ?1",
	[S_MAP_COUNT] = "SELECT n FROM mapstate",
	[S_MAP_TRIM] = "DELETE FROM maps WHERE rowid IN"
		       " (SELECT rowid FROM maps ORDER BY last_use LIMIT ?1)",
	[S_SET_GET] = "SELECT digest FROM stagesets WHERE key = ?1",
	[S_SET_PUT] = "INSERT INTO stagesets (key, digest, at) VALUES (?1, ?2, ?3)"
		      " ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, at = excluded.at",
	/* the oldest beyond the bound go (a set not found only costs its map puts) */
	[S_SET_TRIM] = "DELETE FROM stagesets WHERE key IN (SELECT key FROM stagesets"
		       " ORDER BY at DESC LIMIT -1 OFFSET ?1)",
};

struct cachedb {
	sqlite3 *db;
	sqlite3_stmt *st[S_NSTMT];      /* prepared on first use */
};

int cachedb_open(const char *path, struct cachedb **out, char *err, size_t errlen)
{
	sqlite3 *db;
	char *msg;
	int rc;

	rc = sqlite_open_schema(path, BUSY_MS, schema, &db, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the node cache index '%s': %s", path,
			 msg ? msg : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		rc = sqlite_errno(rc);
		return rc ? rc : -EIO;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->db = db;
	return 0;
}

void cachedb_close(struct cachedb *db)
{
	if (!db)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->db);
	free(db);
}

/* The statement, reset and unbound, or NULL (-errno in *rc). */
static sqlite3_stmt *stmt(struct cachedb *db, enum stmt_id id, int *rc)
{
	sqlite3_stmt *s = db->st[id];

	if (!s) {
		int r = sqlite3_prepare_v3(db->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					   &db->st[id], NULL);

		if (r != SQLITE_OK) {
			*rc = sqlite_errno(r);
			return NULL;
		}
		return db->st[id];
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Step a statement that returns no rows; reset it.  0 or -errno. */
static int run(struct cachedb *db, sqlite3_stmt *s)
{
	int r = sqlite3_step(s);

	sqlite3_reset(s);
	(void)db;
	return sqlite_step_errno(r, SQLITE_DONE);
}

static int run_simple(struct cachedb *db, enum stmt_id id)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, id, &rc);

	return s ? run(db, s) : rc;
}

int cachedb_begin(struct cachedb *db)
{
	return run_simple(db, S_BEGIN);
}

int cachedb_commit(struct cachedb *db)
{
	return run_simple(db, S_COMMIT);
}

void cachedb_rollback(struct cachedb *db)
{
	if (!sqlite3_get_autocommit(db->db))
		run_simple(db, S_ROLLBACK);
}

/* One row of two integers (the second may be NULL). */
static int row2(struct cachedb *db, enum stmt_id id, const unsigned char *hash,
		int64_t *a, int64_t *b)
{
	int rc = 0, r = SQLITE_DONE;
	sqlite3_stmt *s = stmt(db, id, &rc);

	if (!s)
		return rc;
	if (hash)
		sqlite3_bind_blob(s, 1, hash, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*a = sqlite3_column_int64(s, 0);
		if (b)
			*b = sqlite3_column_int64(s, 1);
		rc = 0;
	} else {
		rc = r == SQLITE_DONE ? -ENOENT : sqlite_errno(r);
	}
	sqlite3_reset(s);
	return rc;
}

int cachedb_get_quota(struct cachedb *db, uint64_t *quota)
{
	int64_t q = 0;
	int rc = row2(db, S_GET_QUOTA, NULL, &q, NULL);

	*quota = rc == 0 && q > 0 ? (uint64_t)q : 0;
	return rc;
}

int cachedb_set_quota(struct cachedb *db, uint64_t quota)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_SET_QUOTA, &rc);

	if (!s)
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)quota);
	return run(db, s);
}

int cachedb_used(struct cachedb *db, uint64_t *used, uint64_t *chunks)
{
	int64_t u = 0, n = 0;
	int rc = row2(db, S_USED, NULL, &u, &n);

	*used = (uint64_t)u;
	*chunks = (uint64_t)n;
	return rc;
}

int cachedb_pinned(struct cachedb *db, uint64_t *chunks, uint64_t *bytes)
{
	int rc = 0, r = SQLITE_DONE;
	sqlite3_stmt *s = stmt(db, S_PINNED, &rc);

	if (!s)
		return rc;
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*chunks = (uint64_t)sqlite3_column_int64(s, 0);
		*bytes = (uint64_t)sqlite3_column_double(s, 1);
	}
	sqlite3_reset(s);
	return sqlite_step_errno(r, SQLITE_ROW);
}

int cachedb_lookup(struct cachedb *db, const unsigned char *hash, uint64_t *len,
		   int64_t *last_use_ms)
{
	int64_t l = 0, t = 0;
	int rc = row2(db, S_LOOKUP, hash, &l, &t);

	if (rc == 0 && len)
		*len = (uint64_t)l;
	if (rc == 0 && last_use_ms)
		*last_use_ms = t;
	return rc;
}

int cachedb_touch(struct cachedb *db, const unsigned char *hash, int64_t now_ms,
		  int64_t min_age_ms)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_TOUCH, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, hash, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, now_ms - min_age_ms);
	return run(db, s);
}

int cachedb_insert(struct cachedb *db, const unsigned char *hash, uint64_t len,
		   int64_t now_ms)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_INSERT, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, hash, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)len);
	sqlite3_bind_int64(s, 3, now_ms);
	return run(db, s);
}

int cachedb_delete(struct cachedb *db, const unsigned char *hash)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_DELETE, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, hash, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	return run(db, s);
}

/* Copy a hash column; false when the blob is not a hash (a foreign row). */
static bool col_hash(sqlite3_stmt *s, int col, unsigned char *out)
{
	if (sqlite3_column_bytes(s, col) != BRAMBLE_HASH_LEN)
		return false;
	memcpy(out, sqlite3_column_blob(s, col), BRAMBLE_HASH_LEN);
	return true;
}

int cachedb_lru(struct cachedb *db, uint64_t want, struct cachedb_victim **out,
		size_t *n, uint64_t *total)
{
	struct cachedb_victim *v = NULL;
	size_t cnt = 0, cap = 0;
	uint64_t sum = 0;
	int rc = 0, r = SQLITE_DONE;
	sqlite3_stmt *s = stmt(db, S_LRU, &rc);

	if (!s)
		return rc;
	while (sum < want && (r = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		if (!col_hash(s, 0, v[cnt].hash))
			continue;
		v[cnt].len = (uint64_t)sqlite3_column_int64(s, 1);
		sum += v[cnt++].len;
	}
	if (sum < want)
		rc = sqlite_step_errno(r, SQLITE_DONE);
	sqlite3_reset(s);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	*total = sum;
	return 0;
}

int cachedb_pin(struct cachedb *db, const unsigned char *hash, const char *owner,
		int64_t expires)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_PIN, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, hash, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, expires);
	return run(db, s);
}

int cachedb_unpin(struct cachedb *db, const char *owner, const unsigned char *hash,
		  uint64_t *count)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, hash ? S_UNPIN_ONE : S_UNPIN_ALL, &rc);

	if (!s)
		return rc;
	sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC);
	if (hash)
		sqlite3_bind_blob(s, 2, hash, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	rc = run(db, s);
	*count = rc == 0 ? (uint64_t)sqlite3_changes(db->db) : 0;
	return rc;
}

int cachedb_gc(struct cachedb *db, int64_t now, uint64_t *count)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_GC, &rc);

	if (!s)
		return rc;
	sqlite3_bind_int64(s, 1, now);
	rc = run(db, s);
	*count = rc == 0 ? (uint64_t)sqlite3_changes(db->db) : 0;
	return rc;
}

int cachedb_page(struct cachedb *db, const unsigned char *after,
		 struct cachedb_victim *out, size_t max, size_t *n)
{
	size_t cnt = 0;
	int rc = 0, r = SQLITE_DONE;
	sqlite3_stmt *s = stmt(db, after ? S_PAGE : S_PAGE_FIRST, &rc);

	if (!s)
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)max);
	if (after)
		sqlite3_bind_blob(s, 2, after, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	while (cnt < max && (r = sqlite3_step(s)) == SQLITE_ROW) {
		if (!col_hash(s, 0, out[cnt].hash))
			continue;
		out[cnt++].len = (uint64_t)sqlite3_column_int64(s, 1);
	}
	if (cnt < max)
		rc = sqlite_step_errno(r, SQLITE_DONE);
	sqlite3_reset(s);
	*n = cnt;
	return rc;
}

int cachedb_list(struct cachedb *db, struct bramble_cache_entry **out, size_t *n)
{
	struct bramble_cache_entry *e = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0, r = SQLITE_DONE;
	sqlite3_stmt *s = stmt(db, S_LIST, &rc);

	if (!s)
		return rc;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			e = xrealloc(e, cap * sizeof(*e));
		}
		if (!col_hash(s, 0, e[cnt].hash))
			continue;
		e[cnt].len = (uint64_t)sqlite3_column_int64(s, 1);
		e[cnt].last_use = sqlite3_column_int64(s, 2) / 1000;
		e[cnt++].npins = (unsigned)sqlite3_column_int64(s, 3);
	}
	rc = sqlite_step_errno(r, SQLITE_DONE);
	sqlite3_reset(s);
	if (rc < 0) {
		free(e);
		return rc;
	}
	*out = e;
	*n = cnt;
	return 0;
}

int cachedb_list_pins(struct cachedb *db, struct bramble_cache_pininfo **out, size_t *n)
{
	struct bramble_cache_pininfo *p = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0, r = SQLITE_DONE;
	sqlite3_stmt *s = stmt(db, S_LIST_PINS, &rc);

	if (!s)
		return rc;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			p = xrealloc(p, cap * sizeof(*p));
		}
		p[cnt].owner = xstrdup((const char *)sqlite3_column_text(s, 0));
		p[cnt].chunks = (uint64_t)sqlite3_column_int64(s, 1);
		p[cnt].bytes = (uint64_t)sqlite3_column_double(s, 2);
		/* one pin that never expires keeps the owner's chunks for good */
		p[cnt].expires = sqlite3_column_int64(s, 3) == 0 ? 0 :
				 sqlite3_column_int64(s, 4);
		cnt++;
	}
	rc = sqlite_step_errno(r, SQLITE_DONE);
	sqlite3_reset(s);
	if (rc < 0) {
		for (size_t i = 0; i < cnt; i++)
			free((char *)p[i].owner);
		free(p);
		return rc;
	}
	*out = p;
	*n = cnt;
	return 0;
}

/* ---- file maps */

int cachedb_map_count(struct cachedb *db, uint64_t *n)
{
	int64_t v = 0;
	int rc = row2(db, S_MAP_COUNT, NULL, &v, NULL);

	*n = rc == 0 && v > 0 ? (uint64_t)v : 0;
	return rc;
}

static int map_put_row(struct cachedb *db, const void *fh, size_t fhlen,
		       const struct bramble_cache_map *m, int64_t now_ms)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_MAP_PUT, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, fh, (int)fhlen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)m->size);
	sqlite3_bind_int64(s, 3, m->mtime_ns);
	sqlite3_bind_int64(s, 4, m->ctime_ns);
	sqlite3_bind_int64(s, 5, (int64_t)m->version);
	sqlite3_bind_int64(s, 6, m->chunk_size);
	sqlite3_bind_int64(s, 7, m->nchunks);
	/* zeroblob-free: an empty file's map has no hashes but a non-NULL blob */
	sqlite3_bind_blob64(s, 8, m->nchunks ? (const void *)m->hashes : "",
			    (sqlite3_uint64)m->nchunks * BRAMBLE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, now_ms);
	return run(db, s);
}

/* Drop the least recently used rows beyond max. */
static int map_trim(struct cachedb *db, uint64_t max)
{
	uint64_t n = 0;
	int rc = cachedb_map_count(db, &n);
	sqlite3_stmt *s;

	if (rc < 0 || n <= max)
		return rc;
	s = stmt(db, S_MAP_TRIM, &rc);
	if (!s)
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)(n - max));
	return run(db, s);
}

int cachedb_map_put(struct cachedb *db, const void *fh, size_t fhlen,
		    const struct bramble_cache_map *m, int64_t now_ms, uint64_t max)
{
	int rc = cachedb_begin(db);

	if (rc == 0)
		rc = map_put_row(db, fh, fhlen, m, now_ms);
	if (rc == 0)
		rc = map_trim(db, max);
	if (rc == 0)
		rc = cachedb_commit(db);
	if (rc < 0)
		cachedb_rollback(db);
	return rc;
}

/* The columns of a S_MAP_GET row into out (hashes malloc'd). */
static int map_from_row(sqlite3_stmt *s, struct bramble_cache_map *out,
			int64_t *last_use_ms)
{
	int64_t nchunks = sqlite3_column_int64(s, 5);
	size_t bytes = (size_t)sqlite3_column_bytes(s, 6);

	if (nchunks < 0 || nchunks > BRAMBLE_CACHE_MAP_CHUNKS_MAX ||
	    bytes != (size_t)nchunks * BRAMBLE_HASH_LEN)
		return -EUCLEAN;
	out->size = (uint64_t)sqlite3_column_int64(s, 0);
	out->mtime_ns = sqlite3_column_int64(s, 1);
	out->ctime_ns = sqlite3_column_int64(s, 2);
	out->version = (uint64_t)sqlite3_column_int64(s, 3);
	out->chunk_size = (uint32_t)sqlite3_column_int64(s, 4);
	out->nchunks = (uint32_t)nchunks;
	out->hashes = xmalloc(bytes ? bytes : 1);
	if (bytes)
		memcpy(out->hashes, sqlite3_column_blob(s, 6), bytes);
	*last_use_ms = sqlite3_column_int64(s, 7);
	return 0;
}

int cachedb_map_get(struct cachedb *db, const void *fh, size_t fhlen,
		    struct bramble_cache_map *out, int64_t *last_use_ms)
{
	int rc = 0, r;
	sqlite3_stmt *s = stmt(db, S_MAP_GET, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, fh, (int)fhlen, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		rc = map_from_row(s, out, last_use_ms);
	else
		rc = r == SQLITE_DONE ? -ENOENT : sqlite_step_errno(r, SQLITE_DONE);
	sqlite3_reset(s);
	return rc;
}

int cachedb_map_touch(struct cachedb *db, const void *fh, size_t fhlen, int64_t now_ms,
		      int64_t min_age_ms)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_MAP_TOUCH, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, fh, (int)fhlen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_int64(s, 3, now_ms - min_age_ms);
	return run(db, s);
}

int cachedb_map_drop(struct cachedb *db, const void *fh, size_t fhlen)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_MAP_DROP, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, fh, (int)fhlen, SQLITE_STATIC);
	return run(db, s);
}

int cachedb_set_get(struct cachedb *db, const void *key, size_t keylen,
		    unsigned char digest[BRAMBLE_HASH_LEN])
{
	int rc = 0, r;
	sqlite3_stmt *s = stmt(db, S_SET_GET, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, key, (int)keylen, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW && sqlite3_column_bytes(s, 0) == BRAMBLE_HASH_LEN)
		memcpy(digest, sqlite3_column_blob(s, 0), BRAMBLE_HASH_LEN);
	else
		rc = r == SQLITE_ROW || r == SQLITE_DONE ? -ENOENT : sqlite_errno(r);
	sqlite3_reset(s);
	return rc;
}

int cachedb_set_put(struct cachedb *db, const void *key, size_t keylen,
		    const unsigned char digest[BRAMBLE_HASH_LEN], int64_t now_ms,
		    uint64_t max)
{
	int rc = 0;
	sqlite3_stmt *s = stmt(db, S_SET_PUT, &rc);

	if (!s)
		return rc;
	sqlite3_bind_blob(s, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, digest, BRAMBLE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	rc = run(db, s);
	if (rc == 0 && (s = stmt(db, S_SET_TRIM, &rc)) != NULL) {
		sqlite3_bind_int64(s, 1, (int64_t)max);
		rc = run(db, s);
	}
	return rc;
}
