/* test_opts.c - fuse/opts.c: bramblefs command lines, as typed and as
 * mount.fuse3 passes them from fstab. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bramble.h"
#include "opts.h"

static int parse(struct bfs_opts *o, struct fuse_args *fa, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	char *a;

	argv[argc++] = "bramblefs";
	va_start(ap, fa);
	while ((a = va_arg(ap, char *)))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return bfs_opts_parse(argc, argv, o, fa);
}

static bool has_arg(const struct fuse_args *fa, const char *s)
{
	for (int i = 0; i < fa->argc; i++)
		if (strstr(fa->argv[i], s))
			return true;
	return false;
}

START_TEST(test_defaults)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "storage01:/", "/clusterfs", NULL), 0);
	ck_assert_str_eq(o.host, "storage01");
	ck_assert_str_eq(o.subdir, "/");
	ck_assert_str_eq(o.mountpoint, "/clusterfs");
	ck_assert_uint_eq(o.port, 7049);
	ck_assert(o.attr_timeout == 1.0 && o.entry_timeout == 1.0);
	ck_assert(o.negative_timeout == 0.0 && o.timeout == 60.0);
	ck_assert_int_eq(o.trace, 0);
	ck_assert_int_eq(o.compress, 1);
	ck_assert(has_arg(&fa, "/clusterfs"));
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_bramble_options)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "h:/envs/x", "/mnt", "-f", "-o",
			       "port=7100,attr_timeout=2.5,entry_timeout=0,"
			       "negative_timeout=3,timeout=2,trace,allow_other", NULL), 0);
	ck_assert_str_eq(o.host, "h");
	ck_assert_str_eq(o.subdir, "/envs/x");
	ck_assert_uint_eq(o.port, 7100);
	ck_assert(o.attr_timeout == 2.5 && o.entry_timeout == 0);
	ck_assert(o.negative_timeout == 3 && o.timeout == 2);
	ck_assert_int_eq(o.trace, 1);
	ck_assert(has_arg(&fa, "allow_other"));
	ck_assert(has_arg(&fa, "-f"));
	ck_assert(!has_arg(&fa, "port="));
	ck_assert(!has_arg(&fa, "trace"));
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
}
END_TEST

/* -o export=NAME[/SUB] is the same as HOST:/NAME/SUB (server exports). */
/* hard/soft and bg/fg: flags, the later one wins (fstab lines get both
 * a default and an override). */
