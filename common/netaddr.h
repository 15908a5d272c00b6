/* netaddr.h - host[:port] parsing, resolution and printing. */
#ifndef BR_NETADDR_H
#define BR_NETADDR_H

#include <sys/socket.h>

/* Split "HOST[:PORT]" or "[V6]:PORT".  *host_out is malloc'd (caller frees);
 * *port_out gets PORT, or default_port when absent.  0 or -EINVAL. */
int netaddr_split(const char *s, int default_port, char **host_out,
		  int *port_out);

/* Resolve host (name or literal) for TCP into *ss.  0 or -EHOSTUNREACH/-EINVAL. */
int netaddr_resolve(const char *host, int port, struct sockaddr_storage *ss,
		    socklen_t *len);

/* "1.2.3.4:7049" or "[::1]:7049" into buf (always NUL-terminated). */
void netaddr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Port of an AF_INET/AF_INET6 address, host order; -1 otherwise. */
int netaddr_port(const struct sockaddr *sa);

#endif
