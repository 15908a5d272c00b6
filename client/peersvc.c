/* peersvc.c - a node's peer service (peers.h): other nodes fetch the
 * chunks the server sent them here for.
 *
 * One thread accepts; each connection gets a thread that answers its
 * requests one at a time (a fetcher sends one and waits), at most
 * MAX_CONNS at once (more are closed at once: the fetcher then asks the
 * server again).  Nothing a request carries is trusted but its ticket,
 * which only the server can make (peerauth.h), for this requester's
 * address. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "dial.h"
#include "log.h"
#include "netaddr.h"
#include "peerauth.h"
#include "peers.h"
#include "rpcmsg.h"
#include "util.h"
#include "xalloc.h"

/* Connections served at once: every other node may keep as many as it has
 * fetches in flight (bramble stage: 16), and a service turned away is one
 * the requester routes around for that chunk. */
#define MAX_CONNS 256
/* A connection idle this long is closed (a fetcher keeps a few open). */
#define IDLE_MS 60000

struct peersvc {
	int lfd;
	unsigned char key[BR_PEER_KEY_LEN];
	struct peerstore *store;
	struct bramble_cache *cache;
	pthread_t accept_thread;
	pthread_mutex_t mu;
	pthread_cond_t idle_cv;         /* a connection thread ended */
	int conns[MAX_CONNS];           /* live connection fds; -1: free slot */
	unsigned int nconns;
	bool stopping;
	/* BRAMBLE_TEST_PEER_CORRUPT=1 in the environment: every chunk served
	 * has one byte flipped -- a lying peer, for the tests that prove
	 * the others never keep its bytes. */
	bool corrupt;
	uint64_t chunks, bytes, refused;
};

struct svc_conn {
	struct peersvc *v;
	int fd;
	unsigned char addr16[PEERAUTH_ADDR_LEN];
};

#define POLL_MS 10

/* The chunk in its stored form, waiting while this process fetches it. */
static int from_store(struct peersvc *v, const unsigned char *hash, bool zstd_ok,
		      int wait_ms, br_chunk_data *d)
{
	void *data;
	size_t data_len;
	uint32_t len;
	br_chunk_enc enc;
	int rc;

	rc = peerstore_get(v->store, hash, wait_ms, &enc, &len, &data, &data_len);
	if (rc == 0 && enc != BR_ENC_RAW && !zstd_ok) {
		free(data);
		return -ENOENT;         /* the node cache has it raw */
	}
	if (rc == 0) {
		*d = (br_chunk_data){ .enc = enc, .len = len };
		d->data.data_val = data;
		d->data.data_len = (u_int)data_len;
	}
	return rc;
}

static int from_cache(struct peersvc *v, const unsigned char *hash, br_chunk_data *d)
{
	void *data;
	ssize_t n;

	if (!v->cache)
		return -ENOENT;
	data = xmalloc(BR_DATA_MAX);
	n = bramble_cache_get(v->cache, hash, data, BR_DATA_MAX);
	if (n < 0) {
		free(data);
		return -ENOENT;
	}
	*d = (br_chunk_data){ .enc = BR_ENC_RAW, .len = (u_int)n };
	d->data.data_val = data;
	d->data.data_len = (u_int)n;
	return 0;
}

/* The chunk: from the store (waiting while this process fetches it), else
 * the node cache -- where another process of the node (bramble stage,
 * joined to this service) puts what it fetches: the server sent the
 * requester here because this node asked for the chunk, so it is polled
 * for a while before the answer is "not here". */
static int find_chunk(struct peersvc *v, const unsigned char *hash, bool zstd_ok,
		      br_chunk_data *d)
{
	int64_t deadline = now_ns() + (int64_t)PEERS_SERVE_WAIT_MS * 1000000;
	int rc = from_store(v, hash, zstd_ok, PEERS_SERVE_WAIT_MS, d);

	while (rc < 0) {
		rc = from_cache(v, hash, d);
		if (rc == 0 || now_ns() >= deadline || __atomic_load_n(&v->stopping, __ATOMIC_RELAXED))
			break;
		poll(NULL, 0, POLL_MS);
		rc = from_store(v, hash, zstd_ok, 0, d);
	}
	return rc < 0 ? -EAGAIN : 0;
}

