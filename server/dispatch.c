/* dispatch.c - the procedure table, and running one call of it: decode,
 * route to its export, perform as the caller, answer (dispatch.h).  What
 * the handlers themselves use lives in call.c. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cred.h"
#include "dispatch.h"
#include "drc.h"
#include "exports.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "watch.h"
#include "xalloc.h"

enum {
	P_MODIFIES = 1,         /* refused with EROFS on a read-only export */
	P_FH = 2,               /* args start with a br_fh (for the trace) */
	P_NOSTATUS = 4,         /* result has no br_stat (INFO) */
	P_INLINE = 8,           /* worth trying in the loop (nowait) first */
	P_ONCE = 16,            /* not idempotent: duplicates go through the DRC */
};

struct proc_desc {
	xdrproc_t xargs;
	size_t args_size;
	xdrproc_t xres;
	size_t res_size;
	proc_fn *fn;
	unsigned int flags;
};

/* INFO takes no arguments: XDR's xdr_void has the wrong type to cast. */
static bool_t xdr_noargs(XDR *x, void *p)
{
	(void)x;
	(void)p;
	return TRUE;
}

#define P(name, atype, rtype, fn, flags) \
	[name] = { (xdrproc_t)xdr_##atype, sizeof(atype), \
		   (xdrproc_t)xdr_##rtype, sizeof(rtype), fn, flags }

static const struct proc_desc procs[BR_NPROCS] = {
	/* NULL is answered by the loop and never gets here. */
	[BRPROC_INFO] = { (xdrproc_t)xdr_noargs, 0, (xdrproc_t)xdr_br_info,
			  sizeof(br_info), proc_info, P_NOSTATUS },
	P(BRPROC_MOUNT, br_mount_args, br_mount_res, proc_mount, 0),
	P(BRPROC_GETATTR, br_fh_args, br_attr_res, proc_getattr, P_FH | P_INLINE),
	P(BRPROC_SETATTR, br_setattr_args, br_attr_res, proc_setattr, P_FH | P_MODIFIES),
	P(BRPROC_LOOKUP, br_dirop_args, br_entry_res, proc_lookup, P_FH | P_INLINE),
	P(BRPROC_ACCESS, br_access_args, br_stat, proc_access, P_FH | P_INLINE),
	P(BRPROC_READLINK, br_fh_args, br_readlink_res, proc_readlink, P_FH),
	P(BRPROC_READ, br_read_args, br_read_res, proc_read, P_FH | P_INLINE),
	P(BRPROC_WRITE, br_write_args, br_write_res, proc_write, P_FH | P_MODIFIES),
	P(BRPROC_CREATE, br_create_args, br_entry_res, proc_create,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_MKDIR, br_mkdir_args, br_entry_res, proc_mkdir,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_SYMLINK, br_symlink_args, br_entry_res, proc_symlink,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_MKNOD, br_mknod_args, br_entry_res, proc_mknod,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_REMOVE, br_dirop_args, br_stat, proc_remove,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_RMDIR, br_dirop_args, br_stat, proc_rmdir,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_RENAME, br_rename_args, br_stat, proc_rename,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_LINK, br_link_args, br_entry_res, proc_link,
	  P_FH | P_MODIFIES | P_ONCE),
	P(BRPROC_READDIRPLUS, br_readdir_args, br_readdir_res, proc_readdirplus, P_FH),
	P(BRPROC_STATFS, br_fh_args, br_statfs_res, proc_statfs, P_FH),
	P(BRPROC_COMMIT, br_commit_args, br_stat, proc_commit, P_FH),
	/* OPEN modifies only with WRITE/TRUNC: it checks for itself. */
	P(BRPROC_OPEN, br_open_args, br_attr_res, proc_open, P_FH | P_INLINE),
	P(BRPROC_GETXATTR, br_getxattr_args, br_xattr_res, proc_getxattr, P_FH),
	P(BRPROC_SETXATTR, br_setxattr_args, br_stat, proc_setxattr, P_FH | P_MODIFIES),
	P(BRPROC_LISTXATTR, br_listxattr_args, br_xattr_res, proc_listxattr, P_FH),
	P(BRPROC_REMOVEXATTR, br_removexattr_args, br_stat, proc_removexattr,
	  P_FH | P_MODIFIES),
	P(BRPROC_COPY_RANGE, br_copy_args, br_copy_res, proc_copy_range,
	  P_FH | P_MODIFIES),
	P(BRPROC_HELLO, br_hello_args, br_hello_res, proc_hello, 0),
	/* A LOCK that must wait is kept by the lock manager (lock.h). */
	P(BRPROC_LOCK, br_lock_args, br_lock_res, proc_lock, P_FH),
	P(BRPROC_TESTLOCK, br_lock_args, br_lock_res, proc_testlock, P_FH),
	/* The reply grows by named counters when asked (stats.h). */
	[BRPROC_STATS] = { (xdrproc_t)xdr_br_stats_args, sizeof(br_stats_args),
			   (xdrproc_t)proc_stats_xdr_res, sizeof(br_stats_ext_res),
			   proc_stats, 0 },
	/* Hashing reads the whole file: never in the loop. */
	P(BRPROC_CHUNKMAP, br_chunkmap_args, br_chunkmap_res, proc_chunkmap, P_FH),
	P(BRPROC_READ_CHUNK, br_read_chunk_args, br_read_chunk_res, proc_read_chunk, P_FH),
	P(BRPROC_READ_CHUNK2, br_read_chunk2_args, br_read_chunk2_res, proc_read_chunk2,
	  P_FH),
	/* Never hashes, but a database query: not in the loop either. */
	P(BRPROC_CHUNKMAP_KNOWN, br_chunkmap_args, br_chunkmap_res, proc_chunkmap_known,
	  P_FH),
	P(BRPROC_PEER_REGISTER, br_peer_register_args, br_stat, proc_peer_register, 0),
	/* A walk of many directories (and maybe hashing): never in the loop. */
	P(BRPROC_TREE, br_tree_args, br_tree_res, proc_tree, P_FH),
	/* bramble bench (proc_bench.c): BENCH_NET allocates nothing big; the
	 * scratch file of BENCH_DISK makes no visible change, but a
	 * read-only export is one the admin wants left alone. */
	[BRPROC_BENCH_NET] = { (xdrproc_t)proc_bench_net_xdr_args, sizeof(br_bench_net_args),
			       (xdrproc_t)proc_bench_net_xdr_res, sizeof(br_bench_net_res),
			       proc_bench_net, 0 },
	P(BRPROC_BENCH_DISK, br_bench_disk_args, br_bench_disk_res, proc_bench_disk,
	  P_FH | P_MODIFIES),
	P(BRPROC_CLOSE, br_close_args, br_stat, proc_close, P_FH),
	P(BRPROC_REMOVE_OPEN, br_dirop_args, br_stat, proc_remove_open,
	  P_FH | P_MODIFIES | P_ONCE),
};

bool dispatch_known(uint32_t proc)
{
	return proc == BRPROC_NULL || (proc < BR_NPROCS && procs[proc].fn);
}

bool dispatch_args_xdr(uint32_t proc, xdrproc_t *xargs, size_t *size)
{
	if (proc >= BR_NPROCS || !procs[proc].fn)
		return false;
	*xargs = procs[proc].xargs;
	*size = procs[proc].args_size;
	return true;
}

/* ---- routing a call to its export */

/* The second handle of the calls that have one. */
static const br_fh *second_fh(uint32_t proc, const void *args)
{
	switch (proc) {
	case BRPROC_RENAME:
		return &((const br_rename_args *)args)->to_dir;
	case BRPROC_LINK:
		return &((const br_link_args *)args)->dir;
	case BRPROC_COPY_RANGE:
		return &((const br_copy_args *)args)->dst;
	}
	return NULL;
}

/* Find the export a call's handle names (c->exp, with a reference) and
 * apply its rules before the handler runs, fd cache hits included: an
 * unknown or removed export's handle is stale; a client outside the
 * export's networks gets EACCES (its connection may have been accepted
 * for another export); changes to a read-only export get EROFS.  Both
 * handles of a RENAME, LINK or COPY_RANGE must name the same export
 * (EXDEV, as across mounts).  0 or -errno.  MOUNT finds its export
 * itself; INFO (and HELLO) have none. */
static int route(struct service *svc, const struct job *j, unsigned int flags,
		 const void *args, struct call *c)
{
	const br_fh *fh = args, *fh2 = second_fh(j->proc, args);
	uint16_t id, id2;

	if (!(flags & P_FH))
		return 0;
	if (export_fh_id(fh->br_fh_val, fh->br_fh_len, &id) < 0)
		return -ESTALE;
	if (fh2 && export_fh_id(fh2->br_fh_val, fh2->br_fh_len, &id2) < 0)
		return -ESTALE;
	if (fh2 && id2 != id)
		return -EXDEV;
	c->exp = exports_get_id(svc->exports, id);
	if (!c->exp)
		return -ESTALE;
	if (!exports_entry_allows(c->exp, c->peer)) {
		log_warn_rl("%s on export '%s' refused: the client is not in its "
			    "allow list", br_proc_name(j->proc), c->exp->name);
		return -EACCES;
	}
	/* Fail closed until the call carries what the export demands: an
	 * RPC-level AUTH_TOOWEAK (execute()), on which a client in auto mode
	 * opens a MUNGE session and tries again. */
	if (c->exp->auth == EXPORT_AUTH_MUNGE && j->flavor != BR_AUTH_MUNGE)
		return -EKEYREJECTED;
	if ((flags & P_MODIFIES) && c->exp->read_only)
		return -EROFS;
	return 0;
}

/* ---- running a job */

static void trace(const struct job *j, const void *args, unsigned int flags,
		  int status, int64_t t_end)
{
	char fh[16] = "-";
	const char *st = "OK";

	if (args && (flags & P_FH)) {
		const br_fh *f = args;

		export_fh_short(f->br_fh_val, f->br_fh_len, fh, sizeof(fh));
	}
	if (status < 0)
		st = "GARBAGE_ARGS";
	else if (status > 0)
		st = strerrorname_np(-br_stat_to_errno((br_stat)status));
	log_info("trace %s fh=%s %s %lldus", br_proc_name(j->proc), fh,
		 st ? st : "?", (long long)((t_end - j->t0_ns) / 1000));
}

/* A call a previous run began and may have done before it died
 * (DRC_UNCERTAIN, drc.h): the answer that says "already done" -- EEXIST
 * from a call making a name, ENOENT from one removing or moving it -- is
 * taken as the first run's success.  For a name made, the reply carries
 * what is there now. */
static int settle_uncertain(struct call *c, uint32_t proc, void *args,
			    void *res, int rc)
{
	br_dirop_args look;

	switch (proc) {
	case BRPROC_REMOVE:
	case BRPROC_REMOVE_OPEN:
	case BRPROC_RMDIR:
	case BRPROC_RENAME:
		if (rc != -ENOENT)
			return rc;
		log_info("%s re-sent after a restart: already done", br_proc_name(proc));
		return 0;
	case BRPROC_CREATE:
		look.dir = ((br_create_args *)args)->dir;
		look.name = ((br_create_args *)args)->name;
		break;
	case BRPROC_MKDIR:
		look.dir = ((br_mkdir_args *)args)->dir;
		look.name = ((br_mkdir_args *)args)->name;
		break;
	case BRPROC_SYMLINK:
		look.dir = ((br_symlink_args *)args)->dir;
		look.name = ((br_symlink_args *)args)->name;
		break;
	case BRPROC_MKNOD:
		look.dir = ((br_mknod_args *)args)->dir;
		look.name = ((br_mknod_args *)args)->name;
		break;
	case BRPROC_LINK:
		look.dir = ((br_link_args *)args)->dir;
		look.name = ((br_link_args *)args)->name;
		break;
	default:
		return rc;
	}
	if (rc != -EEXIST)
		return rc;
	log_info("%s re-sent after a restart: already done", br_proc_name(proc));
	cred_root();
	return proc_lookup(c, &look, res);
}

/* What a call changes, as the watchers (watch.h) need to hear of it: the
 * change number before it ran, and the handles of the objects a REMOVE,
 * RMDIR or RENAME is about to unlink or replace (victims[i] points into
 * buf[i]). */
struct watched {
	uint64_t seq0;
	br_fh victims[2];
	struct export_fh buf[2];
	unsigned int nvictims;
};

/* Find the victims while their names still lead to them: their watchers
 * are told too. */
static void find_victims(struct call *c, uint32_t proc, const void *args,
			 struct watched *w)
{
	const br_fh *dirs[2];
	const char *names[2];
	unsigned int n = watch_names_of(c->svc->watch, proc, args, dirs, names);
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++) {
		int fd;

		if (call_dir(c, dirs[i], &fd) < 0)
			continue;
		if (export_fh_at(c->exp->ex, fd, names[i], &w->buf[k]) == 0) {
			w->victims[k].br_fh_len = w->buf[k].len;
			w->victims[k].br_fh_val = (char *)w->buf[k].data;
			k++;
		}
		close(fd);
	}
	w->nvictims = k;
}

