/* ops_lock.c - cluster-wide locks: getlk/setlk (fcntl and OFD locks) and
 * flock go to the server (LOCK / TESTLOCK), and this mount keeps a copy
 * of what it holds.
 *
 * Owners.  The kernel gives a lock owner with every request: the process
 * (its files_struct) for fcntl locks, the open file for OFD and flock
 * locks.  They go to the server as they are; the server adds this mount's
 * client id.
 *
 * Blocking waits (F_SETLKW, flock without LOCK_NB) wait on the server,
 * which answers when the lock is granted.  The call is re-sent whenever
 * libbramble's deadline passes (the server replaces the old wait), so a
 * wait may last forever without a call doing so.  An interrupted wait
 * (a signal, SIGKILL included) sends an UNLOCK with BRAMBLE_LOCK_WAIT,
 * which ends the server's wait without releasing anything the owner held
 * before, and the request answers EINTR (the kernel restarts it when the
 * signal handler asks for that).
 *
 * Releasing.  Closing any descriptor of a file drops the process's fcntl
 * locks on it (flush carries the process as lock owner); the last close
 * of an open file drops its OFD and flock locks (release: the owners that
 * locked through that open file are remembered in `vias').  A process
 * killed, or this whole mount gone, is covered by the kernel's closes and
 * by the server's lease.
 *
 * Coherence (what NFS does around locks, and what SQLite relies on):
 * before a lock or unlock, this node's writes of the file reach the
 * server; after a lock is granted, the kernel's cached pages and
 * attributes of the file are dropped, so the holder reads what the
 * previous holder wrote.
 *
 * An unlock interrupted on its way (the closing process was killed) is
 * sent again by the renew thread: the server must not keep a lock the
 * application let go.  A lock whose answer was lost (the server did not
 * answer in time) is noted as held, so that the close sends its unlock.
 *
 * The copy (struct lk_file per server handle, lkrange.h sets with client
 * 0) serves three things: a flush that holds no locks costs no round
 * trip; after the server restarts (libbramble's reconnect hook), the
 * renew thread reclaims every lock in it and then says it is done; and
 * while it is not empty, the thread makes a cheap call every second so
 * that a connection (and thus the lease) exists even when the
 * applications are idle.
 *
 * Threads: any FUSE worker, the renew thread; fs->locks->lock guards the
 * copy and is never held across a call. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "chunkfs.h"
#include "lkrange.h"
#include "log.h"
#include "ops.h"
#include "wb.h"
#include "xalloc.h"

#define RENEW_NS (1000 * 1000000LL)    /* keep-alive while holding locks */
#define GRACE_RETRY_MS 250             /* server in grace: try again after */
#define POLL_MIN_MS 10                 /* server would not queue the wait */
#define POLL_MAX_MS 250

struct lk_file {
	struct lk_file *next;
	struct bramble_fh fh;
	struct lkr_set set;            /* client 0 */
};

struct lk_via {                        /* owner locked through open file f */
	struct lk_via *next;
	const struct bfs_file *f;
	uint64_t owner;
};

struct lk_unlock {                     /* an unlock the renew thread re-sends */
	struct lk_unlock *next;
	struct bramble_fh fh;
	struct bramble_lock lk;
};

struct bfs_locks {
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* the renew thread's */
	struct lk_file *files;         /* protected by lock */
	struct lk_via *vias;           /* protected by lock */
	struct lk_unlock *resend;      /* protected by lock */
	bool stop, reclaim;            /* protected by lock */
	pthread_t thread;
	bool started;
	/* The renew thread's libbramble token: stopping fires it, so a call
	 * to a server that is down (a hard mount waits for ever) ends. */
	struct bramble_cancel *cancel;
};

/* Lock calls carry root's credentials: the server checks none (the
 * kernel already checked the descriptor's mode), and an owner's unlock at
 * release must work whoever closes last. */
static const struct bramble_cred lock_cred;

/* ---- the copy (caller holds L->lock) */

static struct lk_file **lkf_slot(struct bfs_locks *L, const struct bramble_fh *fh)
{
	struct lk_file **p = &L->files;

	while (*p && !bramble_fh_eq(&(*p)->fh, fh))
		p = &(*p)->next;
	return p;
}

static void lkr_from(struct lkr *r, const struct bramble_lock *lk)
{
	memset(r, 0, sizeof(*r));
	r->owner = lk->owner;
	r->kind = lk->kind;
	r->type = lk->type;
	r->start = lk->start;
	if (lkr_range(lk->start, lk->length, &r->end) < 0)
		r->end = LKR_EOF;
	r->pid = lk->pid;
}

