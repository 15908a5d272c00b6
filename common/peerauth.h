/* peerauth.h - what makes peer fan-out safe, shared by the server (which
 * makes tickets and strong hashes) and libbramble (whose peer service
 * checks tickets and whose fetcher checks strong hashes): bramble_prot.x
 * "Peers" has the contract.
 *
 * A ticket is BLAKE2b-256 keyed with the source's key over the chunk's
 * name and the requester's address, so a source serves a chunk only to a
 * node the server sent to it (the server checked that node's right to the
 * file first).  The strong hash is BLAKE2b-256 of the chunk's bytes: XXH3
 * names chunks, but anyone can make bytes with a given XXH3, not with a
 * given BLAKE2b.  Comparisons run in constant time. */
#ifndef BR_PEERAUTH_H
#define BR_PEERAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define PEERAUTH_ADDR_LEN 16       /* IPv6, IPv4 mapped into it */
#define PEERAUTH_HASH_LEN 16       /* a chunk's name */
#define PEERAUTH_MAC_LEN 32        /* ticket, strong hash */
#define PEERAUTH_KEY_LEN 32

/* sa's address as 16 bytes (IPv4 as ::ffff:a.b.c.d).  -EAFNOSUPPORT for
 * anything but IPv4/IPv6. */
int peerauth_addr16(const struct sockaddr *sa, unsigned char out[PEERAUTH_ADDR_LEN]);
void peerauth_ticket(unsigned char out[PEERAUTH_MAC_LEN],
		     const unsigned char key[PEERAUTH_KEY_LEN],
		     const unsigned char hash[PEERAUTH_HASH_LEN],
		     const unsigned char addr16[PEERAUTH_ADDR_LEN]);
void peerauth_strong(unsigned char out[PEERAUTH_MAC_LEN], const void *data, size_t len);
/* A fresh random key. */
void peerauth_new_key(unsigned char out[PEERAUTH_KEY_LEN]);
/* a == b over n bytes, in time independent of where they differ. */
bool peerauth_equal(const unsigned char *a, const unsigned char *b, size_t n);

#endif
