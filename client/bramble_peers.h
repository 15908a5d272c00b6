/* bramble_peers.h - libbramble's peer fan-out, the public side
 * (bramble_prot.x "Peers"; client/peers.h has the insides).
 *
 * What a process does to take part: bramblefs starts a service for its
 * mount; `bramble stage' starts one of its own and names its node's.
 * Everything else -- which chunk comes from which node, tickets, checks,
 * routing around a failed peer -- happens inside bramble_read_chunk(). */
#ifndef BRAMBLE_PEERS_H
#define BRAMBLE_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bramble.h"
#include "bramble_cache.h"

/* ---- peer fan-out (bramble_prot.x "Peers"; client/peers.h)
 *
 * bramble_peers_start() makes this handle a peer: it serves the chunks it
 * fetches (bramble_read_chunk) to other nodes the server sends to it, on a
 * TCP port of the address this node reaches the server from, and takes a
 * chunk from another node when the server says so -- checked against its
 * name and the server's BLAKE2b-256 of it before anyone sees it.  A peer
 * that fails is named to the server, which answers from another node or
 * itself.  The chunks lately fetched are kept in RAM for the nodes behind
 * this one (`ram' bytes), then served from cache (may be NULL).  Needs root
 * (the server registers only root's peer services) and a server with
 * BRAMBLE_CAP_PEERS (-EOPNOTSUPP otherwise).  Stopped by bramble_free(). */
struct bramble_peers_opts {
	uint16_t port;             /* the service's port; 0: any free one */
	size_t ram;                /* bytes of recent chunks kept; 0: 64 MiB */
	/* The key tickets for this service are made with (the server keeps
	 * it); NULL: a random one.  A node shares one (bramble_peers_node_key)
	 * so its other processes can join this service. */
	const unsigned char *key;
	/* Also a source through the node's service (bramblefs's) at node_port
	 * with node_key (0/NULL: none), which serves from the node cache what
	 * this handle put there: `bramble stage' serves from its own RAM while
	 * it runs, and through the mount after it exits. */
	uint16_t node_port;
	const unsigned char *node_key;
};
int bramble_peers_start(struct bramble *b, struct bramble_cache *cache,
			const struct bramble_peers_opts *o);
/* The node's peer key, kept in the node cache directory dir (root's, 0700)
 * as peer.key (0600), made on first use.  0 or -errno. */
#define BRAMBLE_PEER_KEY_LEN 32
int bramble_peers_node_key(const char *dir, unsigned char key[BRAMBLE_PEER_KEY_LEN]);

struct bramble_peer_stats {
	bool on;
	uint16_t port;
	uint64_t from_peers, from_peers_bytes;  /* chunks taken from peers */
	uint64_t failures;         /* peers that failed a fetch (asked again) */
	uint64_t served, served_bytes;          /* chunks this node served */
	uint64_t refused;          /* requests with a ticket not for us */
};
void bramble_peers_get_stats(struct bramble *b, struct bramble_peer_stats *out);

#endif
