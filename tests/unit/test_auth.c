/* test_auth.c - MUNGE on the wire (common/rpcmsg.c) and the server's
 * authentication policy and session table (server/auth.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* By path: the client has an auth.h of its own, and -I client comes first. */
#include "auth.h"
#include "proto.h"
#include "rpcmsg.h"

static const unsigned char H1[RPC_SHORT_LEN] = "0123456789abcde";
static const unsigned char H2[RPC_SHORT_LEN] = "fedcba987654321";

/* ---- wire */

START_TEST(test_munge_payload)
{
	unsigned char p[RPC_MUNGE_PAYLOAD_LEN];
	uint64_t id = 0;

	rpcmsg_munge_payload(0x0123456789abcdefULL, p);
	ck_assert_int_eq(rpcmsg_munge_payload_parse(p, sizeof(p), &id), 0);
	ck_assert(id == 0x0123456789abcdefULL);
	ck_assert_int_eq(rpcmsg_munge_payload_parse(p, sizeof(p) - 1, &id), -EBADMSG);
	ck_assert_int_eq(rpcmsg_munge_payload_parse(NULL, 0, &id), -EBADMSG);
	p[0] ^= 1;                      /* not bramble's tag */
	ck_assert_int_eq(rpcmsg_munge_payload_parse(p, sizeof(p), &id), -EBADMSG);
}
END_TEST

/* Encode a call with auth and args "xyz!" and decode it again. */
static enum rpcmsg_call_status roundtrip(const struct rpc_auth *a,
					 struct buf *b, struct rpc_call *call)
{
	br_name name = "xyz!";
	int rc;

	buf_init(b, 0);
	rc = rpcmsg_encode_call_auth(b, 7, BR_PROGRAM, BR_VERSION, BRPROC_NULL, a,
				     (xdrproc_t)xdr_br_name, &name);
	ck_assert_int_eq(rc, 0);
	return rpcmsg_decode_call(b->data + 4, b->len - 4, call);
}

START_TEST(test_call_short)
{
	struct rpc_auth a = { .flavor = RPC_AUTH_SHORT, .body = H1,
			      .body_len = RPC_SHORT_LEN };
	struct rpc_call call;
	struct buf b;

	ck_assert_int_eq(roundtrip(&a, &b, &call), RPCMSG_CALL_OK);
	ck_assert_uint_eq(call.flavor, RPC_AUTH_SHORT);
	ck_assert_uint_eq(call.cred_len, RPC_SHORT_LEN);
	ck_assert_mem_eq(call.cred_body, H1, RPC_SHORT_LEN);
	ck_assert_uint_eq(call.args_len, 8);   /* string "xyz!" */
	buf_release(&b);
}
END_TEST