static void copy_apply(struct bfs_locks *L, const struct bramble_fh *fh,
		       const struct bramble_lock *lk)
{
	struct lk_file **p = lkf_slot(L, fh);
	struct lkr r;

	lkr_from(&r, lk);
	if (!*p) {
		if (lk->type == BRAMBLE_LOCK_UNLOCK)
			return;
		*p = xcalloc(1, sizeof(**p));
		(*p)->fh = *fh;
	}
	lkr_apply(&(*p)->set, &r);
	if ((*p)->set.n == 0) {
		struct lk_file *gone = *p;

		*p = gone->next;
		lkr_set_release(&gone->set);
		free(gone);
	}
}

/* Does owner hold a lock of kind (any kind: -1) on fh? */
static bool copy_holds(struct bfs_locks *L, const struct bramble_fh *fh,
		       uint64_t owner, int kind)
{
	struct lk_file *lf = *lkf_slot(L, fh);

	for (size_t i = 0; lf && i < lf->set.n; i++)
		if (lf->set.v[i].owner == owner &&
		    (kind < 0 || lf->set.v[i].kind == (uint32_t)kind))
			return true;
	return false;
}

static void via_add(struct bfs_locks *L, const struct bfs_file *f, uint64_t owner)
{
	struct lk_via *v;

	for (v = L->vias; v; v = v->next)
		if (v->f == f && v->owner == owner)
			return;
	v = xcalloc(1, sizeof(*v));
	v->f = f;
	v->owner = owner;
	v->next = L->vias;
	L->vias = v;
}

/* Forget the vias of f (all owners) or of owner on fh (any open file). */
static void via_drop(struct bfs_locks *L, const struct bfs_file *f,
		     const struct bramble_fh *fh, uint64_t owner)
{
	struct lk_via **p = &L->vias;

	while (*p) {
		struct lk_via *v = *p;
		bool match = f ? v->f == f
			       : v->owner == owner && bramble_fh_eq(&v->f->fh, fh);

		if (match) {
			*p = v->next;
			free(v);
		} else {
			p = &v->next;
		}
	}
}

/* Have the renew thread send lk (an unlock or a cancel): the calling
 * thread cannot, or should not wait for it. */
static void queue_unlock(struct bfs_locks *L, const struct bramble_fh *fh,
			 const struct bramble_lock *lk)
{
	struct lk_unlock *u;

	pthread_mutex_lock(&L->lock);
	for (u = L->resend; u; u = u->next)
		if (bramble_fh_eq(&u->fh, fh) && !memcmp(&u->lk, lk, sizeof(*lk)))
			break;          /* the same one still queued */
	if (!u) {
		u = xcalloc(1, sizeof(*u));
		u->fh = *fh;
		u->lk = *lk;
		u->next = L->resend;
		L->resend = u;
		pthread_cond_signal(&L->cond);
	}
	pthread_mutex_unlock(&L->lock);
}

/* ---- one lock request */

struct lk_wait {
	struct bfs *fs;
	const struct bramble_fh *fh;
	struct bramble_lock lk;
	pthread_mutex_t m;
	pthread_cond_t cond;           /* broadcast on any change below */
	bool interrupted;              /* protected by m */
	bool in_call;                  /* protected by m: a LOCK is out */
};

/* Another FUSE thread: the kernel interrupts the request (a signal).
 * End the server's wait; the waiting call then returns -EINTR.  The
 * cancel and the wait travel on different threads, so the cancel may
 * reach the server first and find nothing: send it again until the
 * waiting call has returned.  The renew thread sends it: this thread may
 * carry a cancelled libbramble token of an earlier request (intr.h),
 * with which no call would go out. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct lk_wait *w = data;
	struct bramble_lock cancel = w->lk;

	(void)req;
	cancel.type = BRAMBLE_LOCK_UNLOCK;
	cancel.flags = BRAMBLE_LOCK_WAIT;       /* cancel only */
	pthread_mutex_lock(&w->m);
	w->interrupted = true;
	pthread_cond_broadcast(&w->cond);
	while (w->in_call && (w->lk.flags & BRAMBLE_LOCK_WAIT)) {
		struct timespec ts;

		pthread_mutex_unlock(&w->m);
		queue_unlock(w->fs->locks, w->fh, &cancel);
		pthread_mutex_lock(&w->m);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (w->in_call)
			pthread_cond_timedwait(&w->cond, &w->m, &ts);
	}
	pthread_mutex_unlock(&w->m);
}

