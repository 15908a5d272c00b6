/* test_lock.c - common/lkrange.c against the kernel's own locks, and
 * server/lock.c: waits, cancels, leases, grace after a restart.
 *
 * The range rules are checked by running one random sequence of lock
 * operations twice: on a real file, through two open file descriptions
 * (OFD locks: two owners in one process), and on an lkr_set with two
 * owners.  After every step each side's answer must agree, and so must
 * the whole state, read back byte by byte: F_OFD_GETLK from one owner
 * reports the other owner's lock covering a byte -- its type and its
 * exact, merged extent -- which lkr_conflict() must report the same.
 * flock(2) is compared likewise through three open files. */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "bramble_prot.h"
#include "lkrange.h"
#include "lock.h"
#include "lockdb.h"
#include "pool.h"

#define SEC 1000000000LL
#define PROBE_MAX 40               /* bytes probed: ranges stay below 32 */

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_lock.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct lkr req(uint64_t owner, uint32_t kind, uint32_t type,
		      uint64_t start, uint64_t len)
{
	struct lkr r = { .client = 7, .owner = owner, .kind = kind, .type = type,
			 .start = start };

	ck_assert_int_eq(lkr_range(start, len, &r.end), 0);
	return r;
}

/* ---- the range rules against the kernel */

static int k_setlk(int fd, uint32_t type, uint64_t start, uint64_t len)
{
	struct flock fl = {
		.l_type = type == LKR_READ ? F_RDLCK : type == LKR_WRITE ? F_WRLCK : F_UNLCK,
		.l_whence = SEEK_SET, .l_start = (off_t)start, .l_len = (off_t)len,
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	ck_assert_msg(errno == EAGAIN || errno == EACCES, "F_OFD_SETLK: %s",
		      strerror(errno));
	return -EAGAIN;
}

/* The other owner's lock on byte b as seen by fd: "type start len". */
static void k_probe(int fd, uint64_t b, char *out, size_t n)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = (off_t)b, .l_len = 1 };

	ck_assert_int_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
	if (fl.l_type == F_UNLCK)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%c %lld %lld", fl.l_type == F_WRLCK ? 'w' : 'r',
			 (long long)fl.l_start, (long long)fl.l_len);
}

static void m_probe(const struct lkr_set *s, uint64_t owner, uint64_t b,
		    char *out, size_t n)
{
	struct lkr q = req(owner, LKR_POSIX, LKR_WRITE, b, 1);
	const struct lkr *l = lkr_conflict(s, &q);

	if (!l)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%c %llu %llu", l->type == LKR_WRITE ? 'w' : 'r',
			 (unsigned long long)l->start,
			 (unsigned long long)lkr_length(l->start, l->end));
}

START_TEST(test_posix_vs_kernel)
{
	char path[128], kbuf[64], mbuf[64];
	struct lkr_set s = { 0 };
	int fd[2];
	unsigned int seed = 12345 + (unsigned int)_i;

	snprintf(path, sizeof(path), "%s/f%d", tmpdir, _i);
	fd[0] = open(path, O_RDWR | O_CREAT, 0600);
	fd[1] = open(path, O_RDWR);
	ck_assert_int_ge(fd[0], 0);
	ck_assert_int_ge(fd[1], 0);
	for (int step = 0; step < 400; step++) {
		int who = rand_r(&seed) % 2;
		uint32_t type = 1 + (uint32_t)(rand_r(&seed) % 3);
		uint64_t start = (uint64_t)(rand_r(&seed) % 24);
		uint64_t len = (uint64_t)(rand_r(&seed) % 9);   /* 0: to EOF */
		struct lkr r = req((uint64_t)who + 1, LKR_POSIX, type, start, len);
		int krc = k_setlk(fd[who], type, start, len);
		int mrc = 0;

		if (type != LKR_UNLOCK && lkr_conflict(&s, &r))
			mrc = -EAGAIN;
		else
			lkr_apply(&s, &r);
		ck_assert_msg(krc == mrc, "step %d: owner %d type %u [%llu,+%llu): "
			      "kernel %d, lkrange %d", step, who, type,
			      (unsigned long long)start, (unsigned long long)len, krc, mrc);
		for (uint64_t b = 0; b < PROBE_MAX; b++) {
			for (int o = 0; o < 2; o++) {
				k_probe(fd[o], b, kbuf, sizeof(kbuf));
				m_probe(&s, (uint64_t)o + 1, b, mbuf, sizeof(mbuf));
				ck_assert_msg(!strcmp(kbuf, mbuf), "step %d byte %llu seen by "
					      "%d: kernel '%s', lkrange '%s'", step,
					      (unsigned long long)b, o, kbuf, mbuf);
			}
		}
	}
	close(fd[0]);
	close(fd[1]);
	lkr_set_release(&s);
}
END_TEST

