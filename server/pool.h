/* pool.h - the worker pool and the job that travels loop -> worker -> loop.
 *
 * The loop thread creates a job for each call it cannot answer itself
 * (NULL, protocol errors and dispatch_inline() are answered in the loop)
 * and hands it to pool_submit().  A worker runs it (the `run' callback: decode
 * the arguments, do the blocking work, encode the reply into job->reply),
 * then puts it on the locked done-list and wakes the loop with
 * ev_async_send().  The loop's async callback drains the whole list (sends
 * coalesce) and passes each job to the `done' callback, which queues the
 * reply on its connection or drops it when the connection died meanwhile.
 *
 * Workers never touch a connection; the loop never blocks on disk.  All
 * signals are blocked in workers, so they go to the loop thread. */
#ifndef BR_POOL_H
#define BR_POOL_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "rpcmsg.h"

struct auth_grant;
struct conn;

struct job {
	struct job *next;           /* queue link: owned by whoever holds the job */
	struct conn *conn;          /* loop thread only: never dereferenced by workers */
	uint32_t xid, proc;
	uint32_t flavor;            /* RPC_AUTH_NONE, RPC_AUTH_SYS, or
				     * BR_AUTH_MUNGE: a MUNGE session (auth.h) */
	struct auth_grant *grant;   /* a MUNGE credential to verify (auth.h):
				     * owned, flat (job_free frees it) */
	struct br_cred cred;        /* as sent (squashing happens in dispatch) */
	bool has_client_id;         /* the call named its client (drc.h) */
	uint64_t client_id;         /* ... this one */
	struct sockaddr_storage peer_sa; /* the connection's peer (exports' allow lists) */
	uint64_t conn_id;           /* the connection's id (peers.h) */
	char *rec;                  /* the whole record (owned; freed once decoded) */
	const char *args;           /* into rec */
	size_t args_len;
	struct buf reply;           /* the reply record, mark included */
	size_t sent;                /* bytes of reply written (loop thread) */
	int64_t t0_ns;              /* when the loop queued it */
	uint32_t in_len;            /* request record bytes, mark included (stats.h) */
	bool failed;                /* answered with an error status (stats.h) */
	uint64_t link_bps;          /* its connection's link speed when queued
				     * (conn.h); 0: unknown */
	/* Callbacks (watch.h).  wc: the connection's watch set (borrowed:
	 * the connection outlives its jobs), or, with `callback', the set
	 * this job carries a CB_CHANGED record to (a reference: job_free
	 * drops it; the record is in reply).  trail: records for this
	 * connection to write right after the reply. */
	struct watch_client *wc;
	bool callback;
	struct buf trail;
};

/* Returns false when run kept the job (a lock wait: lock.h); whoever
 * holds it then finishes it later with pool_complete(). */
typedef bool pool_run_fn(void *ctx, struct job *j);
typedef void pool_done_fn(void *ctx, struct job *j);

struct pool;

/* Start n worker threads.  run is called on a worker, done on the loop
 * thread; both get ctx.  Returns 0 or -errno (thread creation). */
int pool_new(struct ev_loop *loop, unsigned int n, pool_run_fn *run,
	     pool_done_fn *done, void *ctx, struct pool **out);
/* Queue a job (loop thread).  The pool owns it until `done'. */
void pool_submit(struct pool *p, struct job *j);
/* Any thread: hand a finished job kept by `run' to the loop, exactly as
 * a worker does with the jobs it ran. */
void pool_complete(struct pool *p, struct job *j);
/* Stop: workers finish the job in hand and exit; jobs still queued or done
 * are freed without being run or delivered.  Then free the pool. */
void pool_free(struct pool *p);

struct job *job_new(void);
void job_free(struct job *j);

#endif
