/* test_common.c - buf, proto, rpcmsg (framing, headers, XDR bounds), util. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "netaddr.h"
#include "proto.h"
#include "rpcmsg.h"
#include "util.h"
#include "xalloc.h"

START_TEST(test_buf_grow_and_detach)
{
	struct buf b = BUF_INIT;
	char *p;
	size_t len;

	ck_assert_str_eq(b.data, "");
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%d,", i);
	ck_assert_uint_eq(b.len, strlen(b.data));
	ck_assert(!strncmp(b.data, "0,1,2,", 6));
	p = buf_detach(&b, &len);
	ck_assert_str_eq(b.data, "");
	ck_assert_uint_eq(len, strlen(p));
	free(p);
	buf_release(&b);
}
END_TEST

START_TEST(test_stat_map_roundtrip)
{
	int errs[] = { EPERM, ENOENT, EACCES, EEXIST, ENOTEMPTY, ESTALE,
		       ENOSPC, EROFS, ENAMETOOLONG, EXDEV, ENODATA, ERANGE };

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		ck_assert_int_eq(br_stat_to_errno(br_stat_from_errno(errs[i])),
				 -errs[i]);
	ck_assert_int_eq(br_stat_from_errno(0), BR_OK);
	ck_assert_int_eq(br_stat_from_errno(EHWPOISON), BR_EIO);
	ck_assert_int_eq(br_stat_to_errno((br_stat)12345), -EIO);
	ck_assert_str_eq(br_proc_name(BRPROC_READDIRPLUS), "READDIRPLUS");
	ck_assert_str_eq(br_proc_name(9999), "?");
}
END_TEST

/* Feed a byte stream to a reader in pieces of `step' bytes. */
static int feed_all(struct rm_reader *r, const char *p, size_t len, size_t step)
{
	size_t off = 0, used;
	int rc = 0;

	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		rc = rm_reader_feed(r, p + off, n, &used);
		off += used;
		if (rc != 0)
			return rc;
	}
	return rc;
}

START_TEST(test_call_roundtrip)
{
	struct br_cred cred = { .uid = 1000, .gid = 100, .ngroups = 2,
				.groups = { 100, 27 } };
	br_dirop_args a = { 0 }, back;
	struct rm_reader r;
	struct rpc_call call;
	struct buf out = BUF_INIT;
	char fh[] = "0123456789abcdef";

	a.dir.br_fh_val = fh;
	a.dir.br_fh_len = 16;
	a.name = "hello.txt";
	ck_assert_int_eq(rpcmsg_encode_call_named(&out, 77, BR_PROGRAM, BR_VERSION,
						  BRPROC_LOOKUP, &cred, "0123456789abcdef",
						  (xdrproc_t)xdr_br_dirop_args, &a), 0);
	rm_reader_init(&r, BR_RECORD_MAX);
	ck_assert_int_eq(feed_all(&r, out.data, out.len, (size_t)_i + 1), 1);
	ck_assert_int_eq(rpcmsg_decode_call(r.rec.data, r.rec.len, &call),
			 RPCMSG_CALL_OK);
	ck_assert_uint_eq(call.xid, 77);
	ck_assert_uint_eq(call.prog, BR_PROGRAM);
	ck_assert_uint_eq(call.proc, BRPROC_LOOKUP);
	ck_assert_uint_eq(call.flavor, RPC_AUTH_SYS);
	ck_assert_uint_eq(call.cred.uid, 1000);
	ck_assert_uint_eq(call.cred.ngroups, 2);
	ck_assert_uint_eq(call.cred.groups[1], 27);
	ck_assert_str_eq(call.machname, "0123456789abcdef");
	ck_assert_int_eq(rpcmsg_decode_body(call.args, call.args_len,
					    (xdrproc_t)xdr_br_dirop_args, &back,
					    sizeof(back)), 0);
	ck_assert_str_eq(back.name, "hello.txt");
	ck_assert_mem_eq(back.dir.br_fh_val, fh, 16);
	xdr_free((xdrproc_t)xdr_br_dirop_args, (char *)&back);
	rm_reader_release(&r);
	buf_release(&out);
}
END_TEST

