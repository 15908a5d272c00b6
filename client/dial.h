/* dial.h - open one TCP connection to the server.
 *
 * A separate module so the connection logic (conn.c) can be driven by any
 * source of connected sockets: tests hand it socketpair() ends instead.
 * Blocking; called from the connection's reader thread or from
 * bramble_new().  Returns 0 or -errno. */
#ifndef BR_DIAL_H
#define BR_DIAL_H

#include <stdint.h>
#include <sys/socket.h>

#include "rpcmsg.h"

/* Connect to sa within timeout_ms.  resvport: 1 bind a source port below
 * 1024 (1023 downward, skipping ports in use), 0 an ordinary port, -1 a
 * reserved one when running as root.  On success *fd_out is a blocking,
 * close-on-exec socket with TCP_NODELAY and keepalive set. */
int dial_tcp(const struct sockaddr *sa, socklen_t len, int resvport,
	     int timeout_ms, int *fd_out);

/* Read one whole RPC record from fd into r->rec before deadline_ns
 * (now_ns() clock), on a socket where one record answers one question:
 * -EPROTO when bytes follow it, -ETIMEDOUT, -ECONNRESET at EOF, -E2BIG
 * past r's cap.  For HELLO and the peer calls. */
struct rm_reader;
int dial_read_record(int fd, struct rm_reader *r, int64_t deadline_ns);

/* All of buf to the socket fd (blocking): a peer that went away is -EPIPE,
 * never SIGPIPE -- no process of ours can be killed by one. */
int dial_send_all(int fd, const void *buf, size_t len);

/* One call on fd, nothing else in flight on it: sent, its reply read
 * before deadline_ns, its xid checked (-EPROTO) and its results decoded
 * into res (xdr_free(xres, res) after 0).  cred NULL: AUTH_NONE.  The
 * errors of dial_read_record, rpcmsg_decode_reply and _decode_body. */
int dial_call(int fd, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
	      const struct br_cred *cred, xdrproc_t xargs, const void *args,
	      xdrproc_t xres, void *res, size_t res_size, int64_t deadline_ns);

#endif
