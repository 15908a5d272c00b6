/* test_exports.c - server/exports.c: the exports file, lookups, reload. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exports.h"

static char top[PATH_MAX];              /* private tmp dir of the test */
static unsigned char key[EXPORT_KEY_LEN];
static const struct exports_defaults defs = {
	.allow = "127.0.0.0/8", .read_only = false, .root_squash = true,
	.auth = EXPORT_AUTH_SYS,
};

static const char *at(const char *rel)
{
	static char p[4][PATH_MAX * 2];
	static int n;

	n = (n + 1) % 4;
	snprintf(p[n], sizeof(p[n]), "%s/%s", top, rel);
	return p[n];
}

static void write_file(const char *rel, const char *text)
{
	FILE *f = fopen(at(rel), "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(top, sizeof(top), "/tmp/test_exports.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	ck_assert_int_eq(mkdir(at("a"), 0755), 0);
	ck_assert_int_eq(mkdir(at("a/sub"), 0755), 0);
	ck_assert_int_eq(mkdir(at("b"), 0755), 0);
	ck_assert_int_eq(mkdir(at("b/inner"), 0755), 0);
	write_file("plain", "x");
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 3 + 5);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

/* Parse text; returns the table (NULL on error) and the messages. */
static struct exports_table *parse(const char *text, struct buf *err)
{
	struct exports_table *t = NULL;
	int rc = exports_parse("ex.conf", text, &defs, &t, err);

	ck_assert_int_eq(rc == 0, t != NULL);
	return t;
}

static void expect_error(const char *text, const char *want)
{
	struct buf err = BUF_INIT;
	struct exports_table *t = parse(text, &err);

	ck_assert_msg(t == NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err.data, want), "'%s' not in '%s'", want, err.data);
	buf_release(&err);
}