/* Sleep ms unless interrupted first.  true: interrupted. */
static bool wait_sleep(struct lk_wait *w, int ms)
{
	struct timespec ts;
	bool intr;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&w->m);
	if (!w->interrupted)
		pthread_cond_timedwait(&w->cond, &w->m, &ts);
	intr = w->interrupted;
	pthread_mutex_unlock(&w->m);
	return intr;
}

static bool was_interrupted(struct lk_wait *w)
{
	bool intr;

	pthread_mutex_lock(&w->m);
	intr = w->interrupted;
	pthread_mutex_unlock(&w->m);
	return intr;
}

/* Take or wait for w->lk: 0, -EAGAIN (holder filled), -EINTR, -errno. */
static int lock_loop(fuse_req_t req, struct lk_wait *w,
		     struct bramble_lock_holder *holder, bool test)
{
	int poll_ms = POLL_MIN_MS;
	int rc;

	fuse_req_interrupt_func(req, on_interrupt, w);
	for (;;) {
		pthread_mutex_lock(&w->m);
		if (w->interrupted) {
			pthread_mutex_unlock(&w->m);
			rc = -EINTR;
			break;
		}
		w->in_call = true;
		pthread_mutex_unlock(&w->m);
		if (test)
			rc = bramble_testlock(w->fs->cl, &lock_cred, w->fh, &w->lk, holder);
		else
			rc = bramble_lock(w->fs->cl, &lock_cred, w->fh, &w->lk, holder);
		pthread_mutex_lock(&w->m);
		w->in_call = false;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->m);
		if (rc == -BRAMBLE_EGRACE) {
			/* The server restarted: it takes back the locks held
			 * before, then ours.  Waiting is what NFS does too. */
			wait_sleep(w, GRACE_RETRY_MS);
			continue;
		}
		if (!(w->lk.flags & BRAMBLE_LOCK_WAIT))
			break;
		if (rc == -EAGAIN) {
			/* The server would not queue one more wait from us:
			 * ask again now and then. */
			wait_sleep(w, poll_ms);
			poll_ms = BR_MIN(poll_ms * 2, POLL_MAX_MS);
			continue;
		}
		if (rc == -ETIMEDOUT || (rc == -EINTR && !was_interrupted(w)))
			continue;       /* our deadline, or a wait replaced */
		break;
	}
	fuse_req_interrupt_func(req, NULL, NULL);
	if (rc == -ENOSYS)
		rc = -ENOLCK;   /* a server without locks */
	return rc;
}

/* After the server said yes: note it in the copy. */
static void noted(struct bfs *fs, const struct bfs_file *f,
		  const struct bramble_lock *lk)
{
	struct bfs_locks *L = fs->locks;
	bool was_empty;

	pthread_mutex_lock(&L->lock);
	was_empty = !L->files;
	copy_apply(L, &f->fh, lk);
	if (lk->type != BRAMBLE_LOCK_UNLOCK)
		via_add(L, f, lk->owner);
	if (was_empty && L->files)
		pthread_cond_signal(&L->cond);  /* renewals start */
	pthread_mutex_unlock(&L->lock);
}

/* Unlock on the server and in the copy.  The copy drops the lock even
 * when the server cannot be told: this mount must never reclaim a lock
 * its application let go (the server's lease frees it at worst). */
static int unlock(struct bfs *fs, const struct bfs_file *f, struct bramble_lock *lk)
{
	struct bfs_locks *L = fs->locks;
	int rc = bramble_lock(fs->cl, &lock_cred, &f->fh, lk, NULL);

	if (rc == -EINTR || rc == -ETIMEDOUT) {
		/* This thread's request was interrupted (or the server is
		 * away): the renew thread tells the server instead. */
		queue_unlock(L, &f->fh, lk);
		rc = 0;
	} else if (rc < 0) {
		log_warn_rl("unlock on the server failed: %s", strerror(-rc));
	}
	noted(fs, f, lk);
	return rc == -ENOSYS ? -ENOLCK : rc;
}

/* The server may or may not have granted a lock whose answer was lost. */
static bool uncertain(int rc)
{
	return rc == -ETIMEDOUT || rc == -EREMOTEIO || rc == -EBADMSG ||
	       rc == -EPROTO || rc == -ESHUTDOWN;
}

