/* peerlink.c - a handle's peer fan-out: bramble_peers_start() and the
 * READ_CHUNK2 loop that takes a chunk from the server or from the peer it
 * names (peers.h has the parts).
 *
 * Registration: the server forgets a peer service when its connection
 * drops, so the service is registered (PEER_REGISTER) on every new
 * connection right after HELLO, before any call goes out on it, with
 * AUTH_SYS root (peers_on_dial); where that fails (a server that wants
 * MUNGE for every call) the first chunk call on the connection registers
 * it through the ordinary path.  A call that races with a reconnect goes
 * out unregistered: this node is then only not a source for that chunk. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkcodec.h"
#include "conn.h"
#include "dial.h"
#include "log.h"
#include "peerauth.h"
#include "peers.h"
#include "rpc.h"
#include "xalloc.h"
#include "util.h"

/* The one call before the connection is handed over (after HELLO's). */
#define PEER_REGISTER_XID 0x50454552u     /* "PEER" */
/* Peers tried for one chunk before the server is asked without peers. */
#define TRIES 3

/* A peer service this handle registers on each connection. */
struct peer_reg {
	uint16_t port;
	unsigned char key[BR_PEER_KEY_LEN];
};

struct bramble_peers {
	/* The node's service (bramble_peers_opts.node_port), then this
	 * handle's own: the last is the newest source of what it fetches. */
	struct peer_reg regs[2];
	unsigned int nregs;
	uint16_t port;                  /* own service's; 0: joined only */
	struct peerstore *store;
	struct peersvc *svc;
	struct peerfetch *fetch;
	_Atomic uint64_t reg_gen;       /* connection generation registered + 1 */
	_Atomic bool dial_registered;   /* peers_on_dial() registered the new one */
	pthread_mutex_t reg_mu;         /* one registration at a time (16 readers) */
	_Atomic uint64_t from_peers, from_peers_bytes, failures;
};

static void register_service(struct bramble *b, struct bramble_peers *p);

/* The address this node reaches the server from: where peers reach it.  A
 * connected UDP socket asks the routing table without sending a byte. */