/* The caller's identity: a MUNGE session's uid/gid are vouched for, but
 * root squash applies to them all the same; AUTH_NONE is nobody. */
static void take_cred(struct call *c, const struct job *j)
{
	if (j->flavor != RPC_AUTH_SYS && j->flavor != BR_AUTH_MUNGE) {
		c->cred.uid = c->cred.gid = CRED_NOBODY;
		return;
	}
	c->cred = j->cred;
	/* The export's choice; MOUNT (no export yet) resolves as the server
	 * whatever the caller is. */
	if (!c->exp || c->exp->root_squash)
		cred_squash(&c->cred);
	c->root = c->cred.uid == 0;
}

/* Run the handler, watching what it reads before it reads it. */
static int perform(struct call *c, const struct proc_desc *d, void *args,
		   void *res, struct watched *w)
{
	struct job *j = c->job;

	w->seq0 = c->svc->watch ? watch_seq(c->svc->watch) : 0;
	watch_before(c->svc->watch, j->wc, j->proc, args);
	find_victims(c, j->proc, args, w);
	return cred_root() < 0 ? -EPERM : d->fn(c, args, res);
}

/* The record is not needed once the call is answered. */
static void drop_record(struct job *j)
{
	free(j->rec);
	j->rec = NULL;
	j->args = NULL;
}