START_TEST(test_reply_roundtrip)
{
	br_attr_res res = { .status = BR_OK }, back;
	struct rpc_reply rep;
	struct buf out = BUF_INIT;
	bool xid_ok;

	res.br_attr_res_u.attr.size = 123456789012ULL;
	res.br_attr_res_u.attr.mode = 0100644;
	ck_assert_int_eq(rpcmsg_reply_success(&out, 9, (xdrproc_t)xdr_br_attr_res,
					      &res), 0);
	ck_assert_int_eq(rpcmsg_decode_reply(out.data + 4, out.len - 4, &rep,
					     &xid_ok), 0);
	ck_assert_uint_eq(rep.xid, 9);
	ck_assert_int_eq(rpcmsg_decode_body(rep.body, rep.body_len,
					    (xdrproc_t)xdr_br_attr_res, &back,
					    sizeof(back)), 0);
	ck_assert_uint_eq(back.br_attr_res_u.attr.size, 123456789012ULL);
	buf_reset(&out);
	rpcmsg_reply_accept_err(&out, 10, PROC_UNAVAIL, 0, 0);
	ck_assert_int_eq(rpcmsg_decode_reply(out.data + 4, out.len - 4, &rep,
					     &xid_ok), -ENOSYS);
	buf_reset(&out);
	rpcmsg_reply_denied(&out, 11, AUTH_ERROR, AUTH_TOOWEAK);
	ck_assert_int_eq(rpcmsg_decode_reply(out.data + 4, out.len - 4, &rep,
					     &xid_ok), -EACCES);
	ck_assert(xid_ok);
	ck_assert_uint_eq(rep.xid, 11);
	buf_release(&out);
}
END_TEST

START_TEST(test_record_cap)
{
	struct rm_reader r;
	unsigned char mark[4];
	uint32_t m = htonl(0x80000000u | (BR_RECORD_MAX + 1));
	size_t used;

	memcpy(mark, &m, 4);
	rm_reader_init(&r, BR_RECORD_MAX);
	ck_assert_int_eq(rm_reader_feed(&r, mark, 4, &used), -E2BIG);
	/* Nothing was allocated for the oversized fragment. */
	ck_assert_uint_eq(r.rec.cap, 0);
	rm_reader_release(&r);
}
END_TEST

START_TEST(test_record_fragments)
{
	/* Two fragments "ab" + "cd" make one record, then a second record. */
	const char stream[] = "\x00\x00\x00\x02"
			      "ab"
			      "\x80\x00\x00\x02"
			      "cd"
			      "\x80\x00\x00\x01"
			      "e";
	struct rm_reader r;
	size_t used, off = 0;

	rm_reader_init(&r, 16);
	ck_assert_int_eq(rm_reader_feed(&r, stream, sizeof(stream) - 1, &used), 1);
	ck_assert_uint_eq(r.rec.len, 4);
	ck_assert_mem_eq(r.rec.data, "abcd", 4);
	off += used;
	rm_reader_next(&r);
	ck_assert_int_eq(rm_reader_feed(&r, stream + off, sizeof(stream) - 1 - off,
					&used), 1);
	ck_assert_mem_eq(r.rec.data, "e", 1);
	rm_reader_release(&r);
}
END_TEST

