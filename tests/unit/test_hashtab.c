/* test_hashtab.c - the hash table: find/insert/remove, growth, colliding
 * hashes, foreach that frees what it visits or stops early. */
#include <check.h>
#include <stdlib.h>

#include "hashtab.h"
#include "xalloc.h"

struct ent {
	struct hashtab_node hn;
	uint64_t key;
};

static bool ent_is(const struct hashtab_node *n, const void *key)
{
	return HASHTAB_ENTRY(n, struct ent, hn)->key == *(const uint64_t *)key;
}

static struct ent *ent_new(uint64_t key)
{
	struct ent *e = xcalloc(1, sizeof(*e));

	e->key = key;
	return e;
}

static struct ent *find(struct hashtab *t, uint64_t hash, uint64_t key)
{
	struct hashtab_node *n = hashtab_find(t, hash, ent_is, &key);

	return n ? HASHTAB_ENTRY(n, struct ent, hn) : NULL;
}

static int free_ent(struct hashtab_node *n, void *arg)
{
	struct hashtab *t = arg;

	hashtab_remove(t, n);
	free(HASHTAB_ENTRY(n, struct ent, hn));
	return 0;
}

START_TEST(test_insert_find_remove)
{
	struct hashtab t;
	struct ent *a = ent_new(1), *b = ent_new(2);

	hashtab_init(&t, 0);
	ck_assert_uint_eq(t.nbuckets, 16);
	ck_assert_ptr_null(find(&t, hash_u64(1), 1));
	hashtab_insert(&t, &a->hn, hash_u64(a->key));
	hashtab_insert(&t, &b->hn, hash_u64(b->key));
	ck_assert_uint_eq(t.count, 2);
	ck_assert_ptr_eq(find(&t, hash_u64(1), 1), a);
	ck_assert_ptr_eq(find(&t, hash_u64(2), 2), b);
	ck_assert_ptr_null(find(&t, hash_u64(3), 3));
	hashtab_remove(&t, &a->hn);
	ck_assert_uint_eq(t.count, 1);
	ck_assert_ptr_null(find(&t, hash_u64(1), 1));
	ck_assert_ptr_eq(find(&t, hash_u64(2), 2), b);
	hashtab_remove(&t, &b->hn);
	ck_assert_uint_eq(t.count, 0);
	hashtab_release(&t);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_min_buckets_rounded_up)
{
	struct hashtab t;

	hashtab_init(&t, 100);
	ck_assert_uint_eq(t.nbuckets, 128);
	hashtab_release(&t);
	hashtab_init(&t, 64);
	ck_assert_uint_eq(t.nbuckets, 64);
	hashtab_release(&t);
}
END_TEST

/* Enough entries to double the buckets many times; every one still found
 * afterwards, and the chains stay short. */
START_TEST(test_growth)
{
	enum { N = 20000 };
	struct hashtab t;
	struct ent **e = xcalloc(N, sizeof(*e));

	hashtab_init(&t, 4);
	for (uint64_t i = 0; i < N; i++) {
		e[i] = ent_new(i);
		hashtab_insert(&t, &e[i]->hn, hash_u64(i));
		ck_assert_uint_le(t.count, t.nbuckets);
	}
	ck_assert_uint_eq(t.count, N);
	ck_assert_uint_ge(t.nbuckets, N);
	for (uint64_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, hash_u64(i), i), e[i]);
	ck_assert_ptr_null(find(&t, hash_u64(N), N));
	for (uint64_t i = 0; i < N; i += 2)
		free_ent(&e[i]->hn, &t);
	ck_assert_uint_eq(t.count, N / 2);
	for (uint64_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, hash_u64(i), i), i % 2 ? e[i] : NULL);
	hashtab_foreach(&t, free_ent, &t);
	ck_assert_uint_eq(t.count, 0);
	hashtab_release(&t);
	free(e);
}
END_TEST

/* Distinct keys under one hash: is() tells them apart, before and after
 * growth, and removing one leaves the others. */
START_TEST(test_colliding_hashes)
{
	enum { N = 100 };
	struct hashtab t;
	struct ent *e[N];

	hashtab_init(&t, 0);
	for (uint64_t i = 0; i < N; i++) {
		e[i] = ent_new(i);
		hashtab_insert(&t, &e[i]->hn, 42);
	}
	for (uint64_t i = 0; i < N; i++)
		ck_assert_ptr_eq(find(&t, 42, i), e[i]);
	ck_assert_ptr_null(find(&t, 42, N));
	ck_assert_ptr_null(find(&t, 43, 0));
	hashtab_remove(&t, &e[N / 2]->hn);
	ck_assert_ptr_null(find(&t, 42, N / 2));
	ck_assert_ptr_eq(find(&t, 42, N / 2 + 1), e[N / 2 + 1]);
	free(e[N / 2]);
	hashtab_foreach(&t, free_ent, &t);
	hashtab_release(&t);
}
END_TEST