static int k_flock(int fd, uint32_t type)
{
	int op = type == LKR_READ ? LOCK_SH : type == LKR_WRITE ? LOCK_EX : LOCK_UN;

	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	ck_assert_int_eq(errno, EWOULDBLOCK);
	return -EAGAIN;
}

START_TEST(test_flock_vs_kernel)
{
	char path[128];
	struct lkr_set s = { 0 };
	int fd[3], probe;
	unsigned int seed = 777 + (unsigned int)_i;

	snprintf(path, sizeof(path), "%s/g%d", tmpdir, _i);
	for (int i = 0; i < 3; i++) {
		fd[i] = open(path, O_RDWR | O_CREAT, 0600);
		ck_assert_int_ge(fd[i], 0);
	}
	probe = open(path, O_RDWR);
	for (int step = 0; step < 300; step++) {
		int who = rand_r(&seed) % 3;
		uint32_t type = 1 + (uint32_t)(rand_r(&seed) % 3);
		struct lkr r = req((uint64_t)who + 1, LKR_FLOCK, type, 0, 0);
		int krc = k_flock(fd[who], type);
		int mrc = 0;

		/* The server's order: same type held: nothing to do; else
		 * drop the old lock, then test (lock.c do_lock). */
		if (type != LKR_UNLOCK && !lkr_holds(&s, &r)) {
			struct lkr un = r;

			un.type = LKR_UNLOCK;
			lkr_apply(&s, &un);
		}
		if (type != LKR_UNLOCK && !lkr_holds(&s, &r) && lkr_conflict(&s, &r))
			mrc = -EAGAIN;
		else
			lkr_apply(&s, &r);
		ck_assert_msg(krc == mrc, "flock step %d: kernel %d lkrange %d", step,
			      krc, mrc);
		for (uint32_t t = LKR_READ; t <= LKR_WRITE; t++) {
			struct lkr q = req(9, LKR_FLOCK, t, 0, 0);
			int kp = k_flock(probe, t);

			if (kp == 0)
				k_flock(probe, LKR_UNLOCK);
			ck_assert_int_eq(kp, lkr_conflict(&s, &q) ? -EAGAIN : 0);
		}
	}
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	close(probe);
	lkr_set_release(&s);
}
END_TEST

START_TEST(test_kinds_and_ranges)
{
	struct lkr_set s = { 0 };
	struct lkr a = req(1, LKR_POSIX, LKR_WRITE, 0, 0);
	struct lkr f = req(2, LKR_FLOCK, LKR_WRITE, 0, 0);
	uint64_t end;

	lkr_apply(&s, &a);
	/* flock and POSIX locks never conflict */
	ck_assert_ptr_null(lkr_conflict(&s, &f));
	lkr_apply(&s, &f);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(lkr_drop(&s, 7, true, 0), 2);
	ck_assert_uint_eq(s.n, 0);
	/* ranges that do not fit in 64 bits are refused */
	ck_assert_int_eq(lkr_range(UINT64_MAX, 2, &end), -EINVAL);
	ck_assert_int_eq(lkr_range(UINT64_MAX - 1, 2, &end), 0);
	ck_assert_uint_eq(end, UINT64_MAX);
	ck_assert_uint_eq(lkr_length(5, LKR_EOF), 0);
	lkr_set_release(&s);
}
END_TEST

/* ---- the lock manager */

struct reply_log {
	int n;
	int last_rc;
};
static struct reply_log replies;

static void test_reply(struct job *j, int rc, const struct lkr *holder, bool same)
{
	(void)j;
	(void)holder;
	(void)same;
	replies.n++;
	replies.last_rc = rc;
}

static struct lockmgr *mgr(const char *db, unsigned int lease, unsigned int grace)
{
	struct lock_opts o = { .lease_sec = lease, .grace_sec = grace, .db_path = db };
	struct lockmgr *m;
	char err[512];

