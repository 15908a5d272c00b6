/* dial.h - open one TCP connection to the server.
 *
 * A separate module so the connection logic (conn.c) can be driven by any
 * source of connected sockets: tests hand it socketpair() ends instead.
 * Blocking; called from the connection's reader thread or from
 * bramble_new().  Returns 0 or -errno. */
#ifndef BR_DIAL_H
#define BR_DIAL_H

#include <sys/socket.h>

/* Connect to sa within timeout_ms.  resvport: 1 bind a source port below
 * 1024 (1023 downward, skipping ports in use), 0 an ordinary port, -1 a
 * reserved one when running as root.  On success *fd_out is a blocking,
 * close-on-exec socket with TCP_NODELAY and keepalive set. */
int dial_tcp(const struct sockaddr *sa, socklen_t len, int resvport,
	     int timeout_ms, int *fd_out);

#endif
