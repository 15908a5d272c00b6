/* conn.c - reading, deframing, replying: one client connection. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "dispatch.h"
#include "drc.h"
#include "linkrate.h"
#include "lock.h"
#include "log.h"
#include "netaddr.h"
#include "peers.h"
#include "proto.h"
#include "stats.h"
#include "watch.h"
#include "xalloc.h"

#define CONN_IOV 64

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void process_input(struct conn *c);

/* The counters (stats.h); unit tests may run a set without a service. */
static struct stats *set_stats(const struct conn_set *set)
{
	return set->svc ? set->svc->stats : NULL;
}

struct conn *conn_new(struct conn_set *set, int fd, const struct sockaddr *peer)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int one = 1;
	int port = netaddr_port(peer);

	c->set = set;
	c->fd = fd;
	c->id = ++set->next_id;
	c->in = xmalloc(CONN_INBUF);
	rm_reader_init(&c->rd, BR_RECORD_MAX);
	auth_sessions_init(&c->auth);
	netaddr_format(peer, c->peer, sizeof(c->peer));
	memcpy(&c->peer_sa, peer, peer->sa_family == AF_INET6 ?
	       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	c->privileged = port >= 0 && port < 1024;
	if (set->svc && set->svc->watch)
		c->wc = watch_client_new(set->svc->watch, c);
	c->last_active = ev_now(set->loop);
	/* Replies are whole records written at once: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_init(&c->rw, read_cb, fd, EV_READ);
	ev_io_init(&c->ww, write_cb, fd, EV_WRITE);
	c->next = set->head;
	if (set->head)
		set->head->prev = c;
	set->head = c;
	set->count++;
	ev_io_start(set->loop, &c->rw);
	stats_conn_open(set_stats(set));
	log_debug("connection from %s", c->peer);
	return c;
}

static void conn_free(struct conn *c)
{
	struct conn_set *set = c->set;

	if (c->prev)
		c->prev->next = c->next;
	else
		set->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	set->count--;
	rm_reader_release(&c->rd);
	auth_sessions_release(&c->auth);
	watch_client_unref(c->wc);
	free(c->in);
	free(c);
}

/* c's unfinished record now holds n bytes: keep the set's sum. */
static void account_partial(struct conn *c, size_t n)
{
	c->set->partial_bytes = c->set->partial_bytes - c->partial + n;
	c->partial = n;
}

static void conn_close(struct conn *c)
{
	struct ev_loop *loop = c->set->loop;

	if (c->dead)
		return;
	c->dead = true;
	account_partial(c, 0);
	ev_io_stop(loop, &c->rw);
	ev_io_stop(loop, &c->ww);
	close(c->fd);
	c->fd = -1;
	stats_conn_closed(set_stats(c->set));
	/* What it watched is forgotten: its client forgets it too. */
	watch_client_close(c->wc);
	/* A node is a peer only while it is connected (peers.h). */
	if (c->set->svc && c->set->svc->peers)
		peers_conn_gone(c->set->svc->peers, c->id);
	/* Replies not yet written go with the socket. */
	while (c->out_head) {
		struct job *j = c->out_head;

		c->out_head = j->next;
		job_free(j);
		c->inflight--;
	}
	c->out_tail = NULL;
	/* Lock waits of this connection end; its client's lease starts. */
	if (c->set->svc && c->set->svc->locks) {
		lockmgr_conn_closed(c->set->svc->locks, c);
		if (c->has_client)
			lockmgr_client_detach(c->set->svc->locks, c->client_id);
	}
	log_debug("connection from %s closed", c->peer);
}

/* Called at the end of every callback, never in the middle of one: a
 * connection is freed only when no frame below still uses it, and not
 * while it is on the dirty list (flush_cb reaps it then). */
static void conn_reap(struct conn *c)
{
	if (c->dead && c->inflight == 0 && !c->dirty)
		conn_free(c);
}

/* Read while there is room for more calls and nothing left unparsed. */
static void update_io(struct conn *c)
{
	struct ev_loop *loop = c->set->loop;
	bool want_read = !c->dead && c->inflight < CONN_INFLIGHT_MAX &&
			 c->in_off == c->in_len;

	if (c->dead)
		return;
	if (want_read && !ev_is_active(&c->rw))
		ev_io_start(loop, &c->rw);
	else if (!want_read && ev_is_active(&c->rw))
		ev_io_stop(loop, &c->rw);
	/* A dirty connection has not tried to write yet: flush_cb will. */
	if (c->dirty)
		return;
	if (c->out_head && !ev_is_active(&c->ww))
		ev_io_start(loop, &c->ww);
	else if (!c->out_head && ev_is_active(&c->ww))
		ev_io_stop(loop, &c->ww);
}

/* The link's speed (conn.h), from the kernel's delivery-rate samples, at
 * most every CONN_LINK_SAMPLE_NS while replies go out.  A sample that
 * was app-limited (we had too little to send) is a lower bound: it may
 * raise the figure, not lower it. */
static void link_sample(struct conn *c)
{
	int64_t now = now_ns();
	uint64_t bps;
	bool app_limited;

	if (now - c->link_t < CONN_LINK_SAMPLE_NS)
		return;
	c->link_t = now;
	if (linkrate_get(c->fd, &bps, &app_limited) < 0 || bps == 0)
		return;
	/* A moving average: a shaped link lets short bursts through at
	 * the wire's speed, and one such sample must not decide. */
	if (!app_limited || bps > c->link_bps)
		c->link_bps = c->link_bps ? (3 * c->link_bps + bps) / 4 : bps;
}

/* Write as much output as the socket takes. */
static void flush(struct conn *c)
{
	while (!c->dead && c->out_head) {
		struct iovec iov[CONN_IOV];
		int n = 0;
		ssize_t w;

		for (struct job *j = c->out_head; j && n < CONN_IOV; j = j->next, n++) {
			iov[n].iov_base = j->reply.data + j->sent;
			iov[n].iov_len = j->reply.len - j->sent;
		}
		w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_debug("write to %s: %s", c->peer, strerror(errno));
			conn_close(c);
			return;
		}
		c->last_active = ev_now(c->set->loop);
		link_sample(c);
		while (w > 0) {
			struct job *j = c->out_head;
			size_t left = j->reply.len - j->sent;

			if ((size_t)w < left) {
				j->sent += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			c->out_head = j->next;
			if (!c->out_head)
				c->out_tail = NULL;
			job_free(j);
			c->inflight--;
		}
	}
}

/* Queue a reply record (the job owns it); flush_cb writes it before the
 * loop next polls, together with any other reply queued meanwhile. */
static void send_job(struct conn *c, struct job *j)
{
	/* A call of a known procedure (t0_ns set), not a MUNGE credential
	 * check: its latency ends here (stats.h). */
	if (j->t0_ns && !j->grant)
		stats_call(set_stats(c->set), j->proc, j->failed, j->in_len,
			   j->reply.len, now_ns() - j->t0_ns);
	j->next = NULL;
	j->sent = 0;
	if (c->out_tail)
		c->out_tail->next = j;
	else
		c->out_head = j;
	c->out_tail = j;
	if (!c->dirty && !ev_is_active(&c->ww)) {
		/* (With EV_WRITE watched, the socket is full: write_cb.) */
		c->dirty = true;
		c->dirty_next = c->set->dirty;
		c->set->dirty = c;
	}
}

/* Queue a call's reply, then the callback records for this same
 * connection that must follow it (watch.h: j->trail). */
static void send_reply(struct conn *c, struct job *j)
{
	struct job *t = NULL;

	if (j->trail.len) {
		t = job_new();
		buf_release(&t->reply);
		t->reply = j->trail;
		buf_init(&j->trail, 0);
		t->conn = c;
		c->inflight++;
	}
	send_job(c, j);
	if (t)
		send_job(c, t);
}

/* watch_send_fn (any thread): a CB_CHANGED record for wc's connection
 * travels the done-list like a reply, so it is queued before the reply
 * of the call that made the change, which the same worker completes
 * afterwards. */
static void queue_callback(void *ctx, struct watch_client *wc, struct buf *rec)
{
	struct conn_set *set = ctx;
	struct job *j = job_new();

	buf_release(&j->reply);
	j->reply = *rec;
	buf_init(rec, 0);
	j->wc = wc;                 /* the reference the sender gave */
	j->callback = true;
	pool_complete(set->pool, j);
}

/* Loop thread: a callback record off the done-list.  Written at once, not
 * at the next flush: the reply that follows it on the done-list must not
 * reach its (other) client first. */
static void deliver_callback(struct job *j)
{
	struct conn *c = watch_client_conn(j->wc);

	if (!c || c->dead) {
		job_free(j);
		return;
	}
	c->inflight++;
	send_job(c, j);
	if (!ev_is_active(&c->ww))
		flush(c);
	update_io(c);
	conn_reap(c);
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct conn_set *set = container_of(w, struct conn_set, flush_w);

	(void)loop;
	(void)revents;
	while (set->dirty) {
		struct conn *c = set->dirty;

		set->dirty = c->dirty_next;
		c->dirty = false;
		flush(c);
		/* Replies went out: calls held back by the cap may go on.
		 * Inline answers re-dirty c; the loop goes round again. */
		process_input(c);
		update_io(c);
		conn_reap(c);
	}
}

/* Close c if it broke a timeout (conn.h).  True if it did. */
static bool expired(struct conn *c, ev_tstamp now)
{
	struct conn_set *set = c->set;

	if (c->dead)
		return false;
	if (set->request_timeout > 0 && c->rec_start > 0 &&
	    now - c->rec_start >= set->request_timeout) {
		log_warn_rl("%s sent part of a request and not the rest in %g s: "
			    "closing the connection", c->peer, set->request_timeout);
		return true;
	}
	if (set->idle_timeout > 0 && c->inflight == 0 && !c->out_head &&
	    c->rec_start == 0 && c->in_off == c->in_len &&
	    now - c->last_active >= set->idle_timeout) {
		log_debug("connection from %s idle for %g s: closing it", c->peer,
			  set->idle_timeout);
		return true;
	}
	return false;
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_set *set = container_of(w, struct conn_set, sweep_w);
	ev_tstamp now = ev_now(loop);
	struct conn *c, *next;

	(void)revents;
	for (c = set->head; c; c = next) {
		next = c->next;
		if (expired(c, now)) {
			conn_close(c);
			conn_reap(c);  /* freed now unless jobs are still out */
		}
	}
}

void conn_set_start(struct conn_set *set)
{
	double t = 0;

	if (set->svc && set->svc->watch)
		watch_set_sender(set->svc->watch, queue_callback, set);
	ev_prepare_init(&set->flush_w, flush_cb);
	ev_prepare_start(set->loop, &set->flush_w);
	/* A few visits per timeout: a connection is closed at most a
	 * quarter late. */
	if (set->idle_timeout > 0)
		t = set->idle_timeout;
	if (set->request_timeout > 0 && (t == 0 || set->request_timeout < t))
		t = set->request_timeout;
	ev_timer_init(&set->sweep_w, sweep_cb, 0., 0.);
	if (t > 0) {
		t = BR_MAX(0.05, BR_MIN(t / 4, 5.0));
		ev_timer_set(&set->sweep_w, t, t);
		ev_timer_start(set->loop, &set->sweep_w);
	}
}

/* Answer a call without the pool: NULL and protocol errors.  Counted in
 * inflight like any call until written, so a flood of bad calls is
 * throttled the same way. */
static struct job *inline_job(struct conn *c)
{
	struct job *j = job_new();

	j->conn = c;
	c->inflight++;
	return j;
}

static void handle_record(struct conn *c)
{
	struct rpc_call call;
	struct auth_who who;
	enum auth_stat ast;
	bool verify;
	struct job *j;
	size_t len;
	char *rec;

	switch (rpcmsg_decode_call(c->rd.rec.data, c->rd.rec.len, &call)) {
	case RPCMSG_CALL_OK:
		break;
	case RPCMSG_CALL_GARBAGE:
		log_warn_rl("garbage from %s: closing the connection", c->peer);
		conn_close(c);
		return;
	case RPCMSG_CALL_NOT_CALL:
		log_warn_rl("non-call message from %s ignored", c->peer);
		return;
	case RPCMSG_CALL_RPC_MISMATCH:
		j = inline_job(c);
		rpcmsg_reply_denied(&j->reply, call.xid, RPC_MISMATCH, 0);
		send_job(c, j);
		return;
	case RPCMSG_CALL_BADCRED:
		j = inline_job(c);
		rpcmsg_reply_denied(&j->reply, call.xid, AUTH_ERROR, AUTH_BADCRED);
		send_job(c, j);
		return;
	case RPCMSG_CALL_BADVERF:
		j = inline_job(c);
		rpcmsg_reply_denied(&j->reply, call.xid, AUTH_ERROR, AUTH_BADVERF);
		send_job(c, j);
		return;
	}

	j = inline_job(c);
	j->in_len = (uint32_t)c->rd.rec.len + 4;  /* + the record mark */
	if (call.prog != BR_PROGRAM) {
		rpcmsg_reply_accept_err(&j->reply, call.xid, PROG_UNAVAIL, 0, 0);
	} else if (call.vers != BR_VERSION) {
		rpcmsg_reply_accept_err(&j->reply, call.xid, PROG_MISMATCH,
					BR_VERSION, BR_VERSION);
	} else if (!dispatch_known(call.proc)) {
		rpcmsg_reply_accept_err(&j->reply, call.xid, PROC_UNAVAIL, 0, 0);
	} else if ((ast = auth_admit(&c->auth, &call, c->set->svc->auth_mode,
				     c->privileged || c->set->insecure, c->peer,
				     now_ns(), &who, &verify)) != AUTH_OK) {
		rpcmsg_reply_denied(&j->reply, call.xid, AUTH_ERROR, ast);
		j->proc = call.proc;    /* counted as a failed call */
		j->failed = true;
		j->t0_ns = now_ns();
	} else if (verify) {
		/* munge_decode() waits on munged: a worker's job (auth.h). */
		j->xid = call.xid;
		j->proc = call.proc;
		j->grant = auth_grant_new(&call);
		j->t0_ns = now_ns();
		pool_submit(c->set->pool, j);
		return;
	} else if (call.proc == BRPROC_NULL) {
		j->proc = BRPROC_NULL;
		j->t0_ns = now_ns();
		j->failed = call.args_len != 0;
		if (call.args_len != 0)
			rpcmsg_reply_accept_err(&j->reply, call.xid, GARBAGE_ARGS, 0, 0);
		else
			rpcmsg_reply_success(&j->reply, call.xid, NULL, NULL);
	} else {
		/* To the pool, with the record itself: no copy of the args. */
		size_t args_off = (size_t)(call.args - c->rd.rec.data);

		rec = buf_detach(&c->rd.rec, &len);
		j->xid = call.xid;
		j->proc = call.proc;
		j->flavor = who.flavor;
		j->cred = who.cred;
		j->has_client_id = who.has_client_id;
		j->client_id = who.client_id;
		if (who.has_client_id && !c->has_client && c->set->svc->locks) {
			/* Its locks live while it has a connection (lock.h). */
			c->has_client = true;
			c->client_id = who.client_id;
			lockmgr_client_attach(c->set->svc->locks, c->client_id);
			lockmgr_conn_keepalive(c->set->svc->locks, c->fd);
		}
		j->peer_sa = c->peer_sa;
		j->conn_id = c->id;
		j->wc = c->wc;
		j->rec = rec;
		j->args = rec + args_off;
		j->args_len = call.args_len;
		j->t0_ns = now_ns();
		j->link_bps = c->link_bps;
		/* Two thread hops cost more than a cheap call itself. */
		if (!dispatch_inline(c->set->svc, j)) {
			pool_submit(c->set->pool, j);
			return;
		}
	}
	send_reply(c, j);
}

/* Deframe and handle what is in the input buffer, as far as the in-flight
 * cap allows. */
static void process_input(struct conn *c)
{
	while (!c->dead && c->in_off < c->in_len && c->inflight < CONN_INFLIGHT_MAX) {
		size_t used;
		int rc = rm_reader_feed(&c->rd, c->in + c->in_off,
					c->in_len - c->in_off, &used);

		c->in_off += used;
		/* The clock of the request timeout starts at a record's
		 * first byte and stops when it is complete. */
		if (rc == 0 && used > 0 && c->rec_start == 0)
			c->rec_start = ev_now(c->set->loop);
		account_partial(c, rc == 0 ? c->rd.rec.len : 0);
		if (rc == 0 && c->set->partial_bytes > CONN_PARTIAL_MAX &&
		    c->partial >= CONN_PARTIAL_BIG) {
			log_warn_rl("unfinished requests hold over %u MiB: closing "
				    "%s, which holds %zu KiB of one",
				    CONN_PARTIAL_MAX >> 20, c->peer, c->partial >> 10);
			conn_close(c);
			return;
		}
		if (rc < 0) {
			log_warn_rl("record from %s exceeds %d bytes: closing the connection",
				    c->peer, BR_RECORD_MAX);
			conn_close(c);
			return;
		}
		if (rc == 1) {
			c->rec_start = 0;
			handle_record(c);
			rm_reader_next(&c->rd);
		}
	}
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = container_of(w, struct conn, rw);
	ssize_t n;

	(void)loop;
	(void)revents;
	n = read(c->fd, c->in, CONN_INBUF);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_debug("read from %s: %s", c->peer, strerror(errno));
		conn_close(c);
	} else {
		c->in_off = 0;
		c->in_len = (size_t)n;
		c->last_active = ev_now(loop);
		process_input(c);
	}
	update_io(c);
	conn_reap(c);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = container_of(w, struct conn, ww);

	(void)loop;
	(void)revents;
	flush(c);
	/* Replies went out: calls held back by the cap may go on. */
	process_input(c);
	update_io(c);
	conn_reap(c);
}

void conn_job_done(void *ctx, struct job *j)
{
	struct conn *c = j->conn;

	(void)ctx;
	if (j->callback) {
		deliver_callback(j);
		return;
	}
	if (c->dead) {
		job_free(j);
		c->inflight--;
		conn_reap(c);
		return;
	}
	if (j->grant)
		auth_grant_done(&c->auth, j, c->peer, now_ns());
	send_reply(c, j);
	process_input(c);
	update_io(c);
	conn_reap(c);
}

void conn_set_release(struct conn_set *set)
{
	if (ev_is_active(&set->flush_w))
		ev_prepare_stop(set->loop, &set->flush_w);
	if (ev_is_active(&set->sweep_w))
		ev_timer_stop(set->loop, &set->sweep_w);
	set->dirty = NULL;
	while (set->head) {
		struct conn *c = set->head;

		conn_close(c);
		conn_free(c);
	}
}