START_TEST(test_xdr_bounds)
{
	/* A LOOKUP whose name is longer than BR_NAME_MAX must not decode. */
	char name[BR_NAME_MAX + 2];
	br_dirop_args a = { 0 }, back;
	struct buf out = BUF_INIT;
	struct rpc_call call;
	XDR x;
	char raw[1024];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	/* Encode by hand: rpcgen's encoder would refuse the long name too. */
	xdrmem_create(&x, raw, sizeof(raw), XDR_ENCODE);
	u_int zero = 0, n = (u_int)strlen(name);
	char *np = name;
	ck_assert(xdr_u_int(&x, &zero));
	ck_assert(xdr_bytes(&x, &np, &n, 4096));
	ck_assert_int_eq(rpcmsg_decode_body(raw, xdr_getpos(&x),
					    (xdrproc_t)xdr_br_dirop_args, &back,
					    sizeof(back)), -EBADMSG);
	xdr_destroy(&x);
	/* Trailing garbage after valid args is refused as well. */
	a.name = "ok";
	rpcmsg_encode_call(&out, 1, BR_PROGRAM, BR_VERSION, BRPROC_LOOKUP, NULL,
			   (xdrproc_t)xdr_br_dirop_args, &a);
	ck_assert_int_eq(rpcmsg_decode_call(out.data + 4, out.len - 4, &call),
			 RPCMSG_CALL_OK);
	ck_assert_int_eq(rpcmsg_decode_body(call.args, call.args_len + 0,
					    (xdrproc_t)xdr_br_dirop_args, &back,
					    sizeof(back)), 0);
	xdr_free((xdrproc_t)xdr_br_dirop_args, (char *)&back);
	buf_add(&out, "\0\0\0\0", 4);
	ck_assert_int_eq(rpcmsg_decode_call(out.data + 4, out.len - 4, &call),
			 RPCMSG_CALL_OK);
	ck_assert_int_eq(rpcmsg_decode_body(call.args, call.args_len,
					    (xdrproc_t)xdr_br_dirop_args, &back,
					    sizeof(back)), -EBADMSG);
	/* A name with a NUL inside is refused, not cut short to "ok". */
	xdrmem_create(&x, raw, sizeof(raw), XDR_ENCODE);
	n = 6;
	np = "ok\0/..";
	ck_assert(xdr_u_int(&x, &zero));
	ck_assert(xdr_bytes(&x, &np, &n, 4096));
	ck_assert_int_eq(rpcmsg_decode_body(raw, xdr_getpos(&x),
					    (xdrproc_t)xdr_br_dirop_args, &back,
					    sizeof(back)), -EBADMSG);
	xdr_destroy(&x);
	buf_release(&out);
}
END_TEST

START_TEST(test_call_machname)
{
	struct br_cred cred = { .uid = 1, .gid = 1 };
	struct rpc_call call;
	struct buf out = BUF_INIT;
	char longname[300];

	/* No name: "" on the wire (what rpcmsg_encode_call sends). */
	ck_assert_int_eq(rpcmsg_encode_call(&out, 5, BR_PROGRAM, BR_VERSION,
					    BRPROC_NULL, &cred, NULL, NULL), 0);
	ck_assert_int_eq(rpcmsg_decode_call(out.data + 4, out.len - 4, &call),
			 RPCMSG_CALL_OK);
	ck_assert_str_eq(call.machname, "");
	ck_assert_uint_eq(call.cred.uid, 1);
	/* Too long: cut at RPC_MACHNAME_MAX, still a valid credential. */
	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	buf_reset(&out);
	ck_assert_int_eq(rpcmsg_encode_call_named(&out, 6, BR_PROGRAM, BR_VERSION,
						  BRPROC_NULL, &cred, longname,
						  NULL, NULL), 0);
	ck_assert_int_eq(rpcmsg_decode_call(out.data + 4, out.len - 4, &call),
			 RPCMSG_CALL_OK);
	ck_assert_uint_eq(strlen(call.machname), RPC_MACHNAME_MAX);
	ck_assert_uint_eq(call.cred.gid, 1);
	buf_release(&out);
}
END_TEST

START_TEST(test_bad_headers)
{
	struct rpc_call call;
	/* xid, CALL, rpcvers 3 */
	const char v3[] = "\0\0\0\1\0\0\0\0\0\0\0\3";
	/* xid, CALL, rpcvers 2, prog, vers, proc, cred flavor 1 len 9999 */
	const char badcred[] = "\0\0\0\1\0\0\0\0\0\0\0\2\x20\x62\x72\x6d\0\0\0\1"
			       "\0\0\0\3\0\0\0\1\0\0\x27\x0f";

	ck_assert_int_eq(rpcmsg_decode_call("ab", 2, &call), RPCMSG_CALL_GARBAGE);
	ck_assert_int_eq(rpcmsg_decode_call(v3, sizeof(v3) - 1, &call),
			 RPCMSG_CALL_RPC_MISMATCH);
	ck_assert_int_eq(rpcmsg_decode_call(badcred, sizeof(badcred) - 1, &call),
			 RPCMSG_CALL_BADCRED);
}
END_TEST

