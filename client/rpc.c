/* rpc.c - struct bramble: connecting, call plumbing, deadlines, counters. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "dial.h"
#include "hello.h"
#include "log.h"
#include "netaddr.h"
#include "rpc.h"
#include "xalloc.h"

/* One connection attempt never takes longer than this, so the reader
 * thread notices bramble_free() and retries a dead address in time. */
#define DIAL_TIMEOUT_MS 3000

void bramble_opts_init(struct bramble_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = BRAMBLE_DEFAULT_PORT;
	o->timeout_ms = BRAMBLE_DEFAULT_TIMEOUT_MS;
	o->resvport = -1;
	o->nconn = 1;
	o->caps = BRAMBLE_CAP_CHUNK_ZSTD;   /* decoded by chunkcodec.c */
}

/* Connect and exchange HELLO: a connection is usable only after both. */
static int dial_hello(struct bramble *b, int timeout_ms, int *fd_out,
		      struct bramble_hello *h)
{
	int fd, rc;

	rc = dial_tcp((struct sockaddr *)&b->addr, b->addr_len, b->resvport,
		      timeout_ms, &fd);
	if (rc < 0)
		return rc;
	rc = hello_exchange(fd, b->caps, b->need, b->client_name, timeout_ms, h);
	if (rc < 0) {
		if (rc == -EPROTO)
			log_err("server %s refused: %s", b->addr_str, h->message);
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

/* The reader thread's redial.  A new instance means the server restarted:
 * tell the owner (locks to reclaim) before calls go out on the new
 * connection. */
static int dial(void *ctx, int *fd_out)
{
	struct bramble *b = ctx;
	struct bramble_hello h;
	uint64_t old;
	int rc;

	rc = dial_hello(b, (int)BR_MIN(b->timeout_ms, DIAL_TIMEOUT_MS), fd_out, &h);
	if (rc < 0)
		return rc;
	peers_on_dial(b, *fd_out, (int)BR_MIN(b->timeout_ms, DIAL_TIMEOUT_MS));
	pthread_mutex_lock(&b->hello_lock);
	old = b->hello.instance;
	b->hello = h;
	bramble_restart_fn *fn = b->restart_fn;
	void *fn_ctx = b->restart_ctx;
	pthread_mutex_unlock(&b->hello_lock);
	if (h.caps & BRAMBLE_CAP_MUNGE)
		auth_server_wants_munge(&b->auth);
	if (old != h.instance) {
		log_info("server %s restarted (%s)", b->addr_str, h.server);
		if (fn)
			fn(fn_ctx, old, h.instance);
	}
	return 0;
}

/* The calling thread's request deadline (bramble_deadline_set), 0: none. */
static __thread int64_t thread_deadline;

void bramble_deadline_set(int64_t deadline_ns)
{
	thread_deadline = deadline_ns;
}

int64_t bramble_deadline(void)
{
	return thread_deadline;
}

/* A call's deadline: its own (none when hard), cut short by the
 * thread's request deadline. */
static int64_t call_deadline(const struct bramble *b, int64_t start_ns)
{
	int64_t d = b->hard ? CONN_NO_DEADLINE :
			      start_ns + (int64_t)b->timeout_ms * 1000000;

	return thread_deadline > 0 ? BR_MIN(d, thread_deadline) : d;
}

/* 16 hex digits, the form brambled's drc_client_id() accepts.  Unique
 * enough: only a clash with another client at the same address, XID and
 * arguments within two minutes would matter. */
static void make_client_id(char *out, size_t len)
{
	uint64_t id;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		id = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		id ^= (uint64_t)getpid() << 32;
	}
	snprintf(out, len, "%016" PRIx64, id);
}

int bramble_new(const struct bramble_opts *o, struct bramble **out)
{
	return bramble_new_hello(o, out, NULL);
}

int bramble_new_hello(const struct bramble_opts *o, struct bramble **out,
		      struct bramble_hello *hello_out)
{
	struct bramble *b;
	int fd = -1;
	int rc;

