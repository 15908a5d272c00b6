/* test_cred.c - server/cred.c: root squash, and switching one thread's fs
 * identity without touching the others. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred.h"

START_TEST(test_squash)
{
	struct br_cred root = { .uid = 0, .gid = 0, .ngroups = 2, .groups = { 0, 5 } };
	struct br_cred user = { .uid = 1000, .gid = 0, .ngroups = 2, .groups = { 0, 5 } };
	struct br_cred plain = { .uid = 1000, .gid = 1000, .ngroups = 1, .groups = { 5 } };

	cred_squash(&root);
	ck_assert_uint_eq(root.uid, CRED_NOBODY);
	ck_assert_uint_eq(root.gid, CRED_NOBODY);
	ck_assert_uint_eq(root.ngroups, 0);
	cred_squash(&user);
	ck_assert_uint_eq(user.uid, 1000);
	ck_assert_uint_eq(user.gid, CRED_NOBODY);
	ck_assert_uint_eq(user.groups[0], CRED_NOBODY);
	ck_assert_uint_eq(user.groups[1], 5);
	cred_squash(&plain);
	ck_assert_uint_eq(plain.uid, 1000);
	ck_assert_uint_eq(plain.gid, 1000);
	ck_assert_uint_eq(plain.groups[0], 5);
}
END_TEST

static char dir[64];

struct probe {
	const char *name;
	struct br_cred cred;
	int rc;
};

/* In its own thread: become cred, create a file, come back. */
static void *create_as(void *arg)
{
	struct probe *p = arg;
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, p->name);
	p->rc = cred_as(&p->cred);
	if (p->rc == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		p->rc = fd < 0 ? -1 : 0;
		if (fd >= 0)
			close(fd);
	}
	cred_root();
	return NULL;
}

START_TEST(test_switch_is_per_thread)
{
	struct probe p = { "by1234", { .uid = 1234, .gid = 4321, .ngroups = 0 }, -1 };
	pthread_t t;
	struct stat st;
	char path[128];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/test_cred.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	chmod(dir, 0777);
	ck_assert_int_eq(pthread_create(&t, NULL, create_as, &p), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.rc, 0);
	snprintf(path, sizeof(path), "%s/by1234", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 1234);
	ck_assert_uint_eq(st.st_gid, 4321);

	/* this thread is still root */
	snprintf(path, sizeof(path), "%s/byroot", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	fstat(fd, &st);
	close(fd);
	ck_assert_uint_eq(st.st_uid, 0);

	/* a user without the group cannot write into a 0770 group dir;
	 * with it as a supplementary group it can.  The gid is above 65535:
	 * 32-bit ARM has a 16-bit setgroups too, which would cut it short. */
	snprintf(path, sizeof(path), "%s/grp", dir);
	ck_assert_int_eq(mkdir(path, 0770), 0);
	ck_assert_int_eq(chown(path, 0, 70777), 0);
	ck_assert_int_eq(chmod(path, 0770), 0);     /* whatever the umask */
	struct probe no = { "grp/no", { .uid = 1000, .gid = 1000 }, -1 };
	struct probe yes = { "grp/yes", { .uid = 1000, .gid = 1000, .ngroups = 1,
					  .groups = { 70777 } }, -1 };

	pthread_create(&t, NULL, create_as, &no);
	pthread_join(t, NULL);
	ck_assert_int_eq(no.rc, -1);
	pthread_create(&t, NULL, create_as, &yes);
	pthread_join(t, NULL);
	ck_assert_int_eq(yes.rc, 0);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

static Suite *cred_suite(void)
{
	Suite *s = suite_create("cred");
	TCase *tc = tcase_create("cred");

	tcase_add_test(tc, test_squash);
	if (geteuid() == 0)
		tcase_add_test(tc, test_switch_is_per_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cred_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