START_TEST(test_hard_bg)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "s:/", "/m", NULL), 0);
	ck_assert_int_eq(o.hard, 0);
	ck_assert_int_eq(o.bg, 0);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "s:/", "/m", "-o", "hard,bg,timeout=5", NULL), 0);
	ck_assert_int_eq(o.hard, 1);
	ck_assert_int_eq(o.bg, 1);
	ck_assert(o.timeout == 5.0);
	ck_assert(!has_arg(&fa, "-ohard") && !has_arg(&fa, "hard"));
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "s:/", "/m", "-o", "hard,bg", "-o", "soft,fg", NULL), 0);
	ck_assert_int_eq(o.hard, 0);
	ck_assert_int_eq(o.bg, 0);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	/* compress=on|off (compressed chunks), not passed to libfuse */
	ck_assert_int_eq(parse(&o, &fa, "s:/", "/m", "-o", "compress=off", NULL), 0);
	ck_assert_int_eq(o.compress, 0);
	ck_assert(!has_arg(&fa, "compress"));
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "s:/", "/m", "-o", "compress=off,compress=on", NULL), 0);
	ck_assert_int_eq(o.compress, 1);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_export_option)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "export=data/sub", NULL), 0);
	ck_assert_str_eq(o.subdir, "/data/sub");
	ck_assert_str_eq(o.source, "h:/data/sub");
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:", "/mnt", "-o", "export=/data", NULL), 0);
	ck_assert_str_eq(o.subdir, "/data");
	ck_assert_str_eq(o.source, "h:/data");
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/x", "/mnt", "-o", "export=data", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(o.err, "not both"));
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "export=/", NULL), -EINVAL);
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_auth_option)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", NULL), 0);
	ck_assert_int_eq(o.auth, BRAMBLE_AUTH_AUTO);
	ck_assert_ptr_null(o.munge_socket);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o",
			       "auth=munge,munge_socket=/run/m.sock", NULL), 0);
	ck_assert_int_eq(o.auth, BRAMBLE_AUTH_MUNGE);
	ck_assert_str_eq(o.munge_socket, "/run/m.sock");
	ck_assert(!has_arg(&fa, "munge"));  /* consumed, not passed to libfuse */
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "auth=sys", NULL), 0);
	ck_assert_int_eq(o.auth, BRAMBLE_AUTH_SYS);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "auth=krb5", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(o.err, "auth=krb5"));
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_fstab_options)
{
	struct bfs_opts o;
	struct fuse_args fa;

	/* What mount.fuse3 passes for an fstab line. */
	ck_assert_int_eq(parse(&o, &fa, "storage01:/", "/clusterfs", "-o",
			       "rw,nosuid,nodev,_netdev,auto,defaults,noauto,user,"
			       "nouser,x-systemd.automount,x-systemd.mount-timeout=30,"
			       "comment=hello,allow_other,default_permissions", NULL), 0);
	ck_assert(has_arg(&fa, "nosuid"));
	ck_assert(has_arg(&fa, "default_permissions"));
	ck_assert(!has_arg(&fa, "_netdev"));
	ck_assert(!has_arg(&fa, "x-systemd"));
	ck_assert(!has_arg(&fa, "comment"));
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_errors)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "bogus=1", NULL), -EINVAL);
	ck_assert(strstr(o.err, "bogus=1"));
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "--frob", NULL), -EINVAL);
	ck_assert(strstr(o.err, "--frob"));
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "hostonly", "/mnt", NULL), -EINVAL);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", NULL), -EINVAL);
	ck_assert(strstr(o.err, "MOUNTPOINT"));
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/a", "/b", NULL), -EINVAL);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "port=70000", NULL), -EINVAL);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "timeout=0", NULL), -EINVAL);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "attr_timeout=x", NULL), -EINVAL);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "h:/", "/mnt", "-o", "compress=yes", NULL), -EINVAL);
	ck_assert(strstr(o.err, "compress=yes"));
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_help_version)
{
	struct bfs_opts o;
	struct fuse_args fa;

	ck_assert_int_eq(parse(&o, &fa, "--help", NULL), 0);
	ck_assert_int_eq(o.show_help, 1);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
	ck_assert_int_eq(parse(&o, &fa, "--version", NULL), 0);
	ck_assert_int_eq(o.show_version, 1);
	fuse_opt_free_args(&fa);
	bfs_opts_release(&o);
}
END_TEST

START_TEST(test_source)
{
	char *h, *s;

	ck_assert_int_eq(bfs_parse_source("[::1]:/x", &h, &s), 0);
	ck_assert_str_eq(h, "::1");
	ck_assert_str_eq(s, "/x");
	free(h);
	free(s);
	ck_assert_int_eq(bfs_parse_source("node7:", &h, &s), 0);
	ck_assert_str_eq(s, "/");
	free(h);
	free(s);
	ck_assert_int_eq(bfs_parse_source(":/x", &h, &s), -EINVAL);
	ck_assert_int_eq(bfs_parse_source("h:x", &h, &s), -EINVAL);
	ck_assert_int_eq(bfs_parse_source("[::1]/x", &h, &s), -EINVAL);
}
END_TEST

static Suite *opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_bramble_options);
	tcase_add_test(tc, test_fstab_options);
	tcase_add_test(tc, test_export_option);
	tcase_add_test(tc, test_auth_option);
	tcase_add_test(tc, test_hard_bg);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_source);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(opts_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