static int take(fuse_req_t req, struct bfs *fs, const struct bfs_file *f,
		struct bramble_lock *lk, bool wait)
{
	struct lk_wait w = { .fs = fs, .fh = &f->fh, .lk = *lk };
	int rc;

	/* Our writes first: the next holder must read them. */
	wb_wait_ino(fs->wb, f->ino);
	if (lk->type == BRAMBLE_LOCK_UNLOCK)
		return unlock(fs, f, lk);
	if (wait)
		w.lk.flags |= BRAMBLE_LOCK_WAIT;
	pthread_mutex_init(&w.m, NULL);
	pthread_cond_init(&w.cond, NULL);
	rc = lock_loop(req, &w, NULL, false);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.m);
	if (rc == 0 || uncertain(rc))
		noted(fs, f, lk);
	if (rc == 0) {
		/* And the previous holder's writes: drop what the kernel
		 * cached of the file, data and attributes. */
		fuse_lowlevel_notify_inval_inode(fs->se, f->ino, 0, 0);
		chunkfs_changed(fs->chunks, f->ino);
	}
	return rc;
}

static int posix_lock(const struct flock *fl, uint64_t owner, struct bramble_lock *lk)
{
	memset(lk, 0, sizeof(*lk));
	lk->owner = owner;
	lk->kind = BRAMBLE_LK_POSIX;
	switch (fl->l_type) {
	case F_RDLCK:
		lk->type = BRAMBLE_LOCK_READ;
		break;
	case F_WRLCK:
		lk->type = BRAMBLE_LOCK_WRITE;
		break;
	case F_UNLCK:
		lk->type = BRAMBLE_LOCK_UNLOCK;
		break;
	default:
		return -EINVAL;
	}
	/* libfuse gives absolute ranges: l_len 0 is "to end of file". */
	if (fl->l_start < 0 || fl->l_len < 0)
		return -EINVAL;
	lk->start = (uint64_t)fl->l_start;
	lk->length = (uint64_t)fl->l_len;
	lk->pid = fl->l_pid > 0 ? (uint32_t)fl->l_pid : 0;
	return 0;
}

void bfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	       struct flock *lock)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	struct bramble_lock_holder h;
	struct lk_wait w = { .fs = fs };
	int rc;

	if (!f) {
		reply_err(req, "getlk", ino, -ENOLCK, t0);
		return;
	}
	w.fh = &f->fh;
	rc = posix_lock(lock, fi->lock_owner, &w.lk);
	if (rc == 0 && w.lk.type == BRAMBLE_LOCK_UNLOCK)
		rc = -EINVAL;
	if (rc == 0) {
		pthread_mutex_init(&w.m, NULL);
		pthread_cond_init(&w.cond, NULL);
		rc = lock_loop(req, &w, &h, true);
		pthread_cond_destroy(&w.cond);
		pthread_mutex_destroy(&w.m);
	}
	if (rc < 0) {
		reply_err(req, "getlk", ino, rc, t0);
		return;
	}
	if (h.type == BRAMBLE_LOCK_UNLOCK) {
		lock->l_type = F_UNLCK;
	} else {
		lock->l_type = h.type == BRAMBLE_LOCK_WRITE ? F_WRLCK : F_RDLCK;
		lock->l_whence = SEEK_SET;
		lock->l_start = (off_t)h.start;
		lock->l_len = (off_t)h.length;
		/* Another node's pid means nothing here (and may name a
		 * local process): the kernel shows 0 then. */
		lock->l_pid = h.same_client ? (pid_t)h.pid : 0;
	}
	bfs_trace(fs, "getlk", ino, 0, t0);
	fuse_reply_lock(req, lock);
}

void bfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	       struct flock *lock, int sleep)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	struct bramble_lock lk;
	int rc = f ? posix_lock(lock, fi->lock_owner, &lk) : -ENOLCK;

	if (rc == 0)
		rc = take(req, fs, f, &lk, sleep != 0);
	reply_err(req, "setlk", ino, rc, t0);
}

void bfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	struct bramble_lock lk = { .owner = fi->lock_owner, .kind = BRAMBLE_LK_FLOCK };
	int rc = 0;

	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		lk.type = BRAMBLE_LOCK_READ;
		break;
	case LOCK_EX:
		lk.type = BRAMBLE_LOCK_WRITE;
		break;
	case LOCK_UN:
		lk.type = BRAMBLE_LOCK_UNLOCK;
		break;
	default:
		rc = -EINVAL;
	}
	if (!f)
		rc = -ENOLCK;
	if (rc == 0)
		rc = take(req, fs, f, &lk, !(op & LOCK_NB));
	reply_err(req, "flock", ino, rc, t0);
}

