/* intr.c - interruptible requests and the first-connect gate (intr.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "intr.h"
#include "log.h"
#include "ops.h"
#include "wb.h"
#include "xalloc.h"

/* A handler thread's token: the libbramble token bound to the thread,
 * and which request the thread is serving now (an interrupt for an
 * earlier one, delivered late by libfuse, must not cancel this one).
 *
 * Tokens are never freed, only recycled: libfuse may still be running
 * on_interrupt() with a token (for a request that has just been answered)
 * when the thread that owned it exits.  A recycled token serves another
 * request, which on_interrupt() tells apart; there are never more tokens
 * than handler threads at once (at most 64 plus a few). */
struct tok {
	struct bramble_cancel *cancel;
	pthread_mutex_t lock;
	fuse_req_t req;                /* protected by lock; NULL between requests */
	struct bfs *fs;                /* protected by lock */
	struct tok *next_free;         /* protected by pool_lock, while free */
	/* the handler thread's own: */
	pid_t pid;                     /* the request's caller */
	int64_t deadline;              /* the request's; 0: none */
	bool late;                     /* it kept a deadline already passed */
};

static struct fuse_lowlevel_ops orig;  /* the unwrapped ops, set once */
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tok *pool;               /* protected by pool_lock */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond;       /* CLOCK_MONOTONIC; broadcast on open/interrupt */
static atomic_bool gate_open = true;

/* Thread exit: the token goes back to the pool (see struct tok). */
static void tok_release(void *p)
{
	struct tok *t = p;

	bramble_cancel_bind(NULL);
	pthread_mutex_lock(&pool_lock);
	t->next_free = pool;
	pool = t;
	pthread_mutex_unlock(&pool_lock);
}

static struct tok *tok_get(void)
{
	struct tok *t;

	pthread_mutex_lock(&pool_lock);
	t = pool;
	if (t)
		pool = t->next_free;
	pthread_mutex_unlock(&pool_lock);
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		t->cancel = bramble_cancel_new();
		pthread_mutex_init(&t->lock, NULL);
	}
	pthread_setspecific(tok_key, t);
	bramble_cancel_bind(t->cancel);
	return t;
}

static void tok_key_init(void)
{
	pthread_condattr_t a;

	if (pthread_key_create(&tok_key, tok_release) != 0)
		abort();
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&gate_cond, &a);
	pthread_condattr_destroy(&a);
}

/* Wake every wait a cancelled handler may be in outside libbramble.  The
 * waiters check bramble_cancelled() under these locks, so taking them
 * here means no wake-up is lost. */
static void wake_waiters(struct bfs *fs)
{
	pthread_mutex_lock(&gate_lock);
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	if (fs->wb)
		wb_interrupt(fs->wb);
}

/* libfuse's interrupt callback: runs on the thread that read the
 * FUSE_INTERRUPT, or at once in fuse_req_interrupt_func() when the
 * interrupt came first. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct tok *t = data;

	pthread_mutex_lock(&t->lock);
	if (t->req == req) {
		bramble_cancel(t->cancel);
		wake_waiters(t->fs);
	}
	pthread_mutex_unlock(&t->lock);
}

/* When the request must be answered by: `timeout' from now on a soft
 * mount, whatever the handler does meanwhile (several calls, waits for
 * write-behind); 0 (each call's own deadline) on a hard mount and for
 * requests that may wait for ever anyway (bounded false). */
static int64_t request_deadline(const struct bfs *fs, bool bounded)
{
	if (fs->opts.hard || !bounded)
		return 0;
	return now_ns() + (int64_t)(fs->opts.timeout * 1e9);
}

/* One system call may be several requests in a row (a read: GETATTR,
 * then READ for readahead, then READ of the page), each with `timeout'
 * of its own: seen, a read taking 5.8 s with timeout=3 (GETATTR waited
 * 2.8 s for writes behind, then a READ 3 s).  So that `timeout' bounds
 * the system call, a request of a process whose previous request used
 * more than half its time and ended less than SPENT_FOLLOW_NS ago keeps
 * that request's deadline: what is left of it, or nothing (it fails at
 * once).  Requests that take less than half their time never pass their
 * deadline on, so a busy process on a slow but answering server is not
 * cut short; nor do requests that failed at once, so a process going on
 * after an EIO gets time of its own again SPENT_FOLLOW_NS after the
 * deadline passed, not never.  A table of such processes, hashed by pid
 * (a collision only forgets one). */
#define SPENT_SLOTS 64
#define SPENT_FOLLOW_NS (50 * 1000 * 1000)

static pthread_mutex_t spent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pid_t pid;
	int64_t ended, deadline;
} spent[SPENT_SLOTS];                  /* protected by spent_lock */

/* The deadline a request of pid starting now must keep, or 0. */
static int64_t spent_deadline(pid_t pid)
{
	int64_t d = 0;

	pthread_mutex_lock(&spent_lock);
	if (spent[pid % SPENT_SLOTS].pid == pid &&
	    now_ns() - spent[pid % SPENT_SLOTS].ended < SPENT_FOLLOW_NS)
		d = spent[pid % SPENT_SLOTS].deadline;
	pthread_mutex_unlock(&spent_lock);
	return d;
}

