/* dial.c - TCP connect with a reserved source port and a timeout. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dial.h"
#include "proto.h"
#include "rpcmsg.h"
#include "util.h"

/* bindresvport() tries 600..1023 in an order of its own and fails on the
 * first port in TIME_WAIT with the server; try every port ourselves. */
#define RESV_HIGH 1023
#define RESV_LOW 512

static void set_port(struct sockaddr_storage *ss, int family, int port)
{
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons((uint16_t)port);
	}
}

static void tune(int fd)
{
	int one = 1;
	/* A server that vanished without a RST (power cut, cable) would leave
	 * the reader blocked forever: let TCP notice within ~30 s. */
	int idle = 10, intvl = 5, cnt = 3;
	unsigned int user_to = 30000;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_to, sizeof(user_to));
}

/* Non-blocking connect bounded by timeout_ms; fd is blocking afterwards. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len,
			   int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	int rc = 0, err = 0;
	socklen_t elen = sizeof(err);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		do
			rc = poll(&p, 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -errno;
		if (err)
			return -err;
	}
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

/* Where the next reserved-port search starts.  Each connection starts one
 * lower than the last, so a reconnect does not reuse the 4-tuple the
 * server may still hold in TIME_WAIT from the connection just lost. */
static _Atomic unsigned int resv_next;

int dial_tcp(const struct sockaddr *sa, socklen_t len, int resvport,
	     int timeout_ms, int *fd_out)
{
	bool resv = resvport > 0 || (resvport < 0 && geteuid() == 0);
	int span = RESV_HIGH - RESV_LOW + 1;
	int start = (int)(atomic_fetch_add(&resv_next, 1) % (unsigned int)span);
	int rc = -EADDRINUSE;

	for (int i = 0; i < (resv ? span : 1); i++) {
		struct sockaddr_storage src = { 0 };
		int port = resv ? RESV_HIGH - (start + i) % span : 0;
		int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (port) {
			set_port(&src, sa->sa_family, port);
			if (bind(fd, (struct sockaddr *)&src,
				 sa->sa_family == AF_INET6 ?
				 sizeof(struct sockaddr_in6) :
				 sizeof(struct sockaddr_in)) < 0) {
				rc = -errno;
				close(fd);
				if (rc == -EADDRINUSE)
					continue;
				if (rc == -EACCES && resvport < 0) {
					/* No CAP_NET_BIND_SERVICE after all:
					 * the server will say whether it
					 * minds. */
					return dial_tcp(sa, len, 0, timeout_ms, fd_out);
				}
				return rc;
			}
		}
		rc = connect_timeout(fd, sa, len, timeout_ms);
		if (rc == 0) {
			tune(fd);
			*fd_out = fd;
			return 0;
		}
		close(fd);
		/* The same 4-tuple may linger in TIME_WAIT from an earlier
		 * connection to this server: try the next port. */
		if (port && (rc == -EADDRNOTAVAIL || rc == -EADDRINUSE))
			continue;
		return rc;
	}
	return rc;
}

/* dial.h */
int dial_read_record(int fd, struct rm_reader *r, int64_t deadline_ns)
{
	char chunk[4096];

	for (;;) {
		int64_t left_ms = (deadline_ns - now_ns()) / 1000000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		size_t used;
		ssize_t n;
		int rc;

		if (left_ms <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)left_ms);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc <= 0)
			continue;
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		rc = rm_reader_feed(r, chunk, (size_t)n, &used);
		if (rc < 0)
			return rc;
		/* One question, one answer: nothing may follow it. */
		if (rc == 1)
			return used == (size_t)n ? 0 : -EPROTO;
	}
}

/* dial.h */
int dial_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* dial.h */
int dial_call(int fd, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc,
	      const struct br_cred *cred, xdrproc_t xargs, const void *args,
	      xdrproc_t xres, void *res, size_t res_size, int64_t deadline_ns)
{
	struct rpc_reply rep;
	struct rm_reader r;
	struct buf call;
	bool xid_ok;
	int rc;

	buf_init(&call, 256);
	rm_reader_init(&r, BR_RECORD_MAX);
	rc = rpcmsg_encode_call(&call, xid, prog, vers, proc, cred, xargs, args);
	if (rc == 0)
		rc = dial_send_all(fd, call.data, call.len);
	if (rc == 0)
		rc = dial_read_record(fd, &r, deadline_ns);
	if (rc == 0)
		rc = rpcmsg_decode_reply(r.rec.data, r.rec.len, &rep, &xid_ok);
	if (rc == 0 && rep.xid != xid)
		rc = -EPROTO;
	if (rc == 0)
		rc = rpcmsg_decode_body(rep.body, rep.body_len, xres, res, res_size);
	buf_release(&call);
	rm_reader_release(&r);
	return rc;
}
