/* test_openstate.c - server/openstate.c: held open files keyed by client,
 * handle, credentials and mode; counted holds; in-use descriptors never
 * closed under a call; a client's lease running out; a full table. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "openstate.h"

static const unsigned char fh1[] = { 1, 1, 9, 9, 9 };
static const unsigned char fh2[] = { 1, 1, 8, 8, 8 };
static const struct br_cred u1 = { .uid = 1000, .gid = 1000 };
static const struct br_cred u2 = { .uid = 1001, .gid = 1001 };

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static struct openstate_key key(uint64_t client, const unsigned char *fh,
				const struct br_cred *cr, int mode)
{
	struct openstate_key k;

	openstate_key_init(&k, client, fh, sizeof(fh1), cr, mode);
	return k;
}

START_TEST(test_keys_and_modes)
{
	struct openstate *os = openstate_new(16);
	struct openstate_key k = key(7, fh1, &u1, O_RDWR), q;
	struct openstate_use use;
	int fd = open("/dev/null", O_RDWR);

	ck_assert_int_eq(openstate_hold(os, &k, fd), 0);
	/* An O_RDWR hold serves reads and writes of the same client+user... */
	q = key(7, fh1, &u1, O_WRONLY);
	ck_assert(openstate_get(os, &q, &use));
	ck_assert_int_eq(use.fd, fd);
	openstate_put(os, &use);
	q = key(7, fh1, &u1, O_RDONLY);
	ck_assert(openstate_get(os, &q, &use));
	openstate_put(os, &use);
	/* ...never another client's, user's or file's. */
	q = key(8, fh1, &u1, O_WRONLY);
	ck_assert(!openstate_get(os, &q, &use));
	q = key(7, fh1, &u2, O_WRONLY);
	ck_assert(!openstate_get(os, &q, &use));
	q = key(7, fh2, &u1, O_WRONLY);
	ck_assert(!openstate_get(os, &q, &use));
	openstate_release(os, &k);
	ck_assert(!fd_open(fd));
	ck_assert_uint_eq(openstate_count(os), 0);
	openstate_free(os);
}
END_TEST

START_TEST(test_write_hold_serves_no_read)
{
	struct openstate *os = openstate_new(16);
	struct openstate_key k = key(7, fh1, &u1, O_WRONLY), q;
	struct openstate_use use;

	ck_assert_int_eq(openstate_hold(os, &k, open("/dev/null", O_WRONLY)), 0);
	q = key(7, fh1, &u1, O_RDONLY);
	ck_assert(!openstate_get(os, &q, &use));
	openstate_free(os);
}
END_TEST

START_TEST(test_counted_holds)
{
	struct openstate *os = openstate_new(16);
	struct openstate_key k = key(7, fh1, &u1, O_WRONLY);
	struct openstate_use use;
	int fd1 = open("/dev/null", O_WRONLY), fd2 = open("/dev/null", O_WRONLY);

	ck_assert_int_eq(openstate_hold(os, &k, fd1), 0);
	/* A second hold shares the first's descriptor; its own is closed. */
	ck_assert_int_eq(openstate_hold(os, &k, fd2), 0);
	ck_assert(!fd_open(fd2));
	ck_assert_uint_eq(openstate_count(os), 1);
	openstate_release(os, &k);
	ck_assert(fd_open(fd1));
	ck_assert(openstate_get(os, &k, &use));
	/* The last release while a call uses it: closed by that call's put. */
	openstate_release(os, &k);
	ck_assert(fd_open(fd1));
	openstate_put(os, &use);
	ck_assert(!fd_open(fd1));
	/* A release with no hold left does nothing. */
	openstate_release(os, &k);
	ck_assert_uint_eq(openstate_count(os), 0);
	openstate_free(os);
}
END_TEST

START_TEST(test_client_gone)
{
	struct openstate *os = openstate_new(16);
	struct openstate_key a = key(7, fh1, &u1, O_WRONLY), b = key(7, fh2, &u1, O_WRONLY);
	struct openstate_key c = key(9, fh1, &u1, O_WRONLY);
	struct openstate_use use;
	int fa = open("/dev/null", O_WRONLY), fb = open("/dev/null", O_WRONLY);
	int fc = open("/dev/null", O_WRONLY);

	openstate_hold(os, &a, fa);
	openstate_hold(os, &b, fb);
	openstate_hold(os, &c, fc);
	ck_assert(openstate_get(os, &b, &use));
	openstate_client_gone(os, 7);
	ck_assert(!fd_open(fa));
	ck_assert(fd_open(fb));                 /* in use: closed at put */
	ck_assert(!openstate_get(os, &b, &(struct openstate_use){ 0 }));
	openstate_put(os, &use);
	ck_assert(!fd_open(fb));
	ck_assert(fd_open(fc));                 /* another client's */
	ck_assert_uint_eq(openstate_count(os), 1);
	openstate_free(os);
	ck_assert(!fd_open(fc));
}
END_TEST

START_TEST(test_full)
{
	struct openstate *os = openstate_new(1);
	struct openstate_key a = key(7, fh1, &u1, O_WRONLY), b = key(7, fh2, &u1, O_WRONLY);
	int fb = open("/dev/null", O_WRONLY);

	ck_assert_int_eq(openstate_hold(os, &a, open("/dev/null", O_WRONLY)), 0);
	ck_assert_int_eq(openstate_hold(os, &b, fb), -ENFILE);
	ck_assert(!fd_open(fb));                /* the table took it, and closed it */
	openstate_free(os);
}
END_TEST

static Suite *openstate_suite(void)
{
	Suite *s = suite_create("openstate");
	TCase *tc = tcase_create("holds");

	tcase_add_test(tc, test_keys_and_modes);
	tcase_add_test(tc, test_write_hold_serves_no_read);
	tcase_add_test(tc, test_counted_holds);
	tcase_add_test(tc, test_client_gone);
	tcase_add_test(tc, test_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(openstate_suite());
	int failed;

	/* CK_NOFORK: the fd checks look at this process's table. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
