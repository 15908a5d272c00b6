/* test_fhandle.c - server/fhandle.c: handles, names, MOUNT paths, confinement. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exportpath.h"
#include "fhandle.h"

static char top[PATH_MAX];        /* private tmp dir of the test */
static char exp_dir[PATH_MAX + 16];    /* top/export: the export */
static unsigned char key[EXPORT_KEY_LEN];

/* exp_dir/rel, in a static buffer. */
static const char *in_export(const char *rel)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", exp_dir, rel);
	return p;
}

static void mk(const char *rel, bool dir)
{
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	if (dir) {
		ck_assert_int_eq(mkdir(p, 0755), 0);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "x", 1), 1);
		close(fd);
	}
}

static void setup(void)
{
	snprintf(top, sizeof(top), "/tmp/test_fhandle.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(exp_dir, sizeof(exp_dir), "%s/export", top);
	mk("export", true);
	mk("export/sub", true);
	mk("export/sub/deep", true);
	mk("export/file", false);
	mk("outside", true);
	mk("outside/secret", false);
	ck_assert_int_eq(symlink("../outside", in_export("escape")), 0);
	ck_assert_int_eq(symlink("sub", in_export("tosub")), 0);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 1);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

static struct export *open_export(const char *dir)
{
	struct export *ex = NULL;

	ck_assert_int_eq(export_open(dir, key, 8, &ex), 0);
	return ex;
}

/* Handle of top/rel made by ex. */
static struct export_fh fh_of(struct export *ex, const char *rel)
{
	char p[PATH_MAX * 2];
	struct export_fh fh;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	fd = open(p, O_PATH | O_NOFOLLOW);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(export_fh_from_fd(ex, fd, &fh), 0);
	close(fd);
	return fh;
}

START_TEST(test_roundtrip)
{
	struct export *ex = open_export(exp_dir);
	struct export_fh a = fh_of(ex, "export/sub/deep");
	struct export_fh b = fh_of(ex, "export/sub/deep");
	struct export_fh f = fh_of(ex, "export/file");
	struct export_fh viaat;
	struct stat st, want;
	int fd, dfd;

	ck_assert_uint_le(a.len, BR_FH_MAX);
	ck_assert_uint_eq(a.data[0], EXPORT_FH_VERSION);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, a.len);        /* stable */
	ck_assert(f.len != a.len || memcmp(f.data, a.data, a.len));

	/* export_fh_at (READDIRPLUS) gives the same bytes as from an fd */
	dfd = open(exp_dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(export_fh_at(ex, dfd, "file", &viaat), 0);
	ck_assert_mem_eq(viaat.data, f.data, f.len);
	close(dfd);

	ck_assert_int_eq(export_fh_open(ex, f.data, f.len, &fd, &st), 0);
	ck_assert_int_eq(stat(in_export("file"), &want), 0);
	ck_assert_uint_eq(st.st_ino, want.st_ino);
	close(fd);
	export_close(ex);

	/* a new instance with the same key decodes the old handle (restart),
	 * without the cache's help */
	ex = open_export(exp_dir);
	ck_assert_int_eq(export_fh_open(ex, a.data, a.len, &fd, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	close(fd);
	export_close(ex);
}
END_TEST

START_TEST(test_tampered)
{
	struct export *ex = open_export(exp_dir);
	struct export_fh f = fh_of(ex, "export/file");
	unsigned char junk[BR_FH_MAX];
	struct stat st;
	int fd;

	for (uint32_t i = 0; i < f.len; i++) {
		struct export_fh t = f;

		t.data[i] ^= 1;
		ck_assert_int_eq(export_fh_open(ex, t.data, t.len, &fd, &st), -ESTALE);
	}
	ck_assert_int_eq(export_fh_open(ex, f.data, f.len - 1, &fd, &st), -ESTALE);
	ck_assert_int_eq(export_fh_open(ex, f.data, 0, &fd, &st), -ESTALE);
	ck_assert_int_eq(export_fh_open(ex, f.data, 3, &fd, &st), -ESTALE);
	memset(junk, 0x5a, sizeof(junk));
	junk[0] = EXPORT_FH_VERSION;
	ck_assert_int_eq(export_fh_open(ex, junk, sizeof(junk), &fd, &st), -ESTALE);
	export_close(ex);

	/* another key: nothing verifies */
	key[0] ^= 0xff;
	ex = open_export(exp_dir);
	ck_assert_int_eq(export_fh_open(ex, f.data, f.len, &fd, &st), -ESTALE);
	export_close(ex);
}
END_TEST

START_TEST(test_removed_is_stale)
{
	struct export *ex = open_export(exp_dir);
	struct export_fh f = fh_of(ex, "export/file");     /* now cached */
	struct stat st;
	int fd;

	ck_assert_int_eq(unlink(in_export("file")), 0);
	ck_assert_int_eq(export_fh_open(ex, f.data, f.len, &fd, &st), -ESTALE);
	export_close(ex);
}
END_TEST

/* export_forget() drops the cached fd of a handle about to be removed
 * (REMOVE): the cached fd would keep the inode and its blocks alive. */
START_TEST(test_forget)
{
	struct export *ex = open_export(exp_dir);
	struct export_fh f = fh_of(ex, "export/file");     /* now cached */
	struct export_fh d = fh_of(ex, "export/sub");
	struct stat st;
	int fd;

	ck_assert_int_eq(export_fh_stat_cached(ex, f.data, f.len, &st), 0);
	export_forget(ex, f.data, f.len);
	ck_assert_int_eq(export_fh_stat_cached(ex, f.data, f.len, &st), -EAGAIN);
	export_forget(ex, f.data, f.len);               /* not cached: no-op */
	export_forget(ex, f.data, 3);                   /* too short to hash */
	/* only that handle's entry went */
	ck_assert_int_eq(export_fh_stat_cached(ex, d.data, d.len, &st), 0);
	/* removed: decoding fails as for any removed file */
	ck_assert_int_eq(unlink(in_export("file")), 0);
	ck_assert_int_eq(export_fh_open(ex, f.data, f.len, &fd, &st), -ESTALE);
	export_close(ex);
}
END_TEST

/* The export is top/export/sub; the same key exports top/export too.  A
 * handle made by the outer export for anything outside sub must not work
 * on the inner one -- neither by MAC (bound to the export root) nor, for a
 * directory, by the ancestor walk. */
START_TEST(test_outside_subdir_export)
{
	struct export *outer = open_export(exp_dir);
	struct export *inner;
	struct export_fh dir_out = fh_of(outer, "export");
	struct export_fh file_out = fh_of(outer, "export/file");
	struct export_fh deep = fh_of(outer, "export/sub/deep");
	struct export_fh deep_inner;
	struct stat st;
	int fd;

	inner = open_export(in_export("sub"));
	ck_assert_int_eq(export_fh_open(inner, dir_out.data, dir_out.len, &fd, &st), -ESTALE);
	ck_assert_int_eq(export_fh_open(inner, file_out.data, file_out.len, &fd, &st), -ESTALE);
	/* even an object inside gets a different handle from each export */
	ck_assert_int_eq(export_fh_open(inner, deep.data, deep.len, &fd, &st), -ESTALE);
	deep_inner = fh_of(inner, "export/sub/deep");
	ck_assert_int_eq(export_fh_open(inner, deep_inner.data, deep_inner.len, &fd, &st), 0);
	close(fd);
	export_close(inner);
	export_close(outer);
}
END_TEST

/* A directory the administrator moves out of the export (a rename on the
 * server's disk) while the cache holds it: once the recheck time (100 ms)
 * has passed, its handle and those of directories beneath it are stale
 * through every decoding function; a directory moved within the export
 * keeps working.  _i: 0 kernel handles, 1 the handle table. */
START_TEST(test_moved_out_is_stale)
{
	struct export *ex = open_export(exp_dir);
	struct export_fh sub, deep, mv;
	char from[PATH_MAX * 2], to[PATH_MAX * 2], db[PATH_MAX * 2], err[256];
	struct stat st;
	int fd;

	if (_i == 1) {
		snprintf(db, sizeof(db), "%s/bramble.db", top);
		ck_assert_int_eq(export_use_table(ex, db, "t", err, sizeof(err)), 0);
	}
	mk("export/moving", true);
	mk("export/other", true);
	sub = fh_of(ex, "export/sub");                  /* all three cached */
	deep = fh_of(ex, "export/sub/deep");
	mv = fh_of(ex, "export/moving");
	snprintf(from, sizeof(from), "%s/sub", exp_dir);
	snprintf(to, sizeof(to), "%s/outside/sub", top);
	ck_assert_int_eq(rename(from, to), 0);
	snprintf(from, sizeof(from), "%s/moving", exp_dir);
	snprintf(to, sizeof(to), "%s/other/moved", exp_dir);
	ck_assert_int_eq(rename(from, to), 0);
	usleep(150 * 1000);

	/* the loop thread's GETATTR leaves the verdict to a worker */
	ck_assert_int_eq(export_fh_stat_cached(ex, sub.data, sub.len, &st), -EAGAIN);
	ck_assert_int_eq(export_fh_open_cached(ex, sub.data, sub.len, &fd, &st), -ESTALE);
	/* forgotten: decoding anew says the same */
	ck_assert_int_eq(export_fh_open(ex, sub.data, sub.len, &fd, &st), -ESTALE);
	ck_assert_int_eq(export_fh_open(ex, deep.data, deep.len, &fd, &st), -ESTALE);
	ck_assert_int_eq(export_fh_stat_cached(ex, deep.data, deep.len, &st), -EAGAIN);

	ck_assert_int_eq(export_fh_open(ex, mv.data, mv.len, &fd, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	close(fd);
	/* verified just now: the loop thread may answer */
	ck_assert_int_eq(export_fh_stat_cached(ex, mv.data, mv.len, &st), 0);
	export_close(ex);
}
END_TEST

START_TEST(test_names)
{
	char longname[BR_NAME_MAX + 2];

	ck_assert_int_eq(exportpath_check_name("a"), 0);
	ck_assert_int_eq(exportpath_check_name("..."), 0);
	ck_assert_int_eq(exportpath_check_name(".hidden"), 0);
	ck_assert_int_eq(exportpath_check_name(""), -EINVAL);
	ck_assert_int_eq(exportpath_check_name("."), -EINVAL);
	ck_assert_int_eq(exportpath_check_name(".."), -EINVAL);
	ck_assert_int_eq(exportpath_check_name("a/b"), -EINVAL);
	ck_assert_int_eq(exportpath_check_name("/"), -EINVAL);
	ck_assert_int_eq(exportpath_check_name(NULL), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[BR_NAME_MAX] = '\0';
	ck_assert_int_eq(exportpath_check_name(longname), 0);
	longname[BR_NAME_MAX] = 'n';
	longname[BR_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(exportpath_check_name(longname), -ENAMETOOLONG);
}
END_TEST

/* openat2(2) is there (Linux >= 5.6, and emulators that pass it on). */
static bool have_openat2(void)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC };
	long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));

	if (fd >= 0)
		close((int)fd);
	return !(fd < 0 && errno == ENOSYS);
}

START_TEST(test_mount_paths)
{
	struct export *ex = open_export(exp_dir);
	struct stat st, want;
	int fd;

	ck_assert_int_eq(exportpath_resolve(ex, "", &fd), 0);
	fstat(fd, &st);
	stat(exp_dir, &want);
	ck_assert_uint_eq(st.st_ino, want.st_ino);
	close(fd);
	ck_assert_int_eq(exportpath_resolve(ex, "/", &fd), 0);
	close(fd);
	ck_assert_int_eq(exportpath_resolve(ex, "/sub/deep", &fd), 0);
	close(fd);
	ck_assert_int_eq(exportpath_resolve(ex, "sub/deep/../..", &fd), 0);  /* root, still inside */
	close(fd);
	if (have_openat2()) {
		ck_assert_int_eq(exportpath_resolve(ex, "tosub", &fd), 0);  /* a symlink staying inside */
		close(fd);
	} else {
		/* The fallback walk refuses every symlink (qemu-user, old kernels). */
		ck_assert_int_eq(exportpath_resolve(ex, "tosub", &fd), -EACCES);
	}
	ck_assert_int_eq(exportpath_resolve(ex, "..", &fd), -EACCES);
	ck_assert_int_eq(exportpath_resolve(ex, "../..", &fd), -EACCES);
	ck_assert_int_eq(exportpath_resolve(ex, "sub/../../outside", &fd), -EACCES);
	ck_assert_int_eq(exportpath_resolve(ex, "escape", &fd), -EACCES);
	ck_assert_int_eq(exportpath_resolve(ex, "/etc", &fd), -ENOENT);
	ck_assert_int_eq(exportpath_resolve(ex, "file", &fd), -ENOTDIR);
	ck_assert_int_eq(exportpath_resolve(ex, "nope", &fd), -ENOENT);
	export_close(ex);
}
END_TEST

/* The walk used without openat2: same answers, but no symlink at all. */
START_TEST(test_mount_walk)
{
	struct export *ex = open_export(exp_dir);
	int fd;

	fd = exportpath_resolve_walk(ex, "sub/deep/../..");
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = exportpath_resolve_walk(ex, "sub//./deep");
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(exportpath_resolve_walk(ex, ".."), -EACCES);
	ck_assert_int_eq(exportpath_resolve_walk(ex, "sub/../.."), -EACCES);
	ck_assert_int_eq(exportpath_resolve_walk(ex, "escape"), -EACCES);
	ck_assert_int_eq(exportpath_resolve_walk(ex, "tosub"), -EACCES);
	ck_assert_int_eq(exportpath_resolve_walk(ex, "file"), -ENOTDIR);
	ck_assert_int_eq(exportpath_resolve_walk(ex, "nope"), -ENOENT);
	export_close(ex);
}
END_TEST

START_TEST(test_short)
{
	char buf[16];
	unsigned char fh[20] = { 1, 1 };

	fh[4] = 0xab;
	export_fh_short(fh, sizeof(fh), buf, sizeof(buf));
	ck_assert_str_eq(buf, "ab000000");
	export_fh_short(fh, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-");
}
END_TEST

static Suite *fhandle_suite(void)
{
	Suite *s = suite_create("fhandle");
	TCase *tc;

	tc = tcase_create("handles");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_tampered);
	tcase_add_test(tc, test_removed_is_stale);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_short);
	suite_add_tcase(s, tc);
	tc = tcase_create("confinement");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_outside_subdir_export);
	tcase_add_test(tc, test_mount_paths);
	tcase_add_test(tc, test_mount_walk);
	tcase_add_loop_test(tc, test_moved_out_is_stale, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	/* open_by_handle_at needs CAP_DAC_READ_SEARCH. */
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: test_fhandle needs root\n");
		return 77;
	}
	sr = srunner_create(fhandle_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
