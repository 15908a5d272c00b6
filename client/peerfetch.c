/* peerfetch.c - fetch a chunk from the peer the server named (peers.h).
 *
 * Connections to peers are kept (a few per process, any peer) and reused:
 * a chain sends consecutive chunks through the same pairs of nodes.  One
 * request per connection at a time.  Whatever goes wrong -- no connection,
 * a refusal, no answer within PEERS_FETCH_WAIT_MS (a stalled or dead peer),
 * bytes that are not the chunk -- is an error the caller answers by asking
 * the server again naming this peer; a connection that misbehaved is
 * closed, never reused. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkcodec.h"
#include "dial.h"
#include "log.h"
#include "peerauth.h"
#include "peers.h"
#include "util.h"
#include "xalloc.h"

#define IDLE_MAX 16
#define DIAL_MS 1000

struct idle_conn {
	unsigned char addr16[PEERAUTH_ADDR_LEN];
	uint32_t port;
	int fd;
};

struct peerfetch {
	pthread_mutex_t mu;
	struct idle_conn idle[IDLE_MAX];
	unsigned int nidle;
	uint32_t xid;
};

struct peerfetch *peerfetch_new(void)
{
	struct peerfetch *f = xcalloc(1, sizeof(*f));

	pthread_mutex_init(&f->mu, NULL);
	f->xid = (uint32_t)now_ns();
	return f;
}

void peerfetch_free(struct peerfetch *f)
{
	if (!f)
		return;
	for (unsigned int i = 0; i < f->nidle; i++)
		close(f->idle[i].fd);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static bool same_peer(const struct idle_conn *c, const br_peer_addr *p)
{
	return c->port == p->port && p->addr.addr_len == PEERAUTH_ADDR_LEN &&
	       memcmp(c->addr16, p->addr.addr_val, PEERAUTH_ADDR_LEN) == 0;
}

/* p as a socket address (an IPv4-mapped address as IPv4). */
static int peer_sockaddr(const br_peer_addr *p, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const unsigned char *a = (const unsigned char *)p->addr.addr_val;

	memset(ss, 0, sizeof(*ss));
	if (p->addr.addr_len != PEERAUTH_ADDR_LEN || p->port == 0 || p->port > 65535)
		return -EINVAL;
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p->port);
		memcpy(&in->sin_addr, a + 12, 4);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p->port);
		memcpy(&in6->sin6_addr, a, 16);
		*len = sizeof(*in6);
	}
	return 0;
}

/* A connection to p: a kept one, else a new one. */
static int take_conn(struct peerfetch *f, const br_peer_addr *p, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	pthread_mutex_lock(&f->mu);
	for (unsigned int i = 0; i < f->nidle; i++)
		if (same_peer(&f->idle[i], p)) {
			*fd = f->idle[i].fd;
			f->idle[i] = f->idle[--f->nidle];
			pthread_mutex_unlock(&f->mu);
			return 0;
		}
	pthread_mutex_unlock(&f->mu);
	rc = peer_sockaddr(p, &ss, &len);
	if (rc == 0)
		rc = dial_tcp((struct sockaddr *)&ss, len, 0, DIAL_MS, fd);
	return rc;
}

static void give_back(struct peerfetch *f, const br_peer_addr *p, int fd)
{
	pthread_mutex_lock(&f->mu);
	if (f->nidle == IDLE_MAX) {
		close(f->idle[0].fd);           /* the oldest goes */
		f->idle[0] = f->idle[--f->nidle];
	}
	memcpy(f->idle[f->nidle].addr16, p->addr.addr_val, PEERAUTH_ADDR_LEN);
	f->idle[f->nidle].port = p->port;
	f->idle[f->nidle].fd = fd;
	f->nidle++;
	pthread_mutex_unlock(&f->mu);
}

/* One PEER_CHUNK call on fd: the decoded result in *res (xdr_free it). */
static int call_peer(struct peerfetch *f, int fd, const br_peer_ref *ref,
		     const unsigned char *hash, bool zstd_ok, br_peer_chunk_res *res)
{
	br_peer_chunk_args a = { .flags = zstd_ok ? BR_RC_ZSTD : 0 };
	uint32_t xid;

	memcpy(a.hash, hash, sizeof(a.hash));
	memcpy(a.ticket, ref->ticket, sizeof(a.ticket));
	pthread_mutex_lock(&f->mu);
	xid = ++f->xid;
	pthread_mutex_unlock(&f->mu);
	memset(res, 0, sizeof(*res));
	return dial_call(fd, xid, BR_PEER_PROG, BR_PEER_VERS, BR_PEER_CHUNK, NULL,
			 (xdrproc_t)xdr_br_peer_chunk_args, &a,
			 (xdrproc_t)xdr_br_peer_chunk_res, res, sizeof(*res),
			 now_ns() + (int64_t)PEERS_FETCH_WAIT_MS * 1000000);
}

/* d is chunk hash as the server described it (length, strong hash):
 * decoded into buf.  -EIO for bytes that are not it (whatever way they
 * are wrong: a peer gets no benefit of the doubt). */
static ssize_t check_chunk(const br_chunk_data *d, const br_peer_ref *ref,
			   const unsigned char *hash, void *buf, size_t cap)
{
	unsigned char strong[PEERAUTH_MAC_LEN];
	ssize_t n;

	if (d->len != ref->len)
		return -EIO;
	n = chunkcodec_decode(d, hash, buf, cap);
	if (n == -ERANGE)
		return n;
	if (n < 0)
		return -EIO;
	peerauth_strong(strong, buf, (size_t)n);
	if (!peerauth_equal(strong, (const unsigned char *)ref->strong, sizeof(strong)))
		return -EIO;
	return n;
}

ssize_t peerfetch_chunk(struct peerfetch *f, const br_peer_ref *ref,
			const unsigned char *hash, bool zstd_ok, void *buf, size_t cap,
			struct peerstore *store, br_chunk_enc *enc, size_t *wire_len)
{
	br_peer_chunk_res res;
	ssize_t n;
	int fd, rc;

	rc = take_conn(f, &ref->peer, &fd);
	if (rc < 0)
		return rc;
	rc = call_peer(f, fd, ref, hash, zstd_ok, &res);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	n = br_stat_to_errno(res.status);
	if (n == 0) {
		const br_chunk_data *d = &res.br_peer_chunk_res_u.data;

		n = check_chunk(d, ref, hash, buf, cap);
		if (n == -EIO)
			log_warn_rl("a peer sent bytes that are not the chunk it was asked for: "
				    "routed around");
		if (n >= 0) {
			*enc = d->enc;
			*wire_len = d->data.data_len;
		}
		if (n >= 0 && store)
			peerstore_done(store, hash, d->enc, d->len, d->data.data_val,
				       d->data.data_len);
	}
	xdr_free((xdrproc_t)xdr_br_peer_chunk_res, (char *)&res);
	if (n == -EIO)
		close(fd);
	else
		give_back(f, &ref->peer, fd);
	return n;
}
