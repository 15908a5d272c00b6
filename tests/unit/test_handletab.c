/* test_handletab.c - the persistent handle table: ids that survive
 * reopening, follow renames, and never reach a replacing object. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handletab.h"

static char top[PATH_MAX];
static char db[PATH_MAX + 16];
static char exp_dir[PATH_MAX + 16];
static int root_fd = -1;
static struct handletab *ht;

/* exp_dir/rel; two buffers in turn, so rename(in_export(a), in_export(b))
 * works. */
static const char *in_export(const char *rel)
{
	static char p[2][PATH_MAX * 2];
	static int turn;

	turn ^= 1;
	snprintf(p[turn], sizeof(p[turn]), "%s/%s", exp_dir, rel);
	return p[turn];
}

static void mkfile(const char *rel)
{
	int fd = open(in_export(rel), O_CREAT | O_WRONLY | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void open_table(void)
{
	char err[512];

	ck_assert_int_eq(handletab_open(db, "test", root_fd, &ht, err, sizeof(err)), 0);
}

static void setup(void)
{
	snprintf(top, sizeof(top), "/tmp/bramble-ht.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(db, sizeof(db), "%s/bramble.db", top);
	snprintf(exp_dir, sizeof(exp_dir), "%s/export", top);
	ck_assert_int_eq(mkdir(exp_dir, 0755), 0);
	ck_assert_int_eq(mkdir(in_export("d"), 0755), 0);
	ck_assert_int_eq(mkdir(in_export("d/e"), 0755), 0);
	mkfile("d/e/f");
	ck_assert_int_eq(symlink("/etc/passwd", in_export("link")), 0);
	root_fd = open(exp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root_fd, 0);
	open_table();
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	handletab_close(ht);
	ht = NULL;
	close(root_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	ck_assert_int_eq(system(cmd), 0);
}

static uint64_t id_of(const char *rel)
{
	uint64_t id;
	int fd = open(in_export(rel), O_PATH | O_NOFOLLOW | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(handletab_id_of_fd(ht, fd, &id), 0);
	close(fd);
	return id;
}

/* Opening id gives the object now at rel. */
static void ck_opens(uint64_t id, const char *rel)
{
	struct stat st, want;
	int fd;

	ck_assert_int_eq(handletab_open_id(ht, id, &fd, &st), 0);
	close(fd);
	ck_assert_int_eq(lstat(in_export(rel), &want), 0);
	ck_assert_uint_eq(st.st_ino, want.st_ino);
}

START_TEST(test_ids_stable_and_reopen)
{
	uint64_t f = id_of("d/e/f"), e = id_of("d/e"), link = id_of("link");

	ck_assert_uint_eq(id_of("d/e/f"), f);
	ck_assert_uint_ne(f, e);
	ck_opens(f, "d/e/f");
	ck_opens(link, "link");             /* the link itself, not its target */
	/* A restart: the same ids, the same objects. */
	handletab_close(ht);
	open_table();
	ck_assert_uint_eq(id_of("d/e/f"), f);
	ck_opens(f, "d/e/f");
	ck_opens(e, "d/e");
	ck_assert_int_eq(handletab_count(ht), 5);   /* root, d, d/e, d/e/f, link */
}
END_TEST

START_TEST(test_rename_through_server)
{
	uint64_t f = id_of("d/e/f"), e = id_of("d/e");
	int d = open(in_export("d"), O_PATH | O_DIRECTORY);

	/* Renaming a directory keeps every handle beneath it. */
	ck_assert_int_eq(rename(in_export("d/e"), in_export("d/moved")), 0);
	handletab_renamed(ht, d, "e", d, "moved");
	ck_opens(e, "d/moved");
	ck_opens(f, "d/moved/f");
	close(d);
}
END_TEST

START_TEST(test_rename_behind_back)
{
	uint64_t f = id_of("d/e/f");
	struct stat st;
	int fd;

	ck_assert_int_eq(rename(in_export("d/e/f"), in_export("d/g")), 0);
	ck_assert_int_eq(handletab_open_id(ht, f, &fd, &st), -ESTALE);
	/* Seen again at its new place: the row moves, the id stays. */
	ck_assert_uint_eq(id_of("d/g"), f);
	ck_opens(f, "d/g");
}
END_TEST

START_TEST(test_replaced_is_stale)
{
	uint64_t f = id_of("d/e/f"), e = id_of("d/e");
	struct stat st;
	int fd;

	ck_assert_int_eq(unlink(in_export("d/e/f")), 0);
	mkfile("d/e/f");                    /* another object, same name */
	ck_assert_int_eq(handletab_open_id(ht, f, &fd, &st), -ESTALE);
	ck_assert_uint_ne(id_of("d/e/f"), f);
	ck_opens(e, "d/e");
	/* A directory replaced: the handles beneath the old one are stale. */
	uint64_t f2 = id_of("d/e/f");

	ck_assert_int_eq(rename(in_export("d/e"), in_export("old")), 0);
	ck_assert_int_eq(mkdir(in_export("d/e"), 0755), 0);
	mkfile("d/e/f");
	(void)id_of("d/e/f");               /* replaces the row of d/e */
	ck_assert_int_eq(handletab_open_id(ht, e, &fd, &st) == -ESTALE ||
			 handletab_open_id(ht, f2, &fd, &st) == -ESTALE, 1);
	ck_assert_int_eq(handletab_open_id(ht, 999999, &fd, &st), -ESTALE);
}
END_TEST

START_TEST(test_removed_and_outside)
{
	uint64_t f = id_of("d/e/f");
	struct stat st;
	uint64_t id;
	int fd, e = open(in_export("d/e"), O_PATH | O_DIRECTORY);

	ck_assert_int_eq(unlink(in_export("d/e/f")), 0);
	handletab_removed(ht, e, "f", true);
	ck_assert_int_eq(handletab_open_id(ht, f, &fd, &st), -ESTALE);
	close(e);
	/* Not beneath the export: no id. */
	fd = open(top, O_PATH | O_DIRECTORY);
	ck_assert_int_eq(handletab_id_of_fd(ht, fd, &id), -EOPNOTSUPP);
	close(fd);
}
END_TEST

START_TEST(test_hard_links)
{
	uint64_t f = id_of("d/e/f");
	int e;

	/* One object, one id, whichever link it is reached by. */
	ck_assert_int_eq(link(in_export("d/e/f"), in_export("d/h")), 0);
	ck_assert_uint_eq(id_of("d/h"), f);
	/* The remembered name goes, the object stays: reached again by its
	 * other link, it keeps its id. */
	ck_assert_int_eq(unlink(in_export("d/e/f")), 0);
	e = open(in_export("d/e"), O_PATH | O_DIRECTORY);
	handletab_removed(ht, e, "f", false);
	close(e);
	ck_assert_uint_eq(id_of("d/h"), f);
	ck_opens(f, "d/h");
}
END_TEST

START_TEST(test_other_root_starts_afresh)
{
	uint64_t f = id_of("d/e/f");
	struct stat st;
	char err[512], moved[PATH_MAX + 32];
	int fd;

	/* The export path now names another directory: the old ids must
	 * not reach anything in it, and the uuid (bound into MACs) changes. */
	unsigned char uuid[HANDLETAB_UUID_LEN];

	memcpy(uuid, handletab_uuid(ht), sizeof(uuid));
	handletab_close(ht);
	close(root_fd);
	snprintf(moved, sizeof(moved), "%s/old-export", top);
	ck_assert_int_eq(rename(exp_dir, moved), 0);
	ck_assert_int_eq(mkdir(exp_dir, 0755), 0);
	ck_assert_int_eq(mkdir(in_export("d"), 0755), 0);
	ck_assert_int_eq(mkdir(in_export("d/e"), 0755), 0);
	mkfile("d/e/f");
	root_fd = open(exp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_eq(handletab_open(db, "test", root_fd, &ht, err, sizeof(err)), 0);
	ck_assert_int_ne(memcmp(uuid, handletab_uuid(ht), sizeof(uuid)), 0);
	ck_assert_int_eq(handletab_open_id(ht, f, &fd, &st), -ESTALE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("handletab");
	TCase *tc = tcase_create("table");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ids_stable_and_reopen);
	tcase_add_test(tc, test_rename_through_server);
	tcase_add_test(tc, test_rename_behind_back);
	tcase_add_test(tc, test_replaced_is_stale);
	tcase_add_test(tc, test_removed_and_outside);
	tcase_add_test(tc, test_hard_links);
	tcase_add_test(tc, test_other_root_starts_afresh);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
