/* lock.c - the lock manager (see lock.h). */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_prot.h"
#include "hashtab.h"
#include "lock.h"
#include "lockdb.h"
#include "log.h"
#include "pool.h"
#include "util.h"
#include "xalloc.h"

#define NS 1000000000LL

_Static_assert(LKR_POSIX == BR_LK_POSIX && LKR_FLOCK == BR_LK_FLOCK &&
	       LKR_READ == BR_LOCK_READ && LKR_WRITE == BR_LOCK_WRITE &&
	       LKR_UNLOCK == BR_LOCK_UNLOCK, "lkrange.h out of date");


struct lfile {
	struct hashtab_node hn;        /* in lockmgr.files, by (dev, ino) */
	uint64_t dev, ino;
	struct lkr_set locks;
	unsigned int nwaiters;
};

struct waiter {
	struct waiter *prev, *next;    /* m->waiters, oldest first */
	struct lfile *f;
	struct lkr lk;
	struct job *job;
	const void *conn;
};

struct lclient {
	struct lclient *next;
	uint64_t id;
	unsigned int nconns;
	int64_t gone_ns;               /* when nconns last fell to 0 */
	bool stored;                   /* listed in the database */
	bool reclaiming;               /* listed at start, not done yet */
};

struct lockmgr {
	pthread_mutex_t lock;
	struct lock_opts o;
	lock_reply_fn *reply;
	struct lockdb *db;             /* NULL: nothing kept */
	/* protected by lock: */
	struct hashtab files;          /* struct lfile */
	size_t nlocks;
	struct waiter *wait_head, *wait_tail;
	size_t nwaiters;
	struct lclient *clients;
	bool grace;
	int64_t grace_end_ns;
	unsigned int pending;          /* clients still reclaiming */
	struct pool *pool;             /* NULL before start / after stop */
	/* loop thread: */
	struct ev_loop *loop;
	ev_timer sweep_w;
};

/* ---- files */

static uint64_t file_hash(uint64_t dev, uint64_t ino)
{
	return hash_u64(hash_u64(dev) ^ ino);
}

static bool file_is(const struct hashtab_node *n, const void *key)
{
	const struct lfile *f = HASHTAB_ENTRY(n, struct lfile, hn);
	const uint64_t *k = key;       /* dev, ino */

	return f->dev == k[0] && f->ino == k[1];
}

static struct lfile *file_get(struct lockmgr *m, uint64_t dev, uint64_t ino,
			      bool create)
{
	const uint64_t key[2] = { dev, ino };
	uint64_t h = file_hash(dev, ino);
	struct hashtab_node *n = hashtab_find(&m->files, h, file_is, key);
	struct lfile *f;

	if (n)
		return HASHTAB_ENTRY(n, struct lfile, hn);
	if (!create)
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->dev = dev;
	f->ino = ino;
	hashtab_insert(&m->files, &f->hn, h);
	return f;
}

static void file_free(struct lockmgr *m, struct lfile *f)
{
	hashtab_remove(&m->files, &f->hn);
	lkr_set_release(&f->locks);
	free(f);
}

/* Free f when nothing refers to it any more. */
static void file_put(struct lockmgr *m, struct lfile *f)
{
	if (!f->locks.n && !f->nwaiters)
		file_free(m, f);
}

/* Apply a change to f's set, keeping the table's count. */
static void file_apply(struct lockmgr *m, struct lfile *f, const struct lkr *lk)
{
	size_t before = f->locks.n;

	lkr_apply(&f->locks, lk);
	m->nlocks = m->nlocks - before + f->locks.n;
}

/* ---- clients */

static struct lclient *client_get(struct lockmgr *m, uint64_t id, bool create)
{
	struct lclient *c;

	for (c = m->clients; c; c = c->next)
		if (c->id == id)
			return c;
	if (!create)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->id = id;
	c->gone_ns = now_ns();
	c->next = m->clients;
	m->clients = c;
	return c;
}