	ck_assert_msg(lockmgr_new(&o, test_reply, &m, err, sizeof(err)) == 0, "%s", err);
	memset(&replies, 0, sizeof(replies));
	return m;
}

static int call(struct lockmgr *m, uint64_t client, uint64_t owner, uint32_t kind,
		uint32_t type, uint64_t start, uint64_t len, uint32_t flags,
		struct job *j, const void *conn)
{
	struct lock_call c = { .dev = 1, .ino = 2, .flags = flags, .job = j, .conn = conn };
	struct lkr holder;
	bool same;

	c.lk = req(owner, kind, type, start, len);
	c.lk.client = client;
	return lockmgr_call(m, &c, &holder, &same);
}

START_TEST(test_wait_granted)
{
	struct lockmgr *m = mgr(NULL, 30, 0);
	int conn;
	size_t nl, nw;

	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_WRITE, 0, 10, 0, NULL, NULL), 0);
	ck_assert_int_eq(call(m, 2, 1, LKR_POSIX, LKR_READ, 5, 1, 0, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(call(m, 2, 1, LKR_POSIX, LKR_READ, 5, 1, BR_LOCK_WAIT,
			      job_new(), &conn), LOCK_PARKED);
	lockmgr_counts(m, &nl, &nw);
	ck_assert_uint_eq(nw, 1);
	/* The holder's unlock grants the waiter (its reply is encoded). */
	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_UNLOCK, 0, 0, 0, NULL, NULL), 0);
	ck_assert_int_eq(replies.n, 1);
	ck_assert_int_eq(replies.last_rc, 0);
	lockmgr_counts(m, &nl, &nw);
	ck_assert_uint_eq(nw, 0);
	ck_assert_uint_eq(nl, 1);
	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_WRITE, 5, 1, 0, NULL, NULL), -EAGAIN);
	lockmgr_free(m);
}
END_TEST

START_TEST(test_wait_cancelled)
{
	struct lockmgr *m = mgr(NULL, 30, 0);
	int conn1, conn2;

	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_WRITE, 0, 0, 0, NULL, NULL), 0);
	/* Client 2's owner 5 holds a read lock elsewhere, then waits. */
	ck_assert_int_eq(call(m, 2, 5, LKR_FLOCK, LKR_READ, 0, 0, 0, NULL, NULL), 0);
	ck_assert_int_eq(call(m, 2, 5, LKR_POSIX, LKR_WRITE, 0, 10, BR_LOCK_WAIT,
			      job_new(), &conn1), LOCK_PARKED);
	/* UNLOCK|WAIT: the wait ends (EINTR), nothing held is released */
	ck_assert_int_eq(call(m, 2, 5, LKR_POSIX, LKR_UNLOCK, 0, 10, BR_LOCK_WAIT,
			      NULL, NULL), 0);
	ck_assert_int_eq(replies.n, 1);
	ck_assert_int_eq(replies.last_rc, -EINTR);
	ck_assert_int_eq(call(m, 3, 1, LKR_FLOCK, LKR_WRITE, 0, 0, 0, NULL, NULL), -EAGAIN);
	/* A closed connection ends its waits too. */
	ck_assert_int_eq(call(m, 2, 6, LKR_POSIX, LKR_READ, 0, 1, BR_LOCK_WAIT,
			      job_new(), &conn2), LOCK_PARKED);
	lockmgr_conn_closed(m, &conn2);
	ck_assert_int_eq(replies.n, 2);
	ck_assert_int_eq(replies.last_rc, -EINTR);
	/* A re-issued wait replaces the one before (which answers EAGAIN);
	 * another range of the same owner waits on its own. */
	ck_assert_int_eq(call(m, 2, 7, LKR_POSIX, LKR_READ, 0, 1, BR_LOCK_WAIT,
			      job_new(), &conn1), LOCK_PARKED);
	ck_assert_int_eq(call(m, 2, 7, LKR_POSIX, LKR_READ, 0, 1, BR_LOCK_WAIT,
			      job_new(), &conn1), LOCK_PARKED);
	ck_assert_int_eq(replies.n, 3);
	ck_assert_int_eq(replies.last_rc, -EAGAIN);
	ck_assert_int_eq(call(m, 2, 7, LKR_POSIX, LKR_READ, 2, 1, BR_LOCK_WAIT,
			      job_new(), &conn1), LOCK_PARKED);
	ck_assert_int_eq(replies.n, 3);
	lockmgr_free(m);           /* frees the one still waiting */
}
END_TEST

