/* peers.c - which node a chunk's requester is sent to (peers.h).
 *
 * Two tables under one mutex: the registered peer services (a short
 * array: one or two per node), and the chunks recently served or routed
 * (a hash table with an LRU list, bounded), each with its strong hash and
 * its latest requesters, newest first. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hashtab.h"
#include "peerauth.h"
#include "peers.h"
#include "util.h"
#include "xalloc.h"

/* How long a requester waits for the first copy of a chunk to go out
 * (its strong hash is known only then) before it is served itself: the
 * first READ_CHUNK2 of a chunk reads it from disk, a few ms. */
#define STRONG_WAIT_NS (200 * 1000000ll)

/* A peer service: an address, port and key.  Several connections of one
 * node may register the same one (bramblefs, and `bramble stage' fetching
 * into the node cache bramblefs serves from): it lives while any of them
 * is connected. */
struct peer_svc {
	uint64_t id;                    /* never 0, never reused */
	unsigned char addr16[PEERAUTH_ADDR_LEN];
	uint32_t port;
	unsigned char key[BR_PEER_KEY_LEN];
	unsigned int conns;             /* registrations alive */
	int64_t bad_until_ns;
};

/* A connection's registration. */
struct peer_reg {
	uint64_t conn_id, svc_id;
};

struct chunk_route {
	struct hashtab_node hn;
	struct chunk_route *older, *newer;      /* LRU */
	unsigned char hash[PEERS_HASH_LEN];
	bool strong_known;
	unsigned char strong[BR_STRONG_HASH_LEN];
	uint32_t len;
	uint64_t src[PEERS_SOURCES];            /* peer_svc ids, newest first; 0: none */
};

struct peers {
	pthread_mutex_t mu;
	pthread_cond_t served_cv;
	struct peer_svc *svcs;
	size_t nsvcs, svcs_cap;
	struct peer_reg *regs;
	size_t nregs, regs_cap;
	uint64_t last_svc_id;
	struct hashtab routes;
	struct chunk_route *oldest, *newest;
	struct peers_stats st;
};

struct peers *peers_new(void)
{
	struct peers *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;

	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->served_cv, &ca);
	pthread_condattr_destroy(&ca);
	hashtab_init(&p->routes, 1024);
	return p;
}

