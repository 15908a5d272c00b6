/* peerauth.c - tickets and strong hashes for peer fan-out (peerauth.h). */
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "peerauth.h"

int peerauth_addr16(const struct sockaddr *sa, unsigned char out[PEERAUTH_ADDR_LEN])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return 0;
	}
	if (sa->sa_family != AF_INET)
		return -EAFNOSUPPORT;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	return 0;
}

void peerauth_ticket(unsigned char out[PEERAUTH_MAC_LEN],
		     const unsigned char key[PEERAUTH_KEY_LEN],
		     const unsigned char hash[PEERAUTH_HASH_LEN],
		     const unsigned char addr16[PEERAUTH_ADDR_LEN])
{
	crypto_generichash_state s;

	crypto_generichash_init(&s, key, PEERAUTH_KEY_LEN, PEERAUTH_MAC_LEN);
	crypto_generichash_update(&s, hash, PEERAUTH_HASH_LEN);
	crypto_generichash_update(&s, addr16, PEERAUTH_ADDR_LEN);
	crypto_generichash_final(&s, out, PEERAUTH_MAC_LEN);
}

void peerauth_strong(unsigned char out[PEERAUTH_MAC_LEN], const void *data, size_t len)
{
	crypto_generichash(out, PEERAUTH_MAC_LEN, data, len, NULL, 0);
}

void peerauth_new_key(unsigned char out[PEERAUTH_KEY_LEN])
{
	if (sodium_init() < 0)  /* idempotent; fails only without entropy */
		abort();
	randombytes_buf(out, PEERAUTH_KEY_LEN);
}

bool peerauth_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}
