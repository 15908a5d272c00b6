/* conn.c - pipelined RPC connection (see conn.h for the contract). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bramble.h"
#include "conn.h"
#include "hashtab.h"
#include "log.h"
#include "proto.h"
#include "rpcmsg.h"
#include "xalloc.h"

#define BACKOFF_MIN_NS (100 * 1000000LL)
#define BACKOFF_MAX_NS (2000 * 1000000LL)
#define READ_CHUNK (256 * 1024)
/* Longest single poll(): an endless deadline must not overflow the int
 * (the callers loop until their real deadline). */
#define POLL_MAX_MS 60000

struct conn {
	pthread_mutex_t lock;
	pthread_mutex_t send_lock;
	pthread_cond_t work;       /* reader: a call arrived, or stop */
	pthread_t reader;
	bool reader_started;
	int wake_fd;               /* eventfd: bramble_cancel() wakes a polling caller */
	conn_dial_fn *dial;
	void *dial_ctx;
	_Atomic uint32_t xid;

	/* changed by the reader with both locks held: */
	int fd;
	uint64_t gen;              /* bumped on every new socket */

	/* protected by lock: */
	bool stopping;
	bool reading;              /* someone holds the read side (below) */
	struct hashtab pending;    /* calls waiting for a reply, by XID */
	uint64_t connects, resent, timeouts;

	/* The read side: used only by the thread that set `reading', which
	 * may be the reader thread or a caller waiting for its own reply. */
	struct rm_reader rm;
	uint64_t rm_gen;           /* the socket rm's partial record came from */
	char *chunk;

	/* Callbacks (conn_set_callback), set before the first call. */
	conn_cb_fn *cb_fn;
	void *cb_ctx;
};

static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000,
			       .tv_nsec = ns % 1000000000 };
	return ts;
}

/* poll() milliseconds until deadline_ns: 0 when it has passed, at least 1
 * otherwise, at most POLL_MAX_MS. */
static int poll_ms(int64_t deadline_ns)
{
	int64_t left = deadline_ns - now_ns();

	if (left <= 0)
		return 0;
	return (int)BR_MIN(left / 1000000 + 1, (int64_t)POLL_MAX_MS);
}

/* ---- cancel tokens (bramble.h; the locking is described in conn.h) */

struct bramble_cancel {
	pthread_mutex_t lock;
	atomic_bool cancelled;
	struct conn *conn;         /* protected by lock: where its call waits */
	struct conn_req *req;      /* protected by lock */
};

/* The token of the calling thread's calls. */
static __thread struct bramble_cancel *bound_token;

struct bramble_cancel *bramble_cancel_new(void)
{
	struct bramble_cancel *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	atomic_init(&t->cancelled, false);
	return t;
}

void bramble_cancel_free(struct bramble_cancel *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void bramble_cancel_bind(struct bramble_cancel *t)
{
	bound_token = t;
}

void bramble_cancel_reset(struct bramble_cancel *t)
{
	atomic_store(&t->cancelled, false);
}

bool bramble_cancelled(void)
{
	return bound_token && atomic_load(&bound_token->cancelled);
}

static bool req_cancelled(const struct conn_req *r)
{
	return r->cancel && atomic_load(&r->cancel->cancelled);
}

/* Wake req's wait: its condition variable, or its poll() if it may be the
 * caller reading for itself. */
static void conn_wake(struct conn *c, struct conn_req *req)
{
	uint64_t one = 1;

	pthread_mutex_lock(&c->lock);
	pthread_cond_signal(&req->cond);
	if (c->reading && write(c->wake_fd, &one, sizeof(one)) < 0)
		log_debug("cancel wake-up: %s", strerror(errno));
	pthread_mutex_unlock(&c->lock);
}

void bramble_cancel(struct bramble_cancel *t)
{
	atomic_store(&t->cancelled, true);
	pthread_mutex_lock(&t->lock);
	if (t->conn)
		conn_wake(t->conn, t->req);
	pthread_mutex_unlock(&t->lock);
}

/* Let bramble_cancel(t) find req waiting on c (c, req NULL: done). */
static void publish(struct bramble_cancel *t, struct conn *c,
		    struct conn_req *req)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->conn = c;
	t->req = req;
	pthread_mutex_unlock(&t->lock);
}