/* A client holding a lock is listed, so a restart waits for it. */
static void client_store(struct lockmgr *m, uint64_t id)
{
	struct lclient *c = client_get(m, id, true);
	int rc;

	if (c->stored || !m->db)
		return;
	rc = lockdb_add(m->db, id);
	if (rc < 0)
		log_warn_rl("cannot record lock client %016" PRIx64 ": %s (its locks "
			    "will not be reclaimable after a restart)", id, strerror(-rc));
	else
		c->stored = true;
}

static void reclaim_done(struct lockmgr *m, struct lclient *c)
{
	if (!c->reclaiming)
		return;
	c->reclaiming = false;
	m->pending--;
}

/* ---- waiters */

static void waiter_unlink(struct lockmgr *m, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		m->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		m->wait_tail = w->prev;
	m->nwaiters--;
	w->f->nwaiters--;
}

/* End w's call with rc (0: granted) and hand its job back to the loop.
 * The caller then file_put()s w->f. */
static void waiter_finish(struct lockmgr *m, struct waiter *w, int rc)
{
	waiter_unlink(m, w);
	m->reply(w->job, rc, NULL, false);
	if (m->pool)
		pool_complete(m->pool, w->job);
	else
		job_free(w->job);
	free(w);
}

/* Grant what can be granted among f's waiters, oldest first. */
static void file_wake(struct lockmgr *m, struct lfile *f)
{
	struct waiter *w = m->wait_head;

	while (w && f->nwaiters) {
		struct waiter *next = w->next;

		if (w->f == f && !m->grace && !lkr_conflict(&f->locks, &w->lk) &&
		    m->nlocks < LOCK_MAX) {
			file_apply(m, f, &w->lk);
			client_store(m, w->lk.client);
			waiter_finish(m, w, 0);
		}
		w = next;
	}
}

/* hashtab_foreach: file_wake() every file. */
static int file_wake_each(struct hashtab_node *n, void *arg)
{
	file_wake(arg, HASHTAB_ENTRY(n, struct lfile, hn));
	return 0;
}

/* hashtab_foreach: free every file (lockmgr_free()). */
static int file_free_each(struct hashtab_node *n, void *arg)
{
	file_free(arg, HASHTAB_ENTRY(n, struct lfile, hn));
	return 0;
}

/* End f's waits of who's owner (any owner of who's client if all) that
 * overlap [who->start, who->end]; reason -EINTR. */
static void cancel_waits(struct lockmgr *m, struct lfile *f, const struct lkr *who,
			 bool all)
{
	struct waiter *w = m->wait_head;

	while (w && f->nwaiters) {
		struct waiter *next = w->next;
		bool mine = all ? w->lk.client == who->client : lkr_same_owner(&w->lk, who);

		if (w->f == f && mine &&
		    (all || who->kind == LKR_FLOCK ||
		     (w->lk.start <= who->end && who->start <= w->lk.end)))
			waiter_finish(m, w, -EINTR);
		w = next;
	}
}

/* A client re-issuing its wait (its call ran out of time) replaces the
 * one before: the same owner, range and type on the same connection.
 * The old call's answer (EAGAIN) goes to an XID nobody waits for -- or,
 * should two threads of one owner wait for the very same range, to the
 * other thread, which then polls (lock.h). */
static void replace_wait(struct lockmgr *m, struct lfile *f, const struct lock_call *c)
{
	struct waiter *w = m->wait_head;

	while (w && f->nwaiters) {
		struct waiter *next = w->next;

		if (w->f == f && w->conn == c->conn && lkr_same_owner(&w->lk, &c->lk) &&
		    w->lk.type == c->lk.type && w->lk.start == c->lk.start &&
		    w->lk.end == c->lk.end)
			waiter_finish(m, w, -EAGAIN);
		w = next;
	}
}

static unsigned int conn_waiters(struct lockmgr *m, const void *conn)
{
	unsigned int n = 0;

	for (struct waiter *w = m->wait_head; w; w = w->next)
		n += w->conn == conn;
	return n;
}

static void park(struct lockmgr *m, struct lfile *f, const struct lock_call *c)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->f = f;
	w->lk = c->lk;
	w->job = c->job;
	w->conn = c->conn;
	w->prev = m->wait_tail;
	if (m->wait_tail)
		m->wait_tail->next = w;
	else
		m->wait_head = w;
	m->wait_tail = w;
	m->nwaiters++;
	f->nwaiters++;
}

