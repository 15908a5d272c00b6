/* proc.h - what the procedure handlers (proc_meta.c, proc_data.c) share.
 *
 * A handler gets the decoded arguments and a zeroed result; it returns 0
 * or -errno.  It fills the result (beyond its status, which dispatch sets
 * from the return value) only on success, so a failure leaves nothing to
 * free.  Handlers start as fsuid 0 and use call_as_user() around the
 * user's own syscalls; dispatch switches back to root afterwards. */
#ifndef BR_PROC_H
#define BR_PROC_H

#include <stdbool.h>
#include <sys/stat.h>

#include "dispatch.h"
#include "export.h"
#include "exports.h"
#include "proto.h"
#include "rpcmsg.h"

struct call {
	struct service *svc;
	/* The export of the call's handle (for MOUNT: of its path), with a
	 * reference dispatch drops after the call; its options decide
	 * read-only, root squash and access.  NULL for INFO (and HELLO). */
	struct exports_entry *exp;
	const struct sockaddr *peer;    /* the client's address */
	struct br_cred cred;            /* effective: squashed, or nobody for AUTH_NONE */
	/* The client id the credentials carry (drc_client_id(), MUNGE
	 * session): what open state (openstate.h) and locks are held for. */
	bool has_client;
	uint64_t client;
	bool root;                      /* caller acts as (unsquashed) root */
	/* Run by the loop thread (dispatch_inline): the handler must not wait
	 * for the disk.  Where it would, it returns call_would_block() before
	 * any side effect, and the call goes to the pool instead. */
	bool nowait;
	bool blocked;                   /* set by call_would_block() */
	/* The job being run.  A LOCK that must wait hands it to the lock
	 * manager and sets parked: dispatch then never touches it again. */
	struct job *job;
	bool parked;
};

typedef int proc_fn(struct call *c, void *args, void *res);

/* ---- helpers (dispatch.c) */

/* In nowait mode: give the call to the pool.  Returns -EAGAIN. */
int call_would_block(struct call *c);
/* Decode a handle (as fsuid 0): new O_PATH fd in *fd, attributes in *st.
 * In nowait mode only a cached handle is decoded. */
int call_fh(struct call *c, const br_fh *fh, int *fd, struct stat *st);
/* Decode a directory handle: -ENOTDIR if it is not one. */
int call_dir(struct call *c, const br_fh *fh, int *fd);
/* Become the caller / root again. */
int call_as_user(struct call *c);
void call_as_root(struct call *c);
/* Fill a br_attr result from st: an orphan's link in the orphan
 * directory (orphans.h) is not counted in st_nlink. */
void call_attr(struct call *c, br_attr *out, const struct stat *st);
/* Fill a br_fh result (allocated: xdr_free releases it). */
void fh_set(br_fh *dst, const struct export_fh *src);
/* Look name up in dirfd as the caller (never following a symlink) and fill
 * an entry with its handle and attributes.  In nowait mode only through
 * the dentry cache (RESOLVE_CACHED). */
int call_entry(struct call *c, int dirfd, const char *name, br_entry *out);
/* "/proc/self/fd/N": reopening an O_PATH fd through it is the only way to
 * get a real fd with the permission check of the current fs identity. */
void fd_path(int fd, char *buf, size_t len);
/* Close fd if >= 0, keeping errno. */
void close_quiet(int fd);

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
proc_fn proc_stats;              /* stats.c */
proc_fn proc_chunkmap, proc_read_chunk;
proc_fn proc_tree;               /* proc_tree.c */
proc_fn proc_bench_net, proc_bench_disk;  /* proc_bench.c */
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
