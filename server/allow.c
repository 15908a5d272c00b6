/* allow.c - CIDR parsing and matching for --allow. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "allow.h"
#include "util.h"
#include "xalloc.h"

static bool prefix_eq(const unsigned char *a, const unsigned char *b,
		      unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole))
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));

	return (a[whole] & mask) == (b[whole] & mask);
}

static int parse_one(const char *s, struct allow_net *net)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long long prefix;

	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, host, net->addr) == 1)
		net->family = AF_INET;
	else if (inet_pton(AF_INET6, host, net->addr) == 1)
		net->family = AF_INET6;
	else
		return -EINVAL;
	prefix = net->family == AF_INET ? 32 : 128;
	if (slash && parse_uint(slash + 1, 0, prefix, &prefix) < 0)
		return -EINVAL;
	net->prefix = (unsigned int)prefix;
	/* Host bits must be clear: compare the address with itself masked. */
	unsigned int bytes = net->family == AF_INET ? 4 : 16;
	unsigned char masked[16];

	memcpy(masked, net->addr, bytes);
	for (unsigned int i = 0; i < bytes * 8; i++)
		if (i >= net->prefix)
			masked[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	if (memcmp(masked, net->addr, bytes))
		return -EINVAL;
	return 0;
}

int allow_parse(struct allow *a, const char *spec)
{
	char *copy, *rest, *tok;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	if (!spec || !*spec)
		return -EINVAL;
	copy = rest = xstrdup(spec);
	/* strsep, not strtok: an empty element ("a,,b", "a,") is an error. */
	while ((tok = strsep(&rest, ","))) {
		struct allow_net net;

		while (*tok == ' ')
			tok++;
		rc = parse_one(tok, &net);
		if (rc < 0)
			break;
		a->nets = xrealloc(a->nets, (a->n + 1) * sizeof(*a->nets));
		a->nets[a->n++] = net;
	}
	free(copy);
	if (rc == 0 && a->n == 0)
		rc = -EINVAL;
	if (rc < 0)
		allow_release(a);
	return rc;
}

void allow_release(struct allow *a)
{
	free(a->nets);
	a->nets = NULL;
	a->n = 0;
}

bool allow_match(const struct allow *a, const struct sockaddr *sa)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
						    0, 0, 0xff, 0xff };
	unsigned char addr[16];
	int family;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		family = AF_INET6;
		memcpy(addr, &in6->sin6_addr, 16);
		if (!memcmp(addr, v4mapped, 12)) {
			family = AF_INET;
			memmove(addr, addr + 12, 4);
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->nets[i].family == family &&
		    prefix_eq(a->nets[i].addr, addr, a->nets[i].prefix))
			return true;
	return false;
}
