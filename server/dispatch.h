/* dispatch.h - the procedure table and the worker's side of a call.
 *
 * The loop asks dispatch_known() to answer an unknown procedure itself
 * (which procedures take which credentials and ports is auth.c's policy),
 * then queues a job; dispatch_run() is the pool's `run' callback: it
 * decodes the arguments (bounded by the .x), finds the export of the
 * call's handle and applies its rules, performs the call as the caller
 * through the handler of the procedure table (proc.h), and encodes the
 * reply into job->reply. */
#ifndef BR_DISPATCH_H
#define BR_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rpc/rpc.h>

#include "pool.h"
#include "service.h"

/* A procedure number of BRAMBLE_V1. */
bool dispatch_known(uint32_t proc);

/* The XDR routine and in-memory size of proc's arguments, from the one
 * procedure table (the request fuzzer decodes with it).  false for NULL
 * (no arguments) and unknown numbers; size may be 0 (INFO). */
bool dispatch_args_xdr(uint32_t proc, xdrproc_t *xargs, size_t *size);

/* pool_run_fn: ctx is the struct service.  false: a LOCK that waits was
 * kept by the lock manager (lock.h), which completes it later.  A
 * non-idempotent call that names its client goes through svc->drc: a
 * duplicate gets the first execution's reply instead of running again.
 * A job carrying a MUNGE credential to check runs auth_grant_run(). */
bool dispatch_run(void *ctx, struct job *j);
/* Loop thread: answer j at once if its procedure can be done without
 * waiting for the disk (a cached handle, a cached dentry, a cached open
 * file, data in the page cache), filling j->reply; true if answered.
 * false leaves j untouched for pool_submit().  Only on a local filesystem
 * (svc->inline_ok): elsewhere even fstat may go to the network. */
bool dispatch_inline(struct service *svc, struct job *j);

#endif
