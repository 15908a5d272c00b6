/* proc.h - the procedure handlers (proc_*.c): the contract between
 * dispatch.c, which calls them from its procedure table, and them.
 *
 * A handler gets the call (call.h: its export, caller and helpers), the
 * decoded arguments and a zeroed result; it returns 0 or -errno.  It
 * fills the result (beyond its status, which dispatch sets from the
 * return value) only on success, so a failure leaves nothing to free.
 * Handlers start as fsuid 0 and use call_as_user() around the user's own
 * syscalls; dispatch switches back to root afterwards. */
#ifndef BR_PROC_H
#define BR_PROC_H

#include <stdbool.h>
#include <sys/stat.h>

#include "call.h"
#include "pool.h"
#include "proto.h"

typedef int proc_fn(struct call *c, void *args, void *res);

/* ---- helpers (proc_data.c) */

/* Set the size of the object at pfd (decoded from fh; st its attributes)
 * for the caller.  through_open (BR_SET_OPEN): ftruncate through the
 * caller's held open file (openstate.h) when there is one, else as the
 * caller, else -- the caller owning the file -- as its owner.  Otherwise
 * truncate as the caller only.  Runs as root; returns as root. */
int data_truncate(struct call *c, const br_fh *fh, int pfd, const struct stat *st,
		  uint64_t size, bool through_open);

/* ---- the handlers */
proc_fn proc_info, proc_mount, proc_getattr, proc_setattr, proc_lookup,
	proc_access, proc_readlink, proc_create, proc_mkdir, proc_symlink,
	proc_mknod, proc_remove, proc_rmdir, proc_rename, proc_link,
	proc_readdirplus, proc_statfs, proc_getxattr, proc_setxattr,
	proc_listxattr, proc_removexattr, proc_remove_open;
proc_fn proc_read, proc_write, proc_commit, proc_open, proc_close,
	proc_copy_range;
proc_fn proc_hello;
proc_fn proc_lock, proc_testlock;
proc_fn proc_stats;              /* proc_stats.c */
proc_fn proc_chunkmap, proc_chunkmap_known, proc_read_chunk, proc_read_chunk2;
proc_fn proc_tree;               /* proc_tree.c */
proc_fn proc_bench_net, proc_bench_disk;  /* proc_bench.c */
/* STATS's reply XDR routine (dispatch.c's table): res is a
 * br_stats_ext_res.  With named counters (asked for by BR_STATS_COUNTERS:
 * proc_stats then fills at least one) it encodes br_stats_ext_res,
 * without them exactly the older br_stats_res, which is its prefix. */
bool_t proc_stats_xdr_res(XDR *x, void *res);
/* BENCH_NET's XDR routines (dispatch.c's table): the payload is skipped,
 * not copied; the reply's zeros come from a static buffer. */
bool_t proc_bench_net_xdr_args(XDR *x, void *args);
bool_t proc_bench_net_xdr_res(XDR *x, void *res);
struct lkr;
/* lock_reply_fn (lock.h): encode the reply of a LOCK the lock manager
 * kept while it waited. */
void proc_lock_reply(struct job *j, int rc, const struct lkr *holder,
		     bool same_client);

#endif
