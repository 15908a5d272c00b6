/* drcstore.c - the `drc' table of bramble.db (see drcstore.h). */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drckey.h"
#include "drcstore.h"
#include "state.h"
#include "xalloc.h"

struct drcstore {
	pthread_mutex_t lock;
	sqlite3 *db;                   /* protected by lock */
	sqlite3_stmt *put;             /* protected by lock */
};

/* 64-bit values go in as their bit pattern (SQLite integers are signed). */
#define I64(v) ((sqlite3_int64)(int64_t)(v))

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS drc("
	" t INTEGER NOT NULL,"          /* CLOCK_REALTIME ns */
	" client INTEGER NOT NULL, xid INTEGER NOT NULL,"
	" proc INTEGER NOT NULL, sum INTEGER NOT NULL,"
	" reply BLOB NOT NULL);";

int drcstore_open(const char *path, struct drcstore **out, char *err,
		  size_t errlen)
{
	struct drcstore *s = xcalloc(1, sizeof(*s));
	int rc;

	pthread_mutex_init(&s->lock, NULL);
	rc = state_db_open(path, "duplicate-request table", schema, &s->db, err, errlen);
	if (rc < 0) {
		drcstore_close(s);
		return rc;
	}
	rc = sqlite3_prepare_v2(s->db,
					"INSERT INTO drc(t, client, xid, proc, sum, reply)"
					" VALUES (?, ?, ?, ?, ?, ?)",
					-1, &s->put, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the duplicate-request table in '%s': %s",
			 path, sqlite3_errmsg(s->db));
		drcstore_close(s);
		rc = state_sqlite_errno(rc);
		return rc ? rc : -EIO;
	}
	*out = s;
	return 0;
}

void drcstore_close(struct drcstore *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->put);
	if (s->db)
		sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int drcstore_put(struct drcstore *s, const struct drc_key *k, int64_t t_ns,
		 const void *reply, size_t len)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->put, 1, t_ns);
	sqlite3_bind_int64(s->put, 2, I64(k->client));
	sqlite3_bind_int64(s->put, 3, k->xid);
	sqlite3_bind_int64(s->put, 4, k->proc);
	sqlite3_bind_int64(s->put, 5, I64(k->sum));
	sqlite3_bind_blob(s->put, 6, reply, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s->put);
	sqlite3_reset(s->put);
	sqlite3_clear_bindings(s->put);
	pthread_mutex_unlock(&s->lock);
	return state_sqlite_errno(rc);
}

/* Run one statement with up to two integer parameters.  Lock held. */
static int exec2(struct drcstore *s, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return state_sqlite_errno(rc);
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return state_sqlite_errno(rc);
}

/* rowid follows insertion order, so "the newest keep" is a rowid range. */
static const char prune_sql[] =
	"DELETE FROM drc WHERE t < ?1"
	" OR rowid <= (SELECT max(rowid) FROM drc) - ?2";

int drcstore_prune(struct drcstore *s, int64_t cut_ns, unsigned int keep)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = exec2(s, prune_sql, cut_ns, keep);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int load_rows(struct drcstore *s, drcstore_row_fn *fn, void *ctx)
{
	sqlite3_stmt *st;
	int n = 0;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT client, xid, proc, sum, reply FROM drc"
				    " ORDER BY rowid",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return state_sqlite_errno(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct drc_key k;
		const void *reply = sqlite3_column_blob(st, 4);
		int len = sqlite3_column_bytes(st, 4);

		/* Never trust a length read back: the cache holds at most
		 * DRC_REPLY_MAX per entry.  0 is an intent (drc.h). */
		if (len < 0 || len > DRC_REPLY_MAX)
			continue;
		memset(&k, 0, sizeof(k));
		k.client = (uint64_t)sqlite3_column_int64(st, 0);
		k.xid = (uint32_t)sqlite3_column_int64(st, 1);
		k.proc = (uint32_t)sqlite3_column_int64(st, 2);
		k.sum = (uint64_t)sqlite3_column_int64(st, 3);
		fn(ctx, &k, reply, (size_t)len);
		n++;
	}
	sqlite3_finalize(st);
	rc = state_sqlite_errno(rc);
	return rc < 0 ? rc : n;
}

int drcstore_load(struct drcstore *s, unsigned int max, int64_t now_ns,
		  drcstore_row_fn *fn, void *ctx)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = exec2(s, "BEGIN IMMEDIATE", 0, 0);
	if (rc == 0)
		rc = exec2(s, prune_sql, INT64_MIN, max);
	if (rc == 0)
		rc = exec2(s, "UPDATE drc SET t = ?1", now_ns, 0);
	if (rc == 0)
		rc = exec2(s, "COMMIT", 0, 0);
	else
		exec2(s, "ROLLBACK", 0, 0);
	if (rc == 0)
		rc = load_rows(s, fn, ctx);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
