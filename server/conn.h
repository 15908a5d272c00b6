/* conn.h - one client connection, owned by the loop thread.
 *
 * A connection reads bytes into its input buffer, deframes records
 * (rm_reader, capped at BR_RECORD_MAX), answers protocol errors and NULL
 * itself, lets dispatch_inline() answer what it can from memory, and
 * turns every other call into a job for the pool.  Replies come back
 * (conn_job_done) in any order -- the client matches them by XID -- and
 * are queued; the set's ev_prepare watcher writes each connection's queue
 * with one writev before the loop polls again, and EV_WRITE is watched
 * only while the socket refuses more.
 *
 * Back-pressure: `inflight' counts calls from the moment they are queued
 * to the pool until their reply is fully written.  At CONN_INFLIGHT_MAX
 * the connection stops reading; it resumes as replies go out.  That also
 * bounds the memory one client can pin: at most CONN_INFLIGHT_MAX records
 * plus replies.
 *
 * Timeouts (one ev_timer, conn_set's sweep_w, visits every connection a
 * few times per timeout; a pass over even max_conns connections costs
 * tens of microseconds, far less than keeping the per-connection timers
 * ordered on every read):
 *  - idle: nothing in flight, nothing unwritten, no partial record, and
 *    no byte read or written for idle_timeout seconds: closed quietly (a
 *    client reconnects when it needs the server again);
 *  - request (slowloris): a record begun but not complete request_timeout
 *    seconds after its first byte: closed, with a rate-limited warning.
 *    A record is at most BR_RECORD_MAX (about 1 MiB), so the default of
 *    30 s asks a client for about 35 KB/s while it sends one.
 * A value of 0 turns either off.
 *
 * Link speed (for compressed chunks, chunkzip.h): what the kernel
 * measures the connection's deliveries at (linkrate.h), sampled at most
 * every CONN_LINK_SAMPLE_NS as replies are written, a moving average
 * (weight 1/4) of the samples; an app-limited sample (the server had
 * too little to send) counts only when it is above it.  Until a sample
 * comes the figure is 0 (unknown).  Each job carries the figure of its
 * connection when it is queued.
 */
#ifndef BR_CONN_H
#define BR_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "auth.h"
#include "pool.h"
#include "rpcmsg.h"

struct service;
struct watch_client;

#define CONN_INFLIGHT_MAX 64
#define CONN_INBUF (64 * 1024)
/* Bytes of unfinished records all connections may hold together.  Each
 * connection holds at most one (up to BR_RECORD_MAX, about 1 MiB), so
 * without this bound max_conns slow senders could pin gigabytes until
 * the request timeout.  Past it, a connection adding to a partial record
 * of CONN_PARTIAL_BIG or more is closed (small calls never are; a real
 * client re-sends after reconnecting). */
#define CONN_PARTIAL_MAX (64u << 20)
#define CONN_PARTIAL_BIG (64u << 10)
#define CONN_LINK_SAMPLE_NS 20000000   /* 20 ms */

/* What every connection shares: the loop, the pool, the policy. */
struct conn_set {
	struct ev_loop *loop;
	struct pool *pool;
	struct service *svc;           /* for dispatch_inline() */
	bool insecure;                 /* accept calls from ports >= 1024 */
	struct conn *head;             /* every live or dying connection */
	unsigned int count;
	/* Replies are queued during a loop iteration and written once, just
	 * before the loop polls again: one writev for all the replies a
	 * connection got in that iteration (a drained done-list, a batch
	 * of calls answered inline). */
	ev_prepare flush_w;
	struct conn *dirty;            /* connections with unwritten replies */
	double idle_timeout;           /* seconds; 0: never (set before start) */
	double request_timeout;        /* seconds; 0: never (set before start) */
	size_t partial_bytes;          /* bytes of unfinished records, all conns */
	uint64_t next_id;              /* the last conn id given (loop thread) */
	ev_timer sweep_w;              /* enforces both */
};

struct conn {
	struct conn_set *set;
	struct conn *prev, *next;      /* in set->head */
	int fd;                        /* -1 once closed */
	ev_io rw, ww;
	struct rm_reader rd;
	char *in;                      /* CONN_INBUF bytes */
	size_t in_off, in_len;         /* unconsumed input: in[in_off..in_len) */
	struct job *out_head, *out_tail; /* replies to write, in order */
	unsigned int inflight;
	ev_tstamp last_active;         /* last byte read or written */
	ev_tstamp rec_start;           /* first byte of the partial record; 0: none */
	size_t partial;                /* its bytes, counted in set->partial_bytes */
	struct conn *dirty_next;       /* in set->dirty while dirty */
	bool dirty;
	bool dead;
	bool has_client;               /* client_id known (lock.h leases) */
	uint64_t client_id;
	bool privileged;               /* source port < 1024 */
	char peer[64];                 /* "1.2.3.4:567" for logs */
	struct auth_sessions auth;     /* its MUNGE sessions (auth.h) */
	struct sockaddr_storage peer_sa; /* its address: exports' allow lists */
	struct watch_client *wc;       /* its watch set (watch.h); NULL: none */
	uint64_t id;                   /* unique in this run, never 0 (peers.h) */
	int64_t link_t;                /* when link_bps was last sampled */
	uint64_t link_bps;             /* the link's speed, bytes/s; 0: unknown */
};

/* Start the set's flush watcher and timeout sweep (set->loop and the
 * timeouts must be set). */
void conn_set_start(struct conn_set *set);
/* Take over an accepted, non-blocking socket and start reading. */
struct conn *conn_new(struct conn_set *set, int fd, const struct sockaddr *peer);
/* pool_done_fn: ctx is the conn_set. */
void conn_job_done(void *ctx, struct job *j);
/* Close every connection and free them all (shutdown; the pool is gone). */
void conn_set_release(struct conn_set *set);

#endif