START_TEST(test_call_munge_bounds)
{
	char big[RPC_AUTH_BODY_MAX + 1];
	struct rpc_auth a = { .flavor = BR_AUTH_MUNGE, .body = big,
			      .body_len = RPC_AUTH_BODY_MAX };
	struct rpc_call call;
	struct buf b;

	memset(big, 'M', sizeof(big));
	ck_assert_int_eq(roundtrip(&a, &b, &call), RPCMSG_CALL_OK);
	ck_assert_uint_eq(call.flavor, BR_AUTH_MUNGE);
	ck_assert_uint_eq(call.cred_len, RPC_AUTH_BODY_MAX);
	buf_release(&b);
	/* One byte over RFC 5531's 400: refused, nothing appended. */
	a.body_len = RPC_AUTH_BODY_MAX + 1;
	buf_init(&b, 0);
	ck_assert_int_eq(rpcmsg_encode_call_auth(&b, 7, BR_PROGRAM, BR_VERSION,
						 BRPROC_NULL, &a, NULL, NULL),
			 -EMSGSIZE);
	ck_assert_uint_eq(b.len, 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_call_sys_still_parsed)
{
	struct br_cred c = { .uid = 1000, .gid = 100, .ngroups = 1, .groups = { 7 } };
	struct rpc_auth a = { .flavor = RPC_AUTH_SYS, .sys = &c,
			      .machname = "0123456789abcdef" };
	struct rpc_call call;
	struct buf b;

	ck_assert_int_eq(roundtrip(&a, &b, &call), RPCMSG_CALL_OK);
	ck_assert_uint_eq(call.flavor, RPC_AUTH_SYS);
	ck_assert_uint_eq(call.cred.uid, 1000);
	ck_assert_uint_eq(call.cred.groups[0], 7);
	ck_assert_str_eq(call.machname, "0123456789abcdef");
	ck_assert_ptr_null(call.cred_body);
	buf_release(&b);
}
END_TEST

START_TEST(test_reply_verifier)
{
	struct rpc_reply rep;
	struct buf b;
	bool xid_ok;

	buf_init(&b, 0);
	ck_assert_int_eq(rpcmsg_reply_success_verf(&b, 9, RPC_AUTH_SHORT, H2,
						   RPC_SHORT_LEN, NULL, NULL), 0);
	ck_assert_int_eq(rpcmsg_decode_reply(b.data + 4, b.len - 4, &rep, &xid_ok), 0);
	ck_assert_uint_eq(rep.xid, 9);
	ck_assert_uint_eq(rep.verf_flavor, RPC_AUTH_SHORT);
	ck_assert_uint_eq(rep.verf_len, RPC_SHORT_LEN);
	ck_assert_mem_eq(rep.verf_body, H2, RPC_SHORT_LEN);
	ck_assert_uint_eq(rep.body_len, 0);
	buf_reset(&b);
	ck_assert_int_eq(rpcmsg_reply_success(&b, 9, NULL, NULL), 0);
	ck_assert_int_eq(rpcmsg_decode_reply(b.data + 4, b.len - 4, &rep, &xid_ok), 0);
	ck_assert_uint_eq(rep.verf_flavor, RPC_AUTH_NONE);
	ck_assert_uint_eq(rep.verf_len, 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_reply_auth_stat)
{
	static const enum auth_stat sts[] = { AUTH_BADCRED, AUTH_REJECTEDCRED,
					      AUTH_TOOWEAK };
	struct rpc_reply rep;
	struct buf b;
	bool xid_ok;

	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		buf_init(&b, 0);
		ck_assert_int_eq(rpcmsg_reply_denied(&b, 3, AUTH_ERROR, sts[i]), 0);
		ck_assert_int_eq(rpcmsg_decode_reply(b.data + 4, b.len - 4, &rep,
						     &xid_ok), -EACCES);
		ck_assert_uint_eq(rep.auth_stat, sts[i]);
		buf_release(&b);
	}
}
END_TEST

/* ---- policy */

static enum auth_stat admit(struct auth_sessions *s, uint32_t proc,
			    uint32_t flavor, const void *body, uint32_t len,
			    enum auth_mode mode, bool port_ok, int64_t now,
			    struct auth_who *who, bool *verify)
{
	struct rpc_call call;

	memset(&call, 0, sizeof(call));
	call.proc = proc;
	call.flavor = flavor;
	call.cred.uid = 1000;
	call.cred.gid = 1000;
	call.cred_body = body;
	call.cred_len = len;
	return auth_admit(s, &call, mode, port_ok, "test", now, who, verify);
}

START_TEST(test_policy_sys)
{
	struct auth_sessions s;
	struct auth_who who;
	bool v;

	auth_sessions_init(&s);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SYS, NULL, 0,
			       AUTH_MODE_SYS, true, 0, &who, &v), AUTH_OK);
	ck_assert_uint_eq(who.flavor, RPC_AUTH_SYS);
	ck_assert_uint_eq(who.cred.uid, 1000);
	ck_assert(!v);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SYS, NULL, 0,
			       AUTH_MODE_SYS, false, 0, &who, &v), AUTH_TOOWEAK);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SYS, NULL, 0,
			       AUTH_MODE_MUNGE, true, 0, &who, &v), AUTH_TOOWEAK);
	ck_assert_int_eq(admit(&s, BRPROC_MOUNT, RPC_AUTH_SYS, NULL, 0,
			       AUTH_MODE_MUNGE, true, 0, &who, &v), AUTH_TOOWEAK);
	/* NULL, INFO, HELLO: nobody's identity matters */
	ck_assert_int_eq(admit(&s, BRPROC_NULL, RPC_AUTH_SYS, NULL, 0,
			       AUTH_MODE_MUNGE, false, 0, &who, &v), AUTH_OK);
	ck_assert_int_eq(admit(&s, BRPROC_INFO, RPC_AUTH_NONE, NULL, 0,
			       AUTH_MODE_MUNGE, false, 0, &who, &v), AUTH_OK);
	ck_assert_int_eq(admit(&s, BRPROC_MOUNT, RPC_AUTH_NONE, NULL, 0,
			       AUTH_MODE_MUNGE, false, 0, &who, &v), AUTH_OK);
	ck_assert_int_eq(admit(&s, BRPROC_MOUNT, RPC_AUTH_NONE, NULL, 0,
			       AUTH_MODE_SYS, false, 0, &who, &v), AUTH_TOOWEAK);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_NONE, NULL, 0,
			       AUTH_MODE_SYS, true, 0, &who, &v), AUTH_TOOWEAK);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, 7, "x", 1,
			       AUTH_MODE_SYS, true, 0, &who, &v), AUTH_BADCRED);
	ck_assert(auth_flavor_ok(RPC_AUTH_SYS, AUTH_MODE_SYS));
	ck_assert(!auth_flavor_ok(RPC_AUTH_SYS, AUTH_MODE_MUNGE));
	ck_assert(auth_flavor_ok(BR_AUTH_MUNGE, AUTH_MODE_MUNGE));
	ck_assert(auth_flavor_ok(BR_AUTH_MUNGE, AUTH_MODE_SYS));
	ck_assert(!auth_flavor_ok(RPC_AUTH_NONE, AUTH_MODE_SYS));
	auth_sessions_release(&s);
}
END_TEST

