/* conn.h - one pipelined RPC connection: XID table, reader thread,
 * reconnect.
 *
 * Many calls are in flight at once.  A caller registers its request in the
 * XID table and writes the record under the send lock (the only thing
 * serialised).  Then it waits for its reply in one of two ways:
 *  - if nobody is reading the socket, it reads itself (leader/follower):
 *    it receives records, hands the others' replies to their callers, and
 *    stops at its own reply or deadline.  A caller alone on the connection
 *    thus gets its reply without any thread wake-up, which on a small VM
 *    costs more than the round trip itself;
 *  - otherwise it sleeps on its own condition variable until whoever reads
 *    hands it the reply, or its deadline passes.
 * The reader thread reads whenever somebody waits and no caller is
 * reading (a caller that stops reading while others still wait wakes it),
 * and it owns reconnecting: when the connection breaks it dials again
 * (backing off 100 ms -> 2 s) as long as some call is waiting.  After a
 * reconnect every waiting call re-sends its own record (same XID) from its
 * own thread, so no reader ever blocks writing while replies pile up.
 *
 * Locks: c->lock protects the table, the requests' done/reply/sent_gen,
 * the `reading' flag and the counters; c->send_lock serialises writes.  fd
 * and gen change only with both held (send_lock first), so either lock is
 * enough to read them.  The record reader state belongs to whoever set
 * `reading'.  No lock is held across a round trip.
 */
#ifndef BR_CONN_H
#define BR_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct conn;

/* Makes a new connected socket.  Returns 0 (with *fd_out) or -errno.
 * Called from the reader thread only, with no lock held. */
typedef int conn_dial_fn(void *ctx, int *fd_out);

/* One call.  The caller owns it (often on its stack) and fills xid (from
 * conn_next_xid()) and call (the whole record, mark included) before
 * conn_call(); the connection only borrows it until conn_call() returns. */
struct conn_req {
	uint32_t xid;
	struct buf call;
	struct buf reply;          /* the reply record, on success */
	int64_t deadline_ns;       /* CLOCK_MONOTONIC */
	/* protected by c->lock: */
	bool done;
	uint64_t sent_gen;         /* connection generation it went out on */
	struct conn_req *next, **pprev; /* XID hash chain */
	pthread_cond_t cond;
};

struct conn_counters {
	uint64_t connects, resent, timeouts;
	uint32_t in_flight;
	bool connected;
};

/* Start a connection.  fd: an already connected socket, or -1 to dial on
 * the first call.  dial/ctx are borrowed until conn_free().  Returns 0 or
 * -errno; *out untouched on failure. */
int conn_new(int fd, conn_dial_fn *dial, void *ctx, struct conn **out);
/* Stop the reader and close the socket.  No conn_call() may be running.
 * Accepts NULL. */
void conn_free(struct conn *c);

uint32_t conn_next_xid(struct conn *c);

/* Send req and wait for its reply until req->deadline_ns.  Returns 0 with
 * the reply record in req->reply (caller releases it with buf_release),
 * -ETIMEDOUT, or -ESHUTDOWN when the connection is being freed. */
int conn_call(struct conn *c, struct conn_req *req);

void conn_get_counters(struct conn *c, struct conn_counters *out);

#endif