/* The answer to one PEER_CHUNK call. */
static void answer(struct svc_conn *sc, const br_peer_chunk_args *a, br_peer_chunk_res *r)
{
	struct peersvc *v = sc->v;
	unsigned char want[PEERAUTH_MAC_LEN];
	int rc;

	peerauth_ticket(want, v->key, (const unsigned char *)a->hash, sc->addr16);
	if (!peerauth_equal(want, (const unsigned char *)a->ticket, sizeof(want))) {
		r->status = BR_EACCES;
		__atomic_add_fetch(&v->refused, 1, __ATOMIC_RELAXED);
		return;
	}
	rc = find_chunk(v, (const unsigned char *)a->hash, a->flags & BR_RC_ZSTD,
			&r->br_peer_chunk_res_u.data);
	r->status = rc == 0 ? BR_OK : br_stat_from_errno(-rc);
	if (rc == 0 && v->corrupt && r->br_peer_chunk_res_u.data.data.data_len)
		r->br_peer_chunk_res_u.data.data.data_val[0] ^= 1;
	if (rc == 0) {
		__atomic_add_fetch(&v->chunks, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&v->bytes, r->br_peer_chunk_res_u.data.data.data_len,
				   __ATOMIC_RELAXED);
	}
}

/* One request record -> its reply appended to out.  -errno: close. */
static int serve_record(struct svc_conn *sc, const struct buf *rec, struct buf *out)
{
	struct rpc_call call;
	br_peer_chunk_args a;
	br_peer_chunk_res r = { .status = BR_OK };
	int rc;

	if (rpcmsg_decode_call(rec->data, rec->len, &call) != RPCMSG_CALL_OK)
		return -EPROTO;
	if (call.prog != BR_PEER_PROG || call.vers != BR_PEER_VERS)
		return rpcmsg_reply_accept_err(out, call.xid, PROG_UNAVAIL, 0, 0);
	if (call.proc != BR_PEER_CHUNK)
		return rpcmsg_reply_accept_err(out, call.xid, PROC_UNAVAIL, 0, 0);
	memset(&a, 0, sizeof(a));
	if (rpcmsg_decode_body(call.args, call.args_len, (xdrproc_t)xdr_br_peer_chunk_args,
			       &a, sizeof(a)) < 0)
		return rpcmsg_reply_accept_err(out, call.xid, GARBAGE_ARGS, 0, 0);
	answer(sc, &a, &r);
	rc = rpcmsg_reply_success(out, call.xid, (xdrproc_t)xdr_br_peer_chunk_res, &r);
	xdr_free((xdrproc_t)xdr_br_peer_chunk_args, (char *)&a);
	xdr_free((xdrproc_t)xdr_br_peer_chunk_res, (char *)&r);
	return rc;
}

static void conn_slot(struct peersvc *v, int fd, int newfd)
{
	for (unsigned int i = 0; i < MAX_CONNS; i++)
		if (v->conns[i] == fd) {
			v->conns[i] = newfd;
			return;
		}
}

static void *conn_main(void *arg)
{
	struct svc_conn *sc = arg;
	struct peersvc *v = sc->v;
	struct rm_reader rd;
	struct buf out;

	rm_reader_init(&rd, BR_RECORD_MAX);
	buf_init(&out, 0);
	for (;;) {
		buf_reset(&out);
		if (dial_read_record(sc->fd, &rd, now_ns() + (int64_t)IDLE_MS * 1000000) < 0 ||
		    serve_record(sc, &rd.rec, &out) < 0 ||
		    dial_send_all(sc->fd, out.data, out.len) < 0)
			break;
		rm_reader_next(&rd);
	}
	rm_reader_release(&rd);
	buf_release(&out);
	pthread_mutex_lock(&v->mu);
	conn_slot(v, sc->fd, -1);
	close(sc->fd);
	v->nconns--;
	pthread_cond_broadcast(&v->idle_cv);
	pthread_mutex_unlock(&v->mu);
	free(sc);
	return NULL;
}