/* ---- closing */

static void drop_owner(struct bfs *fs, const struct bfs_file *f, uint64_t owner,
		       uint32_t kind)
{
	struct bramble_lock lk = { .owner = owner, .kind = kind,
				   .type = BRAMBLE_LOCK_UNLOCK };
	bool held;

	pthread_mutex_lock(&fs->locks->lock);
	held = copy_holds(fs->locks, &f->fh, owner, (int)kind);
	pthread_mutex_unlock(&fs->locks->lock);
	if (held)
		unlock(fs, f, &lk);
}

void locks_flush(struct bfs *fs, const struct bfs_file *f, uint64_t owner)
{
	if (!fs->locks || !f)
		return;
	/* POSIX: any close drops the process's fcntl locks on the file. */
	drop_owner(fs, f, owner, BRAMBLE_LK_POSIX);
	pthread_mutex_lock(&fs->locks->lock);
	via_drop(fs->locks, NULL, &f->fh, owner);
	pthread_mutex_unlock(&fs->locks->lock);
}

void locks_release(struct bfs *fs, const struct bfs_file *f,
		   const struct fuse_file_info *fi)
{
	struct bfs_locks *L = fs->locks;
	uint64_t owners[16];
	size_t n = 0;

	if (!L || !f)
		return;
	/* The OFD and flock owners that locked through this open file;
	 * flush already dropped the processes'. */
	pthread_mutex_lock(&L->lock);
	for (struct lk_via *v = L->vias; v && n < ARRAY_SIZE(owners); v = v->next)
		if (v->f == f)
			owners[n++] = v->owner;
	via_drop(L, f, NULL, 0);
	pthread_mutex_unlock(&L->lock);
	if (fi->flock_release && n < ARRAY_SIZE(owners))
		owners[n++] = fi->lock_owner;
	for (size_t i = 0; i < n; i++) {
		drop_owner(fs, f, owners[i], BRAMBLE_LK_POSIX);
		drop_owner(fs, f, owners[i], BRAMBLE_LK_FLOCK);
	}
}

/* ---- the renew thread: keep-alive and reclaim */

struct held {
	struct bramble_fh fh;
	struct lkr l;
};

/* Take back every lock of the copy from a restarted server, then say so
 * (the server leaves its grace period once every client has). */
static void reclaim(struct bfs *fs)
{
	struct bfs_locks *L = fs->locks;
	struct held *h = NULL;
	size_t n = 0, cap = 0, lost = 0;
	struct bramble_lock done = { .type = BRAMBLE_LOCK_UNLOCK,
				     .flags = BRAMBLE_LOCK_RECLAIM | BRAMBLE_LOCK_ALL };
	int rc;

	pthread_mutex_lock(&L->lock);
	for (struct lk_file *lf = L->files; lf; lf = lf->next) {
		for (size_t i = 0; i < lf->set.n; i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				h = xrealloc(h, cap * sizeof(*h));
			}
			h[n].fh = lf->fh;
			h[n++].l = lf->set.v[i];
		}
	}
	pthread_mutex_unlock(&L->lock);
	for (size_t i = 0; i < n; i++) {
		struct bramble_lock lk = {
			.owner = h[i].l.owner, .kind = h[i].l.kind,
			.type = h[i].l.type, .start = h[i].l.start,
			.length = lkr_length(h[i].l.start, h[i].l.end),
			.pid = h[i].l.pid, .flags = BRAMBLE_LOCK_RECLAIM,
		};

		rc = bramble_lock(fs->cl, &lock_cred, &h[i].fh, &lk, NULL);
		if (rc < 0) {
			lost++;
			log_err("a lock held before the server restarted is lost "
				"(owner %016llx, bytes %llu+%llu): %s",
				(unsigned long long)lk.owner,
				(unsigned long long)lk.start,
				(unsigned long long)lk.length,
				rc == -EAGAIN ? "another client holds it now"
					      : strerror(-rc));
		}
	}
	free(h);
	rc = bramble_lock(fs->cl, &lock_cred, &fs->root_fh, &done, NULL);
	if (rc < 0)
		log_warn("cannot tell the server reclaiming is done: %s", strerror(-rc));
	log_info("server restarted: %zu lock%s reclaimed, %zu lost", n - lost,
		 n - lost == 1 ? "" : "s", lost);
}