static struct sockaddr_in v4(const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

START_TEST(test_parse_good)
{
	struct buf err = BUF_INIT;
	struct exports_table *t = parse(
		"# exports\n"
		"\n"
		"data  /srv/data//x/  ro,allow=10.0.0.0/24;192.168.1.0/24  # trailing\n"
		"\tscratch /srv/scratch rw allow=10.1.0.0/16,10.2.0.0/16,no_root_squash\n"
		"lab.old-1 / auth=munge,id=7,root_squash\n"
		"plain /srv/plain\n", &err);
	const struct exports_entry *e;
	struct sockaddr_in sin;

	ck_assert_msg(t != NULL, "%s", err.data);
	ck_assert_uint_eq(t->n, 4);
	e = t->v[0];
	ck_assert_str_eq(e->name, "data");
	ck_assert_str_eq(e->path, "/srv/data/x");
	ck_assert(e->read_only);
	ck_assert(e->root_squash);
	ck_assert_uint_eq(e->allow.n, 2);
	ck_assert_uint_eq(e->line, 3);
	ck_assert_uint_eq(e->id, exports_name_id("data"));
	ck_assert_ptr_null(e->ex);          /* parsing opens nothing */

	e = t->v[1];
	ck_assert(!e->read_only && !e->root_squash);
	ck_assert_uint_eq(e->allow.n, 2);
	sin = v4("10.2.3.4");
	ck_assert(exports_entry_allows(e, (struct sockaddr *)&sin));
	sin = v4("10.3.0.1");
	ck_assert(!exports_entry_allows(e, (struct sockaddr *)&sin));

	e = t->v[2];
	ck_assert_str_eq(e->name, "lab.old-1");
	ck_assert_str_eq(e->path, "/");
	ck_assert_int_eq(e->auth, EXPORT_AUTH_MUNGE);
	ck_assert_uint_eq(e->id, 7);

	e = t->v[3];                        /* the defaults */
	ck_assert(!e->read_only && e->root_squash);
	ck_assert_int_eq(e->auth, EXPORT_AUTH_SYS);
	sin = v4("127.0.0.2");
	ck_assert(exports_entry_allows(e, (struct sockaddr *)&sin));
	sin = v4("10.0.0.1");
	ck_assert(!exports_entry_allows(e, (struct sockaddr *)&sin));
	exports_table_free(t);
	buf_release(&err);
}
END_TEST

START_TEST(test_parse_errors)
{
	expect_error("a /x\nb /y frob\n", "ex.conf:2: unknown option 'frob'");
	expect_error("a /x wsize=3\n", "ex.conf:1: unknown option 'wsize=3'");
	expect_error("\n\nbad/name /x\n", "ex.conf:3: bad export name 'bad/name'");
	expect_error(".hidden /x\n", "ex.conf:1: bad export name");
	expect_error("a relative/x\n", "ex.conf:1: path 'relative/x' is not absolute");
	expect_error("a /x/../etc\n", "ex.conf:1: path '/x/../etc'");
	expect_error("# c\nlonely\n", "ex.conf:2: 'lonely': want NAME PATH");
	expect_error("a /x allow=10.0.0.1/8\n", "ex.conf:1: allow=10.0.0.1/8: not a list");
	expect_error("a /x allow=\n", "ex.conf:1: allow=: not a list");
	expect_error("a /x auth=krb5\n", "ex.conf:1: auth=krb5: not sys or munge");
	expect_error("a /x id=65536\n", "ex.conf:1: id=65536: not a number");
	expect_error("a /x ro,rw\n", "ex.conf:1: option 'rw' contradicts");
	expect_error("a /x ro,,root_squash\n", "ex.conf:1: empty option");
	expect_error("# nothing\n\n", "ex.conf:1: no exports in the file");
	expect_error("", "no exports");
}
END_TEST

/* All errors at once, each with its line. */
START_TEST(test_parse_all_errors)
{
	struct buf err = BUF_INIT;

	ck_assert_ptr_null(parse("ok /x\nb /y bogus\nok2 /z\nc rel\n", &err));
	ck_assert_ptr_nonnull(strstr(err.data, "ex.conf:2: unknown option 'bogus'"));
	ck_assert_ptr_nonnull(strstr(err.data, "ex.conf:4: path 'rel'"));
	buf_release(&err);
}
END_TEST

START_TEST(test_duplicates)
{
	char text[256], a[16], b[16];
	int found = 0;

	expect_error("data /x\nother /y\ndata /z\n",
		     "ex.conf:3: duplicate export name 'data' (first on line 1)");
	expect_error("a /x id=5\nb /y id=5\n", "ex.conf:2: export 'b' has handle id 5, "
		     "as has 'a' (line 1)");
	/* Two names whose hashes collide (a 16-bit id: a few hundred names
	 * give a collision): refused, and id=N resolves it. */
	for (int i = 0; i < 5000 && !found; i++) {
		for (int k = 0; k < i && !found; k++) {
			snprintf(a, sizeof(a), "n%d", k);
			snprintf(b, sizeof(b), "n%d", i);
			found = exports_name_id(a) == exports_name_id(b);
		}
	}
	ck_assert(found);
	snprintf(text, sizeof(text), "%s /x\n%s /y\n", a, b);
	expect_error(text, "ex.conf:2: export");
	expect_error(text, "give one of them another id=N");
	snprintf(text, sizeof(text), "%s /x\n%s /y id=1\n", a, b);
	{
		struct buf err = BUF_INIT;
		struct exports_table *t = parse(text, &err);

		ck_assert_msg(t != NULL, "%s", err.data);
		exports_table_free(t);
		buf_release(&err);
	}
}
END_TEST

/* A file naming real directories; returns the loaded set. */
static struct exports *load(const char *text, struct buf *err, int want_rc)
{
	struct exports *xs = NULL;
	int rc;

	write_file("exports", text);
	rc = exports_new_file(at("exports"), &defs, key, 256, &xs, err);
	ck_assert_msg(rc == want_rc, "rc %d: %s", rc, err->data);
	return xs;
}

START_TEST(test_load_errors)
{
	struct buf err = BUF_INIT;
	char text[1024];

	snprintf(text, sizeof(text), "a %s\nf %s\nm %s\n", at("a"), at("plain"),
		 at("missing"));
	ck_assert_ptr_null(load(text, &err, -ENOTDIR));
	ck_assert_ptr_nonnull(strstr(err.data, ":2: cannot export"));
	ck_assert_ptr_nonnull(strstr(err.data, "not a directory"));
	ck_assert_ptr_nonnull(strstr(err.data, ":3: cannot export"));
	ck_assert_ptr_nonnull(strstr(err.data, "No such file or directory"));
	buf_reset(&err);
	ck_assert_int_eq(exports_new_file(at("nofile"), &defs, key, 256,
					  &(struct exports *){ NULL }, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.data, "cannot read exports file"));
	buf_release(&err);
}
END_TEST

static int mount_of(struct exports *xs, const char *path, const char **name,
		    const char **rest)
{
	struct exports_entry *e;
	int rc = exports_find_mount(xs, path, &e, rest);

	if (rc == 0) {
		*name = e->name;        /* the table keeps it alive */
		exports_unref(e);
	}
	return rc;
}

START_TEST(test_lookups)
{
	struct buf err = BUF_INIT;
	char text[1024];
	struct exports *xs;
	struct exports_entry *e;
	const char *name, *rest;

	snprintf(text, sizeof(text), "a %s ro\nb %s\nbi %s/inner\n", at("a"), at("b"),
		 at("b"));
	xs = load(text, &err, 0);
	ck_assert_uint_eq(exports_count(xs), 3);

	e = exports_get_name(xs, "a");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->read_only);
	ck_assert_ptr_nonnull(e->ex);
	ck_assert_uint_eq(export_id(e->ex), e->id);
	ck_assert_ptr_eq(exports_get_id(xs, e->id), e);
	exports_unref(e);
	exports_unref(e);
	ck_assert_ptr_null(exports_get_name(xs, "zz"));

	ck_assert_int_eq(mount_of(xs, "a", &name, &rest), 0);
	ck_assert_str_eq(name, "a");
	ck_assert_str_eq(rest, "");
	ck_assert_int_eq(mount_of(xs, "/a/sub/x", &name, &rest), 0);
	ck_assert_str_eq(name, "a");
	ck_assert_str_eq(rest, "sub/x");
	/* absolute paths, with or without their '/': longest prefix */
	ck_assert_int_eq(mount_of(xs, at("b/inner/deep"), &name, &rest), 0);
	ck_assert_str_eq(name, "bi");
	ck_assert_str_eq(rest, "deep");
	ck_assert_int_eq(mount_of(xs, at("b") + 1, &name, &rest), 0);
	ck_assert_str_eq(name, "b");
	ck_assert_str_eq(rest, "");
	ck_assert_int_eq(mount_of(xs, at("b/innerx"), &name, &rest), 0);
	ck_assert_str_eq(name, "b");        /* a component, not a string prefix */
	ck_assert_str_eq(rest, "innerx");
	/* several exports: "" names none */
	ck_assert_int_eq(mount_of(xs, "", &name, &rest), -ENOENT);
	ck_assert_int_eq(mount_of(xs, "/", &name, &rest), -ENOENT);
	ck_assert_int_eq(mount_of(xs, "nope/x", &name, &rest), -ENOENT);
	ck_assert_int_eq(mount_of(xs, at("plain"), &name, &rest), -ENOENT);
	exports_free(xs);

	/* one export: "", "/" and "sub" as with --export */
	snprintf(text, sizeof(text), "only %s\n", at("a"));
	xs = load(text, &err, 0);
	ck_assert_int_eq(mount_of(xs, "", &name, &rest), 0);
	ck_assert_str_eq(rest, "");
	ck_assert_int_eq(mount_of(xs, "/sub", &name, &rest), 0);
	ck_assert_str_eq(name, "only");
	ck_assert_str_eq(rest, "sub");
	exports_free(xs);
	buf_release(&err);
}
END_TEST