static void answer_garbage(struct service *svc, struct job *j)
{
	drop_record(j);
	log_warn_rl("%s: undecodable arguments (xid %08x)",
		    br_proc_name(j->proc), j->xid);
	rpcmsg_reply_accept_err(&j->reply, j->xid, GARBAGE_ARGS, 0, 0);
	j->failed = true;
	if (svc->trace)
		trace(j, NULL, 0, -1, now_ns());
}

/* The export demands MUNGE and the call has AUTH_SYS (route()): the
 * RPC-level refusal on which a client in auto mode opens a session. */
static void answer_too_weak(struct job *j)
{
	drop_record(j);
	rpcmsg_reply_denied(&j->reply, j->xid, AUTH_ERROR, AUTH_TOOWEAK);
	j->failed = true;
}

/* Encode the handler's result with the status rc gives. */
static void answer(struct service *svc, struct job *j, const struct proc_desc *d,
		   const void *args, void *res, int rc)
{
	int status = 0;

	drop_record(j);
	if (!(d->flags & P_NOSTATUS)) {
		/* Every result type of the .x but INFO's starts with its
		 * br_stat (a union's discriminant or a bare br_stat). */
		status = br_stat_from_errno(-rc);
		*(br_stat *)res = (br_stat)status;
		j->failed = status != BR_OK;
	}
	if (rpcmsg_reply_success(&j->reply, j->xid, d->xres, res) < 0) {
		log_warn_rl("%s: reply too large to encode", br_proc_name(j->proc));
		buf_reset(&j->reply);
		rpcmsg_reply_accept_err(&j->reply, j->xid, SYSTEM_ERR, 0, 0);
		j->failed = true;
	}
	if (svc->trace)
		trace(j, args, d->flags, status, now_ns());
}