static void *renew_main(void *arg)
{
	struct bfs *fs = arg;
	struct bfs_locks *L = fs->locks;
	struct bramble_lock probe = { .kind = BRAMBLE_LK_FLOCK,
				      .type = BRAMBLE_LOCK_READ };

	bramble_cancel_bind(L->cancel);
	pthread_mutex_lock(&L->lock);
	while (!L->stop) {
		int64_t due;

		if (L->resend) {
			struct lk_unlock *u = L->resend;
			int rc;

			L->resend = u->next;
			pthread_mutex_unlock(&L->lock);
			rc = bramble_lock(fs->cl, &lock_cred, &u->fh, &u->lk, NULL);
			if (rc < 0)
				log_warn_rl("unlock on the server failed: %s (the "
					    "server's lease frees it)", strerror(-rc));
			free(u);
			pthread_mutex_lock(&L->lock);
			continue;
		}
		if (L->reclaim) {
			L->reclaim = false;
			pthread_mutex_unlock(&L->lock);
			reclaim(fs);
			pthread_mutex_lock(&L->lock);
			continue;
		}
		if (!L->files && !L->resend) {
			pthread_cond_wait(&L->cond, &L->lock);
			continue;
		}
		due = now_ns() + RENEW_NS;
		while (!L->stop && !L->reclaim && !L->resend && L->files &&
		       now_ns() < due) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&L->cond, &L->lock, &ts);
		}
		if (L->stop || L->reclaim || L->resend || !L->files)
			continue;
		pthread_mutex_unlock(&L->lock);
		/* Any call with our id keeps (or makes) a connection, which
		 * is what the server's lease counts. */
		bramble_testlock(fs->cl, &lock_cred, &fs->root_fh, &probe, NULL);
		pthread_mutex_lock(&L->lock);
	}
	pthread_mutex_unlock(&L->lock);
	bramble_cancel_bind(NULL);
	return NULL;
}

/* libbramble's reader thread: no calls here, just wake the renewer. */
static void on_restart(void *ctx, uint64_t old_instance, uint64_t new_instance)
{
	struct bfs *fs = ctx;

	(void)old_instance;
	(void)new_instance;
	pthread_mutex_lock(&fs->locks->lock);
	fs->locks->reclaim = true;
	pthread_cond_signal(&fs->locks->cond);
	pthread_mutex_unlock(&fs->locks->lock);
}

int locks_start(struct bfs *fs)
{
	struct bfs_locks *L = xcalloc(1, sizeof(*L));
	struct bramble_hello h;
	int rc;

	bramble_server_hello(fs->cl, &h);
	if (!(h.caps & BRAMBLE_CAP_LOCKS))
		log_warn("%s has no cluster-wide locks: fcntl and flock fail with "
			 "ENOLCK on this mount (-o nolock keeps them on this node)",
			 h.server[0] ? h.server : "the server");
	pthread_mutex_init(&L->lock, NULL);
	pthread_cond_init(&L->cond, NULL);
	L->cancel = bramble_cancel_new();
	fs->locks = L;
	rc = -pthread_create(&L->thread, NULL, renew_main, fs);
	if (rc < 0) {
		locks_stop(fs);
		return rc;
	}
	L->started = true;
	bramble_set_reconnect_hook(fs->cl, on_restart, fs);
	return 0;
}

void locks_stop(struct bfs *fs)
{
	struct bfs_locks *L = fs->locks;

	if (!L)
		return;
	if (fs->cl)
		bramble_set_reconnect_hook(fs->cl, NULL, NULL);
	pthread_mutex_lock(&L->lock);
	L->stop = true;
	pthread_cond_signal(&L->cond);
	pthread_mutex_unlock(&L->lock);
	bramble_cancel(L->cancel);
	if (L->started)
		pthread_join(L->thread, NULL);
	bramble_cancel_free(L->cancel);
	while (L->files) {
		struct lk_file *lf = L->files;

		L->files = lf->next;
		lkr_set_release(&lf->set);
		free(lf);
	}
	while (L->vias) {
		struct lk_via *v = L->vias;

		L->vias = v->next;
		free(v);
	}
	while (L->resend) {
		struct lk_unlock *u = L->resend;

		L->resend = u->next;
		free(u);
	}
	pthread_cond_destroy(&L->cond);
	pthread_mutex_destroy(&L->lock);
	free(L);
	fs->locks = NULL;
}
