/* test_drc.c - server/drc.c: hits, misses, expiry, the bound, duplicates
 * that wait for the first copy, the client id format, and persistence
 * through an SQLite file (drcstore.c). */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drc.h"

#define SEC INT64_C(1000000000)

static struct drc_key key(uint64_t client, uint32_t xid, uint32_t proc)
{
	struct drc_key k;

	memset(&k, 0, sizeof(k));
	k.client = client;
	k.xid = xid;
	k.proc = proc;
	k.sum = drc_sum("args", 4);
	return k;
}

/* Begin k as a new call and finish it with reply. */
static void run(struct drc *d, const struct drc_key *k, int64_t now,
		const char *reply)
{
	struct drc_entry *e;
	struct buf out = BUF_INIT;

	ck_assert_int_eq(drc_begin(d, k, now, &out, &e), DRC_NEW);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(out.len, 0);
	drc_done(d, e, reply, strlen(reply));
	buf_release(&out);
}

/* DRC_HIT with reply, or DRC_NEW (finished at once) when reply is NULL. */
static void expect(struct drc *d, const struct drc_key *k, int64_t now,
		   const char *reply)
{
	struct drc_entry *e;
	struct buf out = BUF_INIT;
	enum drc_result r = drc_begin(d, k, now, &out, &e);

	if (reply) {
		ck_assert_int_eq(r, DRC_HIT);
		ck_assert_ptr_null(e);
		ck_assert_uint_eq(out.len, strlen(reply));
		ck_assert_mem_eq(out.data, reply, out.len);
	} else {
		ck_assert_int_eq(r, DRC_NEW);
		drc_done(d, e, "again", 5);
	}
	buf_release(&out);
}

START_TEST(test_insert_hit)
{
	struct drc *d = drc_new(16, 120 * SEC);
	struct drc_key k = key(0xabc, 7, 11), other;

	run(d, &k, 1 * SEC, "first reply");
	expect(d, &k, 2 * SEC, "first reply");
	expect(d, &k, 3 * SEC, "first reply");
	ck_assert_uint_eq(drc_count(d), 1);
	/* Another client, XID, procedure or argument: another call. */
	other = key(0xabd, 7, 11);
	expect(d, &other, 4 * SEC, NULL);
	other = key(0xabc, 8, 11);
	expect(d, &other, 4 * SEC, NULL);
	other = key(0xabc, 7, 12);
	expect(d, &other, 4 * SEC, NULL);
	other = key(0xabc, 7, 11);
	other.sum = drc_sum("argz", 4);
	expect(d, &other, 4 * SEC, NULL);
	ck_assert_uint_eq(drc_count(d), 5);
	expect(d, &k, 5 * SEC, "first reply");
	drc_free(d);
}
END_TEST

START_TEST(test_expiry)
{
	struct drc *d = drc_new(16, 120 * SEC);
	struct drc_key k1 = key(1, 1, 11), k2 = key(1, 2, 11);

	run(d, &k1, 0, "one");
	run(d, &k2, 100 * SEC, "two");
	expect(d, &k1, 119 * SEC, "one");
	/* k1 is 120 s old: gone, and it runs again. */
	expect(d, &k1, 120 * SEC, NULL);
	expect(d, &k2, 150 * SEC, "two");
	expect(d, &k1, 150 * SEC, "again");
	/* Expired entries go when a new one is made, even if not looked up. */
	run(d, &k2, 500 * SEC, "never");    /* k2 expired: runs anew */
	ck_assert_uint_eq(drc_count(d), 1);
	drc_free(d);
}
END_TEST

