/* dispatch.h - the procedure table and the worker's side of a call.
 *
 * The loop uses dispatch_*() predicates to answer protocol errors itself,
 * then queues a job; dispatch_run() is the pool's `run' callback: it
 * decodes the arguments (bounded by the .x), performs the call as the
 * caller, and encodes the reply into job->reply. */
#ifndef BR_DISPATCH_H
#define BR_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

struct export;
struct fdcache;

/* What the procedures need.  Set up before the pool starts, read only
 * afterwards (the export and the fd cache lock themselves). */
struct service {
	struct export *ex;
	struct fdcache *fc;
	const char *export_dir;         /* as given, made absolute */
	bool read_only;
	bool root_squash;
	bool trace;
	int64_t start_time;             /* Unix seconds */
	int64_t start_ns;               /* CLOCK_MONOTONIC */
};

/* A procedure number of BRAMBLE_V1. */
bool dispatch_known(uint32_t proc);
/* NULL, INFO and MOUNT accept AUTH_NONE. */
bool dispatch_auth_none_ok(uint32_t proc);
/* NULL and INFO are answered whatever the client's source port. */
bool dispatch_any_port(uint32_t proc);

/* pool_run_fn: ctx is the struct service. */
void dispatch_run(void *ctx, struct job *j);

#endif
