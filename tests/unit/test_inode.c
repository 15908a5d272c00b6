/* test_inode.c - fuse/inode.c: handle <-> inode number mapping, lookup
 * counts, close-to-open attributes, attributes the kernel holds, opens
 * and silly names. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"

static struct bramble_fh mkfh(unsigned int n)
{
	struct bramble_fh fh = { .len = 12 };

	memset(fh.data, 0xab, sizeof(fh.data));
	memcpy(fh.data, &n, sizeof(n));
	return fh;
}

START_TEST(test_root_and_mapping)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1), b = mkfh(2), out;
	uint64_t ia, ia2, ib;

	ck_assert_int_eq(inode_table_new(&root, &t), 0);
	ck_assert_int_eq(inode_fh(t, INODE_ROOT_INO, &out), 0);
	ck_assert(bramble_fh_eq(&out, &root));
	ck_assert_uint_eq(inode_ref(t, &root), INODE_ROOT_INO);

	ia = inode_ref(t, &a);
	ia2 = inode_ref(t, &a);
	ib = inode_ref(t, &b);
	ck_assert_uint_eq(ia, ia2);
	ck_assert_uint_ne(ia, ib);
	ck_assert_uint_ge(ia, INODE_FIRST_INO);
	ck_assert_uint_ne(ia, INODE_CTL_INO);
	ck_assert_uint_eq(inode_nlookup(t, ia), 2);
	ck_assert_int_eq(inode_fh(t, ib, &out), 0);
	ck_assert(bramble_fh_eq(&out, &b));
	ck_assert_int_eq(inode_fh(t, 999999, &out), -ESTALE);
	inode_table_free(t);
}
END_TEST

START_TEST(test_forget)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1), out;
	uint64_t ia, ia2;

	inode_table_new(&root, &t);
	ia = inode_ref(t, &a);
	inode_ref(t, &a);
	inode_forget(t, ia, 1);
	ck_assert_int_eq(inode_fh(t, ia, &out), 0);
	inode_forget(t, ia, 1);
	ck_assert_int_eq(inode_fh(t, ia, &out), -ESTALE);
	/* A forgotten handle comes back under a new number. */
	ia2 = inode_ref(t, &a);
	ck_assert_uint_ne(ia, ia2);
	/* Forgetting the root or unknown numbers does nothing. */
	inode_forget(t, INODE_ROOT_INO, 100);
	inode_forget(t, 123456, 1);
	ck_assert_int_eq(inode_fh(t, INODE_ROOT_INO, &out), 0);
	ck_assert_uint_eq(inode_count(t), 2);
	inode_table_free(t);
}
END_TEST

START_TEST(test_many_grow)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), fh, out;
	uint64_t *ino = calloc(20000, sizeof(*ino));

	inode_table_new(&root, &t);
	for (unsigned int i = 1; i < 20000; i++) {
		fh = mkfh(i);
		ino[i] = inode_ref(t, &fh);
	}
	ck_assert_uint_eq(inode_count(t), 20000);
	for (unsigned int i = 1; i < 20000; i++) {
		fh = mkfh(i);
		ck_assert_uint_eq(inode_ref(t, &fh), ino[i]);
		ck_assert_int_eq(inode_fh(t, ino[i], &out), 0);
		ck_assert(bramble_fh_eq(&out, &fh));
	}
	for (unsigned int i = 1; i < 20000; i++)
		inode_forget(t, ino[i], 2);
	ck_assert_uint_eq(inode_count(t), 1);
	free(ino);
	inode_table_free(t);
}
END_TEST

START_TEST(test_cto)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1);
	struct stat st = { .st_size = 10 };
	uint64_t ia;

	inode_table_new(&root, &t);
	ia = inode_ref(t, &a);
	st.st_mtim.tv_sec = 100;
	ck_assert(!inode_cto_unchanged(t, ia, &st));  /* first open */
	ck_assert(inode_cto_unchanged(t, ia, &st));
	st.st_mtim.tv_nsec = 1;
	ck_assert(!inode_cto_unchanged(t, ia, &st));
	st.st_ctim.tv_sec = 5;
	ck_assert(!inode_cto_unchanged(t, ia, &st));
	st.st_size = 11;
	inode_cto_note(t, ia, &st);                   /* our own write */
	ck_assert(inode_cto_unchanged(t, ia, &st));
	inode_table_free(t);
}
END_TEST

