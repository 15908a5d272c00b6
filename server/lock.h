/* lock.h - the lock manager: cluster-wide fcntl, OFD and flock locks held
 * by brambled on behalf of its clients (LOCK / TESTLOCK).
 *
 * Locks are kept in memory per file (st_dev, st_ino of the decoded
 * handle), with the rules of common/lkrange.h; an owner is the pair
 * (client id, owner the client sent).  The client id is the one libbramble
 * puts in every AUTH_SYS call (drc_client_id()); calls without one get no
 * locks (-ENOLCK).
 *
 * Waiting (BR_LOCK_WAIT).  A LOCK that must wait does not hold a worker:
 * lockmgr_call() keeps its job (LOCK_PARKED) and the worker moves on.
 * When the lock can be granted -- on any thread that released a lock, or
 * the loop thread when a lease runs out -- the manager has the reply
 * encoded (lock_reply_fn) and hands the job back through pool_complete(),
 * like any finished job.  A wait ends with BR_EINTR when its connection
 * closes, when its owner sends an UNLOCK overlapping it (UNLOCK with
 * BR_LOCK_WAIT cancels the wait only and releases nothing: that is what
 * an interrupted waiter sends, so an interrupted upgrade keeps the lock
 * it had); it ends with BR_EAGAIN when the same owner asks again for the
 * same range and type on the same connection (a client re-issuing its
 * wait after its own deadline).  At most LOCK_WAITERS_PER_CONN calls wait per
 * connection (each counts against the connection's in-flight cap): one
 * more gets BR_EAGAIN as if it had not asked to wait, and the client
 * polls instead.
 *
 * Leases.  The loop thread reports each connection's client
 * (lockmgr_client_attach/detach).  A client with no connection for
 * lease_sec loses its locks; waiters are then granted.
 *
 * Restart.  Clients that ever held a lock are listed in bramble.db
 * (lockdb.h) until their lease runs out.  A server that starts with a
 * non-empty list is in grace: it grants only reclaims (BR_LOCK_RECLAIM)
 * and unlocks, and answers other LOCK and TESTLOCK calls BR_EGRACE,
 * until every listed client has said it is done reclaiming (a LOCK with
 * flags BR_LOCK_RECLAIM | BR_LOCK_ALL and type BR_LOCK_UNLOCK; handle
 * and owner ignored) or grace_sec have passed.  A reclaim outside grace
 * is granted when nothing conflicts.
 *
 * Threads: lockmgr_call() runs on workers, the rest on the loop thread;
 * one mutex (m->lock) guards everything, and is never held while waiting
 * for anything but the database's few-microsecond inserts. */
#ifndef BR_LOCK_H
#define BR_LOCK_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lkrange.h"
#include "proto.h"

struct job;
struct pool;
struct lockmgr;

#define LOCK_PARKED 1             /* lockmgr_call(): the job was kept */
#define LOCK_MAX 100000           /* locks in the table: more get ENOLCK */
#define LOCK_WAITERS_PER_CONN 16
/* Not an errno: the server is in grace (BR_EGRACE on the wire). */
#define LOCK_EGRACE BR_ERRNO_GRACE

struct lock_opts {
	unsigned int lease_sec;
	unsigned int grace_sec;
	const char *db_path;      /* bramble.db; NULL: nothing kept (tests) */
	/* Called (manager's lock held) when a client's lease runs out, so
	 * that what else the server holds for it goes too (openstate.h).
	 * May be NULL. */
	void (*client_gone)(void *arg, uint64_t client);
	void *client_gone_arg;
};

/* Encode j's LOCK reply: rc 0 or -errno (-EINTR, -EAGAIN); holder (may
 * be NULL) is the conflicting lock, same_client whether it is the
 * caller's client's.  Runs with the manager's lock held. */
typedef void lock_reply_fn(struct job *j, int rc, const struct lkr *holder,
			   bool same_client);

/* One LOCK or TESTLOCK, decoded. */
struct lock_call {
	uint64_t dev, ino;        /* the file */
	struct lkr lk;            /* client, owner, kind, type, range, pid */
	uint32_t flags;           /* BR_LOCK_WAIT / RECLAIM / ALL */
	bool test;                /* TESTLOCK */
	struct job *job;          /* WAIT: the call, kept if it must wait */
	const void *conn;         /* the job's connection (a token, never
	                           * dereferenced) */
};

/* Load the list of clients from db_path (grace if it is not empty).  On
 * failure err says why.  0 or -errno. */
int lockmgr_new(const struct lock_opts *o, lock_reply_fn *reply,
		struct lockmgr **out, char *err, size_t errlen);
/* Frees the tables (lockmgr_stop() first if started).  Accepts NULL. */
void lockmgr_free(struct lockmgr *m);

/* Loop thread: start the lease timer; finished waits go to pool. */
void lockmgr_start(struct lockmgr *m, struct ev_loop *loop, struct pool *pool);
/* Loop thread, after the pool has stopped: stop the timer and free the
 * jobs still waiting (their connections are about to go). */
void lockmgr_stop(struct lockmgr *m);

/* Worker: perform c.  Returns 0 (granted; TESTLOCK: *holder has type
 * LKR_UNLOCK when the lock could be granted, else the holder), -EAGAIN
 * (conflict, *holder and *same_client filled), LOCK_PARKED (c->job now
 * belongs to the manager: do not touch it again), -LOCK_EGRACE, -ENOLCK,
 * -EINVAL. */
int lockmgr_call(struct lockmgr *m, const struct lock_call *c,
		 struct lkr *holder, bool *same_client);

/* Count client as gone since now unless it is known: its lease runs out
 * (client_gone) unless it connects within lease_sec.  For what a restart
 * finds held for clients (openstate.h orphans).  Any thread. */
void lockmgr_client_expect(struct lockmgr *m, uint64_t client);
/* Loop thread: a connection started / stopped carrying calls of client. */
void lockmgr_client_attach(struct lockmgr *m, uint64_t client);
void lockmgr_client_detach(struct lockmgr *m, uint64_t client);
/* Loop thread: fd carries a client's calls.  Have the kernel probe it
 * when idle (TCP keepalive, and a timeout for unacknowledged data, both
 * scaled to the lease), so that a node gone without closing its
 * connection (power cut, cable) loses it, and its lease starts. */
void lockmgr_conn_keepalive(const struct lockmgr *m, int fd);
/* Loop thread: conn closed: its waiting calls end (BR_EINTR). */
void lockmgr_conn_closed(struct lockmgr *m, const void *conn);

/* Seconds of grace left (0: none), for HELLO. */
unsigned int lockmgr_grace_left(struct lockmgr *m);

/* Run the lease and grace checks now, at time now_ns (the timer calls
 * it; unit tests call it with their own clock).  Loop thread. */
void lockmgr_sweep(struct lockmgr *m, int64_t now_ns);

/* Locks held in the table, waiting calls (tests, logs). */
void lockmgr_counts(struct lockmgr *m, size_t *locks, size_t *waiters);

#endif