	if (!o->host || !*o->host || o->port < 0 || o->port > 65535 ||
	    o->auth < BRAMBLE_AUTH_AUTO || o->auth > BRAMBLE_AUTH_MUNGE)
		return -EINVAL;
	b = xcalloc(1, sizeof(*b));
	pthread_mutex_init(&b->hello_lock, NULL);
	b->resvport = o->resvport;
	b->timeout_ms = o->timeout_ms ? o->timeout_ms : BRAMBLE_DEFAULT_TIMEOUT_MS;
	b->hard = o->hard;
	/* A client that may use MUNGE says so (the server's log shows it). */
	b->caps = o->caps | (o->auth != BRAMBLE_AUTH_SYS ? BRAMBLE_CAP_MUNGE : 0);
	b->need = o->need;
	b->client_name = xstrdup(o->client_name ? o->client_name : "libbramble");
	make_client_id(b->client_id, sizeof(b->client_id));
	auth_init(&b->auth, o->auth, o->munge_socket,
		  strtoull(b->client_id, NULL, 16));
	rc = netaddr_resolve(o->host, o->port ? o->port : BRAMBLE_DEFAULT_PORT,
			     &b->addr, &b->addr_len);
	if (rc < 0)
		goto fail;
	netaddr_format((struct sockaddr *)&b->addr, b->addr_str,
		       sizeof(b->addr_str));
	rc = dial_hello(b, (int)b->timeout_ms, &fd, &b->hello);
	if (hello_out)
		*hello_out = b->hello;
	if (rc < 0)
		goto fail;
	if (b->hello.caps & BRAMBLE_CAP_MUNGE)
		auth_server_wants_munge(&b->auth);
	rc = conn_new(fd, dial, b, &b->conn);
	if (rc < 0) {
		close(fd);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	bramble_free(b);
	return rc;
}

void bramble_free(struct bramble *b)
{
	if (!b)
		return;
	peers_release(b);
	conn_free(b->conn);
	auth_release(&b->auth);
	pthread_mutex_destroy(&b->hello_lock);
	free(b->client_name);
	free(b);
}

void bramble_server_hello(struct bramble *b, struct bramble_hello *out)
{
	pthread_mutex_lock(&b->hello_lock);
	*out = b->hello;
	pthread_mutex_unlock(&b->hello_lock);
}

bool bramble_server_can(struct bramble *b, uint64_t cap)
{
	bool can;

	pthread_mutex_lock(&b->hello_lock);
	can = (b->hello.caps & cap) == cap;
	pthread_mutex_unlock(&b->hello_lock);
	return can;
}

uint64_t bramble_server_instance(struct bramble *b)
{
	uint64_t v;

	pthread_mutex_lock(&b->hello_lock);
	v = b->hello.instance;
	pthread_mutex_unlock(&b->hello_lock);
	return v;
}

void bramble_set_reconnect_hook(struct bramble *b, bramble_restart_fn *fn,
				void *ctx)
{
	pthread_mutex_lock(&b->hello_lock);
	b->restart_fn = fn;
	b->restart_ctx = ctx;
	pthread_mutex_unlock(&b->hello_lock);
}

int bramble_auth_parse(const char *s, int *out)
{
	static const char *const names[] = {
		[BRAMBLE_AUTH_AUTO] = "auto", [BRAMBLE_AUTH_SYS] = "sys",
		[BRAMBLE_AUTH_MUNGE] = "munge",
	};

	for (int i = 0; s && i < (int)ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

int bramble_auth_open(struct bramble *b, const struct bramble_cred *cr)
{
	unsigned char handle[RPC_SHORT_LEN];

	if (!auth_munge_on(&b->auth))
		return -EOPNOTSUPP;
	return auth_session(&b->auth, b->conn, cr->uid, cr->gid,
			    call_deadline(b, now_ns()), handle);
}

const char *bramble_server_addr(const struct bramble *b)
{
	return b->addr_str;
}

/* How the call goes out: AUTH_NONE (cr NULL), AUTH_SYS, or the AUTH_SHORT
 * handle of cr's MUNGE session (*short_used then set, handle filled). */
static int pick_auth(struct bramble *b, const struct br_cred *wire,
		     int64_t deadline_ns, unsigned char handle[RPC_SHORT_LEN],
		     bool *short_used, struct rpc_auth *au)
{
	int rc;

	memset(au, 0, sizeof(*au));
	*short_used = false;
	if (!wire) {
		au->flavor = RPC_AUTH_NONE;
		return 0;
	}
	if (!auth_munge_on(&b->auth)) {
		au->flavor = RPC_AUTH_SYS;
		au->sys = wire;
		au->machname = b->client_id;
		return 0;
	}
	rc = auth_session(&b->auth, b->conn, wire->uid, wire->gid, deadline_ns,
			  handle);
	if (rc < 0)
		return rc;
	*short_used = true;
	au->flavor = RPC_AUTH_SHORT;
	au->body = handle;
	au->body_len = RPC_SHORT_LEN;
	return 0;
}

/* After an AUTH_ERROR: is the call worth sending again (same XID, so the
 * duplicate-request cache still knows it)?  A session the server does not
 * know (restarted, expired, another connection) is re-opened; an AUTH_SYS
 * call refused as too weak goes again with MUNGE when auto mode allows. */
static bool auth_retry(struct bramble *b, const struct br_cred *wire,
		       bool short_used, const unsigned char *handle,
		       uint32_t auth_st)
{
	if (short_used && auth_st == AUTH_REJECTEDCRED) {
		auth_session_drop(&b->auth, wire->uid, wire->gid, handle);
		return true;
	}
	return !short_used && wire && auth_st == AUTH_TOOWEAK &&
	       auth_server_wants_munge(&b->auth);
}

#define RPC_AUTH_TRIES 4

int rpc_run(struct bramble *b, struct rpc_op *op, uint32_t proc,
	    const struct bramble_cred *cr, xdrproc_t xargs, const void *args)
{
	struct br_cred wire, *wp = NULL;
	unsigned char handle[RPC_SHORT_LEN];
	struct rpc_auth au;
	struct rpc_reply rep;
	bool xid_ok, short_used;
	int rc;

	memset(op, 0, sizeof(*op));
	op->proc = proc;
	op->start_ns = now_ns();
	buf_init(&op->req.call, 0);
	buf_init(&op->req.reply, 0);
	if (cr) {
		wire.uid = cr->uid;
		wire.gid = cr->gid;
		wire.ngroups = BR_MIN(cr->ngroups, (uint32_t)RPC_AUTH_SYS_GROUPS);
		memcpy(wire.groups, cr->groups, wire.ngroups * sizeof(wire.groups[0]));
		wp = &wire;
	}
	op->req.xid = conn_next_xid(b->conn);
	op->req.deadline_ns = call_deadline(b, op->start_ns);
	/* The request it belongs to has already given up (its caller got
	 * an error): a call sent now could only change the server behind
	 * the caller's back. */
	if (op->start_ns >= op->req.deadline_ns)
		return -ETIMEDOUT;
	for (int tries = 1; ; tries++) {
		rc = pick_auth(b, wp, op->req.deadline_ns, handle, &short_used, &au);
		if (rc < 0)
			return rc;
		rc = rpcmsg_encode_call_auth(&op->req.call, op->req.xid, BR_PROGRAM,
					     BR_VERSION, proc, &au, xargs, args);
		if (rc < 0)
			return rc;
		rc = conn_call(b->conn, &op->req);
		/* The record is no longer needed: free 1 MiB WRITEs early. */
		buf_release(&op->req.call);
		if (rc < 0)
			return rc;
		rc = rpcmsg_decode_reply(op->req.reply.data, op->req.reply.len,
					 &rep, &xid_ok);
		if (rc != -EACCES || tries == RPC_AUTH_TRIES ||
		    !auth_retry(b, wp, short_used, handle, rep.auth_stat))
			break;
		buf_release(&op->req.reply);
	}
	if (rc < 0)
		return rc;
	op->body = rep.body;
	op->body_len = rep.body_len;
	return 0;
}

int rpc_run_decode(struct bramble *b, struct rpc_op *op, uint32_t proc,
		   const struct bramble_cred *cr, xdrproc_t xargs,
		   const void *args, xdrproc_t xres, void *res, size_t res_size)
{
	int rc = rpc_run(b, op, proc, cr, xargs, args);

	if (rc == 0)
		rc = rpcmsg_decode_body(op->body, op->body_len, xres, res, res_size);
	return rc;
}

int rpc_end(struct bramble *b, struct rpc_op *op, int rc)
{
	struct proc_counter *pc = &b->stats[op->proc < BR_NPROCS ? op->proc : 0];
	int64_t us = (now_ns() - op->start_ns) / 1000;

	buf_release(&op->req.call);
	buf_release(&op->req.reply);
	atomic_fetch_add_explicit(&pc->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pc->total_us, (uint64_t)us, memory_order_relaxed);
	if (rc < 0)
		atomic_fetch_add_explicit(&pc->errors, 1, memory_order_relaxed);
	return rc;
}

void rpc_time_to_wire(br_time *w, const struct timespec *ts)
{
	w->sec = ts->tv_sec;
	w->nsec = (u_int)ts->tv_nsec;
}

void rpc_fh_arg(br_fh *w, const struct bramble_fh *fh)
{
	w->br_fh_len = BR_MIN(fh->len, (uint32_t)BR_FH_MAX);
	w->br_fh_val = (char *)fh->data;  /* encoding only reads it */
}

void rpc_fh_out(struct bramble_fh *out, const br_fh *w)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->len = BR_MIN(w->br_fh_len, (u_int)BR_FH_MAX);  /* xdr bound */
	if (out->len > 0)  /* an empty handle's val is NULL */
		memcpy(out->data, w->br_fh_val, out->len);
}

void rpc_attr_out(struct stat *st, const br_attr *a)
{
	if (st)
		br_attr_to_stat(a, st);
}

void bramble_stats(struct bramble *b, struct bramble_proc_stats *out,
		   size_t n, struct bramble_conn_stats *cs)
{
	for (size_t i = 0; i < n && i < BR_NPROCS; i++) {
		struct proc_counter *pc = &b->stats[i];

		out[i].name = br_proc_name((uint32_t)i);
		out[i].calls = atomic_load_explicit(&pc->calls, memory_order_relaxed);
		out[i].errors = atomic_load_explicit(&pc->errors, memory_order_relaxed);
		out[i].total_us = atomic_load_explicit(&pc->total_us, memory_order_relaxed);
	}
	if (cs) {
		struct conn_counters cc;

		conn_get_counters(b->conn, &cc);
		cs->connects = cc.connects;
		cs->resent = cc.resent;
		cs->timeouts = cc.timeouts;
		cs->in_flight = cc.in_flight;
		cs->connected = cc.connected;
	}
}