START_TEST(test_lease)
{
	struct lockmgr *m = mgr(NULL, 2, 0);
	size_t nl, nw;

	lockmgr_client_attach(m, 1);
	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_WRITE, 0, 0, 0, NULL, NULL), 0);
	/* Connected: the lease never runs out. */
	lockmgr_sweep(m, now_ns() + 100 * SEC);
	ck_assert_int_eq(call(m, 2, 1, LKR_POSIX, LKR_WRITE, 0, 0, 0, NULL, NULL), -EAGAIN);
	lockmgr_client_detach(m, 1);
	lockmgr_sweep(m, now_ns() + SEC);
	ck_assert_int_eq(call(m, 2, 1, LKR_POSIX, LKR_WRITE, 0, 0, 0, NULL, NULL), -EAGAIN);
	lockmgr_sweep(m, now_ns() + 3 * SEC);
	lockmgr_counts(m, &nl, &nw);
	ck_assert_uint_eq(nl, 0);
	ck_assert_int_eq(call(m, 2, 1, LKR_POSIX, LKR_WRITE, 0, 0, 0, NULL, NULL), 0);
	lockmgr_free(m);
}
END_TEST

START_TEST(test_grace)
{
	char db[128];
	struct lockmgr *m;

	snprintf(db, sizeof(db), "%s/bramble.db", tmpdir);
	/* No client ever held a lock: no grace. */
	m = mgr(db, 30, 10);
	ck_assert_uint_eq(lockmgr_grace_left(m), 0);
	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_WRITE, 0, 0, 0, NULL, NULL), 0);
	ck_assert_int_eq(call(m, 2, 1, LKR_FLOCK, LKR_READ, 0, 0, 0, NULL, NULL), 0);
	lockmgr_free(m);           /* "crash": the list stays */

	m = mgr(db, 30, 10);
	ck_assert_uint_gt(lockmgr_grace_left(m), 0);
	ck_assert_int_eq(call(m, 3, 1, LKR_POSIX, LKR_READ, 0, 0, 0, NULL, NULL),
			 -LOCK_EGRACE);
	ck_assert_int_eq(call(m, 1, 1, LKR_POSIX, LKR_WRITE, 0, 0, BR_LOCK_RECLAIM,
			      NULL, NULL), 0);
	ck_assert_int_eq(call(m, 1, 0, LKR_POSIX, LKR_UNLOCK, 0, 0,
			      BR_LOCK_RECLAIM | BR_LOCK_ALL, NULL, NULL), 0);
	ck_assert_uint_gt(lockmgr_grace_left(m), 0);    /* client 2 missing */
	ck_assert_int_eq(call(m, 2, 0, LKR_POSIX, LKR_UNLOCK, 0, 0,
			      BR_LOCK_RECLAIM | BR_LOCK_ALL, NULL, NULL), 0);
	ck_assert_uint_eq(lockmgr_grace_left(m), 0);
	/* Over: the reclaimed lock holds, others are answered again. */
	ck_assert_int_eq(call(m, 3, 1, LKR_POSIX, LKR_READ, 0, 0, 0, NULL, NULL), -EAGAIN);
	lockmgr_free(m);

	/* Grace also ends by time, without the clients. */
	m = mgr(db, 30, 1);
	ck_assert_uint_gt(lockmgr_grace_left(m), 0);
	lockmgr_sweep(m, now_ns() + 2 * SEC);
	ck_assert_uint_eq(lockmgr_grace_left(m), 0);
	lockmgr_free(m);
}
END_TEST

static Suite *lock_suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tk = tcase_create("kernel");
	TCase *tm = tcase_create("manager");

	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_add_loop_test(tk, test_posix_vs_kernel, 0, 8);
	tcase_add_loop_test(tk, test_flock_vs_kernel, 0, 4);
	tcase_add_test(tk, test_kinds_and_ranges);
	tcase_set_timeout(tk, 60);
	suite_add_tcase(s, tk);
	tcase_add_checked_fixture(tm, setup, teardown);
	tcase_add_test(tm, test_wait_granted);
	tcase_add_test(tm, test_wait_cancelled);
	tcase_add_test(tm, test_lease);
	tcase_add_test(tm, test_grace);
	tcase_set_timeout(tm, 30);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lock_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
