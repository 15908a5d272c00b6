/* proc_lock.c - LOCK and TESTLOCK: decode the call into a lock_call for
 * the lock manager (lock.h), and encode the reply of a wait it kept.
 *
 * The file is named by its handle; the manager keys it by st_dev and
 * st_ino, so every handle of one file (hard links, other exports of the
 * same filesystem) names the same locks.  No permission is checked here:
 * the client's kernel already refused a write lock on a file not open for
 * writing, and a lock only ever keeps other lockers out. */
#include <errno.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"
#include "proc.h"

static void holder_to_wire(br_lock_holder *h, const struct lkr *l, bool same)
{
	h->type = l->type;
	h->start = l->start;
	h->length = lkr_length(l->start, l->end);
	h->pid = l->pid;
	h->same_client = same;
}

void proc_lock_reply(struct job *j, int rc, const struct lkr *holder,
		     bool same_client)
{
	br_lock_res r = { .status = br_stat_from_errno(-rc) };

	r.holder.type = BR_LOCK_UNLOCK;
	if (holder)
		holder_to_wire(&r.holder, holder, same_client);
	buf_reset(&j->reply);
	if (rpcmsg_reply_success(&j->reply, j->xid, (xdrproc_t)xdr_br_lock_res, &r) < 0)
		rpcmsg_reply_accept_err(&j->reply, j->xid, SYSTEM_ERR, 0, 0);
}

/* LOCK with RECLAIM | ALL and type UNLOCK: "done reclaiming" (lock.h). */
static bool reclaim_done_marker(const br_lock_args *a)
{
	return a->type == BR_LOCK_UNLOCK &&
	       (a->flags & (BR_LOCK_RECLAIM | BR_LOCK_ALL)) ==
		       (BR_LOCK_RECLAIM | BR_LOCK_ALL);
}

static int lock_common(struct call *c, br_lock_args *a, br_lock_res *r, bool test)
{
	struct lockmgr *m = c->svc->locks;
	struct job *j = c->job;
	struct lock_call lc = { .test = test, .flags = a->flags };
	struct lkr holder;
	bool same = false;
	struct stat st;
	int fd, rc;

	r->holder.type = BR_LOCK_UNLOCK;
	if (!m)
		return -ENOLCK;
	if (!j->has_client_id) {
		/* Locks outlive calls: without an id, nobody could ever
		 * release them on this client's behalf. */
		log_warn_rl("%s from a client without a client id refused",
			    test ? "TESTLOCK" : "LOCK");
		return -ENOLCK;
	}
	lc.lk.client = j->client_id;
	lc.lk.owner = a->owner;
	lc.lk.kind = a->kind;
	lc.lk.type = a->type;
	lc.lk.start = a->start;
	lc.lk.pid = a->pid;
	rc = lkr_range(a->start, a->length, &lc.lk.end);
	if (rc < 0)
		return rc;
	if (test || !reclaim_done_marker(a)) {
		rc = call_fh(c, &a->fh, &fd, &st);
		if (rc < 0)
			return rc;
		close(fd);
		lc.dev = st.st_dev;
		lc.ino = st.st_ino;
	}
	if (!test && (a->flags & BR_LOCK_WAIT) && a->type != BR_LOCK_UNLOCK) {
		/* The job may be kept: the record (already decoded) goes
		 * now, since once kept another thread may finish the job. */
		free(j->rec);
		j->rec = NULL;
		j->args = NULL;
		lc.job = j;
		lc.conn = j->conn;  /* a token only: workers never touch conns */
	}
	rc = lockmgr_call(m, &lc, &holder, &same);
	if (rc == LOCK_PARKED) {
		c->parked = true;
		return 0;
	}
	if ((rc == 0 && test) || rc == -EAGAIN) {
		if (holder.type != LKR_UNLOCK)
			holder_to_wire(&r->holder, &holder, same);
	}
	return rc;
}

int proc_lock(struct call *c, void *args, void *res)
{
	return lock_common(c, args, res, false);
}

int proc_testlock(struct call *c, void *args, void *res)
{
	return lock_common(c, args, res, true);
}
