/* test_diskbench.c - common/diskbench.c: a run writes and reads exactly
 * what it was asked (or one block when out of time), leaves nothing in
 * the directory, refuses sizes that are not whole blocks, and sizes stay
 * within the bound and the free space. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "diskbench.h"

static char dir[64];
static int dfd = -1;

static void setup(void)
{
	strcpy(dir, "/tmp/test_diskbench.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
}

static void teardown(void)
{
	close(dfd);
	rmdir(dir);             /* fails, and so shows, if a file was left */
}

static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

START_TEST(whole_run)
{
	struct diskbench d = { 0 };

	ck_assert_int_eq(diskbench_run(dfd, 3 * DISKBENCH_BLOCK, 60000000000LL, &d), 0);
	ck_assert_uint_eq(d.write_bytes, 3 * DISKBENCH_BLOCK);
	ck_assert_uint_eq(d.read_bytes, 3 * DISKBENCH_BLOCK);
	ck_assert_uint_gt(d.write_ns, 0);
	ck_assert_uint_gt(d.read_ns, 0);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

/* No time at all: one block each way, not zero (a rate needs bytes). */
START_TEST(out_of_time)
{
	struct diskbench d = { 0 };

	ck_assert_int_eq(diskbench_run(dfd, 8 * DISKBENCH_BLOCK, 0, &d), 0);
	ck_assert_uint_eq(d.write_bytes, DISKBENCH_BLOCK);
	ck_assert_uint_eq(d.read_bytes, DISKBENCH_BLOCK);
	ck_assert_int_eq(entries(), 0);
}
END_TEST

START_TEST(bad_sizes)
{
	struct diskbench d = { 0 };

	ck_assert_int_eq(diskbench_run(dfd, 0, 1000000000, &d), -EINVAL);
	ck_assert_int_eq(diskbench_run(dfd, DISKBENCH_BLOCK + 4096, 1000000000, &d), -EINVAL);
	ck_assert_int_eq(diskbench_run(-1, DISKBENCH_BLOCK, 1000000000, &d), -EBADF);
}
END_TEST

START_TEST(size_bounds)
{
	struct statvfs sv;
	uint64_t size = 0, avail = 0, margin;

	ck_assert_int_eq(fstatvfs(dfd, &sv), 0);
	margin = (uint64_t)sv.f_blocks * sv.f_frsize / 20;
	if (margin < 64ULL << 20)
		margin = 64ULL << 20;
	if ((uint64_t)sv.f_bavail * sv.f_frsize < margin + 4 * DISKBENCH_BLOCK)
		return;         /* too full to say anything but ENOSPC */
	ck_assert_int_eq(diskbench_size(dfd, 3 * DISKBENCH_BLOCK + 5, 2 * DISKBENCH_BLOCK,
					&size, &avail), 0);
	ck_assert_uint_eq(size, 2 * DISKBENCH_BLOCK);          /* max wins */
	ck_assert_uint_gt(avail, 0);
	ck_assert_int_eq(diskbench_size(dfd, 3 * DISKBENCH_BLOCK + 5, UINT64_MAX,
					&size, NULL), 0);
	ck_assert_uint_eq(size, 3 * DISKBENCH_BLOCK);          /* whole blocks */
	ck_assert_int_eq(diskbench_size(dfd, UINT64_MAX, UINT64_MAX, &size, &avail), 0);
	ck_assert_uint_le(size, avail - margin);               /* the margin stays free */
	ck_assert_uint_eq(size % DISKBENCH_BLOCK, 0);
	ck_assert_int_eq(diskbench_size(dfd, DISKBENCH_BLOCK - 1, UINT64_MAX, &size, NULL),
			 -ENOSPC);
}
END_TEST

static Suite *diskbench_suite(void)
{
	Suite *s = suite_create("diskbench");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, whole_run);
	tcase_add_test(tc, out_of_time);
	tcase_add_test(tc, bad_sizes);
	tcase_add_test(tc, size_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(diskbench_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
