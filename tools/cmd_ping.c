/* cmd_ping.c - `bramble ping`: NULL round trips, one at a time. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

static const char ping_usage[] =
	"usage: bramble ping [-c COUNT] [-i SECONDS] [-t SECONDS] HOST[:PORT]|MOUNT\n"
	"  -c COUNT    number of NULL calls (default 5)\n"
	"  -i SECONDS  pause between calls (default 0)\n"
	"  -t SECONDS  how long to wait for the server (default 5)\n"
	"  -q          print only the summary\n";

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* With MUNGE in use (BRAMBLE_AUTH, or the server asks for it), open this
 * user's session first and say what it cost: proof that munged on both
 * sides agree.  0, or -errno (printed). */
static int ping_munge(struct bramble *b)
{
	struct bramble_cred me = { .uid = geteuid(), .gid = getegid() };
	int64_t t0 = now_ns();
	int rc = bramble_auth_open(b, &me);

	if (rc == -EOPNOTSUPP)
		return 0;
	if (rc < 0)
		printf("MUNGE session as uid %u gid %u: %s\n", me.uid, me.gid,
		       strerror(-rc));
	else
		printf("MUNGE session as uid %u gid %u: %.1f us\n", me.uid, me.gid,
		       (now_ns() - t0) / 1e3);
	return rc;
}

int cmd_ping(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	unsigned long long count = 5;
	int64_t timeout_ms = TARGET_TIMEOUT_MS, pause_ms = 0;
	bool quiet = false;
	struct target t;
	struct bramble *b = NULL;
	int64_t *rtt;
	unsigned long long ok = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:i:t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_uint(optarg, 1, 1000000, &count) < 0)
				goto bad;
			break;
		case 'i':
			if (parse_seconds_ms(optarg, &pause_ms) < 0)
				goto bad;
			break;
		case 't':
			if (parse_seconds_ms(optarg, &timeout_ms) < 0 || timeout_ms < 1)
				goto bad;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(ping_usage, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1)
		goto bad;
	if (target_open(argv[optind], (unsigned int)timeout_ms, &t, &b) < 0)
		return 1;
	rtt = xcalloc(count, sizeof(*rtt));
	printf("PING %s (%s)\n", argv[optind], bramble_server_addr(b));
	if (ping_munge(b) < 0) {
		free(rtt);
		bramble_free(b);
		target_release(&t);
		return 1;
	}
	for (unsigned long long i = 0; i < count; i++) {
		int64_t t0 = now_ns();

		rc = bramble_null(b);
		if (rc < 0) {
			printf("call %llu: %s\n", i + 1, strerror(-rc));
			continue;
		}
		rtt[ok++] = now_ns() - t0;
		if (!quiet)
			printf("call %llu: %.1f us\n", i + 1, rtt[ok - 1] / 1e3);
		if (pause_ms && i + 1 < count)
			usleep((useconds_t)(pause_ms * 1000));
	}
	if (ok) {
		qsort(rtt, ok, sizeof(*rtt), cmp_i64);
		printf("%llu calls, %llu answered: min %.1f us, median %.1f us, "
		       "max %.1f us\n", count, ok, rtt[0] / 1e3,
		       rtt[ok / 2] / 1e3, rtt[ok - 1] / 1e3);
	} else {
		printf("%llu calls, 0 answered\n", count);
	}
	free(rtt);
	bramble_free(b);
	target_release(&t);
	return ok == count ? 0 : 1;
bad:
	fputs(ping_usage, stderr);
	return 2;
}