START_TEST(test_policy_munge_cred)
{
	struct auth_sessions s;
	struct auth_who who;
	bool v;

	auth_sessions_init(&s);
	ck_assert_int_eq(admit(&s, BRPROC_NULL, BR_AUTH_MUNGE, "MUNGE:x:", 8,
			       AUTH_MODE_MUNGE, false, 0, &who, &v), AUTH_OK);
	ck_assert(v);
	/* only NULL opens sessions; a NUL inside or nothing at all is bad */
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, BR_AUTH_MUNGE, "MUNGE:x:", 8,
			       AUTH_MODE_MUNGE, true, 0, &who, &v), AUTH_BADCRED);
	ck_assert_int_eq(admit(&s, BRPROC_NULL, BR_AUTH_MUNGE, "MU\0GE", 5,
			       AUTH_MODE_MUNGE, true, 0, &who, &v), AUTH_BADCRED);
	ck_assert_int_eq(admit(&s, BRPROC_NULL, BR_AUTH_MUNGE, "", 0,
			       AUTH_MODE_MUNGE, true, 0, &who, &v), AUTH_BADCRED);
	auth_sessions_release(&s);
}
END_TEST

START_TEST(test_sessions)
{
	struct br_cred c = { .uid = 1000, .gid = 1000, .ngroups = 2, .groups = { 1000, 27 } };
	struct auth_sessions s;
	struct auth_who who;
	bool v;

	auth_sessions_init(&s);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, H1, RPC_SHORT_LEN,
			       AUTH_MODE_MUNGE, false, 0, &who, &v), AUTH_REJECTEDCRED);
	auth_session_add(&s, H1, &c, 42, 0);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, H1, RPC_SHORT_LEN,
			       AUTH_MODE_MUNGE, false, 10, &who, &v), AUTH_OK);
	ck_assert_uint_eq(who.flavor, BR_AUTH_MUNGE);
	ck_assert_uint_eq(who.cred.uid, 1000);
	ck_assert_uint_eq(who.cred.ngroups, 2);
	ck_assert_uint_eq(who.cred.groups[1], 27);
	ck_assert(who.has_client_id && who.client_id == 42);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, H2, RPC_SHORT_LEN,
			       AUTH_MODE_MUNGE, false, 10, &who, &v), AUTH_REJECTEDCRED);
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, H1, 8,
			       AUTH_MODE_MUNGE, false, 10, &who, &v), AUTH_BADCRED);
	/* expired: refused, and gone */
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, H1, RPC_SHORT_LEN,
			       AUTH_MODE_MUNGE, false, AUTH_SESSION_TTL_NS + 1, &who, &v),
			 AUTH_REJECTEDCRED);
	ck_assert_uint_eq(s.table.count, 0);
	auth_sessions_release(&s);
}
END_TEST

