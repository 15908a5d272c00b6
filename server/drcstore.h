/* drcstore.h - the duplicate-request cache's table in bramble.db, so a
 * reply survives a crash of brambled (kill -9, OOM, a bug).
 *
 * drc.c appends every finished non-idempotent call (key + reply record)
 * here before the reply is sent, and reads the table back at startup.
 * The table is append-only: nothing reads it while the server runs, so
 * it has no index (the cheapest insert).  Rows are pruned in batches
 * (drcstore_prune), never one per call.
 *
 * Durability: its own SQLite connection to bramble.db in WAL mode with
 * synchronous=NORMAL.  A commit is then a write() into the WAL file, no
 * fsync: it survives the death of the process (the kernel has the data),
 * not a power cut -- after a power cut no client connection survives
 * either, and the replies lost are those of calls the clients re-send to
 * a server whose page cache lost the effect too.
 *
 * This file is the DRC's only SQLite boundary: result codes become
 * -errno here.  Thread-safe: one mutex serialises the connection. */
#ifndef BR_DRCSTORE_H
#define BR_DRCSTORE_H

#include <stddef.h>
#include <stdint.h>

struct drc_key;
struct drcstore;

/* Open (creating the table if needed) the database at path.  On success
 * *out owns the store (free: drcstore_close()); on failure err (>= 256
 * bytes) names the file and the reason.  0 or -errno. */
int drcstore_open(const char *path, struct drcstore **out, char *err,
		  size_t errlen);
void drcstore_close(struct drcstore *s);

/* Append one call, stamped t_ns (CLOCK_REALTIME): its reply, or with len
 * 0 (reply "", not NULL) its intent, written before it runs (drc.h).
 * 0 or -errno (-ENOSPC: the disk is full). */
int drcstore_put(struct drcstore *s, const struct drc_key *k, int64_t t_ns,
		 const void *reply, size_t len);

/* Delete the rows stamped before cut_ns and all but the newest keep. */
int drcstore_prune(struct drcstore *s, int64_t cut_ns, unsigned int keep);

typedef void drcstore_row_fn(void *ctx, const struct drc_key *k,
			     const void *reply, size_t len);
/* Startup: keep the newest max rows, stamp them now_ns (their age counts
 * from this start: a client can only re-send while a server runs), and
 * pass each to fn, oldest first.  Returns the number of rows or -errno. */
int drcstore_load(struct drcstore *s, unsigned int max, int64_t now_ns,
		  drcstore_row_fn *fn, void *ctx);

#endif
