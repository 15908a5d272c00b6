/* sqlerr.h - SQLite result codes as -errno, for every module that keeps
 * a database (server/state.c for bramble.db, client/cachedb.c for the
 * node cache's index).  Header-only: it needs sqlite3.h's constants, not
 * the library, so common/ does not link SQLite. */
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

#endif