START_TEST(test_netaddr_split)
{
	char *h;
	int port;

	ck_assert_int_eq(netaddr_split("storage01", 7049, &h, &port), 0);
	ck_assert_str_eq(h, "storage01");
	ck_assert_int_eq(port, 7049);
	free(h);
	ck_assert_int_eq(netaddr_split("127.0.0.1:0", 7049, &h, &port), 0);
	ck_assert_int_eq(port, 0);
	free(h);
	ck_assert_int_eq(netaddr_split("[::1]:99", 7049, &h, &port), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_int_eq(port, 99);
	free(h);
	ck_assert_int_eq(netaddr_split("host:70000", 1, &h, &port), -EINVAL);
	ck_assert_int_eq(netaddr_split(":7", 1, &h, &port), -EINVAL);
}
END_TEST

/* ts_to_ns: exact from 1677 to 2262, modulo 2^64 outside, never
 * overflowing (a sanitizer build would report it); far times that differ
 * still give different values.  Seconds a 32-bit time_t cannot hold
 * (Debian armhf) are skipped. */
START_TEST(test_ts_to_ns)
{
	static const struct { int64_t sec; long nsec; int64_t ns; } t[] = {
		{ 0, 0, 0 },
		{ 1, 5, 1000000005 },
		{ -1, 500000000, -500000000 },
		{ -100, 0, -100 * INT64_C(1000000000) },
		{ 9223372036, 854775807, INT64_MAX },   /* the last exact */
		{ 9223372036, 854775808, INT64_MIN },   /* wrapped */
		{ -9223372037, 145224192, INT64_MIN },  /* the first exact */
		{ -9223372037, 145224191, INT64_MAX },
		/* touch -d @10000000000: 1e19 - 2^64 */
		{ 10000000000, 0, INT64_C(-8446744073709551616) },
	};
	static const int64_t far[] = {
		10000000000, 11000000000, 20000000000, -10000000000, -20000000000,
		INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1, 9223372037,
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct timespec ts = { .tv_sec = (time_t)t[i].sec, .tv_nsec = t[i].nsec };

		if (ts.tv_sec != t[i].sec)
			continue;
		ck_assert_int_eq(ts_to_ns(&ts), t[i].ns);
	}
	for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
		for (size_t j = 0; j < i; j++) {
			struct timespec a = { .tv_sec = (time_t)far[i], .tv_nsec = 999999999 };
			struct timespec b = { .tv_sec = (time_t)far[j], .tv_nsec = 999999999 };

			if (a.tv_sec != far[i] || b.tv_sec != far[j])
				continue;
			ck_assert_int_ne(ts_to_ns(&a), ts_to_ns(&b));
		}
	}
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc;

	tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_grow_and_detach);
	suite_add_tcase(s, tc);
	tc = tcase_create("proto");
	tcase_add_test(tc, test_stat_map_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("rpcmsg");
	tcase_add_loop_test(tc, test_call_roundtrip, 0, 8);
	tcase_add_test(tc, test_reply_roundtrip);
	tcase_add_test(tc, test_record_cap);
	tcase_add_test(tc, test_record_fragments);
	tcase_add_test(tc, test_xdr_bounds);
	tcase_add_test(tc, test_call_machname);
	tcase_add_test(tc, test_bad_headers);
	suite_add_tcase(s, tc);
	tc = tcase_create("netaddr");
	tcase_add_test(tc, test_netaddr_split);
	suite_add_tcase(s, tc);
	tc = tcase_create("util");
	tcase_add_test(tc, test_ts_to_ns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(common_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
