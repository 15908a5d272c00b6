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
 *
 * Cancelling (bramble_cancel, bramble.h): a caller may have a cancel token
 * bound to its thread.  conn_call notes it in the request and publishes
 * (token -> connection, request) under the token's lock while it waits, so
 * bramble_cancel() can wake exactly that wait: it signals the request's
 * condition variable under c->lock and, in case that caller is the one
 * reading (leader), pokes c->wake_fd, which read_some() and send_req()
 * poll beside the socket.  Lock order: token lock, then c->lock;
 * conn_call never holds c->lock while taking a token's lock.  A cancelled
 * call leaves the table at once and returns -EINTR; its reply, should it
 * come, is dropped like a timed-out one's.
 *
 * Deadlines may be CONN_NO_DEADLINE (hard mounts): such a call waits until
 * its reply arrives, the connection is freed, or it is cancelled.
 */
#ifndef BR_CONN_H
#define BR_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "hashtab.h"

struct conn;

/* Makes a new connected socket.  Returns 0 (with *fd_out) or -errno.
 * Called from the reader thread only, with no lock held. */
typedef int conn_dial_fn(void *ctx, int *fd_out);

/* One call.  The caller owns it (often on its stack) and fills xid (from
 * conn_next_xid()) and call (the whole record, mark included) before
 * conn_call(); the connection only borrows it until conn_call() returns. */
#define CONN_NO_DEADLINE INT64_MAX

struct bramble_cancel;

struct conn_req {
	uint32_t xid;
	struct buf call;
	struct buf reply;          /* the reply record, on success */
	int64_t deadline_ns;       /* CLOCK_MONOTONIC, or CONN_NO_DEADLINE */
	struct bramble_cancel *cancel; /* the caller thread's token (set by conn_call) */
	/* protected by c->lock: */
	bool done;
	uint64_t sent_gen;         /* connection generation it went out on */
	struct hashtab_node hn;    /* in the connection's table of calls */
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
/* The generation of the current socket: it changes on every reconnect
 * (a request's sent_gen says which one it went out on). */
uint64_t conn_generation(struct conn *c);

/* Send req and wait for its reply until req->deadline_ns.  Returns 0 with
 * the reply record in req->reply (caller releases it with buf_release),
 * -ETIMEDOUT, -EINTR (the calling thread's cancel token fired, before or
 * during the wait), or -ESHUTDOWN when the connection is being freed. */
int conn_call(struct conn *c, struct conn_req *req);

void conn_get_counters(struct conn *c, struct conn_counters *out);

/* Callbacks (bramble_prot.x "Callbacks"): a record the server sends that
 * is an RPC CALL, not a reply, goes to fn(ctx, rec, len); when the socket
 * breaks, fn(ctx, NULL, 0) ("the server forgot what this connection
 * watched").  fn runs on whichever thread reads the socket (the reader
 * thread, or a caller reading its own reply), with no lock held: it must
 * not block nor make calls.  Once set, the reader thread also watches
 * the socket while no call waits, so callbacks and a broken connection
 * are noticed at once.  Set once, before the first call. */
typedef void conn_cb_fn(void *ctx, const char *rec, size_t len);
void conn_set_callback(struct conn *c, conn_cb_fn *fn, void *ctx);

#endif
