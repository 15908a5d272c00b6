/* peers.h - peer fan-out: when a node asks for a chunk another node
 * fetched a moment ago, send it to that node instead of sending the bytes
 * again (READ_CHUNK2's BR_FROM_PEER, bramble_prot.x).
 *
 * Why: eight nodes staging one environment at once would otherwise pull
 * it eight times through the storage node's one port.  The rule is the
 * simplest that makes a chain: a chunk's requester is sent to the node
 * that asked for the same chunk last, and becomes the one the next
 * requester is sent to.  So each node receives each chunk once and passes
 * it on at most once, whatever order the nodes ask in, and the server
 * sends each chunk about once.  Consecutive chunks follow different
 * chains, so every node's uplink is busy, which is what a pipelined chain
 * (Dolly, Kascade) does on purpose.
 *
 * Who is a source: a peer service (address, port, key) some connection
 * registered (PEER_REGISTER), for as long as one such connection stays
 * connected -- no membership protocol of our own.  A node's bramblefs
 * registers its service, and `bramble stage' on that node registers the
 * same one (it fetches into the node cache bramblefs serves from), so the
 * chunks a stage fetched are still served after it exits.  A requester need not be a source itself (bramble
 * stage as an ordinary client is sent to peers too), but only sources are
 * sent to.  A source another node reports as failed (refused, stalled,
 * wrong bytes) is passed over for PEERS_BAD_NS; a chain that breaks
 * therefore heals at once: the requester asks again and gets another
 * source, or the server.
 *
 * What the requester is handed: the source's address and port, a ticket
 * (a MAC, with the key the source registered, of the chunk's name and the
 * requester's address) which the source checks, and the BLAKE2b-256 of
 * the chunk's bytes, computed here from bytes the server read itself: a
 * peer cannot forge it, so a peer can never poison another node's cache.
 * The server learns it when it serves the chunk (peers_served); until
 * then nobody is sent anywhere for that chunk.
 *
 * Thread-safe (one mutex); nothing here touches the disk or the network. */
#ifndef BR_PEERS_H
#define BR_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto.h"

#define PEERS_HASH_LEN 16          /* a chunk's name: XXH3-128 */
#define PEERS_ENTRIES_MAX 65536    /* chunks remembered (1 MiB chunks: 64 GiB) */
#define PEERS_SOURCES 6            /* sources remembered per chunk */
#define PEERS_PER_CONN 2           /* services one connection registers */
#define PEERS_BAD_NS (10 * 1000000000ll)

struct peers;

struct peers_stats {
	uint64_t registered;       /* peer services registered now */
	uint64_t sent_to_peer;     /* READ_CHUNK2s answered BR_FROM_PEER */
	uint64_t peer_failures;    /* requests that named a failed peer */
	uint64_t served_chunks;    /* chunks the server sent itself to clients */
	uint64_t served_bytes;     /* that could be sent to peers */
};

struct peers *peers_new(void);
void peers_free(struct peers *p);

/* Connection conn_id (from address sa) serves chunks at port with key;
 * port 0 withdraws all it registered.  A connection may register two
 * services: `bramble stage' registers its node's (bramblefs's, which will
 * serve what the stage put in the node cache after it exits), then its
 * own (which serves from RAM, as the chunks came, while it runs); the one
 * registered last is the newest source of what it fetches.  0, or
 * -EINVAL for a bad address. */
int peers_register(struct peers *p, uint64_t conn_id, const struct sockaddr *sa,
		   uint32_t port, const unsigned char key[BR_PEER_KEY_LEN]);
/* The connection closed: it is no longer a source. */
void peers_conn_gone(struct peers *p, uint64_t conn_id);

/* Where connection conn_id (from address sa) should take chunk hash from.
 * failed: a peer the requester reports as failed for it (NULL: none);
 * lacked: it only answered that it lacks the chunk.
 * True: *ref names a source (its ticket made for sa), and conn_id is now
 * that chunk's latest requester (the next one is sent to it if it is a
 * source).  False: the server sends the bytes itself, then calls
 * peers_served(). */
bool peers_route(struct peers *p, uint64_t conn_id, const struct sockaddr *sa,
		 const unsigned char hash[PEERS_HASH_LEN], const br_peer_addr *failed,
		 bool lacked, br_peer_ref *ref);
/* Whether chunk hash's strong hash (of len bytes) is known already: then
 * peers_served() needs no bytes. */
bool peers_knows(struct peers *p, const unsigned char hash[PEERS_HASH_LEN], size_t len);
/* The server sent chunk hash's bytes (data, len) to conn_id: remember the
 * chunk's strong hash (computed once: data may be NULL when peers_knows)
 * and conn_id as its latest source. */
void peers_served(struct peers *p, uint64_t conn_id,
		  const unsigned char hash[PEERS_HASH_LEN], const void *data, size_t len);

void peers_get_stats(struct peers *p, struct peers_stats *out);

#endif