START_TEST(test_bound)
{
	struct drc *d = drc_new(4, 120 * SEC);
	struct drc_key k[6];
	struct drc_entry *busy, *none;
	struct buf out = BUF_INIT;

	for (uint32_t i = 0; i < 6; i++)
		k[i] = key(9, i, 14);
	for (int i = 0; i < 4; i++)
		run(d, &k[i], i, "r");
	ck_assert_uint_eq(drc_count(d), 4);
	/* Full: the oldest makes room. */
	run(d, &k[4], 10, "r4");
	ck_assert_uint_eq(drc_count(d), 4);
	expect(d, &k[1], 11, "r");
	expect(d, &k[4], 11, "r4");
	expect(d, &k[0], 12, NULL);         /* forgotten: runs again */
	ck_assert_uint_eq(drc_count(d), 4);
	drc_free(d);

	/* Entries in progress are never dropped: with all of them busy a
	 * new call runs uncached. */
	d = drc_new(1, 120 * SEC);
	ck_assert_int_eq(drc_begin(d, &k[0], 0, &out, &busy), DRC_NEW);
	ck_assert_ptr_nonnull(busy);
	ck_assert_int_eq(drc_begin(d, &k[1], 0, &out, &none), DRC_NEW);
	ck_assert_ptr_null(none);
	drc_done(d, none, "x", 1);          /* NULL: nothing */
	drc_done(d, busy, "b", 1);
	ck_assert_uint_eq(drc_count(d), 1);
	buf_release(&out);
	drc_free(d);
}
END_TEST

struct dup {
	struct drc *d;
	struct drc_key k;
	enum drc_result r;
	struct buf out;
};

static void *dup_main(void *arg)
{
	struct dup *u = arg;
	struct drc_entry *e;

	u->r = drc_begin(u->d, &u->k, 1, &u->out, &e);
	return NULL;
}

START_TEST(test_in_progress_waits)
{
	struct drc *d = drc_new(16, 120 * SEC);
	struct dup u = { .d = d, .k = key(5, 5, 11) };
	struct drc_entry *e;
	struct buf out = BUF_INIT;
	pthread_t t;

	buf_init(&u.out, 0);
	ck_assert_int_eq(drc_begin(d, &u.k, 0, &out, &e), DRC_NEW);
	ck_assert_int_eq(pthread_create(&t, NULL, dup_main, &u), 0);
	usleep(100 * 1000);                 /* the duplicate is waiting */
	ck_assert_uint_eq(u.out.len, 0);
	drc_done(d, e, "made it", 7);
	pthread_join(t, NULL);
	ck_assert_int_eq(u.r, DRC_HIT);
	ck_assert_uint_eq(u.out.len, 7);
	ck_assert_mem_eq(u.out.data, "made it", 7);
	buf_release(&u.out);
	buf_release(&out);
	drc_free(d);
}
END_TEST

START_TEST(test_client_id)
{
	uint64_t id = 0;

	ck_assert(drc_client_id("00000000000000ff", &id));
	ck_assert_uint_eq(id, 0xff);
	ck_assert(drc_client_id("0123456789abcdef", &id));
	ck_assert_uint_eq(id, UINT64_C(0x0123456789abcdef));
	ck_assert(!drc_client_id("", &id));
	ck_assert(!drc_client_id("rawrpc", &id));
	ck_assert(!drc_client_id("0123456789abcde", &id));
	ck_assert(!drc_client_id("0123456789abcdef0", &id));
	ck_assert(!drc_client_id("0123456789ABCDEF", &id));
	ck_assert(!drc_client_id("host.example.org", &id));
	ck_assert_uint_eq(id, UINT64_C(0x0123456789abcdef)); /* untouched */
}
END_TEST

/* A private database file; removed (with its WAL) by rm_db. */
static void tmp_db(char *path, size_t len)
{
	char dir[] = "/tmp/test_drc.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, len, "%s/bramble.db", dir);
}

static void rm_db(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf \"$(dirname '%s')\"", path);
	ck_assert_int_eq(system(cmd), 0);
}