static void spent_note(pid_t pid, int64_t deadline)
{
	pthread_mutex_lock(&spent_lock);
	spent[pid % SPENT_SLOTS].pid = pid;
	spent[pid % SPENT_SLOTS].ended = now_ns();
	spent[pid % SPENT_SLOTS].deadline = deadline;
	pthread_mutex_unlock(&spent_lock);
}

static struct tok *scope_begin(fuse_req_t req, bool bounded)
{
	struct tok *t = pthread_getspecific(tok_key);

	if (!t)
		t = tok_get();
	pthread_mutex_lock(&t->lock);
	t->req = req;
	t->fs = fuse_req_userdata(req);
	pthread_mutex_unlock(&t->lock);
	bramble_cancel_reset(t->cancel);
	t->pid = fuse_req_ctx(req)->pid;  /* 0: the kernel's own */
	t->deadline = request_deadline(t->fs, bounded);
	t->late = false;
	if (t->deadline && t->pid > 0) {
		int64_t kept = spent_deadline(t->pid);

		if (kept && kept < t->deadline) {
			t->deadline = kept;
			t->late = kept <= now_ns();
		}
	}
	bramble_deadline_set(t->deadline);
	fuse_req_interrupt_func(req, on_interrupt, t);
	return t;
}

static void scope_end(struct tok *t)
{
	pthread_mutex_lock(&t->lock);
	t->req = NULL;
	pthread_mutex_unlock(&t->lock);
	/* more than half its time used: the next request keeps the rest */
	if (t->deadline && t->pid > 0 && !t->late &&
	    t->deadline - now_ns() < (int64_t)(t->fs->opts.timeout * 1e9) / 2)
		spent_note(t->pid, t->deadline);
	bramble_deadline_set(0);  /* calls made off a request: their own */
}

/* Before the mount has its root (-o bg): wait for intr_set_ready(), up to
 * the request's deadline, or `timeout' for a request without one (for
 * ever when hard), interruptibly.  0 or -errno. */
