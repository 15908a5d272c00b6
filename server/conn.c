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
#include "log.h"
#include "netaddr.h"
#include "proto.h"
#include "xalloc.h"

#define CONN_IOV 64

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void process_input(struct conn *c);

struct conn *conn_new(struct conn_set *set, int fd, const struct sockaddr *peer)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int one = 1;
	int port = netaddr_port(peer);

	c->set = set;
	c->fd = fd;
	c->in = xmalloc(CONN_INBUF);
	rm_reader_init(&c->rd, BR_RECORD_MAX);
	netaddr_format(peer, c->peer, sizeof(c->peer));
	drc_addr(peer, c->peer_addr);
	c->privileged = port >= 0 && port < 1024;
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
	free(c->in);
	free(c);
}

static void conn_close(struct conn *c)
{
	struct ev_loop *loop = c->set->loop;

	if (c->dead)
		return;
	c->dead = true;
	ev_io_stop(loop, &c->rw);
	ev_io_stop(loop, &c->ww);
	close(c->fd);
	c->fd = -1;
	/* Replies not yet written go with the socket. */
	while (c->out_head) {
		struct job *j = c->out_head;

		c->out_head = j->next;
		job_free(j);
		c->inflight--;
	}
	c->out_tail = NULL;
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

void conn_set_start(struct conn_set *set)
{
	ev_prepare_init(&set->flush_w, flush_cb);
	ev_prepare_start(set->loop, &set->flush_w);
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
	if (call.prog != BR_PROGRAM) {
		rpcmsg_reply_accept_err(&j->reply, call.xid, PROG_UNAVAIL, 0, 0);
	} else if (call.vers != BR_VERSION) {
		rpcmsg_reply_accept_err(&j->reply, call.xid, PROG_MISMATCH,
					BR_VERSION, BR_VERSION);
	} else if (!dispatch_known(call.proc)) {
		rpcmsg_reply_accept_err(&j->reply, call.xid, PROC_UNAVAIL, 0, 0);
	} else if (!c->privileged && !c->set->insecure &&
		   !dispatch_any_port(call.proc)) {
		/* Anyone can bind a port >= 1024 and claim any uid. */
		log_warn_rl("%s from unprivileged port %s refused (see --insecure)",
			    br_proc_name(call.proc), c->peer);
		rpcmsg_reply_denied(&j->reply, call.xid, AUTH_ERROR, AUTH_TOOWEAK);
	} else if (call.flavor != RPC_AUTH_SYS && !dispatch_auth_none_ok(call.proc)) {
		rpcmsg_reply_denied(&j->reply, call.xid, AUTH_ERROR,
				    call.flavor == RPC_AUTH_NONE ? AUTH_TOOWEAK
								 : AUTH_BADCRED);
	} else if (call.proc == BRPROC_NULL) {
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
		j->flavor = call.flavor == RPC_AUTH_SYS ? RPC_AUTH_SYS : RPC_AUTH_NONE;
		j->cred = call.cred;
		j->has_client_id = call.flavor == RPC_AUTH_SYS &&
				   drc_client_id(call.machname, &j->client_id);
		memcpy(j->peer_addr, c->peer_addr, sizeof(j->peer_addr));
		j->rec = rec;
		j->args = rec + args_off;
		j->args_len = call.args_len;
		j->t0_ns = now_ns();
		/* Two thread hops cost more than a cheap call itself. */
		if (!dispatch_inline(c->set->svc, j)) {
			pool_submit(c->set->pool, j);
			return;
		}
	}
	send_job(c, j);
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
		if (rc < 0) {
			log_warn_rl("record from %s exceeds %d bytes: closing the connection",
				    c->peer, BR_RECORD_MAX);
			conn_close(c);
			return;
		}
		if (rc == 1) {
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
	if (c->dead) {
		job_free(j);
		c->inflight--;
		conn_reap(c);
		return;
	}
	send_job(c, j);
	process_input(c);
	update_io(c);
	conn_reap(c);
}

void conn_set_release(struct conn_set *set)
{
	if (ev_is_active(&set->flush_w))
		ev_prepare_stop(set->loop, &set->flush_w);
	set->dirty = NULL;
	while (set->head) {
		struct conn *c = set->head;

		conn_close(c);
		conn_free(c);
	}
}