START_TEST(test_open_silly)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1), dir = mkfh(7), d2, out;
	uint64_t ia, got;
	char *name = NULL;

	inode_table_new(&root, &t);
	ia = inode_ref(t, &a);
	ck_assert(!inode_any_open(t));
	inode_open(t, ia);
	inode_open(t, ia);
	ck_assert(inode_any_open(t));
	ck_assert(inode_fh_is_open(t, &a, &got));
	ck_assert_uint_eq(got, ia);
	ck_assert(inode_set_silly(t, ia, &dir, ".bramble-silly.1"));
	/* The kernel forgets the name while the file is open. */
	inode_forget(t, ia, 1);
	ck_assert_int_eq(inode_fh(t, ia, &out), 0);
	ck_assert_int_eq(inode_close(t, ia, &d2, &name), INODE_CLOSED);
	ck_assert_int_eq(inode_close(t, ia, &d2, &name), INODE_CLOSED_SILLY);
	ck_assert_str_eq(name, ".bramble-silly.1");
	ck_assert(bramble_fh_eq(&d2, &dir));
	free(name);
	ck_assert(!inode_any_open(t));
	/* A rename aside that lost the race with the last close: nothing
	 * is recorded, the caller removes the name itself. */
	ck_assert(!inode_set_silly(t, ia, &dir, ".bramble-silly.2"));
	/* Last close of a forgotten inode drops it. */
	ck_assert_int_eq(inode_fh(t, ia, &out), -ESTALE);
	inode_table_free(t);
}
END_TEST

/* Removed while open, kept by the server: the last close says so. */
START_TEST(test_open_orphan)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1), d2;
	uint64_t ia;
	char *name = NULL;

	inode_table_new(&root, &t);
	ia = inode_ref(t, &a);
	ck_assert(!inode_set_orphan(t, ia));    /* not open */
	inode_open(t, ia);
	inode_open(t, ia);
	ck_assert(inode_set_orphan(t, ia));
	ck_assert_int_eq(inode_close(t, ia, &d2, &name), INODE_CLOSED);
	ck_assert_int_eq(inode_close(t, ia, &d2, &name), INODE_CLOSED_ORPHAN);
	ck_assert_ptr_null(name);
	/* Once: a new open and close of the inode leaves nothing to do. */
	inode_open(t, ia);
	ck_assert_int_eq(inode_close(t, ia, &d2, &name), INODE_CLOSED);
	inode_table_free(t);
}
END_TEST

/* Write-behind completions arrive out of order: an older one (earlier
 * ctime) must not replace what a newer one left. */
START_TEST(test_cto_note_newer)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1);
	struct stat older = { .st_size = 100 }, newer = { .st_size = 200 };
	uint64_t ia;

	inode_table_new(&root, &t);
	ia = inode_ref(t, &a);
	older.st_ctim.tv_sec = newer.st_ctim.tv_sec = 50;
	older.st_ctim.tv_nsec = 1;
	newer.st_ctim.tv_nsec = 2;
	inode_cto_note_newer(t, ia, &newer);
	inode_cto_note_newer(t, ia, &older);
	ck_assert(inode_cto_unchanged(t, ia, &newer));
	inode_table_free(t);
}
END_TEST

START_TEST(test_kattr)
{
	struct inode_table *t;
	struct bramble_fh root = mkfh(0), a = mkfh(1);
	struct stat st = { .st_size = 10 };
	uint64_t ia;

	inode_table_new(&root, &t);
	ia = inode_ref(t, &a);
	ck_assert(!inode_kattr_same(t, ia, &st));     /* nothing handed yet */
	inode_kattr_note(t, ia, &st);
	ck_assert(inode_kattr_same(t, ia, &st));
	/* close-to-open state is separate */
	ck_assert(!inode_cto_unchanged(t, ia, &st));
	st.st_mtim.tv_nsec = 7;
	ck_assert(!inode_kattr_same(t, ia, &st));
	st.st_mtim.tv_nsec = 0;
	st.st_size = 11;
	ck_assert(!inode_kattr_same(t, ia, &st));
	ck_assert(!inode_kattr_same(t, 12345, &st));  /* unknown inode */
	inode_table_free(t);
}
END_TEST

static Suite *inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *tc = tcase_create("table");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_root_and_mapping);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_many_grow);
	tcase_add_test(tc, test_cto);
	tcase_add_test(tc, test_cto_note_newer);
	tcase_add_test(tc, test_kattr);
	tcase_add_test(tc, test_open_silly);
	tcase_add_test(tc, test_open_orphan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(inode_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
