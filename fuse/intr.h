/* intr.h - interruptible requests, and the gate that holds requests until
 * the server is first reached.
 *
 * When a process blocked on the mount gets a signal, the kernel sends
 * FUSE_INTERRUPT for its request; for a request bramblefs already holds,
 * the kernel then waits for the answer even after SIGKILL, so the process
 * can only die once bramblefs answers.  intr_wrap_ops() wraps each
 * operation so that, while a handler runs, its thread has a libbramble
 * cancel token bound (bramble.h) and libfuse's interrupt callback
 * (fuse_req_interrupt_func) fires it: the waiting libbramble call returns
 * -EINTR at once, as do the handler's waits for write-behind (wb.h), and
 * the handler answers EINTR.  Without an interrupt nothing changes: a
 * call waits until its deadline, or for ever with -o hard.
 *
 * The deadline: on a soft mount `timeout' bounds the whole request, not
 * each call it makes (a system call may need several: write-behind, then
 * COMMIT; a wait for write-behind, then REMOVE).  The wrapper sets the
 * thread's libbramble deadline (bramble_deadline_set) to `timeout' from
 * the request's start; every call and every wait for write-behind of the
 * handler ends by then (-ETIMEDOUT: EIO), and a call that starts later
 * sends nothing.  One system call may still be several requests (a read:
 * GETATTR, then READs): a request that follows at once one of the same
 * process that used more than half its time keeps that one's deadline,
 * so the system call's time is bounded too (intr.c says more).  Without one: hard mounts, blocking lock waits (they
 * wait for the holder as long as it takes), release (nobody waits for
 * it).
 *
 * The gate: a mount made with -o bg while the server is down runs the
 * FUSE session before it has the export's root.  Until intr_set_ready(),
 * every operation waits at the gate -- up to `timeout' seconds (then EIO),
 * or for ever with -o hard -- interruptibly (EINTR).
 *
 * One mount per process: the wrapped table and the gate are process-wide.
 * Thread-safe. */
#ifndef BR_FUSE_INTR_H
#define BR_FUSE_INTR_H

#include <stdbool.h>

#include "bfs.h"

/* Fill *out with ops, each known operation wrapped as above (operations
 * this file does not know are passed through unchanged).  ready: false
 * closes the gate until intr_set_ready(). */
void intr_wrap_ops(const struct fuse_lowlevel_ops *ops,
		   struct fuse_lowlevel_ops *out, bool ready);
/* Open the gate: the mount has its root, requests go through. */
void intr_set_ready(void);

#endif
