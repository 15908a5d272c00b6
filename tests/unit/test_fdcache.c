/* test_fdcache.c - server/fdcache.c: keys by handle+creds+mode, check-out /
 * check-in, bounds, expiry. */
#include <check.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fdcache.h"

static const unsigned char fh1[] = { 1, 1, 9, 9, 9 };
static const unsigned char fh2[] = { 1, 1, 8, 8, 8 };

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

START_TEST(test_keys)
{
	struct fdcache *fc = fdcache_new(16, 60);
	struct br_cred u1 = { .uid = 1000, .gid = 1000, .ngroups = 1, .groups = { 5 } };
	struct br_cred u2 = u1, u3 = u1;
	struct fdcache_key k, other;
	int fd = open("/dev/null", O_RDONLY);

	u2.uid = 1001;
	u3.groups[0] = 6;
	fdcache_key_init(&k, fh1, sizeof(fh1), &u1, O_RDONLY);
	fdcache_give(fc, &k, fd);
	/* never for another uid, another group list, another mode, another file */
	fdcache_key_init(&other, fh1, sizeof(fh1), &u2, O_RDONLY);
	ck_assert_int_eq(fdcache_take(fc, &other), -1);
	fdcache_key_init(&other, fh1, sizeof(fh1), &u3, O_RDONLY);
	ck_assert_int_eq(fdcache_take(fc, &other), -1);
	fdcache_key_init(&other, fh1, sizeof(fh1), &u1, O_WRONLY);
	ck_assert_int_eq(fdcache_take(fc, &other), -1);
	fdcache_key_init(&other, fh2, sizeof(fh2), &u1, O_RDONLY);
	ck_assert_int_eq(fdcache_take(fc, &other), -1);
	/* but for the same key, once: it is checked out */
	fdcache_key_init(&other, fh1, sizeof(fh1), &u1, O_RDONLY);
	ck_assert_int_eq(fdcache_take(fc, &other), fd);
	ck_assert_int_eq(fdcache_take(fc, &other), -1);
	fdcache_give(fc, &other, fd);
	/* a second fd for the same key is closed, not kept */
	int fd2 = open("/dev/null", O_RDONLY);

	fdcache_give(fc, &other, fd2);
	ck_assert(!fd_open(fd2));
	fdcache_forget(fc, fh1, sizeof(fh1));
	ck_assert(!fd_open(fd));
	fdcache_free(fc);
}
END_TEST

START_TEST(test_bound_and_expiry)
{
	struct fdcache *fc = fdcache_new(2, 0);
	struct br_cred u = { .uid = 1 };
	struct fdcache_key k[3];
	int fds[3];

	for (int i = 0; i < 3; i++) {
		unsigned char fh[4] = { 1, 1, (unsigned char)i, 0 };

		fdcache_key_init(&k[i], fh, sizeof(fh), &u, O_RDONLY);
		fds[i] = open("/dev/null", O_RDONLY);
		fdcache_give(fc, &k[i], fds[i]);
	}
	ck_assert(!fd_open(fds[0]));            /* least recent evicted */
	ck_assert(fd_open(fds[1]) && fd_open(fds[2]));
	usleep(2000);
	fdcache_expire(fc);                     /* idle 0 s: all go */
	ck_assert(!fd_open(fds[1]) && !fd_open(fds[2]));
	ck_assert_int_eq(fdcache_take(fc, &k[2]), -1);
	fdcache_free(fc);
}
END_TEST

/* Many keys, few buckets: eviction, take and forget keep the hash chains
 * and the LRU list in step (max 16 gives 16 buckets for 200 keys). */
START_TEST(test_many_keys)
{
	struct fdcache *fc = fdcache_new(16, 60);
	struct br_cred u = { .uid = 7 };
	struct fdcache_key k;
	int fds[200];

	for (int i = 0; i < 200; i++) {
		unsigned char fh[6] = { 1, 1, (unsigned char)i, (unsigned char)(i >> 8), 3, 4 };

		fdcache_key_init(&k, fh, sizeof(fh), &u, i % 2 ? O_RDWR : O_RDONLY);
		fds[i] = open("/dev/null", O_RDONLY);
		fdcache_give(fc, &k, fds[i]);
	}
	/* (fd numbers are reused, so evictions show as misses only) */
	for (int i = 0; i < 200; i++) {
		unsigned char fh[6] = { 1, 1, (unsigned char)i, (unsigned char)(i >> 8), 3, 4 };

		fdcache_key_init(&k, fh, sizeof(fh), &u, i % 2 ? O_RDWR : O_RDONLY);
		ck_assert_int_eq(fdcache_take(fc, &k), i >= 184 ? fds[i] : -1);
		if (i < 184)
			continue;
		/* two in three back, the rest closed by the test */
		if (i % 3)
			fdcache_give(fc, &k, fds[i]);
		else
			close(fds[i]);
	}
	for (int i = 184; i < 200; i++) {
		unsigned char fh[6] = { 1, 1, (unsigned char)i, (unsigned char)(i >> 8), 3, 4 };

		if (!(i % 3))
			continue;
		fdcache_forget(fc, fh, sizeof(fh));
		ck_assert(!fd_open(fds[i]));
	}
	fdcache_free(fc);
}
END_TEST

static Suite *fdcache_suite(void)
{
	Suite *s = suite_create("fdcache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_bound_and_expiry);
	tcase_add_test(tc, test_many_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fdcache_suite());
	int failed;

	/* CK_NOFORK: the fd checks look at this process's table. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
