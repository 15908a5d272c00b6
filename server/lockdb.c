/* lockdb.c - the `lock_clients' table of bramble.db (see lockdb.h). */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "lockdb.h"
#include "state.h"
#include "xalloc.h"

struct lockdb {
	sqlite3 *db;
	sqlite3_stmt *add, *del;
};

/* 64-bit ids go in as their bit pattern (SQLite integers are signed). */
#define I64(v) ((sqlite3_int64)(int64_t)(v))

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS lock_clients(client INTEGER PRIMARY KEY);";

int lockdb_open(const char *path, struct lockdb **out, char *err, size_t errlen)
{
	struct lockdb *d = xcalloc(1, sizeof(*d));
	int rc;

	rc = state_db_open(path, "lock table", schema, &d->db, err, errlen);
	if (rc < 0) {
		lockdb_close(d);
		return rc;
	}
	rc = sqlite3_prepare_v2(d->db,
					"INSERT OR IGNORE INTO lock_clients VALUES (?)",
					-1, &d->add, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db,
					"DELETE FROM lock_clients WHERE client = ?",
					-1, &d->del, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the lock table in '%s': %s", path,
			 sqlite3_errmsg(d->db));
		lockdb_close(d);
		rc = state_sqlite_errno(rc);
		return rc ? rc : -EIO;
	}
	*out = d;
	return 0;
}

void lockdb_close(struct lockdb *d)
{
	if (!d)
		return;
	sqlite3_finalize(d->add);
	sqlite3_finalize(d->del);
	if (d->db)
		sqlite3_close(d->db);
	free(d);
}

static int run_id(sqlite3_stmt *s, uint64_t client)
{
	int rc;

	sqlite3_bind_int64(s, 1, I64(client));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return state_sqlite_errno(rc);
}

int lockdb_add(struct lockdb *d, uint64_t client)
{
	return run_id(d->add, client);
}

int lockdb_del(struct lockdb *d, uint64_t client)
{
	return run_id(d->del, client);
}

int lockdb_load(struct lockdb *d, uint64_t **ids, size_t *n)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	rc = sqlite3_prepare_v2(d->db, "SELECT client FROM lock_clients", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return state_sqlite_errno(rc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*ids = xrealloc(*ids, cap * sizeof(**ids));
		}
		(*ids)[(*n)++] = (uint64_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	rc = state_sqlite_errno(rc);
	if (rc < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}
