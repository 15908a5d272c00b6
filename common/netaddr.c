/* netaddr.c - host[:port] parsing, resolution and printing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"
#include "util.h"
#include "xalloc.h"

int netaddr_split(const char *s, int default_port, char **host_out,
		  int *port_out)
{
	const char *colon, *hend;
	const char *h = s;
	unsigned long long port = (unsigned long long)default_port;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend)
			return -EINVAL;
		h = s + 1;
		colon = hend[1] == ':' ? hend + 1 : NULL;
		if (hend[1] && !colon)
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			colon = NULL; /* bare IPv6 literal */
		hend = colon ? colon : s + strlen(s);
	}
	if (colon && parse_uint(colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	if (hend == h)
		return -EINVAL;
	*host_out = xstrndup(h, (size_t)(hend - h));
	*port_out = (int)port;
	return 0;
}

int netaddr_resolve(const char *host, int port, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai;
	char pbuf[16];
	int rc;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	rc = getaddrinfo(host, pbuf, &hints, &ai);
	if (rc != 0)
		return rc == EAI_NONAME || rc == EAI_FAIL ? -EHOSTUNREACH : -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

void netaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%d", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%d", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
}

int netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return -1;
}