static int gate_pass(struct bfs *fs)
{
	int64_t deadline = bramble_deadline();
	int rc = 0;

	if (atomic_load(&gate_open))
		return 0;
	if (deadline == 0)
		deadline = fs->opts.hard ? INT64_MAX : request_deadline(fs, true);
	pthread_mutex_lock(&gate_lock);
	while (!atomic_load(&gate_open)) {
		struct timespec ts;
		int64_t until = BR_MIN(deadline, now_ns() + 60 * INT64_C(1000000000));

		if (bramble_cancelled()) {
			rc = -EINTR;
			break;
		}
		if (now_ns() >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		ts.tv_sec = until / 1000000000;
		ts.tv_nsec = until % 1000000000;
		pthread_cond_timedwait(&gate_cond, &gate_lock, &ts);
	}
	pthread_mutex_unlock(&gate_lock);
	return rc;
}

/* The request never reached its handler: answer it here. */
static void gate_refuse(fuse_req_t req, int rc)
{
	if (rc == -ETIMEDOUT)
		log_warn_rl("server not reached yet: EIO");
	fuse_reply_err(req, bfs_errno(rc));
}

void intr_set_ready(void)
{
	pthread_once(&tok_once, tok_key_init);
	pthread_mutex_lock(&gate_lock);
	atomic_store(&gate_open, true);
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* w_OP: bind the token and the deadline (bounded: whether the request
 * has one), pass the gate, run the real handler. */
#define WRAP_B(op, bounded, params, args)                               \
	static void w_##op params                                       \
	{                                                               \
		struct tok *t = scope_begin(req, bounded);              \
		int rc = gate_pass(fuse_req_userdata(req));             \
                                                                        \
		if (rc < 0)                                             \
			gate_refuse(req, rc);                           \
		else                                                    \
			orig.op args;                                   \
		scope_end(t);                                           \
	}

#define WRAP(op, params, args) WRAP_B(op, true, params, args)

typedef struct fuse_file_info ffi;

WRAP(lookup, (fuse_req_t req, fuse_ino_t p, const char *n), (req, p, n))
WRAP(getattr, (fuse_req_t req, fuse_ino_t i, ffi *fi), (req, i, fi))
WRAP(setattr, (fuse_req_t req, fuse_ino_t i, struct stat *a, int s, ffi *fi),
     (req, i, a, s, fi))
WRAP(readlink, (fuse_req_t req, fuse_ino_t i), (req, i))
WRAP(mknod, (fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d),
     (req, p, n, m, d))
WRAP(mkdir, (fuse_req_t req, fuse_ino_t p, const char *n, mode_t m), (req, p, n, m))
WRAP(unlink, (fuse_req_t req, fuse_ino_t p, const char *n), (req, p, n))
WRAP(rmdir, (fuse_req_t req, fuse_ino_t p, const char *n), (req, p, n))
WRAP(symlink, (fuse_req_t req, const char *l, fuse_ino_t p, const char *n),
     (req, l, p, n))
WRAP(rename, (fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np,
	      const char *nn, unsigned int f), (req, p, n, np, nn, f))
WRAP(link, (fuse_req_t req, fuse_ino_t i, fuse_ino_t np, const char *nn),
     (req, i, np, nn))
WRAP(open, (fuse_req_t req, fuse_ino_t i, ffi *fi), (req, i, fi))
WRAP(read, (fuse_req_t req, fuse_ino_t i, size_t s, off_t o, ffi *fi),
     (req, i, s, o, fi))
WRAP(write, (fuse_req_t req, fuse_ino_t i, const char *b, size_t s, off_t o,
	     ffi *fi), (req, i, b, s, o, fi))
WRAP(flush, (fuse_req_t req, fuse_ino_t i, ffi *fi), (req, i, fi))
/* No process waits for a release (the kernel sends it after close()
 * returned): its calls (CLOSE, unlocks) keep their own deadlines, so a
 * long wait for write-behind does not cut them short. */
WRAP_B(release, false, (fuse_req_t req, fuse_ino_t i, ffi *fi), (req, i, fi))
WRAP(fsync, (fuse_req_t req, fuse_ino_t i, int d, ffi *fi), (req, i, d, fi))
WRAP(opendir, (fuse_req_t req, fuse_ino_t i, ffi *fi), (req, i, fi))
WRAP(readdir, (fuse_req_t req, fuse_ino_t i, size_t s, off_t o, ffi *fi),
     (req, i, s, o, fi))
WRAP(readdirplus, (fuse_req_t req, fuse_ino_t i, size_t s, off_t o, ffi *fi),
     (req, i, s, o, fi))
WRAP(releasedir, (fuse_req_t req, fuse_ino_t i, ffi *fi), (req, i, fi))
WRAP(fsyncdir, (fuse_req_t req, fuse_ino_t i, int d, ffi *fi), (req, i, d, fi))
WRAP(statfs, (fuse_req_t req, fuse_ino_t i), (req, i))
WRAP(setxattr, (fuse_req_t req, fuse_ino_t i, const char *n, const char *v,
		size_t s, int f), (req, i, n, v, s, f))
WRAP(getxattr, (fuse_req_t req, fuse_ino_t i, const char *n, size_t s),
     (req, i, n, s))
WRAP(listxattr, (fuse_req_t req, fuse_ino_t i, size_t s), (req, i, s))
WRAP(removexattr, (fuse_req_t req, fuse_ino_t i, const char *n), (req, i, n))
WRAP(access, (fuse_req_t req, fuse_ino_t i, int m), (req, i, m))
WRAP(create, (fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, ffi *fi),
     (req, p, n, m, fi))
WRAP(getlk, (fuse_req_t req, fuse_ino_t i, ffi *fi, struct flock *l),
     (req, i, fi, l))
/* A blocking lock waits for the holder as long as it takes (ops_lock.c
 * re-sends the call at each deadline): no deadline for the request. */
WRAP_B(setlk, !s || l->l_type == F_UNLCK,
       (fuse_req_t req, fuse_ino_t i, ffi *fi, struct flock *l, int s),
       (req, i, fi, l, s))
WRAP_B(flock, (o & LOCK_NB) || !(o & (LOCK_SH | LOCK_EX)),
       (fuse_req_t req, fuse_ino_t i, ffi *fi, int o), (req, i, fi, o))
WRAP(fallocate, (fuse_req_t req, fuse_ino_t i, int m, off_t o, off_t l, ffi *fi),
     (req, i, m, o, l, fi))
WRAP(copy_file_range, (fuse_req_t req, fuse_ino_t ii, off_t oi, ffi *fii,
		       fuse_ino_t io, off_t oo, ffi *fio, size_t l, int f),
     (req, ii, oi, fii, io, oo, fio, l, f))
WRAP(lseek, (fuse_req_t req, fuse_ino_t i, off_t o, int w, ffi *fi),
     (req, i, o, w, fi))

#define SET(op) (out->op = ops->op ? w_##op : NULL)

void intr_wrap_ops(const struct fuse_lowlevel_ops *ops,
		   struct fuse_lowlevel_ops *out, bool ready)
{
	pthread_once(&tok_once, tok_key_init);
	orig = *ops;
	*out = *ops;    /* init, destroy, forget*: no reply to wait for */
	atomic_store(&gate_open, ready);
	SET(lookup);
	SET(getattr);
	SET(setattr);
	SET(readlink);
	SET(mknod);
	SET(mkdir);
	SET(unlink);
	SET(rmdir);
	SET(symlink);
	SET(rename);
	SET(link);
	SET(open);
	SET(read);
	SET(write);
	SET(flush);
	SET(release);
	SET(fsync);
	SET(opendir);
	SET(readdir);
	SET(readdirplus);
	SET(releasedir);
	SET(fsyncdir);
	SET(statfs);
	SET(setxattr);
	SET(getxattr);
	SET(listxattr);
	SET(removexattr);
	SET(access);
	SET(create);
	SET(getlk);
	SET(setlk);
	SET(flock);
	SET(fallocate);
	SET(copy_file_range);
	SET(lseek);
}
