/* peers.h - libbramble's side of peer fan-out (bramble_prot.x "Peers";
 * the public switch is bramble_peers_start() in bramble.h).
 *
 * Three parts, one per file:
 *  - the store (peerstore.c): the chunks this process fetched lately, as
 *    they came on the wire (compressed bytes stay compressed), in RAM,
 *    bounded, least recently used out first; and the chunks it is
 *    fetching now, which a peer request may wait for;
 *  - the service (peersvc.c): a TCP listener on the address this node
 *    reaches the server from; each connection's requests are answered one
 *    at a time: the ticket checked, the chunk taken from the store (or the
 *    node cache), waiting a while for one being fetched;
 *  - the fetcher (peerfetch.c): a chunk from the peer the server named,
 *    over a kept connection, checked against its name and the server's
 *    strong hash before anyone sees it.
 * bramble_read_chunk() (calls_data.c) ties them together. */
#ifndef BR_CLIENT_PEERS_H
#define BR_CLIENT_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bramble.h"
#include "bramble_cache.h"
#include "bramble_peers.h"
#include "proto.h"

/* How long a service waits for a chunk its node is still fetching, and
 * how long a fetcher waits for a peer's answer (longer: the peer may be
 * waiting that long itself).  Generous: on a saturated link a node's
 * chunk arrives only after the dozen it asked for before (16 x 1 MiB at
 * 200 Mbit/s is 0.7 s), and the node sent here waits for it in any case;
 * a peer that died answers at once (its socket is closed), so only a
 * stalled one costs the whole wait, once, before the server passes it
 * over (PEERS_BAD_NS). */
#define PEERS_SERVE_WAIT_MS 5000
#define PEERS_FETCH_WAIT_MS 6000
#define PEERS_RAM_DEFAULT (64u << 20)

struct peerstore;
struct peersvc;

/* ---- the store */

struct peerstore *peerstore_new(size_t max_bytes);
void peerstore_free(struct peerstore *s);
/* This process is fetching hash (counted: several fetches may overlap). */
void peerstore_expect(struct peerstore *s, const unsigned char *hash);
/* ... and no longer: with its bytes as they came (enc, len decoded), or
 * enc_data NULL when the fetch failed (waiters give up at once). */
void peerstore_done(struct peerstore *s, const unsigned char *hash,
		    br_chunk_enc enc, uint32_t len, const void *enc_data, size_t enc_len);
/* Its service stops: waits end at once, and no new one starts. */
void peerstore_close(struct peerstore *s);
/* A copy of hash's stored form (*data malloc'd), waiting up to wait_ms
 * while it is expected.  0, -ENOENT (not here), -EAGAIN (still expected
 * when the wait ended). */
int peerstore_get(struct peerstore *s, const unsigned char *hash, int wait_ms,
		  br_chunk_enc *enc, uint32_t *len, void **data, size_t *data_len);

/* ---- the service */

/* Listen on addr (port 0: any) and serve from store, then cache (may be
 * NULL), to requests whose tickets were made with key.  The bound port in
 * *port. */
int peersvc_start(const struct sockaddr *addr, socklen_t addrlen,
		  const unsigned char key[BR_PEER_KEY_LEN], struct peerstore *store,
		  struct bramble_cache *cache, struct peersvc **out, uint16_t *port);
void peersvc_stop(struct peersvc *v);
void peersvc_get_counts(struct peersvc *v, uint64_t *chunks, uint64_t *bytes,
			uint64_t *refused);

/* ---- the fetcher */

struct peerfetch;
struct peerfetch *peerfetch_new(void);
void peerfetch_free(struct peerfetch *f);
/* Chunk hash from the peer ref names, decoded (zstd_ok: it may come
 * compressed, as the peer got it) and verified (name, strong hash,
 * length) into buf (cap bytes); its wire form offered to store, its
 * encoding and wire length in *enc, *wire_len.  The length, or -errno:
 * the caller asks the server again naming the peer. */
ssize_t peerfetch_chunk(struct peerfetch *f, const br_peer_ref *ref,
			const unsigned char *hash, bool zstd_ok, void *buf, size_t cap,
			struct peerstore *store, br_chunk_enc *enc, size_t *wire_len);

#endif