/* --export DIR: one export named after the directory, with the defaults. */
START_TEST(test_dir)
{
	struct buf err = BUF_INIT;
	struct exports *xs = NULL;
	struct exports_entry *e;
	char rel[PATH_MAX * 2];

	snprintf(rel, sizeof(rel), "%s/a/sub/..", top);
	ck_assert_int_eq(exports_new_dir(rel, &defs, key, 64, &xs, &err), 0);
	e = exports_get_name(xs, "a");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->path, at("a"));
	ck_assert_uint_eq(e->id, exports_name_id("a"));
	exports_unref(e);
	exports_free(xs);
	ck_assert_int_eq(exports_new_dir(at("missing"), &defs, key, 64, &xs, &err),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.data, "missing"));
	buf_release(&err);
}
END_TEST

/* A handle carries its export's id; another export (even of the same
 * directory) refuses it, id bytes rewritten or not. */
START_TEST(test_handles_confined)
{
	struct buf err = BUF_INIT;
	char text[1024];
	struct exports *xs;
	struct exports_entry *a, *a2;
	struct export_fh fh;
	struct stat st;
	uint16_t id;
	int fd;

	snprintf(text, sizeof(text), "a %s\na2 %s\n", at("a"), at("a"));
	xs = load(text, &err, 0);
	a = exports_get_name(xs, "a");
	a2 = exports_get_name(xs, "a2");
	fd = open(at("a/sub"), O_PATH);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(export_fh_from_fd(a->ex, fd, &fh), 0);
	close(fd);
	ck_assert_int_eq(export_fh_id(fh.data, fh.len, &id), 0);
	ck_assert_uint_eq(id, a->id);
	ck_assert_ptr_eq(exports_get_fh(xs, fh.data, fh.len), a);
	exports_unref(a);

	ck_assert_int_eq(export_fh_open(a->ex, fh.data, fh.len, &fd, &st), 0);
	close(fd);
	ck_assert_int_eq(export_fh_open(a2->ex, fh.data, fh.len, &fd, &st), -ESTALE);
	fh.data[1] = (unsigned char)(a2->id >> 8);
	fh.data[2] = (unsigned char)a2->id;
	ck_assert_ptr_eq(exports_get_fh(xs, fh.data, fh.len), a2);
	exports_unref(a2);
	ck_assert_int_eq(export_fh_open(a2->ex, fh.data, fh.len, &fd, &st), -ESTALE);
	ck_assert_int_eq(export_fh_open(a->ex, fh.data, fh.len, &fd, &st), -ESTALE);
	fh.data[0] = 1;                     /* version 1: no id */
	ck_assert_int_eq(export_fh_id(fh.data, fh.len, &id), -ESTALE);
	ck_assert_ptr_null(exports_get_fh(xs, fh.data, fh.len));
	exports_unref(a);
	exports_unref(a2);
	exports_free(xs);
	buf_release(&err);
}
END_TEST

