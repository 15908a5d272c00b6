/* lockdb.h - the `lock_clients' table of bramble.db: which clients held
 * locks, so that a restarted brambled knows whom to wait for.
 *
 * A row is added when a client takes its first lock and deleted when the
 * server forgets the client (its lease ran out).  After a restart the
 * rows name the clients that may come back to reclaim locks: the lock
 * manager stays in grace until each of them has, or the grace time is
 * over (lock.h).
 *
 * Durability: its own SQLite connection in WAL mode with
 * synchronous=NORMAL: a row survives the death of the process (kill -9),
 * which is what matters here; a power cut also cuts every client.
 *
 * Not thread-safe: the lock manager calls it under its own mutex.  This
 * file is the lock manager's only SQLite boundary. */
#ifndef BR_LOCKDB_H
#define BR_LOCKDB_H

#include <stddef.h>
#include <stdint.h>

struct lockdb;

/* Open (creating the table) the database at path.  On failure err (>= 256
 * bytes) says why.  0 or -errno; *out untouched on failure. */
int lockdb_open(const char *path, struct lockdb **out, char *err, size_t errlen);
void lockdb_close(struct lockdb *d);
/* Add / delete a client id (adding one already there is no error). */
int lockdb_add(struct lockdb *d, uint64_t client);
int lockdb_del(struct lockdb *d, uint64_t client);
/* Every id in the table: *ids (caller frees) gets *n entries. */
int lockdb_load(struct lockdb *d, uint64_t **ids, size_t *n);

#endif
