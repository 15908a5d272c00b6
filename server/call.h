/* call.h - one call in progress, and what the procedure handlers do with
 * it: decode its handles, act as its caller, open its files, fill its
 * results.
 *
 * dispatch.c builds a struct call for each job and hands it to a handler
 * (proc.h); the handlers (proc_*.c) use only these helpers and the lower
 * modules (fhandle, cred, fdcache, openstate, orphans), never the
 * dispatcher.  Handlers start as fsuid 0 and use call_as_user() around
 * the user's own syscalls; dispatch switches back to root afterwards.
 * Functions return 0 or -errno (an fd where they say so). */
#ifndef BR_CALL_H
#define BR_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "exports.h"
#include "fhandle.h"
#include "proto.h"
#include "rpcmsg.h"
#include "service.h"

struct job;

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

/* In nowait mode: give the call to the pool.  Returns -EAGAIN. */
int call_would_block(struct call *c);

/* ---- handles */

/* Decode a handle (as fsuid 0): new O_PATH fd in *fd, attributes in *st.
 * In nowait mode only a cached handle is decoded. */
int call_fh(struct call *c, const br_fh *fh, int *fd, struct stat *st);
/* Decode a directory handle: -ENOTDIR if it is not one. */
int call_dir(struct call *c, const br_fh *fh, int *fd);
/* Decode a handle of a regular file: -EISDIR for a directory, -EINVAL
 * for anything else. */
int call_regular(struct call *c, const br_fh *fh, int *fd, struct stat *st);
/* Fill a br_fh result (allocated: xdr_free releases it). */
void call_fh_set(br_fh *dst, const struct export_fh *src);

/* ---- identity */

/* Become the caller / root again. */
int call_as_user(struct call *c);
void call_as_root(struct call *c);

/* ---- opening files as the caller */

/* "/proc/self/fd/N": reopening an O_PATH fd through it is the only way to
 * get a real fd with the permission check of the current fs identity. */
void call_fd_path(int fd, char *buf, size_t len);
/* Reopen the object at pfd (O_PATH) with flags (O_CLOEXEC and O_NOCTTY
 * added) as the caller, so the kernel checks the caller's permissions;
 * runs as root before and after.  The new fd, or -errno. */
int call_reopen(struct call *c, int pfd, int flags);
/* The one way a handler opens a regular file for its contents: decode fh
 * (call_regular()), reopen it with accmode as the caller and, only with
 * owner_ok, where that is refused (EACCES) and the caller owns the file,
 * as the server instead: the owner override of calls through a file the
 * client opened (after a server restart the server holds no open state
 * for it).  The new fd, or -errno; *st: the file's attributes.  The fd
 * cache and held open files (fdcache.h, openstate.h) are the callers'. */
int call_open_file(struct call *c, const br_fh *fh, int accmode, bool owner_ok,
		   struct stat *st);
/* The owner override alone: the regular file at pfd opened as the server
 * (fsuid 0).  The data is still written as the caller (set-id bits, quota). */
int call_open_as_owner(int pfd, int accmode);

/* ---- results */

/* Fill a br_attr result from st: an orphan's link in the orphan
 * directory (orphans.h) is not counted in st_nlink. */
void call_attr(struct call *c, br_attr *out, const struct stat *st);
/* The attributes of the object fh names, now, as a result would give
 * them (watch_attr_fn: svc is the struct service): one fstat of its
 * cached handle, or a decode (open_by_handle_at, O_PATH, so never
 * through a symlink) when it is not cached.  -ESTALE for an object gone
 * or an unknown export.  Needs fsuid 0. */
int call_attr_of(void *svc, const br_fh *fh, br_attr *out);
/* Look name up in dirfd as the caller (never following a symlink) and fill
 * an entry with its handle and attributes.  In nowait mode only through
 * the dentry cache (RESOLVE_CACHED). */
int call_entry(struct call *c, int dirfd, const char *name, br_entry *out);

/* Close fd if >= 0, keeping errno. */
void call_close_quiet(int fd);

#endif