/* Decode, perform and answer one call; true when j->reply holds the
 * answer.  With nowait (the loop thread), a handler that would wait for
 * the disk gives up before doing anything (c.blocked), and undecodable
 * arguments are left for the pool to answer and log: the job goes back
 * as it came, record included, and this returns false.  false too for a
 * LOCK that waits: the lock manager keeps the job (c.parked). */
static bool execute(struct service *svc, struct job *j, bool nowait,
		    bool uncertain)
{
	const struct proc_desc *d = &procs[j->proc];
	struct call c = { .svc = svc, .nowait = nowait, .job = j,
			  .has_client = j->has_client_id, .client = j->client_id,
			  .peer = (const struct sockaddr *)&j->peer_sa };
	void *args = xcalloc(1, d->args_size ? d->args_size : 1);
	void *res = xcalloc(1, d->res_size);
	struct watched w = { 0 };
	bool answered = false;
	int rc;

	if (rpcmsg_decode_body(j->args, j->args_len, d->xargs, args, d->args_size) < 0) {
		if (!nowait)
			answer_garbage(svc, j);
		answered = !nowait;
		goto out;
	}
	rc = route(svc, j, d->flags, args, &c);
	if (rc == -EKEYREJECTED) {
		answer_too_weak(j);
		answered = true;
		goto out;
	}
	if (rc == 0 && nowait && c.exp && !c.exp->local)
		c.blocked = true;       /* fstat may wait on its filesystem */
	take_cred(&c, j);
	if (rc == 0 && !c.blocked)
		rc = perform(&c, d, args, res, &w);
	if (uncertain)
		rc = settle_uncertain(&c, j->proc, args, res, rc);
	cred_root();
	if (c.parked || c.blocked) {
		assert(c.parked ? !nowait : nowait);
		goto out;
	}
	/* Callbacks for what it changed: the other connections' are queued
	 * before this reply, this connection's after it (j->trail). */
	watch_after(svc->watch, j->wc, j->proc, args, res, rc, w.seq0, w.victims,
		    w.nvictims, &j->trail);
	answer(svc, j, d, args, res, rc);
	answered = true;
out:
	/* A removed export is freed here when this call was its last user. */
	exports_unref(c.exp);
	xdr_free(d->xargs, args);
	xdr_free(d->xres, res);
	free(args);
	free(res);
	return answered;
}