/* ---- calls */

static void fill_holder(const struct lkr *l, const struct lock_call *c,
			struct lkr *holder, bool *same_client)
{
	*holder = *l;
	*same_client = l->client == c->lk.client;
}

static int do_unlock(struct lockmgr *m, struct lfile *f, const struct lock_call *c)
{
	bool all = (c->flags & BR_LOCK_ALL) != 0;

	cancel_waits(m, f, &c->lk, all);
	if (c->flags & BR_LOCK_WAIT)
		return 0;          /* cancel only: the interrupted waiter's */
	if (all) {
		size_t n = lkr_drop(&f->locks, c->lk.client, true, 0);

		m->nlocks -= n;
	} else {
		file_apply(m, f, &c->lk);
	}
	file_wake(m, f);
	return 0;
}

static int do_lock(struct lockmgr *m, struct lfile *f, const struct lock_call *c,
		   struct lkr *holder, bool *same_client)
{
	const struct lkr *l;

	if (c->lk.kind == LKR_FLOCK && !c->test) {
		struct lkr un = c->lk;
		size_t before = f->locks.n;

		if (lkr_holds(&f->locks, &c->lk))
			return 0;
		/* Linux drops the old flock lock before it tests (or waits):
		 * a conversion is not atomic. */
		un.type = LKR_UNLOCK;
		file_apply(m, f, &un);
		if (f->locks.n != before)
			file_wake(m, f);
	}
	l = lkr_conflict(&f->locks, &c->lk);
	if (c->test) {
		if (l)
			fill_holder(l, c, holder, same_client);
		else
			holder->type = LKR_UNLOCK;
		return 0;
	}
	if (l) {
		fill_holder(l, c, holder, same_client);
		if (c->flags & BR_LOCK_RECLAIM)
			log_warn_rl("client %016" PRIx64 " cannot reclaim a lock on inode "
				    "%" PRIu64 ": another client holds it now",
				    c->lk.client, f->ino);
		if (!(c->flags & BR_LOCK_WAIT) || !c->job ||
		    conn_waiters(m, c->conn) >= LOCK_WAITERS_PER_CONN)
			return -EAGAIN;
		replace_wait(m, f, c);
		park(m, f, c);
		return LOCK_PARKED;
	}
	if (m->nlocks + 2 > LOCK_MAX)
		return -ENOLCK;
	file_apply(m, f, &c->lk);
	client_store(m, c->lk.client);
	return 0;
}

int lockmgr_call(struct lockmgr *m, const struct lock_call *c,
		 struct lkr *holder, bool *same_client)
{
	bool unlock = c->lk.type == LKR_UNLOCK;
	bool reclaim = (c->flags & BR_LOCK_RECLAIM) != 0;
	struct lfile *f;
	int rc;

