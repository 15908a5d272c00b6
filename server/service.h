/* service.h - what the procedures need: the server's shared state.
 *
 * main.c fills one struct service before the pool starts; the loop,
 * dispatch and every procedure read it through struct call's svc.  A
 * header of its own so that the call helpers (call.h) and the procedures
 * see it without including the dispatcher. */
#ifndef BR_SERVICE_H
#define BR_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"

struct drc;
struct lockmgr;
struct exports;
struct fdcache;
struct chunkidx;
struct chunkcache;
struct chunkzip;
struct stats;
struct watch;
struct peers;
struct openstate;
struct orphans;

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
	struct chunkscan *scan;         /* maps built from READs (chunkscan.h); NULL: none */
	struct chunkzip *czip;          /* compressed chunks (chunkzip.h); NULL: none */
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
	struct peers *peers;            /* peer fan-out (peers.h); NULL: off */
	enum bench_who bench_disk;      /* --bench-disk: who may run BENCH_DISK */
};

#endif
