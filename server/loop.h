/* loop.h - the event loop thread: listener, allow list, signals, timers.
 *
 * loop_listen() binds and listens (so that errors reach the terminal before
 * daemonizing); loop_run() starts the worker pool and runs the libev loop
 * until SIGTERM or SIGINT, then stops accepting, lets the workers finish
 * the call in hand, drops the rest, closes every connection and returns.
 * SIGHUP reopens the log file and reloads the exports file (exports.h);
 * a connection is accepted from any export's networks.  Loop thread
 * only. */
#ifndef BR_LOOP_H
#define BR_LOOP_H

#include <stdbool.h>

#include "allow.h"
#include "dispatch.h"

struct loop_opts {
	const char *listen;             /* "ADDR[:PORT]" */
	bool insecure;
	unsigned int threads;
	unsigned int max_conns;         /* more are accepted and closed at once */
	unsigned int idle_timeout;      /* seconds; 0: never (conn.h) */
	unsigned int request_timeout;   /* seconds; 0: never (conn.h) */
	const char *port_file;          /* NULL: none */
	const char *log_file;           /* reopened on SIGHUP; NULL: none */
	struct service *svc;
};

struct loop;

/* Bind and listen.  On success *out owns the loop (free: loop_free()).
 * 0 or -errno (-EINVAL: the address does not parse). */
int loop_listen(const struct loop_opts *o, struct loop **out);
/* The bound address, as "ADDR:PORT", and the port. */
const char *loop_address(const struct loop *lp);
int loop_port(const struct loop *lp);
/* Write the port file, start the pool, log "listening on ...", and run
 * until a stop signal.  Must be called after any fork.  0 or -errno. */
int loop_run(struct loop *lp);
void loop_free(struct loop *lp);

#endif
