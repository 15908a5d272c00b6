/* allow.h - the --allow list: which client networks may connect.
 *
 * A list of CIDR prefixes, IPv4 and IPv6.  An IPv4-mapped IPv6 peer
 * (::ffff:a.b.c.d, as seen on a dual-stack listener) is matched as the IPv4
 * address it carries.  The list is built once at startup and read only
 * afterwards, so it needs no lock.  Returns 0 or -errno. */
#ifndef BR_ALLOW_H
#define BR_ALLOW_H

#include <stdbool.h>
#include <sys/socket.h>

struct allow_net {
	int family;                 /* AF_INET or AF_INET6 */
	unsigned char addr[16];     /* network bytes; host bits cleared */
	unsigned int prefix;        /* 0..32 or 0..128 */
};

struct allow {
	struct allow_net *nets;     /* owned */
	size_t n;
};

/* Parse "CIDR[,CIDR...]" ("10.0.0.0/8", "192.168.1.7", "fd00::/8") into
 * *a (released with allow_release()).  -EINVAL on anything malformed,
 * including host bits set beyond the prefix ("10.0.0.1/8"): that is almost
 * always a typo for a narrower net. */
int allow_parse(struct allow *a, const char *spec);
void allow_release(struct allow *a);
/* True when sa's address falls in one of the networks. */
bool allow_match(const struct allow *a, const struct sockaddr *sa);

#endif
