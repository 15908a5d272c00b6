/* test_conn.c - client/conn.c without a network: socketpair() ends play
 * the server, which answers out of order, drops connections and stays
 * silent, to check XID matching, re-sending after a reconnect,
 * deadlines, and cancelling endless (hard) waits. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bramble.h"
#include "conn.h"
#include "proto.h"
#include "rpcmsg.h"
#include "util.h"

/* The fake server: reads `batch' calls, then answers them in reverse
 * order with the call's argument + 1000.  drop_first: close the first
 * connection after reading its calls, without answering. */
struct fake {
	int fds[4];               /* server ends of connections handed out */
	int nfds;
	int client_fds[4];
	int batch;
	bool drop_first;
	bool silent;
	pthread_t thr;
	int served;               /* calls answered */
	int next_dial;            /* fds[0] goes to conn_new directly */
};

static int read_record(int fd, struct rm_reader *rm)
{
	char c[4096];

	for (;;) {
		size_t used;
		ssize_t n = recv(fd, c, sizeof(c), MSG_PEEK);

		if (n <= 0)
			return -1;
		int rc = rm_reader_feed(rm, c, (size_t)n, &used);

		n = recv(fd, c, used, 0);  /* consume exactly what was used */
		if (rc == 1)
			return 0;
		if (rc < 0)
			return -1;
	}
}

static void serve_conn(struct fake *f, int fd, bool drop)
{
	struct rm_reader rm;
	uint32_t xids[64], vals[64];
	int n = 0;

	rm_reader_init(&rm, BR_RECORD_MAX);
	while (n < f->batch && read_record(fd, &rm) == 0) {
		struct rpc_call call;

		ck_assert_int_eq(rpcmsg_decode_call(rm.rec.data, rm.rec.len, &call),
				 RPCMSG_CALL_OK);
		xids[n] = call.xid;
		ck_assert_int_eq(rpcmsg_decode_body(call.args, call.args_len,
						    (xdrproc_t)xdr_u_int, &vals[n],
						    sizeof(vals[n])), 0);
		n++;
		rm_reader_next(&rm);
	}
	rm_reader_release(&rm);
	if (drop || f->silent) {
		if (f->silent)
			sleep(1);
		close(fd);
		return;
	}
	for (int i = n - 1; i >= 0; i--) {
		struct buf out = BUF_INIT;
		u_int v = vals[i] + 1000;

		ck_assert_int_eq(rpcmsg_reply_success(&out, xids[i],
						      (xdrproc_t)xdr_u_int, &v), 0);
		ck_assert_int_eq(write_all(fd, out.data, out.len), 0);
		buf_release(&out);
		f->served++;
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < f->nfds; i++)
		serve_conn(f, f->fds[i], i == 0 && f->drop_first);
	return NULL;
}

static int fake_dial(void *ctx, int *fd_out)
{
	struct fake *f = ctx;

	if (f->next_dial >= f->nfds)
		return -ECONNREFUSED;
	*fd_out = f->client_fds[f->next_dial++];
	return 0;
}

static void fake_init(struct fake *f, int nconn, int batch)
{
	memset(f, 0, sizeof(*f));
	f->nfds = nconn;
	f->batch = batch;
	f->next_dial = 1;
	for (int i = 0; i < nconn; i++) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		f->client_fds[i] = sv[0];
		f->fds[i] = sv[1];
	}
}

struct caller {
	struct conn *c;
	u_int arg;
	int64_t timeout_ms;        /* < 0: no deadline */
	struct bramble_cancel *tok; /* bound while calling (may be NULL) */
	int rc;
	u_int result;
	pthread_t thr;
};

static void *caller_main(void *arg)
{
	struct caller *k = arg;
	struct conn_req req;
	struct rpc_reply rep;
	bool xid_ok;

	memset(&req, 0, sizeof(req));
	buf_init(&req.call, 0);
	req.xid = conn_next_xid(k->c);
	req.deadline_ns = k->timeout_ms < 0 ? CONN_NO_DEADLINE :
			  now_ns() + k->timeout_ms * 1000000;
	bramble_cancel_bind(k->tok);
	ck_assert_int_eq(rpcmsg_encode_call(&req.call, req.xid, BR_PROGRAM,
					    BR_VERSION, 1, NULL,
					    (xdrproc_t)xdr_u_int, &k->arg), 0);
	k->rc = conn_call(k->c, &req);
	bramble_cancel_bind(NULL);
	buf_release(&req.call);
	if (k->rc == 0) {
		ck_assert_int_eq(rpcmsg_decode_reply(req.reply.data, req.reply.len,
						     &rep, &xid_ok), 0);
		ck_assert_uint_eq(rep.xid, req.xid);
		ck_assert_int_eq(rpcmsg_decode_body(rep.body, rep.body_len,
						    (xdrproc_t)xdr_u_int,
						    &k->result, sizeof(k->result)), 0);
		buf_release(&req.reply);
	}
	return NULL;
}

