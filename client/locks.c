/* locks.c - LOCK and TESTLOCK (see bramble.h, "locks"). */
#include <errno.h>
#include <string.h>

#include "rpc.h"

_Static_assert(BRAMBLE_LK_POSIX == BR_LK_POSIX && BRAMBLE_LK_FLOCK == BR_LK_FLOCK &&
	       BRAMBLE_LOCK_READ == BR_LOCK_READ &&
	       BRAMBLE_LOCK_WRITE == BR_LOCK_WRITE &&
	       BRAMBLE_LOCK_UNLOCK == BR_LOCK_UNLOCK &&
	       BRAMBLE_LOCK_WAIT == BR_LOCK_WAIT &&
	       BRAMBLE_LOCK_RECLAIM == BR_LOCK_RECLAIM &&
	       BRAMBLE_LOCK_ALL == BR_LOCK_ALL &&
	       BRAMBLE_EGRACE == BR_ERRNO_GRACE, "bramble.h out of date");

static int lock_call(struct bramble *b, uint32_t proc, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, const struct bramble_lock *lk,
		     struct bramble_lock_holder *holder)
{
	struct rpc_op op;
	br_lock_args a = {
		.owner = lk->owner, .kind = lk->kind, .type = lk->type,
		.start = lk->start, .length = lk->length, .pid = lk->pid,
		.flags = lk->flags,
	};
	br_lock_res r;
	int rc;

	rpc_fh_arg(&a.fh, fh);
	if (holder)
		memset(holder, 0, sizeof(*holder));
	rc = rpc_run_decode(b, &op, proc, cr, (xdrproc_t)xdr_br_lock_args, &a,
			    (xdrproc_t)xdr_br_lock_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (holder) {
			holder->type = r.holder.type;
			holder->start = r.holder.start;
			holder->length = r.holder.length;
			holder->pid = r.holder.pid;
			holder->same_client = r.holder.same_client;
		}
		xdr_free((xdrproc_t)xdr_br_lock_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

int bramble_lock(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *fh, const struct bramble_lock *lk,
		 struct bramble_lock_holder *holder)
{
	return lock_call(b, BRPROC_LOCK, cr, fh, lk, holder);
}

int bramble_testlock(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, const struct bramble_lock *lk,
		     struct bramble_lock_holder *holder)
{
	if (lk->type == BRAMBLE_LOCK_UNLOCK)
		return -EINVAL;
	return lock_call(b, BRPROC_TESTLOCK, cr, fh, lk, holder);
}