static int count_ent(struct hashtab_node *n, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

START_TEST(test_foreach_removes_all)
{
	enum { N = 1000 };
	struct hashtab t;
	size_t seen = 0;

	hashtab_init(&t, 0);
	for (uint64_t i = 0; i < N; i++) {
		struct ent *e = ent_new(i);

		/* Few distinct hashes: long chains, each node freed mid-chain. */
		hashtab_insert(&t, &e->hn, hash_u64(i % 7));
	}
	ck_assert_int_eq(hashtab_foreach(&t, count_ent, &seen), 0);
	ck_assert_uint_eq(seen, N);
	ck_assert_int_eq(hashtab_foreach(&t, free_ent, &t), 0);
	ck_assert_uint_eq(t.count, 0);
	seen = 0;
	hashtab_foreach(&t, count_ent, &seen);
	ck_assert_uint_eq(seen, 0);
	hashtab_release(&t);
}
END_TEST

START_TEST(test_foreach_range_in_batches)
{
	enum { N = 1000, BATCH = 7 };
	struct hashtab t;
	size_t seen = 0, first = 0, batches = 0;

	hashtab_init(&t, 0);
	for (uint64_t i = 0; i < N; i++) {
		struct ent *e = ent_new(i);

		hashtab_insert(&t, &e->hn, hash_u64(i));
	}
	/* every node once, in batches of buckets, freeing each as it goes */
	while (hashtab_foreach_range(&t, first, BATCH, count_ent, &seen)) {
		first += BATCH;
		batches++;
	}
	ck_assert_uint_eq(seen, N);
	ck_assert_uint_eq(batches, (t.nbuckets + BATCH - 1) / BATCH);
	ck_assert(!hashtab_foreach_range(&t, t.nbuckets, 1, count_ent, &seen));
	for (first = 0; hashtab_foreach_range(&t, first, BATCH, free_ent, &t); first += BATCH)
		;
	ck_assert_uint_eq(t.count, 0);
	hashtab_release(&t);
}
END_TEST

struct stop_at {
	uint64_t key;
	size_t visited;
};

static int stop_at_key(struct hashtab_node *n, void *arg)
{
	struct stop_at *s = arg;

	s->visited++;
	return HASHTAB_ENTRY(n, struct ent, hn)->key == s->key ? 7 : 0;
}

START_TEST(test_foreach_stops_early)
{
	enum { N = 100 };
	struct hashtab t;
	struct stop_at s = { .key = 33 };

	hashtab_init(&t, 0);
	for (uint64_t i = 0; i < N; i++) {
		struct ent *e = ent_new(i);

		hashtab_insert(&t, &e->hn, hash_u64(i));
	}
	ck_assert_int_eq(hashtab_foreach(&t, stop_at_key, &s), 7);
	ck_assert_uint_ge(s.visited, 1);
	ck_assert_uint_lt(s.visited, N);
	s.key = N;
	s.visited = 0;
	ck_assert_int_eq(hashtab_foreach(&t, stop_at_key, &s), 0);
	ck_assert_uint_eq(s.visited, N);
	hashtab_foreach(&t, free_ent, &t);
	hashtab_release(&t);
}
END_TEST

START_TEST(test_release_empty)
{
	struct hashtab t;

	hashtab_init(&t, 0);
	hashtab_release(&t);
	ck_assert_ptr_null(t.buckets);
	ck_assert_uint_eq(t.count, 0);
}
END_TEST

START_TEST(test_hashes)
{
	const char a[] = "bramble", b[] = "brambla";

	ck_assert_uint_eq(hash_bytes(a, sizeof(a)), hash_bytes(a, sizeof(a)));
	ck_assert_uint_ne(hash_bytes(a, sizeof(a)), hash_bytes(b, sizeof(b)));
	ck_assert_uint_ne(hash_u64(1), hash_u64(2));
}
END_TEST

/* Consecutive keys spread over the low bits the table uses: about 1 - 1/e
 * of 1024 buckets get one of 1024 keys; a poor mixer fills far fewer. */
START_TEST(test_hash_u64_spreads)
{
	static unsigned char used[1024];
	size_t n = 0;

	for (uint64_t i = 0; i < 1024; i++)
		used[hash_u64(i << 12) & 1023] = 1;
	for (size_t i = 0; i < 1024; i++)
		n += used[i];
	ck_assert_uint_gt(n, 550);
}
END_TEST

static Suite *hashtab_suite(void)
{
	Suite *s = suite_create("hashtab");
	TCase *tc = tcase_create("hashtab");

	tcase_add_test(tc, test_insert_find_remove);
	tcase_add_test(tc, test_min_buckets_rounded_up);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_colliding_hashes);
	tcase_add_test(tc, test_foreach_removes_all);
	tcase_add_test(tc, test_foreach_stops_early);
	tcase_add_test(tc, test_foreach_range_in_batches);
	tcase_add_test(tc, test_release_empty);
	tcase_add_test(tc, test_hashes);
	tcase_add_test(tc, test_hash_u64_spreads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hashtab_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
