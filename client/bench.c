/* bench.c - BENCH_NET and BENCH_DISK (bramble.h "benchmarks"), the calls
 * behind `bramble bench'.
 *
 * BENCH_NET's payload is sent from one static zero-filled buffer and the
 * reply's bytes are checked for length and skipped where they lie in the
 * reply record, never copied: the figure is the network's and the RPC
 * layer's, not memcpy's. */
#include <errno.h>
#include <string.h>

#include "rpc.h"

_Static_assert(BRAMBLE_CAP_BENCH == BR_CAP_BENCH, "bramble.h out of date");
_Static_assert(BRAMBLE_BENCH_DISK_MAX == BR_BENCH_DISK_MAX, "bramble.h out of date");
_Static_assert(BRAMBLE_BENCH_DISK_MS_MAX == BR_BENCH_DISK_MS_MAX, "bramble.h out of date");

static char zeros[BR_DATA_MAX];

ssize_t bramble_bench_net(struct bramble *b, const struct bramble_cred *cr,
			  size_t send_bytes, size_t reply_bytes)
{
	struct rpc_op op;
	br_bench_net_args a;
	u_int len = 0;
	int rc;

	if (send_bytes > BR_DATA_MAX || reply_bytes > BR_DATA_MAX)
		return -EINVAL;
	a.reply_bytes = (u_int)reply_bytes;
	a.payload.payload_len = (u_int)send_bytes;
	a.payload.payload_val = zeros;  /* encoding only reads it */
	rc = rpc_run(b, &op, BRPROC_BENCH_NET, cr, (xdrproc_t)xdr_br_bench_net_args, &a);
	if (rc == 0) {
		XDR x;
		br_stat st;

		xdrmem_create(&x, (char *)op.body, (u_int)op.body_len, XDR_DECODE);
		if (!xdr_br_stat(&x, &st))
			rc = -EBADMSG;
		else if ((rc = br_stat_to_errno(st)) == 0 &&
			 (!xdr_u_int(&x, &len) || len != reply_bytes ||
			  op.body_len != xdr_getpos(&x) + ((len + 3) & ~3u)))
			rc = -EBADMSG;
		xdr_destroy(&x);
	}
	rc = rpc_end(b, &op, rc);
	return rc < 0 ? rc : (ssize_t)len;
}

int bramble_bench_disk(struct bramble *b, const struct bramble_cred *cr,
		       const struct bramble_fh *dir, uint64_t size,
		       unsigned int max_ms, struct bramble_bench_disk *out)
{
	struct rpc_op op;
	br_bench_disk_args a = { .size = size, .max_ms = max_ms };
	br_bench_disk_res r;
	int rc;

	rpc_fh_arg(&a.dir, dir);
	rc = rpc_run_decode(b, &op, BRPROC_BENCH_DISK, cr,
			    (xdrproc_t)xdr_br_bench_disk_args, &a,
			    (xdrproc_t)xdr_br_bench_disk_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			const br_bench_disk_ok *ok = &r.br_bench_disk_res_u.ok;

			memset(out, 0, sizeof(*out));
			out->write_bytes = ok->write_bytes;
			out->write_ns = ok->write_ns;
			out->read_bytes = ok->read_bytes;
			out->read_ns = ok->read_ns;
			out->direct = ok->flags & BR_BENCH_DIRECT;
			out->tmpfile = ok->flags & BR_BENCH_TMPFILE;
			out->fs_free = ok->fs_free;
		}
		xdr_free((xdrproc_t)xdr_br_bench_disk_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}
