/* sqlerr.h - what every module that keeps a SQLite database shares
 * (server/state.c for bramble.db, cache/cachedb.c for the node cache's
 * index): result codes as -errno, and the one way to open a database.
 * Header-only, so common/ itself does not link SQLite: only the programs
 * that include it do. */
#ifndef BR_SQLERR_H
#define BR_SQLERR_H

#include <errno.h>
#include <sqlite3.h>

/* 0 for OK/DONE/ROW, else the closest -errno (-EIO for the rest). */
static inline int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* A step that ended in r where want (SQLITE_DONE or SQLITE_ROW) was
 * expected: 0, or the -errno of r (-EIO when r is no error at all, e.g.
 * a row where none should be). */
static inline int sqlite_step_errno(int r, int want)
{
	int rc = sqlite_errno(r);

	return r == want ? 0 : rc ? rc : -EIO;
}

/* Open (creating) the database at path for one thread at a time (the
 * caller serialises): WAL, synchronous=NORMAL (a power cut may lose the
 * last commits, never consistency), a busy timeout of busy_ms for the
 * other connections and processes, and schema (CREATE ... IF NOT EXISTS)
 * run in one BEGIN IMMEDIATE transaction, so connections opening a new
 * database at once agree.  Returns a SQLite code; on failure *msg (to
 * sqlite3_free) or sqlite3_errmsg(*db) says why, and *db must still be
 * closed (sqlite3_close accepts NULL). */
static inline int sqlite_open_schema(const char *path, int busy_ms,
				     const char *schema, sqlite3 **db, char **msg)
{
	int rc;

	*db = NULL;
	*msg = NULL;
	rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(*db, busy_ms);
		rc = sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
				  NULL, NULL, msg);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(*db, "BEGIN IMMEDIATE", NULL, NULL, msg);
	if (rc == SQLITE_OK) {
		rc = sqlite3_exec(*db, schema, NULL, NULL, msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(*db, "COMMIT", NULL, NULL, msg);
		else
			sqlite3_exec(*db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

#endif
