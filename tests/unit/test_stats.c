/* test_stats.c - server/stats.c: percentiles of the latency histogram for
 * known distributions, counters that threads bump at once summing
 * exactly, and the connection and disk totals. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* Within the histogram's promise: never above the true value's bucket
 * top, never below the true value, and at most 25 % above it. */
static void ck_near(uint64_t got, uint64_t want)
{
	ck_assert_uint_ge(got, want);
	ck_assert_uint_le(got, want + want / 4);
}

START_TEST(empty_histogram)
{
	struct stats_hist h;

	memset(&h, 0, sizeof(h));
	ck_assert_uint_eq(stats_hist_quantile(&h, 0.5), 0);
	ck_assert_uint_eq(stats_hist_quantile(&h, 0.99), 0);
}
END_TEST

/* One value repeated: every percentile is that value exactly (the bucket
 * top is capped by the maximum). */
START_TEST(constant)
{
	static const uint64_t vals[] = { 0, 1, 3, 4, 7, 100, 1000, 123457, 5000000000ull };

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct stats_hist h;

		memset(&h, 0, sizeof(h));
		for (int k = 0; k < 50; k++)
			stats_hist_add(&h, vals[i]);
		ck_assert_uint_eq(stats_hist_quantile(&h, 0.5), vals[i]);
		ck_assert_uint_eq(stats_hist_quantile(&h, 0.99), vals[i]);
		ck_assert_uint_eq(h.max_us, vals[i]);
		ck_assert_uint_eq(h.sum_us, 50 * vals[i]);
	}
}
END_TEST

/* 1..1000 us once each: the q-quantile is q * 1000, within a bucket. */
START_TEST(uniform)
{
	struct stats_hist h;

	memset(&h, 0, sizeof(h));
	for (uint64_t v = 1000; v >= 1; v--)  /* order does not matter */
		stats_hist_add(&h, v);
	ck_near(stats_hist_quantile(&h, 0.50), 500);
	ck_near(stats_hist_quantile(&h, 0.90), 900);
	ck_near(stats_hist_quantile(&h, 0.99), 990);
	ck_assert_uint_eq(stats_hist_quantile(&h, 1.0), 1000);
	ck_assert_uint_eq(h.max_us, 1000);
	ck_assert_uint_eq(h.sum_us, 500500);
}
END_TEST

/* 98 fast calls and 2 slow ones: p50 and p90 see the fast, p99 the slow
 * (the 99th of 100 values). */
START_TEST(bimodal)
{
	struct stats_hist h;

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 98; i++)
		stats_hist_add(&h, 20);
	stats_hist_add(&h, 50000);
	stats_hist_add(&h, 80000);
	ck_assert_uint_eq(stats_hist_quantile(&h, 0.5), 20 + 3);  /* [20, 24) */
	ck_near(stats_hist_quantile(&h, 0.9), 20);
	ck_near(stats_hist_quantile(&h, 0.99), 50000);
	ck_assert_uint_eq(h.max_us, 80000);
}
END_TEST

/* Far beyond the last bucket: counted, capped at the maximum seen. */
START_TEST(huge)
{
	struct stats_hist h;

	memset(&h, 0, sizeof(h));
	stats_hist_add(&h, UINT64_MAX / 2);
	ck_assert_uint_eq(stats_hist_quantile(&h, 0.5), UINT64_MAX / 2);
}
END_TEST

#define THREADS 4
#define PER_THREAD 100000

struct worker {
	struct stats *st;
	int id;
};

static void *bump(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		stats_call(w->st, BRPROC_GETATTR, i % 10 == 0, 100, 200,
			   (int64_t)(w->id + 1) * 1000000);  /* ns */
		stats_disk(w->st, i & 1, 3, 5);
		stats_conn_open(w->st);
		stats_conn_closed(w->st);
	}
	return NULL;
}

START_TEST(threads_sum_exactly)
{
	struct stats *st = stats_new();
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct stats_proc p;
	struct stats_totals tot;
	const uint64_t n = (uint64_t)THREADS * PER_THREAD;

	for (int i = 0; i < THREADS; i++) {
		w[i].st = st;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, bump, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	stats_read_proc(st, BRPROC_GETATTR, &p);
	ck_assert_uint_eq(p.calls, n);
	ck_assert_uint_eq(p.errors, n / 10);
	ck_assert_uint_eq(p.bytes_in, n * 100);
	ck_assert_uint_eq(p.bytes_out, n * 200);
	/* Thread i took (i + 1) ms each time: a quarter of the calls each. */
	ck_assert_uint_eq(p.max_us, THREADS * 1000);
	ck_assert_uint_eq(p.sum_us, (uint64_t)PER_THREAD * 1000 * (1 + 2 + 3 + 4));
	ck_near(p.p50_us, 2000);
	ck_assert_uint_eq(p.p99_us, 4000);
	stats_read_totals(st, &tot);
	ck_assert_uint_eq(tot.conns_total, n);
	ck_assert_uint_eq(tot.conns_current, 0);
	ck_assert_uint_eq(tot.disk_read_bytes, n / 2 * 3);
	ck_assert_uint_eq(tot.disk_write_bytes, n / 2 * 3);
	ck_assert_uint_eq(tot.disk_read_ns + tot.disk_write_ns, n * 5);
	stats_read_proc(st, BRPROC_LOOKUP, &p);
	ck_assert_uint_eq(p.calls, 0);
	stats_free(st);
}
END_TEST

/* Unknown procedure numbers and a NULL struct stats are ignored. */
START_TEST(ignored)
{
	struct stats *st = stats_new();
	struct stats_proc p;

	stats_call(st, BR_NPROCS, false, 1, 1, 1);
	stats_call(NULL, BRPROC_READ, false, 1, 1, 1);
	stats_disk(NULL, true, 1, 1);
	stats_conn_refused(NULL);
	stats_conn_refused(st);
	for (uint32_t i = 0; i < BR_NPROCS; i++) {
		stats_read_proc(st, i, &p);
		ck_assert_uint_eq(p.calls, 0);
	}
	stats_free(st);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_histogram);
	tcase_add_test(tc, constant);
	tcase_add_test(tc, uniform);
	tcase_add_test(tc, bimodal);
	tcase_add_test(tc, huge);
	tcase_add_test(tc, threads_sum_exactly);
	tcase_add_test(tc, ignored);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