static void drain_wake(struct conn *c)
{
	uint64_t n;

	if (read(c->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("cancel wake-up: %s", strerror(errno));
}

/* ---- XID table (caller holds c->lock) */

/* XIDs are consecutive: as they are, they spread over the buckets
 * evenly, with no mixing. */
static uint64_t xid_hash(uint32_t xid)
{
	return xid;
}

static bool req_is(const struct hashtab_node *n, const void *xid)
{
	return HASHTAB_ENTRY(n, struct conn_req, hn)->xid == *(const uint32_t *)xid;
}

static struct conn_req *table_find(struct conn *c, uint32_t xid)
{
	struct hashtab_node *n = hashtab_find(&c->pending, xid_hash(xid), req_is, &xid);

	return n ? HASHTAB_ENTRY(n, struct conn_req, hn) : NULL;
}

static int wake_req(struct hashtab_node *n, void *unused)
{
	pthread_cond_signal(&HASHTAB_ENTRY(n, struct conn_req, hn)->cond);
	return 0;
}

static void wake_all_requests(struct conn *c)
{
	hashtab_foreach(&c->pending, wake_req, NULL);
}

/* ---- socket lifetime (reader thread) */

static void install_fd(struct conn *c, int fd)
{
	pthread_mutex_lock(&c->send_lock);
	pthread_mutex_lock(&c->lock);
	c->fd = fd;
	c->gen++;
	c->connects++;
	/* Each waiting caller re-sends its own record on the new socket. */
	wake_all_requests(c);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->send_lock);
}

static void drop_fd(struct conn *c)
{
	pthread_mutex_lock(&c->send_lock);
	pthread_mutex_lock(&c->lock);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->send_lock);
	/* The server's watch set of that connection is gone with it. */
	if (c->cb_fn)
		c->cb_fn(c->cb_ctx, NULL, 0);
}

/* Hand a complete reply record to its caller.  Replies nobody waits for
 * (the call timed out meanwhile) are dropped. */
static void deliver(struct conn *c, struct buf *rec)
{
	uint32_t xid;
	struct conn_req *r;

	if (rec->len < 4) {
		log_warn_rl("short RPC reply (%zu bytes) dropped", rec->len);
		return;
	}
	memcpy(&xid, rec->data, 4);
	xid = ntohl(xid);
	if (rec->len >= 8 && !memcmp(rec->data + 4, "\0\0\0\0", 4)) {
		/* msg_type CALL: a callback from the server. */
		if (c->cb_fn)
			c->cb_fn(c->cb_ctx, rec->data, rec->len);
		return;
	}
	pthread_mutex_lock(&c->lock);
	r = table_find(c, xid);
	if (r) {
		hashtab_remove(&c->pending, &r->hn);
		/* Swap, not copy: a READ reply is up to 1 MiB. */
		struct buf t = r->reply;

		r->reply = *rec;
		*rec = t;
		r->done = true;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&c->lock);
	if (!r)
		log_debug("reply for unknown xid %08x dropped", xid);
}

/* One receive on fd (socket generation gen) by the holder of the read
 * side: deliver every complete reply in it, keep a partial one for the
 * next receive.  With a deadline (a caller reading for itself), wait for
 * data at most until then.  Returns 0, -ETIMEDOUT (nothing arrived in
 * time; the socket is fine), or -EPIPE (the socket broke: drop it). */