/* Hand an accepted socket to a thread of its own (or close it: full). */
static void take_conn(struct peersvc *v, int fd, const struct sockaddr *sa)
{
	struct svc_conn *sc = xcalloc(1, sizeof(*sc));
	pthread_t t;
	bool ok;

	sc->v = v;
	sc->fd = fd;
	pthread_mutex_lock(&v->mu);
	ok = !__atomic_load_n(&v->stopping, __ATOMIC_RELAXED) && v->nconns < MAX_CONNS && peerauth_addr16(sa, sc->addr16) == 0;
	if (ok) {
		conn_slot(v, -1, fd);
		v->nconns++;
		if (pthread_create(&t, NULL, conn_main, sc) == 0) {
			pthread_detach(t);
		} else {
			conn_slot(v, fd, -1);
			v->nconns--;
			ok = false;
		}
	}
	pthread_mutex_unlock(&v->mu);
	if (!ok) {
		close(fd);
		free(sc);
	}
}

static void *accept_main(void *arg)
{
	struct peersvc *v = arg;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(v->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
				poll(NULL, 0, 100);   /* out of fds: let some close */
				continue;
			}
			break;          /* shut down by peersvc_stop */
		}
		take_conn(v, fd, (struct sockaddr *)&ss);
	}
	return NULL;
}

static int listen_on(const struct sockaddr *addr, socklen_t addrlen, int *fd_out,
		     uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, addr, addrlen) < 0 || listen(fd, MAX_CONNS) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*port = (uint16_t)netaddr_port((struct sockaddr *)&ss);
	*fd_out = fd;
	return 0;
}

int peersvc_start(const struct sockaddr *addr, socklen_t addrlen,
		  const unsigned char key[BR_PEER_KEY_LEN], struct peerstore *store,
		  struct bramble_cache *cache, struct peersvc **out, uint16_t *port)
{
	struct peersvc *v = xcalloc(1, sizeof(*v));
	int rc;

	rc = listen_on(addr, addrlen, &v->lfd, port);
	if (rc < 0) {
		free(v);
		return rc;
	}
	memcpy(v->key, key, sizeof(v->key));
	v->corrupt = getenv("BRAMBLE_TEST_PEER_CORRUPT") &&
		     !strcmp(getenv("BRAMBLE_TEST_PEER_CORRUPT"), "1");
	if (v->corrupt)
		log_warn("BRAMBLE_TEST_PEER_CORRUPT=1: this node serves wrong bytes to peers");
	v->store = store;
	v->cache = cache;
	for (unsigned int i = 0; i < MAX_CONNS; i++)
		v->conns[i] = -1;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->idle_cv, NULL);
	if (pthread_create(&v->accept_thread, NULL, accept_main, v) != 0) {
		close(v->lfd);
		free(v);
		return -EAGAIN;
	}
	*out = v;
	return 0;
}

void peersvc_stop(struct peersvc *v)
{
	if (!v)
		return;
	__atomic_store_n(&v->stopping, true, __ATOMIC_RELAXED);
	peerstore_close(v->store);
	shutdown(v->lfd, SHUT_RDWR);
	pthread_join(v->accept_thread, NULL);
	close(v->lfd);
	pthread_mutex_lock(&v->mu);
	for (unsigned int i = 0; i < MAX_CONNS; i++)
		if (v->conns[i] >= 0)
			shutdown(v->conns[i], SHUT_RDWR);
	while (v->nconns)
		pthread_cond_wait(&v->idle_cv, &v->mu);
	pthread_mutex_unlock(&v->mu);
	pthread_cond_destroy(&v->idle_cv);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

void peersvc_get_counts(struct peersvc *v, uint64_t *chunks, uint64_t *bytes,
			uint64_t *refused)
{
	*chunks = __atomic_load_n(&v->chunks, __ATOMIC_RELAXED);
	*bytes = __atomic_load_n(&v->bytes, __ATOMIC_RELAXED);
	*refused = __atomic_load_n(&v->refused, __ATOMIC_RELAXED);
}