bool dispatch_run(void *ctx, struct job *j)
{
	struct service *svc = ctx;
	struct drc_entry *e = NULL;
	enum drc_result r;
	struct drc_key k;

	if (j->grant) {                 /* a MUNGE credential to check (auth.h) */
		auth_grant_run(svc->munge_socket, j);
		return true;
	}
	if (!svc->drc || !j->has_client_id || !(procs[j->proc].flags & P_ONCE))
		return execute(svc, j, false, false);  /* false: kept by a lock wait */
	memset(&k, 0, sizeof(k));
	k.client = j->client_id;
	k.xid = j->xid;
	k.proc = j->proc;
	k.sum = drc_sum(j->args, j->args_len);
	r = drc_begin(svc->drc, &k, now_ns(), &j->reply, &e);
	if (r == DRC_HIT) {
		log_debug("%s: xid %08x answered from the duplicate-request cache",
			  br_proc_name(j->proc), j->xid);
		if (svc->trace)
			log_info("trace %s replayed (xid %08x)",
				 br_proc_name(j->proc), j->xid);
		return true;
	}
	execute(svc, j, false, r == DRC_UNCERTAIN);     /* P_ONCE calls never wait */
	drc_done(svc->drc, e, j->reply.data, j->reply.len);
	return true;
}

bool dispatch_inline(struct service *svc, struct job *j)
{
	if (!svc->inline_ok || !(procs[j->proc].flags & P_INLINE))
		return false;
	return execute(svc, j, true, false);
}
