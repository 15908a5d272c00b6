/* test_cacheset.c - what staging again relies on in the node cache
 * (cache/bramble_cache.h): bramble_cache_pin_many() pins what is cached
 * and says what is not (disk and RAM modes, more chunks than one
 * transaction takes, pins that survive a reopen and eviction pressure);
 * staged-set digests (bramble_cache_set_*): round trip, replace, -ENOENT,
 * bad keys, the bound, RAM mode refused. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_cache.h"
#include "xxhash128.h"

#define CH 4096u
#define N 5000                          /* more than one pin transaction */

static char top[PATH_MAX];

static struct bramble_cache *open_cache(int mode, uint64_t size)
{
	struct bramble_cache_opts o = { .mode = mode, .dir = top, .size = size };
	struct bramble_cache *cc = NULL;
	char err[512] = "";
	int rc = bramble_cache_open(&o, &cc, err, sizeof(err));

	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	return cc;
}

static void setup(void)
{
	snprintf(top, sizeof(top), "/tmp/bramble-cacheset.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

/* Chunk i's bytes (CH of them) and hash. */
static void chunk(unsigned i, unsigned char *buf, unsigned char hash[BRAMBLE_HASH_LEN])
{
	for (unsigned k = 0; k < CH; k++)
		buf[k] = (unsigned char)(i * 131 + k * 7 + (k >> 8));
	memcpy(buf, &i, sizeof(i));
	br_hash128(buf, CH, hash);
}

static int count_owner(void *ctx, const struct bramble_cache_pininfo *p)
{
	uint64_t *n = ctx;

	if (!strcmp(p->owner, "job:9"))
		*n = p->chunks;
	return 0;
}

/* Even chunks cached, odd ones not: pin_many pins the even, says the odd. */
static void pin_many(int mode)
{
	struct bramble_cache *c = open_cache(mode, 64ull << 20);
	unsigned char (*h)[BRAMBLE_HASH_LEN] = calloc(N, sizeof(*h));
	unsigned char buf[CH];
	bool *missing = calloc(N, sizeof(*missing));
	uint64_t pinned = 0;

	for (unsigned i = 0; i < N; i++) {
		chunk(i, buf, h[i]);
		if (i % 2 == 0)
			ck_assert_int_eq(bramble_cache_put(c, h[i], buf, CH, NULL, 0), 0);
	}
	memset(missing, 1, N);
	ck_assert_int_eq(bramble_cache_pin_many(c, (const void *)h, N, "job:9", 0, missing), 0);
	for (unsigned i = 0; i < N; i++)
		ck_assert_msg(missing[i] == (i % 2 == 1), "chunk %u: missing %d", i, missing[i]);
	ck_assert_int_eq(bramble_cache_list_pins(c, count_owner, &pinned), 0);
	ck_assert_uint_eq(pinned, N / 2);
	/* again: the same pins, nothing more */
	ck_assert_int_eq(bramble_cache_pin_many(c, (const void *)h, N, "job:9", 0, missing), 0);
	pinned = 0;
	ck_assert_int_eq(bramble_cache_list_pins(c, count_owner, &pinned), 0);
	ck_assert_uint_eq(pinned, N / 2);
	ck_assert_int_eq(bramble_cache_pin_many(c, (const void *)h, N, "", 0, missing), -EINVAL);
	ck_assert_int_eq(bramble_cache_pin_many(c, (const void *)h, 0, "job:9", 0, missing), 0);
	if (mode == BRAMBLE_CACHE_DISK) {
		/* pinned: kept through a reopen and an eviction of the rest */
		bramble_cache_close(c);
		c = open_cache(mode, 64ull << 20);
		ck_assert_int_eq(bramble_cache_evict(c, 0, NULL), 0);
		for (unsigned i = 0; i < N; i += 2)
			ck_assert(bramble_cache_has(c, h[i]));
	}
	bramble_cache_close(c);
	free(h);
	free(missing);
}

START_TEST(test_pin_many_disk)
{
	pin_many(BRAMBLE_CACHE_DISK);
}
END_TEST

START_TEST(test_pin_many_ram)
{
	pin_many(BRAMBLE_CACHE_RAM);
}
END_TEST

START_TEST(test_sets)
{
	struct bramble_cache *c = open_cache(BRAMBLE_CACHE_DISK, 16ull << 20);
	unsigned char d1[BRAMBLE_HASH_LEN], d2[BRAMBLE_HASH_LEN], got[BRAMBLE_HASH_LEN];
	char key[32];

	br_hash128("one", 3, d1);
	br_hash128("two", 3, d2);
	ck_assert_int_eq(bramble_cache_set_get(c, "dirA", 4, got), -ENOENT);
	ck_assert_int_eq(bramble_cache_set_put(c, "dirA", 4, d1), 0);
	ck_assert_int_eq(bramble_cache_set_get(c, "dirA", 4, got), 0);
	ck_assert_mem_eq(got, d1, sizeof(d1));
	ck_assert_int_eq(bramble_cache_set_put(c, "dirA", 4, d2), 0);   /* replaced */
	ck_assert_int_eq(bramble_cache_set_get(c, "dirA", 4, got), 0);
	ck_assert_mem_eq(got, d2, sizeof(d2));
	ck_assert_int_eq(bramble_cache_set_get(c, "dirB", 4, got), -ENOENT);
	ck_assert_int_eq(bramble_cache_set_get(c, "", 0, got), -EINVAL);
	/* kept across a reopen */
	bramble_cache_close(c);
	c = open_cache(BRAMBLE_CACHE_DISK, 16ull << 20);
	ck_assert_int_eq(bramble_cache_set_get(c, "dirA", 4, got), 0);
	ck_assert_mem_eq(got, d2, sizeof(d2));
	/* bounded: the oldest go */
	for (unsigned i = 0; i < BRAMBLE_CACHE_SETS_MAX + 10; i++) {
		snprintf(key, sizeof(key), "many%u", i);
		ck_assert_int_eq(bramble_cache_set_put(c, key, strlen(key), d1), 0);
	}
	snprintf(key, sizeof(key), "many%u", BRAMBLE_CACHE_SETS_MAX + 9);
	ck_assert_int_eq(bramble_cache_set_get(c, key, strlen(key), got), 0);
	bramble_cache_close(c);
	c = open_cache(BRAMBLE_CACHE_RAM, 16ull << 20);
	ck_assert_int_eq(bramble_cache_set_put(c, "dirA", 4, d1), -EOPNOTSUPP);
	ck_assert_int_eq(bramble_cache_set_get(c, "dirA", 4, got), -EOPNOTSUPP);
	bramble_cache_close(c);
}
END_TEST

static Suite *cacheset_suite(void)
{
	Suite *s = suite_create("cacheset");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pin_many_disk);
	tcase_add_test(tc, test_pin_many_ram);
	tcase_add_test(tc, test_sets);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cacheset_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
