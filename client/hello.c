/* hello.c - HELLO on a fresh connection: see hello.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dial.h"
#include "hello.h"
#include "proto.h"
#include "rpcmsg.h"
#include "util.h"

/* The one call on the socket so far: any XID will do. */
#define HELLO_XID 0x48454c4fu            /* "HELO" */

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
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&res, 0, sizeof(res));
	rc = dial_call(fd, HELLO_XID, BR_PROGRAM, BR_VERSION, BRPROC_HELLO, NULL,
		       (xdrproc_t)xdr_br_hello_args, &a, (xdrproc_t)xdr_br_hello_res,
		       &res, sizeof(res), now_ns() + (int64_t)timeout_ms * 1000000);
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
		rc = take_result(&res, need, out);
		xdr_free((xdrproc_t)xdr_br_hello_res, (char *)&res);
	}
	return rc;
}