START_TEST(test_sessions_lru)
{
	struct br_cred c = { .uid = 1, .gid = 1 };
	unsigned char h[RPC_SHORT_LEN];
	struct auth_sessions s;
	struct auth_who who;
	bool v;

	auth_sessions_init(&s);
	for (unsigned int i = 0; i <= AUTH_SESSIONS_MAX; i++) {
		memset(h, 0, sizeof(h));
		memcpy(h, &i, sizeof(i));
		auth_session_add(&s, h, &c, i, (int64_t)i + 1);
		if (i == 1) {   /* session 0 is used later than 1 */
			memset(h, 0, sizeof(h));
			ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, h,
					       RPC_SHORT_LEN, AUTH_MODE_MUNGE, false,
					       3, &who, &v), AUTH_OK);
		}
	}
	ck_assert_uint_eq(s.table.count, AUTH_SESSIONS_MAX);
	memset(h, 0, sizeof(h));
	h[0] = 1;               /* session 1: the least recently used */
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, h, RPC_SHORT_LEN,
			       AUTH_MODE_MUNGE, false, 1000, &who, &v),
			 AUTH_REJECTEDCRED);
	h[0] = 0;
	ck_assert_int_eq(admit(&s, BRPROC_GETATTR, RPC_AUTH_SHORT, h, RPC_SHORT_LEN,
			       AUTH_MODE_MUNGE, false, 1000, &who, &v), AUTH_OK);
	auth_sessions_release(&s);
}
END_TEST

START_TEST(test_mode_parse)
{
	enum auth_mode m;

	ck_assert_int_eq(auth_mode_parse("munge", &m), 0);
	ck_assert_int_eq(m, AUTH_MODE_MUNGE);
	ck_assert_str_eq(auth_mode_name(m), "munge");
	ck_assert_int_eq(auth_mode_parse("sys", &m), 0);
	ck_assert_int_eq(m, AUTH_MODE_SYS);
	ck_assert_int_eq(auth_mode_parse("krb5", &m), -EINVAL);
	ck_assert_int_eq(auth_mode_parse(NULL, &m), -EINVAL);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *wire = tcase_create("wire");
	TCase *policy = tcase_create("policy");

	tcase_add_test(wire, test_munge_payload);
	tcase_add_test(wire, test_call_short);
	tcase_add_test(wire, test_call_munge_bounds);
	tcase_add_test(wire, test_call_sys_still_parsed);
	tcase_add_test(wire, test_reply_verifier);
	tcase_add_test(wire, test_reply_auth_stat);
	tcase_add_test(policy, test_policy_sys);
	tcase_add_test(policy, test_policy_munge_cred);
	tcase_add_test(policy, test_sessions);
	tcase_add_test(policy, test_sessions_lru);
	tcase_add_test(policy, test_mode_parse);
	tcase_set_timeout(wire, 10);
	tcase_set_timeout(policy, 10);
	suite_add_tcase(s, wire);
	suite_add_tcase(s, policy);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(auth_suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