	holder->type = LKR_UNLOCK;
	*same_client = false;
	if (c->lk.kind > LKR_FLOCK || c->lk.type < LKR_READ || c->lk.type > LKR_UNLOCK ||
	    (c->test && unlock) || c->lk.start > c->lk.end)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (unlock && reclaim && (c->flags & BR_LOCK_ALL)) {
		struct lclient *cl = client_get(m, c->lk.client, false);

		if (cl && cl->reclaiming) {
			reclaim_done(m, cl);
			log_info("client %016" PRIx64 " has reclaimed its locks%s",
				 cl->id, m->grace && !m->pending ? ": grace ends" : "");
		}
		if (m->grace && !m->pending)
			m->grace = false;
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	if (m->grace && !unlock && !reclaim) {
		pthread_mutex_unlock(&m->lock);
		return -LOCK_EGRACE;
	}
	f = file_get(m, c->dev, c->ino, !unlock);
	if (!f) {
		pthread_mutex_unlock(&m->lock);
		return 0;          /* nothing held, nothing waits */
	}
	if (unlock)
		rc = do_unlock(m, f, c);
	else
		rc = do_lock(m, f, c, holder, same_client);
	file_put(m, f);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- leases and grace */

/* Forget client c: its locks go, its waiters end, its row too. */
struct expiry {
	struct lockmgr *m;
	struct lclient *c;
	size_t dropped;
};

/* hashtab_foreach: drop the gone client's locks and waits on one file. */
static int file_expire(struct hashtab_node *n, void *arg)
{
	struct expiry *x = arg;
	struct lfile *f = HASHTAB_ENTRY(n, struct lfile, hn);
	struct lkr who = { .client = x->c->id };
	size_t k = lkr_drop(&f->locks, x->c->id, true, 0);

	x->m->nlocks -= k;
	x->dropped += k;
	cancel_waits(x->m, f, &who, true);
	if (k)
		file_wake(x->m, f);
	file_put(x->m, f);
	return 0;
}

static void client_expire(struct lockmgr *m, struct lclient *c)
{
	struct expiry x = { m, c, 0 };
	size_t dropped;

	hashtab_foreach(&m->files, file_expire, &x);
	dropped = x.dropped;
	if (dropped || c->reclaiming)
		log_info("client %016" PRIx64 " gone for %us: %zu lock%s released",
			 c->id, m->o.lease_sec, dropped, dropped == 1 ? "" : "s");
	reclaim_done(m, c);
	if (c->stored && m->db)
		lockdb_del(m->db, c->id);
	if (m->o.client_gone)
		m->o.client_gone(m->o.client_gone_arg, c->id);
}

void lockmgr_sweep(struct lockmgr *m, int64_t now)
{
	struct lclient **p;

	pthread_mutex_lock(&m->lock);
	p = &m->clients;
	while (*p) {
		struct lclient *c = *p;

		if (c->nconns == 0 && now - c->gone_ns >= (int64_t)m->o.lease_sec * NS) {
			*p = c->next;
			client_expire(m, c);
			free(c);
		} else {
			p = &c->next;
		}
	}
	if (m->grace && (m->pending == 0 || now >= m->grace_end_ns)) {
		m->grace = false;
		log_info("lock grace period over%s",
			 m->pending ? " (some clients did not come back)" : "");
		/* Waits parked before?  None: grace refuses them.  But a
		 * reclaim may have left waiters of other kinds; wake all. */
		hashtab_foreach(&m->files, file_wake_each, m);
	}
	pthread_mutex_unlock(&m->lock);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lockmgr *m = container_of(w, struct lockmgr, sweep_w);

	(void)loop;
	(void)revents;
	lockmgr_sweep(m, now_ns());
}

void lockmgr_client_expect(struct lockmgr *m, uint64_t client)
{
	pthread_mutex_lock(&m->lock);
	client_get(m, client, true);
	pthread_mutex_unlock(&m->lock);
}

void lockmgr_client_attach(struct lockmgr *m, uint64_t client)
{
	pthread_mutex_lock(&m->lock);
	client_get(m, client, true)->nconns++;
	pthread_mutex_unlock(&m->lock);
}

void lockmgr_client_detach(struct lockmgr *m, uint64_t client)
{
	struct lclient *c;

	pthread_mutex_lock(&m->lock);
	c = client_get(m, client, false);
	if (c && c->nconns > 0 && --c->nconns == 0)
		c->gone_ns = now_ns();
	pthread_mutex_unlock(&m->lock);
}

void lockmgr_conn_keepalive(const struct lockmgr *m, int fd)
{
	int one = 1;
	int idle = (int)BR_MAX(m->o.lease_sec / 2, 1u);
	int intvl = (int)BR_MAX(m->o.lease_sec / 4, 1u);
	int cnt = 3;
	/* Data unacknowledged that long: the peer is gone.  Not below a
	 * minute, or a client busy for a moment (full window) would be cut. */
	unsigned int user_ms = BR_MAX(m->o.lease_sec, 60u) * 1000;

	/* Best effort: a socket that refuses keeps the default behaviour. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms));
}

void lockmgr_conn_closed(struct lockmgr *m, const void *conn)
{
	struct waiter *w;

	pthread_mutex_lock(&m->lock);
	w = m->wait_head;
	while (w) {
		struct waiter *next = w->next;
		struct lfile *f = w->f;

		if (w->conn == conn) {
			waiter_finish(m, w, -EINTR);
			/* next may be f's only other waiter: f lives on then */
			file_put(m, f);
		}
		w = next;
	}
	pthread_mutex_unlock(&m->lock);
}

