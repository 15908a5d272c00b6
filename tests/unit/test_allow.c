/* test_allow.c - server/allow.c: --allow CIDR parsing and matching. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "allow.h"

static bool match4(const struct allow *a, const char *ip)
{
	struct sockaddr_in in = { .sin_family = AF_INET };

	ck_assert_int_eq(inet_pton(AF_INET, ip, &in.sin_addr), 1);
	return allow_match(a, (struct sockaddr *)&in);
}

static bool match6(const struct allow *a, const char *ip)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

	ck_assert_int_eq(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
	return allow_match(a, (struct sockaddr *)&in6);
}

START_TEST(test_default)
{
	struct allow a;

	ck_assert_int_eq(allow_parse(&a, "127.0.0.0/8"), 0);
	ck_assert_uint_eq(a.n, 1);
	ck_assert(match4(&a, "127.0.0.1"));
	ck_assert(match4(&a, "127.255.255.254"));
	ck_assert(!match4(&a, "128.0.0.1"));
	ck_assert(!match4(&a, "10.0.0.1"));
	ck_assert(match6(&a, "::ffff:127.0.0.1"));     /* dual-stack listener */
	ck_assert(!match6(&a, "::1"));
	allow_release(&a);
}
END_TEST

START_TEST(test_list)
{
	struct allow a;

	ck_assert_int_eq(allow_parse(&a, "10.1.0.0/16, 192.168.7.9,fd00::/8,::1"), 0);
	ck_assert_uint_eq(a.n, 4);
	ck_assert(match4(&a, "10.1.200.3"));
	ck_assert(!match4(&a, "10.2.0.1"));
	ck_assert(match4(&a, "192.168.7.9"));
	ck_assert(!match4(&a, "192.168.7.10"));
	ck_assert(match6(&a, "fd12:3456::1"));
	ck_assert(!match6(&a, "fe80::1"));
	ck_assert(match6(&a, "::1"));
	allow_release(&a);
}
END_TEST

START_TEST(test_odd_prefixes)
{
	struct allow a;

	ck_assert_int_eq(allow_parse(&a, "10.0.0.0/9"), 0);
	ck_assert(match4(&a, "10.127.0.1"));
	ck_assert(!match4(&a, "10.128.0.1"));
	allow_release(&a);
	ck_assert_int_eq(allow_parse(&a, "0.0.0.0/0"), 0);
	ck_assert(match4(&a, "8.8.8.8"));
	ck_assert(!match6(&a, "2001:db8::1"));
	allow_release(&a);
	ck_assert_int_eq(allow_parse(&a, "1.2.3.4/32"), 0);
	ck_assert(match4(&a, "1.2.3.4"));
	ck_assert(!match4(&a, "1.2.3.5"));
	allow_release(&a);
}
END_TEST

START_TEST(test_bad)
{
	static const char *const bad[] = {
		"", ",", "10.0.0.0/33", "10.0.0.1/8", "10.0.0/8", "host.example",
		"10.0.0.0/", "10.0.0.0/-1", "::1/129", "1.2.3.4,", "10.0.0.0/8x",
		"fd00::1/8",
	};
	struct allow a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(allow_parse(&a, bad[i]) == -EINVAL, "accepted '%s'", bad[i]);
		ck_assert_ptr_null(a.nets);
	}
}
END_TEST

static Suite *allow_suite(void)
{
	Suite *s = suite_create("allow");
	TCase *tc = tcase_create("cidr");

	tcase_add_test(tc, test_default);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_odd_prefixes);
	tcase_add_test(tc, test_bad);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(allow_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
