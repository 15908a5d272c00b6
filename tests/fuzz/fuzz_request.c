/* fuzz_request.c - libFuzzer target for the server's request decoder.
 *
 * The input is what a client could send on a TCP connection.  Its first
 * byte picks how the rest is cut into reads (0: all at once, n: n bytes at
 * a time), since a real socket hands the record-marking reader arbitrary
 * pieces.  Every complete record then goes the way server/conn.c sends it:
 * rpcmsg_decode_call(), and for a known BRAMBLE_V1 procedure its arguments
 * through the XDR routine of the server's own procedure table
 * (dispatch_args_xdr()), with the reply the server would send encoded as
 * well.  A decoded call is re-encoded (rpcmsg_encode_call()) and must
 * decode to the same header and argument length, and every reply must
 * parse back (rpcmsg_decode_reply()) with its xid: the encoders and the
 * decoders are checked against each other, not only for crashes.
 *
 * Nothing may leak: libFuzzer's leak check runs when the run ends.
 * Build and run: `make fuzz` in the build directory (tests/fuzz/local.am). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "proto.h"
#include "rpcmsg.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_request: %s:%d: check failed: %s\n", \
			__FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* A reply record the server built must be one record that parses back as
 * a reply to xid. */
static void check_reply(struct buf *out, uint32_t xid)
{
	struct rpc_reply rep;
	uint32_t mark;
	bool xid_ok;

	CHECK(out->len >= 4 + 12);
	mark = (uint32_t)(unsigned char)out->data[0] << 24 |
	       (uint32_t)(unsigned char)out->data[1] << 16 |
	       (uint32_t)(unsigned char)out->data[2] << 8 |
	       (unsigned char)out->data[3];
	CHECK(mark == (0x80000000u | (uint32_t)(out->len - 4)));
	(void)rpcmsg_decode_reply(out->data + 4, out->len - 4, &rep, &xid_ok);
	CHECK(xid_ok && rep.xid == xid);
	buf_reset(out);
}

/* Re-encode a decoded call: the header and the length of the arguments
 * must come back the same (the bytes may differ: XDR decoding accepts
 * any non-zero bool and ignores the contents of padding). */
static void check_reencode(const struct rpc_call *call, xdrproc_t xargs,
			   void *args, size_t args_len)
{
	struct buf rec;
	struct rpc_call again;
	int rc;

	buf_init(&rec, 0);
	rc = rpcmsg_encode_call(&rec, call->xid, call->prog, call->vers,
				call->proc,
				call->flavor == RPC_AUTH_SYS ? &call->cred : NULL,
				xargs, args);
	if (rc == -EMSGSIZE)    /* the cap counts a maximal credential */
		goto out;
	CHECK(rc == 0 && rec.len > 4);
	CHECK(rpcmsg_decode_call(rec.data + 4, rec.len - 4, &again) == RPCMSG_CALL_OK);
	CHECK(again.xid == call->xid && again.proc == call->proc);
	CHECK(again.args_len == args_len);
	if (call->flavor == RPC_AUTH_SYS) {
		CHECK(again.flavor == RPC_AUTH_SYS);
		CHECK(again.cred.uid == call->cred.uid && again.cred.gid == call->cred.gid);
		CHECK(again.cred.ngroups == call->cred.ngroups);
	}
out:
	buf_release(&rec);
}

static void one_record(const char *rec, size_t len, struct buf *out)
{
	struct rpc_call call;
	xdrproc_t xargs;
	size_t size;
	void *args;

	switch (rpcmsg_decode_call(rec, len, &call)) {
	case RPCMSG_CALL_OK:
		break;
	case RPCMSG_CALL_GARBAGE:       /* the server closes the connection */
	case RPCMSG_CALL_NOT_CALL:      /* ... or ignores the record */
		return;
	case RPCMSG_CALL_RPC_MISMATCH:
		CHECK(rpcmsg_reply_denied(out, call.xid, RPC_MISMATCH, 0) == 0);
		check_reply(out, call.xid);
		return;
	case RPCMSG_CALL_BADCRED:
		CHECK(rpcmsg_reply_denied(out, call.xid, AUTH_ERROR, AUTH_BADCRED) == 0);
		check_reply(out, call.xid);
		return;
	case RPCMSG_CALL_BADVERF:
		CHECK(rpcmsg_reply_denied(out, call.xid, AUTH_ERROR, AUTH_BADVERF) == 0);
		check_reply(out, call.xid);
		return;
	}
	CHECK(call.args >= rec && call.args + call.args_len == rec + len);
	CHECK(call.flavor != RPC_AUTH_SYS || call.cred.ngroups <= RPC_AUTH_SYS_GROUPS);

	if (call.prog != BR_PROGRAM) {
		CHECK(rpcmsg_reply_accept_err(out, call.xid, PROG_UNAVAIL, 0, 0) == 0);
	} else if (call.vers != BR_VERSION) {
		CHECK(rpcmsg_reply_accept_err(out, call.xid, PROG_MISMATCH,
					      BR_VERSION, BR_VERSION) == 0);
	} else if (call.proc == BRPROC_NULL) {
		CHECK(rpcmsg_reply_success(out, call.xid, NULL, NULL) == 0);
		check_reencode(&call, NULL, NULL, 0);
	} else if (!dispatch_args_xdr(call.proc, &xargs, &size)) {
		CHECK(!dispatch_known(call.proc));
		CHECK(rpcmsg_reply_accept_err(out, call.xid, PROC_UNAVAIL, 0, 0) == 0);
	} else {
		/* As dispatch_run(): a zeroed object of the table's size. */
		args = xcalloc(1, size ? size : 1);
		if (rpcmsg_decode_body(call.args, call.args_len, xargs, args, size) < 0) {
			CHECK(rpcmsg_reply_accept_err(out, call.xid, GARBAGE_ARGS, 0, 0) == 0);
		} else {
			check_reencode(&call, xargs, args, call.args_len);
			xdr_free(xargs, args);
			CHECK(rpcmsg_reply_accept_err(out, call.xid, SYSTEM_ERR, 0, 0) == 0);
		}
		free(args);
	}
	check_reply(out, call.xid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rm_reader rd;
	struct buf out;
	size_t chunk, off, used, n;
	int rc;

	if (size < 1)
		return 0;
	chunk = data[0] ? data[0] : size;
	data++;
	size--;

	rm_reader_init(&rd, BR_RECORD_MAX);
	buf_init(&out, 0);
	off = 0;
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		/* A piece may hold the end of one record and the start of
		 * the next: feed the rest after each complete record. */
		while (n > 0) {
			rc = rm_reader_feed(&rd, data + off, n, &used);
			CHECK(used <= n);
			off += used;
			n -= used;
			if (rc < 0) {
				CHECK(rc == -E2BIG);
				goto out;       /* the server closes the connection */
			}
			if (rc == 0) {
				CHECK(n == 0);
				break;
			}
			CHECK(rd.complete && rd.rec.len <= BR_RECORD_MAX);
			one_record(rd.rec.data, rd.rec.len, &out);
			rm_reader_next(&rd);
		}
	}
out:
	buf_release(&out);
	rm_reader_release(&rd);
	return 0;
}