static int local_addr(struct bramble *b, struct sockaddr_storage *ss, socklen_t *len)
{
	int fd = socket(b->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	*len = sizeof(*ss);
	if (connect(fd, (struct sockaddr *)&b->addr, b->addr_len) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static void add_reg(struct bramble_peers *p, uint16_t port, const unsigned char *key)
{
	p->regs[p->nregs].port = port;
	memcpy(p->regs[p->nregs].key, key, BR_PEER_KEY_LEN);
	p->nregs++;
}

int bramble_peers_start(struct bramble *b, struct bramble_cache *cache,
			const struct bramble_peers_opts *o)
{
	unsigned char key[BR_PEER_KEY_LEN];
	struct bramble_peers *p;
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (b->peers)
		return -EALREADY;
	if (!bramble_server_can(b, BRAMBLE_CAP_PEERS))
		return -EOPNOTSUPP;
	rc = local_addr(b, &ss, &len);
	if (rc < 0)
		return rc;
	set_port(&ss, o ? o->port : 0);
	p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->reg_mu, NULL);
	if (o && o->node_port && o->node_key)
		add_reg(p, o->node_port, o->node_key);
	if (o && o->key)
		memcpy(key, o->key, sizeof(key));
	else
		peerauth_new_key(key);
	p->store = peerstore_new(o ? o->ram : 0);
	rc = peersvc_start((struct sockaddr *)&ss, len, key, p->store, cache, &p->svc,
			   &p->port);
	if (rc == 0)
		add_reg(p, p->port, key);
	if (rc < 0) {
		peerstore_free(p->store);
		pthread_mutex_destroy(&p->reg_mu);
		free(p);
		return rc;
	}
	p->fetch = peerfetch_new();
	b->peers = p;
	/* A node's own service is there for others from the start; one that
	 * also names its node's (bramble stage) matters only once it fetches:
	 * registered at its first chunk, so a stage with nothing to fetch
	 * costs the server no call. */
	if (p->nregs == 1)
		register_service(b, p);
	return 0;
}

/* Read exactly len bytes of the key file fd. */
static int read_key(int fd, unsigned char *key, size_t len)
{
	ssize_t n = read(fd, key, len);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EBADMSG;
}

int bramble_peers_node_key(const char *dir, unsigned char key[BRAMBLE_PEER_KEY_LEN])
{
	char path[4096];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/peer.key", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		rc = read_key(fd, key, BRAMBLE_PEER_KEY_LEN);
		close(fd);
		if (rc == 0)
			return 0;
		unlink(path);           /* short or unreadable: made again */
	}
	/* Made under a temporary name and linked in: two processes that race
	 * here both end with the one that won. */
	snprintf(path, sizeof(path), "%s/peer.key.%ld", dir, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	peerauth_new_key(key);
	rc = write_all(fd, key, BRAMBLE_PEER_KEY_LEN);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0) {
		char final[4096];

		snprintf(final, sizeof(final), "%s/peer.key", dir);
		if (link(path, final) < 0 && errno != EEXIST)
			rc = -errno;
	}
	unlink(path);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/peer.key", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	rc = read_key(fd, key, BRAMBLE_PEER_KEY_LEN);
	close(fd);
	return rc;
}

void peers_release(struct bramble *b)
{
	struct bramble_peers *p = b->peers;

	if (!p)
		return;
	peersvc_stop(p->svc);
	peerfetch_free(p->fetch);
	peerstore_free(p->store);
	pthread_mutex_destroy(&p->reg_mu);
	free(p);
	b->peers = NULL;
}

void bramble_peers_get_stats(struct bramble *b, struct bramble_peer_stats *out)
{
	struct bramble_peers *p = b->peers;

	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->on = true;
	out->port = p->port ? p->port : p->regs[0].port;
	if (p->svc)
		peersvc_get_counts(p->svc, &out->served, &out->served_bytes, &out->refused);
	out->from_peers = p->from_peers;
	out->from_peers_bytes = p->from_peers_bytes;
	out->failures = p->failures;
}

/* One PEER_REGISTER through the ordinary path. */
static int register_one(struct bramble *b, const struct peer_reg *g)
{
	static const struct bramble_cred root = { 0 };
	br_peer_register_args a = { .port = g->port };
	struct rpc_op op;
	br_stat r;
	int rc;

	memcpy(a.key, g->key, sizeof(a.key));
	rc = rpc_run_decode(b, &op, BRPROC_PEER_REGISTER, &root,
			    (xdrproc_t)xdr_br_peer_register_args, &a,
			    (xdrproc_t)xdr_br_stat, &r, sizeof(r));
	if (rc == 0)
		rc = br_stat_to_errno(r);
	return rpc_end(b, &op, rc);
}

/* PEER_REGISTER of each service on the current connection, unless done on
 * it already. */
static void register_service(struct bramble *b, struct bramble_peers *p)
{
	uint64_t gen = conn_generation(b->conn) + 1;
	int rc = 0;

	if (p->reg_gen == gen)
		return;
	pthread_mutex_lock(&p->reg_mu);
	if (p->reg_gen == gen) {
		/* another reader did it while this one waited */
	} else if (atomic_exchange(&p->dial_registered, false)) {
		p->reg_gen = gen;
	} else {
		for (unsigned int i = 0; i < p->nregs && rc == 0; i++)
			rc = register_one(b, &p->regs[i]);
		if (rc == 0)
			p->reg_gen = gen;
		else
			log_warn_rl("peer service not registered with the server: %s",
				    strerror(-rc));
	}
	pthread_mutex_unlock(&p->reg_mu);
}

void peers_on_dial(struct bramble *b, int fd, int timeout_ms)
{
	static const struct br_cred root = { 0 };
	struct bramble_peers *p = b->peers;
	int rc = 0;

	if (!p)
		return;
	for (unsigned int i = 0; i < p->nregs && rc == 0; i++) {
		br_peer_register_args a = { .port = p->regs[i].port };
		br_stat r;

		memcpy(a.key, p->regs[i].key, sizeof(a.key));
		rc = dial_call(fd, PEER_REGISTER_XID + i, BR_PROGRAM, BR_VERSION,
			       BRPROC_PEER_REGISTER, &root, (xdrproc_t)xdr_br_peer_register_args,
			       &a, (xdrproc_t)xdr_br_stat, &r, sizeof(r),
			       now_ns() + (int64_t)timeout_ms * 1000000);
		if (rc == 0 && r != BR_OK)
			rc = br_stat_to_errno(r);
	}
	if (rc == 0)
		p->dial_registered = true;
}

/* What the chunk cost on the wire, for the caller's counters. */
static void wire_note(struct bramble_chunk_wire *wire, br_chunk_enc enc, size_t wire_len)
{
	if (!wire)
		return;
	wire->enc = enc == BR_ENC_ZSTD ? BRAMBLE_ENC_ZSTD : BRAMBLE_ENC_RAW;
	wire->wire_len = wire_len;
}

/* The server's own bytes d of chunk hash, decoded and checked, into buf;
 * kept (as they came) for the nodes that will be sent here. */
static ssize_t from_server(struct bramble_peers *p, const br_chunk_data *d,
			   const unsigned char *hash, void *buf, size_t size,
			   struct bramble_chunk_wire *wire)
{
	ssize_t n = chunkcodec_decode(d, hash, buf, size);

	if (n < 0) {
		if (n != -ERANGE)
			log_warn_rl("a chunk from the server does not decode to the chunk (%s)",
				    strerror((int)-n));
		return n;
	}
	wire_note(wire, d->enc, d->data.data_len);
	if (p->store)
		peerstore_done(p->store, hash, d->enc, d->len, d->data.data_val,
			       d->data.data_len);
	return n;
}

/* Ask, follow the server to a peer, and on a peer's failure ask again
 * naming it; the last try asks for the server's own bytes. */
static ssize_t fetch_routed(struct bramble *b, struct bramble_peers *p,
			    const struct bramble_cred *cr, const struct bramble_fh *fh,
			    uint32_t idx, const unsigned char *hash, uint64_t version,
			    void *buf, size_t size, struct bramble_chunk_wire *wire)
{
	uint32_t zstd = bramble_chunk_zstd_ok(b) ? BR_RC_ZSTD : 0;
	br_peer_addr failed;
	unsigned char failed_addr[PEERAUTH_ADDR_LEN];
	bool have_failed = false;
	uint32_t lacked = 0;
	ssize_t n = -EIO;

	for (int t = 0; t <= TRIES; t++) {
		br_read_chunk2_res r;
		br_chunk_src *src = &r.br_read_chunk2_res_u.ok;
		int rc = bramble_read_chunk2_call(b, cr, fh, idx, hash, version,
						  (t < TRIES ? BR_RC_PEERS : 0) | lacked | zstd,
						  have_failed ? &failed : NULL, &r);
		bool from_srv;

		if (rc < 0)
			return rc;
		from_srv = src->from == BR_FROM_SERVER;
		if (from_srv) {
			n = from_server(p, &src->br_chunk_src_u.data, hash, buf, size, wire);
		} else {
			const br_peer_ref *ref = &src->br_chunk_src_u.peer;
			br_chunk_enc enc = BR_ENC_RAW;
			size_t wire_len = 0;

			n = peerfetch_chunk(p->fetch, ref, hash, zstd != 0, buf, size, p->store,
					    &enc, &wire_len);
			if (n >= 0) {
				wire_note(wire, enc, wire_len);
				p->from_peers++;
				p->from_peers_bytes += (uint64_t)n;
			} else if (ref->peer.addr.addr_len == PEERAUTH_ADDR_LEN) {
				p->failures++;
				memcpy(failed_addr, ref->peer.addr.addr_val, sizeof(failed_addr));
				failed.addr.addr_len = sizeof(failed_addr);
				failed.addr.addr_val = (char *)failed_addr;
				failed.port = ref->peer.port;
				have_failed = true;
				/* Not a fault of the peer's: it has not got the
				 * chunk (yet), or it was too busy and closed the
				 * connection (a dead one also closes its
				 * connection to the server, which forgets it). */
				lacked = n == -ENOENT || n == -EAGAIN || n == -ECONNRESET ?
					 BR_RC_LACKED : 0;
			}
		}
		xdr_free((xdrproc_t)xdr_br_read_chunk2_res, (char *)&r);
		if (n >= 0 || from_srv)
			return n;
	}
	return n;
}

ssize_t peers_read_chunk(struct bramble *b, const struct bramble_cred *cr,
			 const struct bramble_fh *fh, uint32_t idx, const unsigned char *hash,
			 uint64_t version, void *buf, size_t size,
			 struct bramble_chunk_wire *wire)
{
	struct bramble_peers *p = b->peers;
	ssize_t n;

	register_service(b, p);
	if (p->store)
		peerstore_expect(p->store, hash);
	n = fetch_routed(b, p, cr, fh, idx, hash, version, buf, size, wire);
	if (n < 0 && p->store)
		peerstore_done(p->store, hash, BR_ENC_RAW, 0, NULL, 0);
	return n;
}