static int read_some(struct conn *c, int fd, uint64_t gen, int64_t deadline_ns)
{
	ssize_t n;
	size_t off = 0;

	if (c->rm_gen != gen) {
		/* A partial record of an older socket means nothing here. */
		rm_reader_next(&c->rm);
		c->rm_gen = gen;
	}
	/* Try first: during a bulk transfer data is nearly always there, and
	 * a poll() before every receive would double the system calls. */
	n = recv(fd, c->chunk, READ_CHUNK, deadline_ns >= 0 ? MSG_DONTWAIT : 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		/* A caller's wait: bramble_cancel() may poke wake_fd. */
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = c->wake_fd, .events = POLLIN } };
		int ms = poll_ms(deadline_ns);
		int rc;

		if (ms == 0)
			return -ETIMEDOUT;
		rc = poll(p, 2, ms);
		if (rc > 0 && (p[1].revents & POLLIN))
			drain_wake(c);
		if (rc <= 0 || !p[0].revents)
			return rc == 0 ? -ETIMEDOUT : 0;
		n = recv(fd, c->chunk, READ_CHUNK, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
	}
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		if (n < 0)
			log_warn_rl("connection to server: %s", strerror(errno));
		return -EPIPE;
	}
	while (off < (size_t)n) {
		size_t used;
		int rc = rm_reader_feed(&c->rm, c->chunk + off, (size_t)n - off, &used);

		off += used;
		if (rc < 0) {
			log_warn_rl("reply record over %d bytes: closing connection",
				    BR_RECORD_MAX);
			return -EPIPE;
		}
		if (rc == 1) {
			deliver(c, &c->rm.rec);
			rm_reader_next(&c->rm);
		}
	}
	return 0;
}

/* Read for as long as somebody waits for a reply and no caller reads for
 * itself.  Called and returns with c->lock held; false when the socket
 * broke (it has been dropped). */
static bool read_while_needed(struct conn *c)
{
	while (!c->stopping && c->fd >= 0 && c->pending.count > 0 && !c->reading) {
		int fd = c->fd;
		uint64_t gen = c->gen;
		int rc;

		c->reading = true;
		pthread_mutex_unlock(&c->lock);
		rc = read_some(c, fd, gen, -1);
		if (rc == -EPIPE)
			drop_fd(c);  /* still reading: nobody else picks up fd */
		pthread_mutex_lock(&c->lock);
		c->reading = false;
		if (rc == -EPIPE)
			return false;
	}
	return true;
}

/* With callbacks and no call waiting: wait for the socket to have
 * something (a callback, or its end), then read what is there unless a
 * caller started reading meanwhile.  A caller that comes reads its own
 * reply as usual (this thread holds no read side while it polls) and
 * wakes it when done.  Called and returns with c->lock held. */
static void watch_idle(struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	uint64_t gen = c->gen;
	int rc;

	pthread_mutex_unlock(&c->lock);
	rc = poll(&p, 1, POLL_MAX_MS);
	pthread_mutex_lock(&c->lock);
	if (rc <= 0 || c->stopping || c->fd != p.fd || c->gen != gen)
		return;
	if (c->reading) {
		/* A caller reads: it signals `work' when it stops. */
		pthread_cond_wait(&c->work, &c->lock);
		return;
	}
	c->reading = true;
	pthread_mutex_unlock(&c->lock);
	rc = read_some(c, p.fd, gen, 0);
	if (rc == -EPIPE)
		drop_fd(c);  /* still reading: nobody else picks up fd */
	pthread_mutex_lock(&c->lock);
	c->reading = false;
	if (rc == -EPIPE && !c->stopping)
		log_info("connection to server lost; reconnecting when needed");
}

/* The reader thread reads replies whenever somebody waits and no caller
 * is reading for itself (a caller alone on the connection reads its own
 * reply: one thread wake-up less per call), and it reconnects. */