START_TEST(test_reload)
{
	struct buf err = BUF_INIT, sum = BUF_INIT;
	char text[1024];
	struct exports *xs;
	struct exports_entry *a, *b, *gone, *e;
	struct export_fh fh;
	struct stat st;
	int fd;

	snprintf(text, sizeof(text), "a %s\nb %s\ngone %s/inner\n", at("a"), at("b"),
		 at("b"));
	xs = load(text, &err, 0);
	a = exports_get_name(xs, "a");
	b = exports_get_name(xs, "b");
	gone = exports_get_name(xs, "gone");    /* a call in flight holds it */

	/* a unchanged, b read-only now, gone removed, new added */
	snprintf(text, sizeof(text), "a %s\nb %s ro\nnew %s/sub\n", at("a"), at("b"),
		 at("a"));
	write_file("exports", text);
	ck_assert_int_eq(exports_reload(xs, &sum, &err), 0);
	ck_assert_msg(strstr(sum.data, "added 'new'") && strstr(sum.data, "removed 'gone'") &&
		      strstr(sum.data, "changed 'b'"), "%s", sum.data);
	e = exports_get_name(xs, "a");
	ck_assert_ptr_eq(e, a);                 /* same entry, same cache */
	exports_unref(e);
	e = exports_get_name(xs, "b");
	ck_assert_ptr_ne(e, b);
	ck_assert(e->read_only && !b->read_only);
	ck_assert_uint_eq(e->id, b->id);        /* handles of b stay valid */
	fd = open(at("b/inner"), O_PATH);
	ck_assert_int_eq(export_fh_from_fd(b->ex, fd, &fh), 0);
	close(fd);
	ck_assert_int_eq(export_fh_open(e->ex, fh.data, fh.len, &fd, &st), 0);
	close(fd);
	exports_unref(e);
	ck_assert_ptr_null(exports_get_id(xs, gone->id));
	/* the removed export still works for the call that holds it */
	fd = open(at("b/inner"), O_PATH);
	ck_assert_int_eq(export_fh_from_fd(gone->ex, fd, &fh), 0);
	close(fd);
	exports_unref(gone);
	exports_unref(b);

	/* a broken file keeps the table */
	buf_reset(&sum);
	write_file("exports", "a /x\nb /y frobnicate\n");
	ck_assert_int_eq(exports_reload(xs, &sum, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.data, "exports:2: unknown option 'frobnicate'"));
	ck_assert_uint_eq(exports_count(xs), 3);
	e = exports_get_name(xs, "new");
	ck_assert_ptr_nonnull(e);
	exports_unref(e);
	exports_unref(a);
	exports_free(xs);
	buf_release(&err);
	buf_release(&sum);
}
END_TEST

START_TEST(test_describe_accepts)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	char text[1024];
	struct exports *xs;
	struct sockaddr_in one = v4("127.0.0.1"), two = v4("127.0.0.2"),
			   far = v4("10.9.9.9");
	bool ro;

	snprintf(text, sizeof(text), "a %s ro\nb %s allow=127.0.0.2/32\n", at("a"),
		 at("b"));
	xs = load(text, &err, 0);
	exports_describe(xs, (struct sockaddr *)&one, &out, &ro);
	ck_assert_msg(strstr(out.data, "a=") && !strstr(out.data, "b="), "%s", out.data);
	ck_assert(ro);
	buf_reset(&out);
	exports_describe(xs, (struct sockaddr *)&two, &out, &ro);
	ck_assert_msg(strstr(out.data, "a=") && strstr(out.data, "; b="), "%s", out.data);
	ck_assert(!ro);
	ck_assert(exports_accepts(xs, (struct sockaddr *)&two));
	ck_assert(!exports_accepts(xs, (struct sockaddr *)&far));
	exports_free(xs);
	buf_release(&out);
	buf_release(&err);
}
END_TEST

static Suite *exports_suite(void)
{
	Suite *s = suite_create("exports");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_all_errors);
	tcase_add_test(tc, test_duplicates);
	suite_add_tcase(s, tc);
	tc = tcase_create("load");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_lookups);
	tcase_add_test(tc, test_dir);
	tcase_add_test(tc, test_handles_confined);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_describe_accepts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 99;
	sr = srunner_create(exports_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
