/* hello.c - HELLO on a fresh connection: see hello.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hello.h"
#include "proto.h"
#include "rpcmsg.h"
#include "util.h"

/* The one call on the socket so far: any XID will do. */
#define HELLO_XID 0x48454c4fu            /* "HELO" */

/* Read one whole record into r->rec before the deadline. */
static int read_record(int fd, struct rm_reader *r, int64_t deadline_ns)
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
		/* Nothing else was asked, so nothing may follow the reply. */
		if (rc == 1)
			return used == (size_t)n ? 0 : -EPROTO;
	}
}

/* The peer answered, but not as brambled does: a record mark no server
 * of ours would send (-E2BIG: most text protocols' first bytes read as a
 * huge length), bytes that are not an RPC reply to our call (-EPROTO), or
 * an RPC server without our program (-EPROTONOSUPPORT).  Said at once,
 * without waiting for the deadline. */
static int not_bramble(int rc, struct bramble_hello *out)
{
	snprintf(out->message, sizeof(out->message), "%s",
		 rc == -EPROTONOSUPPORT ? "an RPC server without the bramble program"
					: "it answered something that is not ONC RPC");
	return -EPROTONOSUPPORT;
}

static void copy_text(char *dst, const char *src)
{
	snprintf(dst, BRAMBLE_TEXT_MAX + 1, "%s", src ? src : "");
}

static int take_result(const br_hello_res *res, uint64_t need,
		       struct bramble_hello *out)
{
	out->revision = res->revision;
	out->min_revision = res->min_revision;
	out->max_revision = res->max_revision;
	out->caps = res->caps;
	out->instance = res->instance;
	out->grace_left = res->grace_left;
	copy_text(out->server, res->server);
	copy_text(out->message, res->message);
	if (res->status != BR_OK)
		return res->status == BR_EPROTO ? -EPROTO : br_stat_to_errno(res->status);
	if ((res->caps & need) != need) {
		snprintf(out->message, sizeof(out->message),
			 "the server lacks capabilities this client needs (0x%llx)",
			 (unsigned long long)(need & ~res->caps));
		return -EPROTO;
	}
	return 0;
}

int hello_exchange(int fd, uint64_t caps, uint64_t need, const char *client,
		   int timeout_ms, struct bramble_hello *out)
{
	br_hello_args a = {
		.min_revision = 1, .max_revision = BR_REVISION,
		.caps = caps, .need = need, .client = (char *)(client ? client : ""),
	};
	br_hello_res res;
	struct rpc_reply rep;
	struct rm_reader r;
	struct buf call;
	bool xid_ok;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&call, 256);
	rm_reader_init(&r, BR_RECORD_MAX);
	rc = rpcmsg_encode_call(&call, HELLO_XID, BR_PROGRAM, BR_VERSION,
				BRPROC_HELLO, NULL, (xdrproc_t)xdr_br_hello_args, &a);
	if (rc == 0)
		rc = write_all(fd, call.data, call.len);
	if (rc == 0)
		rc = read_record(fd, &r, now_ns() + (int64_t)timeout_ms * 1000000);
	if (rc == 0)
		rc = rpcmsg_decode_reply(r.rec.data, r.rec.len, &rep, &xid_ok);
	if (rc == 0 && rep.xid != HELLO_XID)
		rc = -EPROTO;
	if (rc == -E2BIG || rc == -EPROTO || rc == -EPROTONOSUPPORT)
		rc = not_bramble(rc, out);
	if (rc == -ENOSYS) {
		/* A server from before HELLO: revision 1 is all it speaks. */
		out->revision = out->min_revision = out->max_revision = 1;
		snprintf(out->server, sizeof(out->server), "an older brambled");
		rc = 0;
		if (need) {
			snprintf(out->message, sizeof(out->message),
				 "the server predates capabilities this client needs (0x%llx)",
				 (unsigned long long)need);
			rc = -EPROTO;
		}
	} else if (rc == 0) {
		rc = rpcmsg_decode_body(rep.body, rep.body_len,
					(xdrproc_t)xdr_br_hello_res, &res, sizeof(res));
		if (rc == 0) {
			rc = take_result(&res, need, out);
			xdr_free((xdrproc_t)xdr_br_hello_res, (char *)&res);
		}
	}
	buf_release(&call);
	rm_reader_release(&r);
	return rc;
}