static void *reader_main(void *arg)
{
	struct conn *c = arg;
	int64_t backoff = BACKOFF_MIN_NS;
	bool had_conn = false;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		int fd = c->fd;

		if (fd >= 0) {
			had_conn = true;
			if (c->pending.count == 0 && !c->reading && c->cb_fn) {
				watch_idle(c);
				continue;
			}
			if (c->pending.count == 0 || c->reading) {
				/* Idle, or a caller reads: it wakes us when it
				 * stops while others still wait. */
				pthread_cond_wait(&c->work, &c->lock);
				continue;
			}
			if (!read_while_needed(c) && !c->stopping)
				log_info("connection to server lost; reconnecting when needed");
			continue;
		}
		if (c->pending.count == 0) {
			/* Nobody needs the server: do not hammer it. */
			pthread_cond_wait(&c->work, &c->lock);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		int rc = c->dial(c->dial_ctx, &fd);

		if (rc == 0) {
			install_fd(c, fd);
			if (had_conn)
				log_info("reconnected to server");
			backoff = BACKOFF_MIN_NS;
			pthread_mutex_lock(&c->lock);
			continue;
		}
		log_warn_rl("cannot connect to server: %s", strerror(-rc));
		pthread_mutex_lock(&c->lock);
		struct timespec ts = ns_to_ts(now_ns() + backoff);

		if (!c->stopping)
			pthread_cond_timedwait(&c->work, &c->lock, &ts);
		backoff = BR_MIN(backoff * 2, BACKOFF_MAX_NS);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- sending (caller threads) */

/* Write req's record on the socket of generation gen, within its
 * deadline.  A record cut short would desynchronise the stream, so then
 * the socket is shut down and the reader reconnects. */
static void send_req(struct conn *c, struct conn_req *req, uint64_t gen)
{
	size_t off = 0;

	pthread_mutex_lock(&c->send_lock);
	if (c->fd < 0 || c->gen != gen)
		goto out;  /* already replaced: the reader will wake us */
	while (off < req->call.len) {
		ssize_t n = send(c->fd, req->call.data + off, req->call.len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !req_cancelled(req)) {
			struct pollfd p[2] = { { .fd = c->fd, .events = POLLOUT },
					       { .fd = c->wake_fd, .events = POLLIN } };
			int ms = poll_ms(req->deadline_ns);

			if (ms > 0 && poll(p, 2, ms) >= 0) {
				if (p[1].revents & POLLIN)
					drain_wake(c);
				continue;
			}
			errno = EAGAIN;
		}
		/* Error, out of time or cancelled: break the connection if it
		 * now holds part of a record (the reader notices and
		 * reconnects). */
		if (off > 0 || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			shutdown(c->fd, SHUT_RDWR);
		break;
	}
out:
	pthread_mutex_unlock(&c->send_lock);
}

/* Read replies on the caller's own thread until req's arrives, its
 * deadline passes or it is cancelled (deliver() marks req done like any
 * other).  Then hand
 * the read side back, waking the reader thread if others still wait.
 * Called and returns with c->lock held. */
static void read_own_reply(struct conn *c, struct conn_req *req)
{
	int fd = c->fd;
	uint64_t gen = c->gen;
	int rc = 0;

	c->reading = true;
	for (;;) {
		pthread_mutex_unlock(&c->lock);
		rc = read_some(c, fd, gen, req->deadline_ns);
		if (rc == -EPIPE)
			drop_fd(c);  /* still reading: nobody else picks up fd */
		pthread_mutex_lock(&c->lock);  /* deliver() sets done under it */
		if (rc < 0 || req->done || req_cancelled(req))
			break;
	}
	c->reading = false;
	if (rc == -EPIPE)
		log_info("connection to server lost; reconnecting when needed");
	if (c->pending.count > 0 || c->fd < 0 || c->cb_fn)
		pthread_cond_signal(&c->work);
}

int conn_call(struct conn *c, struct conn_req *req)
{
	int rc = 0;

	cond_init_mono(&req->cond);
	req->done = false;
	req->sent_gen = 0;
	req->cancel = bound_token;
	buf_init(&req->reply, 0);

	publish(req->cancel, c, req);
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		rc = -ESHUTDOWN;
		goto out;
	}
	hashtab_insert(&c->pending, &req->hn, xid_hash(req->xid));
	if (c->fd < 0)
		pthread_cond_signal(&c->work);
	while (!req->done) {
		if (req_cancelled(req)) {
			rc = -EINTR;
			break;
		}
		if (c->fd >= 0 && req->sent_gen != c->gen) {
			uint64_t gen = c->gen;

			if (req->sent_gen)
				c->resent++;
			req->sent_gen = gen;
			pthread_mutex_unlock(&c->lock);
			send_req(c, req, gen);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (c->stopping) {
			rc = -ESHUTDOWN;
			break;
		}
		if (now_ns() >= req->deadline_ns) {
			c->timeouts++;
			rc = -ETIMEDOUT;
			break;
		}
		if (c->fd >= 0 && !c->reading && req->sent_gen == c->gen) {
			read_own_reply(c, req);
			continue;
		}
		struct timespec ts = ns_to_ts(req->deadline_ns);

		pthread_cond_timedwait(&req->cond, &c->lock, &ts);
	}
	if (!req->done)         /* else the reply took it out */
		hashtab_remove(&c->pending, &req->hn);
out:
	pthread_mutex_unlock(&c->lock);
	publish(req->cancel, NULL, NULL);  /* before req->cond goes */
	pthread_cond_destroy(&req->cond);
	if (rc < 0)
		buf_release(&req->reply);
	return rc;
}

/* ---- lifecycle */

uint32_t conn_next_xid(struct conn *c)
{
	return atomic_fetch_add(&c->xid, 1);
}

uint64_t conn_generation(struct conn *c)
{
	uint64_t gen;

	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return gen;
}

int conn_new(int fd, conn_dial_fn *dial, void *ctx, struct conn **out)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	uint32_t seed;
	int rc;

	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	cond_init_mono(&c->work);
	rm_reader_init(&c->rm, BR_RECORD_MAX);
	hashtab_init(&c->pending, 0);
	c->chunk = xmalloc(READ_CHUNK);
	c->dial = dial;
	c->dial_ctx = ctx;
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wake_fd < 0) {
		rc = -errno;
		c->fd = -1;
		conn_free(c);
		return rc;
	}
	c->fd = fd;
	c->gen = 1;
	c->connects = fd >= 0;
	/* A random start keeps a restarted client's XIDs from matching
	 * stale replies or a future duplicate-request cache's entries. */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint32_t)now_ns() ^ (uint32_t)getpid() << 16;
	atomic_init(&c->xid, seed);
	rc = -pthread_create(&c->reader, NULL, reader_main, c);
	if (rc < 0) {
		c->fd = -1;  /* the caller still owns fd on failure */
		conn_free(c);
		return rc;
	}
	c->reader_started = true;
	*out = c;
	return 0;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->send_lock);
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);  /* wakes the reader's recv */
	pthread_cond_broadcast(&c->work);
	wake_all_requests(c);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->send_lock);
	if (c->reader_started)
		pthread_join(c->reader, NULL);
	if (c->fd >= 0)
		close(c->fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	rm_reader_release(&c->rm);
	hashtab_release(&c->pending);
	free(c->chunk);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->send_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void conn_set_callback(struct conn *c, conn_cb_fn *fn, void *ctx)
{
	pthread_mutex_lock(&c->lock);
	c->cb_fn = fn;
	c->cb_ctx = ctx;
	pthread_cond_signal(&c->work);  /* start watching an idle socket */
	pthread_mutex_unlock(&c->lock);
}

void conn_get_counters(struct conn *c, struct conn_counters *out)
{
	pthread_mutex_lock(&c->lock);
	out->connects = c->connects;
	out->resent = c->resent;
	out->timeouts = c->timeouts;
	out->in_flight = (uint32_t)c->pending.count;
	out->connected = c->fd >= 0;
	pthread_mutex_unlock(&c->lock);
}