static void run_callers(struct conn *c, struct caller *k, int n, int64_t to_ms)
{
	for (int i = 0; i < n; i++) {
		k[i].c = c;
		k[i].arg = (u_int)i;
		k[i].timeout_ms = to_ms;
		k[i].tok = NULL;
		pthread_create(&k[i].thr, NULL, caller_main, &k[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(k[i].thr, NULL);
}

START_TEST(test_out_of_order_replies)
{
	struct fake f;
	struct conn *c;
	struct caller k[16];

	fake_init(&f, 1, 16);
	ck_assert_int_eq(conn_new(f.client_fds[0], fake_dial, &f, &c), 0);
	pthread_create(&f.thr, NULL, fake_main, &f);
	run_callers(c, k, 16, 5000);
	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(k[i].rc, 0);
		ck_assert_uint_eq(k[i].result, (u_int)i + 1000);
	}
	pthread_join(f.thr, NULL);
	conn_free(c);
}
END_TEST

START_TEST(test_resend_after_reconnect)
{
	struct fake f;
	struct conn *c;
	struct caller k[8];
	struct conn_counters cc;

	fake_init(&f, 2, 8);
	f.drop_first = true;
	ck_assert_int_eq(conn_new(f.client_fds[0], fake_dial, &f, &c), 0);
	pthread_create(&f.thr, NULL, fake_main, &f);
	run_callers(c, k, 8, 10000);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(k[i].rc, 0);
		ck_assert_uint_eq(k[i].result, (u_int)i + 1000);
	}
	conn_get_counters(c, &cc);
	ck_assert_uint_eq(cc.connects, 2);
	ck_assert_uint_eq(cc.resent, 8);
	ck_assert_uint_eq(cc.in_flight, 0);
	pthread_join(f.thr, NULL);
	conn_free(c);
}
END_TEST

START_TEST(test_deadline)
{
	struct fake f;
	struct conn *c;
	struct caller k[2];
	int64_t t0 = now_ns();

	fake_init(&f, 1, 2);
	f.silent = true;
	ck_assert_int_eq(conn_new(f.client_fds[0], fake_dial, &f, &c), 0);
	pthread_create(&f.thr, NULL, fake_main, &f);
	run_callers(c, k, 2, 300);
	ck_assert_int_eq(k[0].rc, -ETIMEDOUT);
	ck_assert_int_eq(k[1].rc, -ETIMEDOUT);
	ck_assert_int_lt(now_ns() - t0, 900 * 1000000LL);
	pthread_join(f.thr, NULL);
	conn_free(c);
}
END_TEST

/* Two calls without a deadline on a server that never answers (and then
 * is gone for good): one reads for itself (poll + wake_fd), the other
 * sleeps on its condition variable.  Cancelling their tokens ends both
 * with -EINTR; a token cancelled beforehand stops a call at once. */
START_TEST(test_cancel_hard)
{
	struct fake f;
	struct conn *c;
	struct caller k[2];

	fake_init(&f, 1, 2);
	f.silent = true;
	ck_assert_int_eq(conn_new(f.client_fds[0], fake_dial, &f, &c), 0);
	pthread_create(&f.thr, NULL, fake_main, &f);
	for (int i = 0; i < 2; i++) {
		k[i].c = c;
		k[i].arg = (u_int)i;
		k[i].timeout_ms = -1;
		k[i].tok = bramble_cancel_new();
		pthread_create(&k[i].thr, NULL, caller_main, &k[i]);
	}
	usleep(1500 * 1000);               /* past the fake's hang-up too */
	ck_assert_int_eq(pthread_tryjoin_np(k[0].thr, NULL), EBUSY);
	for (int i = 0; i < 2; i++)
		bramble_cancel(k[i].tok);
	for (int i = 0; i < 2; i++) {
		pthread_join(k[i].thr, NULL);
		ck_assert_int_eq(k[i].rc, -EINTR);
	}

	/* Cancelled before the call: no wait at all.  Reset: calls again. */
	k[0].timeout_ms = 200;
	pthread_create(&k[0].thr, NULL, caller_main, &k[0]);
	pthread_join(k[0].thr, NULL);
	ck_assert_int_eq(k[0].rc, -EINTR);
	bramble_cancel_reset(k[0].tok);
	pthread_create(&k[0].thr, NULL, caller_main, &k[0]);
	pthread_join(k[0].thr, NULL);
	ck_assert_int_eq(k[0].rc, -ETIMEDOUT);
	pthread_join(f.thr, NULL);
	conn_free(c);
	for (int i = 0; i < 2; i++)
		bramble_cancel_free(k[i].tok);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("matching");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_out_of_order_replies);
	tcase_add_test(tc, test_resend_after_reconnect);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_cancel_hard);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