void peers_free(struct peers *p)
{
	if (!p)
		return;
	while (p->oldest) {
		struct chunk_route *r = p->oldest;

		p->oldest = r->newer;
		free(r);
	}
	hashtab_release(&p->routes);
	free(p->svcs);
	free(p->regs);
	pthread_cond_destroy(&p->served_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* ---- peer services */

static struct peer_svc *svc_by_id(struct peers *p, uint64_t id)
{
	for (size_t i = 0; i < p->nsvcs; i++)
		if (p->svcs[i].id == id)
			return &p->svcs[i];
	return NULL;
}

static struct peer_svc *svc_by_addr(struct peers *p, const unsigned char *addr16,
				    uint32_t port)
{
	for (size_t i = 0; i < p->nsvcs; i++)
		if (p->svcs[i].port == port &&
		    memcmp(p->svcs[i].addr16, addr16, PEERAUTH_ADDR_LEN) == 0)
			return &p->svcs[i];
	return NULL;
}

/* The services conn_id registered, in the order it registered them, into
 * ids[PEERS_PER_CONN] (0: none). */
static void svcs_of_conn(struct peers *p, uint64_t conn_id, uint64_t *ids)
{
	size_t n = 0;

	memset(ids, 0, PEERS_PER_CONN * sizeof(*ids));
	for (size_t i = 0; i < p->nregs && n < PEERS_PER_CONN; i++)
		if (p->regs[i].conn_id == conn_id)
			ids[n++] = p->regs[i].svc_id;
}

/* Registration i ends; its service too when it was the last.  (Order of
 * the others kept: svcs_of_conn reports it.) */
static void reg_drop(struct peers *p, size_t i)
{
	struct peer_svc *s = svc_by_id(p, p->regs[i].svc_id);

	if (s && --s->conns == 0)
		*s = p->svcs[--p->nsvcs];
	memmove(&p->regs[i], &p->regs[i + 1], (p->nregs - i - 1) * sizeof(*p->regs));
	p->nregs--;
}

/* Every registration of conn_id ends. */
static void unregister(struct peers *p, uint64_t conn_id)
{
	for (size_t i = p->nregs; i-- > 0;)
		if (p->regs[i].conn_id == conn_id)
			reg_drop(p, i);
}

/* conn_id's registration of s, made unless it exists; a connection's
 * oldest goes past PEERS_PER_CONN. */
static void reg_add(struct peers *p, uint64_t conn_id, struct peer_svc *s)
{
	size_t mine = 0, oldest = SIZE_MAX;

	for (size_t i = 0; i < p->nregs; i++) {
		if (p->regs[i].conn_id != conn_id)
			continue;
		if (p->regs[i].svc_id == s->id)
			return;
		if (mine++ == 0)
			oldest = i;
	}
	if (mine >= PEERS_PER_CONN)
		reg_drop(p, oldest);
	if (p->nregs == p->regs_cap) {
		p->regs_cap = p->regs_cap ? 2 * p->regs_cap : 16;
		p->regs = xrealloc(p->regs, p->regs_cap * sizeof(*p->regs));
	}
	s->conns++;
	p->regs[p->nregs++] = (struct peer_reg){ conn_id, s->id };
}

/* The service at n's address and port (made, or its key replaced). */
static struct peer_svc *svc_get(struct peers *p, const struct peer_svc *n)
{
	struct peer_svc *s = svc_by_addr(p, n->addr16, n->port);

	if (!s) {
		if (p->nsvcs == p->svcs_cap) {
			p->svcs_cap = p->svcs_cap ? 2 * p->svcs_cap : 16;
			p->svcs = xrealloc(p->svcs, p->svcs_cap * sizeof(*p->svcs));
		}
		s = &p->svcs[p->nsvcs++];
		*s = *n;
		s->id = ++p->last_svc_id;
		s->conns = 0;
	}
	memcpy(s->key, n->key, sizeof(s->key));
	return s;
}

int peers_register(struct peers *p, uint64_t conn_id, const struct sockaddr *sa,
		   uint32_t port, const unsigned char key[BR_PEER_KEY_LEN])
{
	struct peer_svc n = { .port = port };
	struct peer_svc *s;

	if (port > 65535 || peerauth_addr16(sa, n.addr16) < 0)
		return -EINVAL;
	memcpy(n.key, key, sizeof(n.key));
	pthread_mutex_lock(&p->mu);
	if (!port) {
		unregister(p, conn_id);
	} else {
		s = svc_get(p, &n);
		reg_add(p, conn_id, s);
	}
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void peers_conn_gone(struct peers *p, uint64_t conn_id)
{
	pthread_mutex_lock(&p->mu);
	unregister(p, conn_id);
	pthread_mutex_unlock(&p->mu);
}

/* A requester says the peer at f failed it for chunk r.  A peer that
 * only lacked it (lacked: it answered so) is passed over for that chunk;
 * one that was unreachable, stalled or sent wrong bytes, for everything,
 * a while. */
static void svc_failed(struct peers *p, struct chunk_route *r, const br_peer_addr *f,
		       bool lacked)
{
	struct peer_svc *s;

	p->st.peer_failures++;
	if (f->addr.addr_len != PEERAUTH_ADDR_LEN ||
	    !(s = svc_by_addr(p, (const unsigned char *)f->addr.addr_val, f->port)))
		return;
	for (size_t i = 0; i < PEERS_SOURCES; i++)
		if (r->src[i] == s->id) {
			memmove(&r->src[i], &r->src[i + 1],
				(PEERS_SOURCES - 1 - i) * sizeof(r->src[0]));
			r->src[PEERS_SOURCES - 1] = 0;
			break;
		}
	if (!lacked)
		s->bad_until_ns = now_ns() + PEERS_BAD_NS;
}

/* ---- chunk routes */

static bool route_is(const struct hashtab_node *n, const void *key)
{
	return memcmp(HASHTAB_ENTRY(n, struct chunk_route, hn)->hash, key,
		      PEERS_HASH_LEN) == 0;
}

static void lru_unlink(struct peers *p, struct chunk_route *r)
{
	if (r->older)
		r->older->newer = r->newer;
	else
		p->oldest = r->newer;
	if (r->newer)
		r->newer->older = r->older;
	else
		p->newest = r->older;
	r->older = r->newer = NULL;
}

static void lru_append(struct peers *p, struct chunk_route *r)
{
	r->older = p->newest;
	if (p->newest)
		p->newest->newer = r;
	else
		p->oldest = r;
	p->newest = r;
}

static struct chunk_route *route_find(struct peers *p, const unsigned char *hash)
{
	struct hashtab_node *n = hashtab_find(&p->routes, hash_bytes(hash, PEERS_HASH_LEN),
					      route_is, hash);

	return n ? HASHTAB_ENTRY(n, struct chunk_route, hn) : NULL;
}

/* hash's route, made (and the oldest dropped past the bound) when absent;
 * in any case now the newest. */
static struct chunk_route *route_get(struct peers *p, const unsigned char *hash)
{
	struct chunk_route *r = route_find(p, hash);

	if (r) {
		lru_unlink(p, r);
		lru_append(p, r);
		return r;
	}
	if (p->routes.count >= PEERS_ENTRIES_MAX) {
		r = p->oldest;
		lru_unlink(p, r);
		hashtab_remove(&p->routes, &r->hn);
		free(r);
	}
	r = xcalloc(1, sizeof(*r));
	memcpy(r->hash, hash, PEERS_HASH_LEN);
	hashtab_insert(&p->routes, &r->hn, hash_bytes(hash, PEERS_HASH_LEN));
	lru_append(p, r);
	return r;
}

/* The requester's services (ids, 0s ignored) are r's newest sources, the
 * one it registered last first (once each in the list). */
static void route_push(struct chunk_route *r, const uint64_t *ids)
{
	for (size_t k = 0; k < PEERS_PER_CONN; k++) {
		size_t i;

		if (!ids[k])
			continue;
		for (i = 0; i < PEERS_SOURCES - 1 && r->src[i] != ids[k]; i++)
			;
		memmove(&r->src[1], &r->src[0], i * sizeof(r->src[0]));
		r->src[0] = ids[k];
	}
}

static bool is_self(const uint64_t *ids, uint64_t id)
{
	for (size_t k = 0; k < PEERS_PER_CONN; k++)
		if (ids[k] == id)
			return true;
	return false;
}

/* The newest of r's sources, not the requester's own (self), that can
 * serve now. */
/* Where the requester's own services stand in r's list: the index of the
 * first, or PEERS_SOURCES when it never asked for this chunk before. */
static size_t self_pos(const struct chunk_route *r, const uint64_t *self)
{
	for (size_t i = 0; i < PEERS_SOURCES && r->src[i]; i++)
		if (is_self(self, r->src[i]))
			return i;
	return PEERS_SOURCES;
}

/* The newest of r's sources that can serve the requester now.  One that
 * asks again (its peer failed it) is sent only to a node that asked before
 * it did: a node that asked later may have been sent to it, and is waiting
 * for the very chunk -- the two would wait for each other. */
static struct peer_svc *route_source(struct peers *p, const struct chunk_route *r,
				     const uint64_t *self)
{
	int64_t now = now_ns();
	size_t first = self_pos(r, self);

	first = first == PEERS_SOURCES ? 0 : first + 1;
	for (size_t i = first; i < PEERS_SOURCES && r->src[i]; i++) {
		struct peer_svc *s;

		if (is_self(self, r->src[i]))
			continue;
		s = svc_by_id(p, r->src[i]);
		if (s && s->bad_until_ns <= now)
			return s;
	}
	return NULL;
}

/* Wait (bounded) while hash's first copy is on its way out.  The route is
 * looked up again after every wake: it may have been dropped meanwhile. */
static void wait_strong(struct peers *p, const unsigned char *hash)
{
	struct timespec ts;
	int64_t deadline = now_ns() + STRONG_WAIT_NS;
	struct chunk_route *r;

	ts.tv_sec = deadline / 1000000000;
	ts.tv_nsec = deadline % 1000000000;
	while ((r = route_find(p, hash)) && !r->strong_known && r->src[0])
		if (pthread_cond_timedwait(&p->served_cv, &p->mu, &ts) != 0)
			break;
}

static void fill_ref(br_peer_ref *ref, const struct peer_svc *s,
		     const struct chunk_route *r, const unsigned char *addr16)
{
	ref->peer.addr.addr_len = PEERAUTH_ADDR_LEN;
	ref->peer.addr.addr_val = xmalloc(PEERAUTH_ADDR_LEN);
	memcpy(ref->peer.addr.addr_val, s->addr16, PEERAUTH_ADDR_LEN);
	ref->peer.port = s->port;
	peerauth_ticket((unsigned char *)ref->ticket, s->key, r->hash, addr16);
	memcpy(ref->strong, r->strong, sizeof(ref->strong));
	ref->len = r->len;
}

bool peers_route(struct peers *p, uint64_t conn_id, const struct sockaddr *sa,
		 const unsigned char hash[PEERS_HASH_LEN], const br_peer_addr *failed,
		 bool lacked, br_peer_ref *ref)
{
	unsigned char addr16[PEERAUTH_ADDR_LEN];
	struct chunk_route *r;
	struct peer_svc *s = NULL;
	uint64_t self[PEERS_PER_CONN];

	if (peerauth_addr16(sa, addr16) < 0)
		return false;
	pthread_mutex_lock(&p->mu);
	svcs_of_conn(p, conn_id, self);
	r = route_get(p, hash);
	if (failed)
		svc_failed(p, r, failed, lacked);
	if (!r->strong_known) {
		wait_strong(p, hash);
		r = route_get(p, hash);
	}
	if (r->strong_known)
		s = route_source(p, r, self);
	if (s) {
		fill_ref(ref, s, r, addr16);
		p->st.sent_to_peer++;
	}
	/* Either way it is the chunk's newest requester: the next one is sent
	 * to it (once it is a source and the first copy is out) -- unless it
	 * asked before, when it keeps its place (see route_source). */
	if (self_pos(r, self) == PEERS_SOURCES)
		route_push(r, self);
	pthread_mutex_unlock(&p->mu);
	return s != NULL;
}

bool peers_knows(struct peers *p, const unsigned char hash[PEERS_HASH_LEN], size_t len)
{
	struct chunk_route *r;
	bool known;

	pthread_mutex_lock(&p->mu);
	r = route_find(p, hash);
	known = r && r->strong_known && r->len == len;
	pthread_mutex_unlock(&p->mu);
	return known;
}

void peers_served(struct peers *p, uint64_t conn_id,
		  const unsigned char hash[PEERS_HASH_LEN], const void *data, size_t len)
{
	unsigned char strong[BR_STRONG_HASH_LEN];
	uint64_t ids[PEERS_PER_CONN];
	struct chunk_route *r;
	bool known;

	pthread_mutex_lock(&p->mu);
	r = route_get(p, hash);
	known = r->strong_known && r->len == len;
	pthread_mutex_unlock(&p->mu);
	if (!known && !data)
		return;                 /* (the caller had no bytes to hash) */
	if (!known)
		peerauth_strong(strong, data, len);     /* outside the lock: ~1 ms/MiB */
	pthread_mutex_lock(&p->mu);
	r = route_get(p, hash);
	if (!known) {
		memcpy(r->strong, strong, sizeof(strong));
		r->len = (uint32_t)len;
		r->strong_known = true;
	}
	svcs_of_conn(p, conn_id, ids);
	route_push(r, ids);
	p->st.served_chunks++;
	p->st.served_bytes += len;
	pthread_cond_broadcast(&p->served_cv);
	pthread_mutex_unlock(&p->mu);
}

void peers_get_stats(struct peers *p, struct peers_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	out->registered = p->nsvcs;
	pthread_mutex_unlock(&p->mu);
}
