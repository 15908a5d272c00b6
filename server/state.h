/* state.h - the server's state directory (--state).
 *
 * It holds:
 *   brambled.lock  held (flock, exclusive) by the brambled using the
 *               directory, for its whole life: a second one is refused.
 *   handle.key  32 random bytes, mode 0600, made on first start: the key
 *               that authenticates file handles.  Losing it invalidates
 *               every handle a client holds (clients see ESTALE).
 *   bramble.db  SQLite database: a `meta' table (key, value) with the
 *               schema version and start times, and the tables of the
 *               modules that keep state across restarts -- the chunk index
 *               (chunkidx.c), the handle table (handletab.c), the
 *               duplicate-request cache (drcstore.c) and the lock clients
 *               (lockdb.c).
 *
 * state_open() runs once at startup, before any worker exists; the struct
 * is read only afterwards except for the database, which only the main
 * thread touches (workers will get their own connections with the chunk
 * index).  Returns 0 or -errno; on failure *errmsg (static or owned by the
 * state, valid until state_close) says what went wrong. */
#ifndef BR_STATE_H
#define BR_STATE_H

#include <sqlite3.h>

#define STATE_KEY_LEN 32

struct state {
	char *dir;                          /* owned */
	unsigned char key[STATE_KEY_LEN];
	sqlite3 *db;
	int lock_fd;                        /* brambled.lock, flock()ed: one
					     * brambled per directory */
	char err[8448];                     /* last error: room for two paths */
};

/* Create the directory (0700) if missing, load or create the key, open the
 * database and record this start.  On success *out owns the state (free
 * with state_close()); on failure *out is untouched and err_out (>= 512
 * bytes) holds a message naming the file. */
int state_open(const char *dir, struct state **out, char *err_out, size_t err_len);
void state_close(struct state *st);
/* meta table access (main thread only).  value_out is malloc'd. */
int state_meta_get(struct state *st, const char *key, char **value_out);
int state_meta_set(struct state *st, const char *key, const char *value);
/* An SQLite result code as 0 or -errno (-ENOSPC, -EBUSY, -EIO, ...):
 * the one map, for the other users of bramble.db (drcstore.c, lockdb.c). */
int state_sqlite_errno(int rc);
/* Another connection to bramble.db at path, for one module's own tables
 * (the duplicate-request cache, the lock clients, the handle table): WAL,
 * synchronous=NORMAL (durable against a crash of the process, which is
 * what a restart after kill -9 needs), a 5 s busy timeout, then schema
 * (CREATE ... IF NOT EXISTS).  No mutex inside: the module serialises its
 * use.  0, or -errno with err saying "cannot open the WHAT in 'PATH': ...". */
int state_db_open(const char *path, const char *what, const char *schema,
		  sqlite3 **out, char *err, size_t errlen);

#endif
