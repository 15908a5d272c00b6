/* test_ctl.c - the control file's one reader (client/bramble_ctl.h):
 * values found by whole key only, the first line and the last, absent
 * and empty values, and reading the file from a directory. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bramble_ctl.h"
#include "buf.h"

static const char *text =
	"server=storage01\n"
	"port=7049\n"
	"cache=disk\n"
	"cache_dir=/var/cache/bramble\n"
	"record=\n"
	"record.jobs=3\n"
	"rpc.calls=12";              /* the last line without its '\n' */

static void value_is(const char *key, const char *want)
{
	char *v = bramble_ctl_value(text, key);

	if (!want)
		ck_assert_ptr_null(v);
	else {
		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v, want);
	}
	free(v);
}

START_TEST(test_whole_keys)
{
	value_is(BRAMBLE_CTL_KEY_SERVER, "storage01");
	value_is(BRAMBLE_CTL_KEY_PORT, "7049");
	/* "cache" is not the start of "cache_dir", nor "record" of "record.jobs" */
	value_is(BRAMBLE_CTL_KEY_CACHE, "disk");
	value_is(BRAMBLE_CTL_KEY_CACHE_DIR, "/var/cache/bramble");
	value_is(BRAMBLE_CTL_PREFIX_RECORD "jobs", "3");
	value_is(BRAMBLE_CTL_PREFIX_RPC "calls", "12");
	/* a value runs to the end of its line, and may be empty */
	value_is(BRAMBLE_CTL_KEY_RECORD, "");
	value_is("serv", NULL);
	value_is(BRAMBLE_CTL_KEY_STAGE_SOCKET, NULL);
	ck_assert(bramble_ctl_has(text, BRAMBLE_CTL_KEY_RECORD));
	ck_assert(!bramble_ctl_has(text, "port=7049"));
	ck_assert(!bramble_ctl_has("", BRAMBLE_CTL_KEY_SERVER));
	ck_assert(!bramble_ctl_has(NULL, BRAMBLE_CTL_KEY_SERVER));
}
END_TEST

START_TEST(test_read_dir)
{
	char dir[] = "/tmp/test_ctl.XXXXXX", path[64];
	struct buf b = BUF_INIT;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(bramble_ctl_read(dir, &b), -ENOENT);
	snprintf(path, sizeof(path), "%s/" BRAMBLE_CTL_NAME, dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(bramble_ctl_read(dir, &b), 0);
	ck_assert_uint_eq(b.len, strlen(text));
	ck_assert(!memcmp(b.data, text, b.len));
	buf_release(&b);
	unlink(path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_whole_keys);
	tcase_add_test(tc, test_read_dir);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
