/* dispatch.h - the procedure table and the worker's side of a call.
 *
 * The loop uses dispatch_*() predicates to answer protocol errors itself,
 * then queues a job; dispatch_run() is the pool's `run' callback: it
 * decodes the arguments (bounded by the .x), performs the call as the
 * caller, and encodes the reply into job->reply. */
#ifndef BR_DISPATCH_H
#define BR_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rpc/rpc.h>

#include "auth.h"
#include "pool.h"

struct drc;
struct lockmgr;
struct exports;
struct fdcache;
struct chunkidx;
struct chunkcache;
struct stats;
struct watch;

/* --bench-disk (proc_bench.c): who may run BENCH_DISK. */
enum bench_who { BENCH_ROOT, BENCH_ANY, BENCH_OFF };

/* What the procedures need.  Set up before the pool starts, read only
 * afterwards (the exports, the fd cache and the DRC lock themselves).
 * Every per-export decision (read-only, root squash, allowed networks,
 * auth) is made from the export of the call's handle (struct call's exp,
 * exports.h), never globally. */
struct service {
	struct exports *exports;        /* reloaded on SIGHUP (exports.h) */
	struct fdcache *fc;
	struct openstate *opens;        /* files clients hold open (openstate.h) */
	struct orphans *orphans;        /* ... and removed while open (orphans.h) */
	struct drc *drc;                /* NULL: no duplicate-request cache */
	struct lockmgr *locks;          /* cluster-wide locks (lock.h) */
	struct chunkidx *chunks;        /* chunk index (chunkidx.h); NULL: none */
	struct chunkcache *ccache;      /* hot chunks in RAM (chunkcache.h); NULL: none */
	bool trace;
	bool inline_ok;                 /* try cheap calls in the loop (not --no-inline;
					 * each export also needs a local fs) */
	int64_t start_time;             /* Unix seconds */
	int64_t start_ns;               /* CLOCK_MONOTONIC */
	uint64_t caps;                  /* BR_CAP_* announced by HELLO */
	enum auth_mode auth_mode;       /* --auth: every call (the loop checks) */
	const char *munge_socket;       /* --munge-socket; NULL: libmunge's */
	uint64_t instance;              /* random per start, announced by HELLO */
	struct stats *stats;            /* counters (stats.h); NULL: none kept */
	struct watch *watch;            /* callbacks (watch.h); NULL: none */
	enum bench_who bench_disk;      /* --bench-disk: who may run BENCH_DISK */
};

/* A procedure number of BRAMBLE_V1. */
bool dispatch_known(uint32_t proc);
/* NULL, INFO, MOUNT and HELLO accept AUTH_NONE. */
bool dispatch_auth_none_ok(uint32_t proc);
/* NULL, INFO, HELLO, STATS and BENCH_NET are answered whatever the
 * client's source port. */
bool dispatch_any_port(uint32_t proc);

/* The XDR routine and in-memory size of proc's arguments, from the one
 * procedure table (the request fuzzer decodes with it).  false for NULL
 * (no arguments) and unknown numbers; size may be 0 (INFO). */
bool dispatch_args_xdr(uint32_t proc, xdrproc_t *xargs, size_t *size);

/* pool_run_fn: ctx is the struct service.  false: a LOCK that waits was
 * kept by the lock manager (lock.h), which completes it later.  A non-idempotent call that
 * names its client goes through svc->drc: a duplicate gets the first
 * execution's reply instead of running again. */
bool dispatch_run(void *ctx, struct job *j);
/* Loop thread: answer j at once if its procedure can be done without
 * waiting for the disk (a cached handle, a cached dentry, a cached open
 * file, data in the page cache), filling j->reply; true if answered.
 * false leaves j untouched for pool_submit().  Only on a local filesystem
 * (svc->inline_ok): elsewhere even fstat may go to the network. */
bool dispatch_inline(struct service *svc, struct job *j);

#endif