static long rows(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long n = -1;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM drc", -1,
					    &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

START_TEST(test_persist)
{
	char path[256], err[512];
	struct drc *d = drc_new(16, 120 * SEC);
	struct drc_key k1 = key(UINT64_C(0xfedcba9876543210), 0xffffffffu, 10);
	struct drc_key k2 = key(2, 2, 14);

	tmp_db(path, sizeof(path));
	ck_assert_int_eq(drc_persist(d, path, 0, err, sizeof(err)), 0);
	run(d, &k1, 1 * SEC, "created");
	run(d, &k2, 2 * SEC, "removed");
	/* No drc_free: what is in the file must suffice, as after kill -9.
	 * Each call left an intent row and a reply row. */
	ck_assert_int_eq(rows(path), 4);

	/* A "restarted" server: both replies are there; their age counts
	 * from this start (1000 s later on the monotonic clock). */
	struct drc *d2 = drc_new(16, 120 * SEC);

	ck_assert_int_eq(drc_persist(d2, path, 1000 * SEC, err, sizeof(err)), 2);
	ck_assert_uint_eq(drc_count(d2), 2);
	expect(d2, &k1, 1100 * SEC, "created");
	expect(d2, &k2, 1100 * SEC, "removed");
	expect(d2, &k2, 1120 * SEC, NULL);  /* 120 s after the load: gone */
	drc_free(d2);
	drc_free(d);

	/* A third start with a bound of 1 keeps only the newest row. */
	d = drc_new(1, 120 * SEC);
	ck_assert_int_eq(drc_persist(d, path, 0, err, sizeof(err)), 1);
	expect(d, &k1, 1, NULL);
	drc_free(d);
	rm_db(path);
}
END_TEST

/* Killed after running a call but before storing its reply: only the
 * intent is in the file.  The restarted server says so (DRC_UNCERTAIN)
 * once; the reply stored then answers later copies. */
START_TEST(test_persist_uncertain)
{
	char path[256], err[512];
	struct drc *d = drc_new(16, 120 * SEC);
	struct drc_key k = key(7, 77, 10);
	struct drc_entry *e, *first;
	struct buf out = BUF_INIT;

	tmp_db(path, sizeof(path));
	ck_assert_int_eq(drc_persist(d, path, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(drc_begin(d, &k, 1 * SEC, &out, &first), DRC_NEW);
	ck_assert_int_eq(rows(path), 1);            /* the intent, before the call */

	struct drc *d2 = drc_new(16, 120 * SEC);

	ck_assert_int_eq(drc_persist(d2, path, 1000 * SEC, err, sizeof(err)), 1);
	ck_assert_int_eq(drc_begin(d2, &k, 1001 * SEC, &out, &e), DRC_UNCERTAIN);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(out.len, 0);
	drc_done(d2, e, "settled", 7);
	expect(d2, &k, 1002 * SEC, "settled");
	drc_free(d2);
	drc_done(d, first, "never", 5);  /* d's own entry, to free it cleanly */
	buf_release(&out);
	drc_free(d);
	rm_db(path);
}
END_TEST

START_TEST(test_persist_prune)
{
	char path[256], err[512];
	struct drc *d = drc_new(8, 120 * SEC);

	tmp_db(path, sizeof(path));
	ck_assert_int_eq(drc_persist(d, path, 0, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < DRC_PRUNE_EVERY; i++) {
		struct drc_key k = key(3, i, 11);

		run(d, &k, i, "r");
	}
	/* The DRC_PRUNE_EVERY-th store pruned the table to the bound. */
	ck_assert_int_eq(rows(path), 8);
	drc_free(d);
	rm_db(path);
}
END_TEST

START_TEST(test_persist_error)
{
	char err[512];
	struct drc *d = drc_new(8, 120 * SEC);

	ck_assert_int_lt(drc_persist(d, "/nonexistent-dir/bramble.db", 0, err,
				     sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/bramble.db"));
	drc_free(d);
}
END_TEST

static Suite *drc_suite(void)
{
	Suite *s = suite_create("drc");
	TCase *tc = tcase_create("cache");
	TCase *tw = tcase_create("wait");
	TCase *ti = tcase_create("client id");
	TCase *tp = tcase_create("persist");

	tcase_add_test(tc, test_insert_hit);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tw, test_in_progress_waits);
	tcase_set_timeout(tw, 10);
	tcase_add_test(ti, test_client_id);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tw);
	suite_add_tcase(s, ti);
	tcase_add_test(tp, test_persist);
	tcase_add_test(tp, test_persist_uncertain);
	tcase_add_test(tp, test_persist_prune);
	tcase_add_test(tp, test_persist_error);
	tcase_set_timeout(tp, 30);
	suite_add_tcase(s, tp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(drc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