unsigned int lockmgr_grace_left(struct lockmgr *m)
{
	int64_t left;

	pthread_mutex_lock(&m->lock);
	left = m->grace ? m->grace_end_ns - now_ns() : 0;
	pthread_mutex_unlock(&m->lock);
	return left > 0 ? (unsigned int)((left + NS - 1) / NS) : 0;
}

void lockmgr_counts(struct lockmgr *m, size_t *locks, size_t *waiters)
{
	pthread_mutex_lock(&m->lock);
	*locks = m->nlocks;
	*waiters = m->nwaiters;
	pthread_mutex_unlock(&m->lock);
}

/* ---- lifecycle */

static int load_clients(struct lockmgr *m, char *err, size_t errlen)
{
	uint64_t *ids;
	size_t n;
	int rc = lockdb_load(m->db, &ids, &n);

	if (rc < 0) {
		snprintf(err, errlen, "cannot read the lock clients in '%s': %s",
			 m->o.db_path, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct lclient *c = client_get(m, ids[i], true);

		c->stored = true;
		c->reclaiming = true;
		/* Its lease counts from the end of grace: it cannot have
		 * come back before this server started. */
		c->gone_ns = now_ns() + (int64_t)m->o.grace_sec * NS;
		m->pending++;
	}
	free(ids);
	if (m->pending && m->o.grace_sec) {
		m->grace = true;
		m->grace_end_ns = now_ns() + (int64_t)m->o.grace_sec * NS;
		log_info("%u client%s held locks before this start: grace for "
			 "reclaims, at most %us", m->pending, m->pending == 1 ? "" : "s",
			 m->o.grace_sec);
	}
	return 0;
}

int lockmgr_new(const struct lock_opts *o, lock_reply_fn *reply,
		struct lockmgr **out, char *err, size_t errlen)
{
	struct lockmgr *m = xcalloc(1, sizeof(*m));
	int rc = 0;

	pthread_mutex_init(&m->lock, NULL);
	hashtab_init(&m->files, 0);
	m->o = *o;
	m->reply = reply;
	if (o->db_path) {
		rc = lockdb_open(o->db_path, &m->db, err, errlen);
		if (rc == 0)
			rc = load_clients(m, err, errlen);
	}
	m->o.db_path = NULL;            /* borrowed for the load only */
	if (rc < 0) {
		lockmgr_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void lockmgr_start(struct lockmgr *m, struct ev_loop *loop, struct pool *pool)
{
	double every = m->o.lease_sec / 4.0;

	if (every > 1.0)
		every = 1.0;
	if (every < 0.1)
		every = 0.1;
	pthread_mutex_lock(&m->lock);
	m->pool = pool;
	pthread_mutex_unlock(&m->lock);
	m->loop = loop;
	ev_timer_init(&m->sweep_w, sweep_cb, every, every);
	ev_timer_start(loop, &m->sweep_w);
}

void lockmgr_stop(struct lockmgr *m)
{
	if (!m || !m->loop)
		return;
	ev_timer_stop(m->loop, &m->sweep_w);
	m->loop = NULL;
	pthread_mutex_lock(&m->lock);
	m->pool = NULL;
	while (m->wait_head) {
		struct waiter *w = m->wait_head;
		struct lfile *f = w->f;

		waiter_unlink(m, w);
		job_free(w->job);
		free(w);
		file_put(m, f);
	}
	pthread_mutex_unlock(&m->lock);
}

void lockmgr_free(struct lockmgr *m)
{
	if (!m)
		return;
	lockmgr_stop(m);
	while (m->wait_head) {
		struct waiter *w = m->wait_head;

		waiter_unlink(m, w);
		job_free(w->job);
		free(w);
	}
	hashtab_foreach(&m->files, file_free_each, m);
	hashtab_release(&m->files);
	while (m->clients) {
		struct lclient *c = m->clients;

		m->clients = c->next;
		free(c);
	}
	lockdb_close(m->db);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
