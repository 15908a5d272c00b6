/* cmd_info.c - `bramble info`: what the server (and the mount) is. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "target.h"
#include "util.h"

static const char info_usage[] =
	"usage: bramble info [-t SECONDS] HOST[:PORT]|MOUNT\n"
	"  -t SECONDS  how long to wait for the server (default 5)\n";

static void print_duration(int64_t s)
{
	if (s >= 86400)
		printf("%lldd ", (long long)(s / 86400));
	printf("%02lld:%02lld:%02lld\n", (long long)(s % 86400 / 3600),
	       (long long)(s % 3600 / 60), (long long)(s % 60));
}

static void print_caps(uint64_t caps)
{
	static const struct { uint64_t bit; const char *name; } names[] = {
		{ BRAMBLE_CAP_LOCKS, "locks" }, { BRAMBLE_CAP_MUNGE, "munge" },
		{ BRAMBLE_CAP_DRC, "drc" }, { BRAMBLE_CAP_EXPORTS, "exports" },
		{ BRAMBLE_CAP_STATS, "stats" }, { BRAMBLE_CAP_TREE, "tree" },
		{ BRAMBLE_CAP_CHUNKS, "chunks" }, { BRAMBLE_CAP_CALLBACKS, "callbacks" },
		{ BRAMBLE_CAP_BENCH, "bench" }, { BRAMBLE_CAP_OPENS, "opens" },
		{ BRAMBLE_CAP_CHUNKMAP_KNOWN, "chunkmap-known" },
		{ BRAMBLE_CAP_CB_ATTRS, "cb-attrs" },
		{ BRAMBLE_CAP_CHUNK_ZSTD, "chunk-zstd" }, { BRAMBLE_CAP_PEERS, "peers" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (caps & names[i].bit)
			printf(" %s", names[i].name);
	if (caps == 0)
		printf(" none");
	printf("\n");
}

/* The mount's own lines from its control file, indented. */
static void print_mount(const struct target *t)
{
	printf("mount:          %s\n", t->mount);
	for (const char *p = t->ctl; p && *p;) {
		size_t n = strcspn(p, "\n");

		printf("  %.*s\n", (int)n, p);
		p += n;
		if (*p)
			p++;
	}
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	int64_t timeout_ms = TARGET_TIMEOUT_MS;
	struct bramble_info info;
	struct bramble_hello hello;
	struct bramble *b = NULL;
	struct target t;
	char when[64];
	struct tm tm;
	time_t st;
	int c, rc;

	while ((c = getopt_long(argc, argv, "t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_seconds_ms(optarg, &timeout_ms) < 0 || timeout_ms < 1)
				goto bad;
			break;
		case 'h':
			fputs(info_usage, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1)
		goto bad;
	if (target_open(argv[optind], (unsigned int)timeout_ms, &t, &b) < 0)
		return 1;
	rc = bramble_info(b, &info);
	if (rc < 0) {
		fprintf(stderr, "bramble: INFO from %s failed: %s\n",
			bramble_server_addr(b), strerror(-rc));
		bramble_free(b);
		target_release(&t);
		return 1;
	}
	st = (time_t)info.start_time;
	localtime_r(&st, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	printf("server:         %s\n", bramble_server_addr(b));
	printf("version:        %s\n", info.server_version);
	printf("export:         %s%s\n", info.export_path,
	       info.read_only ? " (read-only)" : "");
	bramble_server_hello(b, &hello);
	printf("protocol:       %u, revision %u (server speaks %u..%u)\n",
	       info.proto_vers, hello.revision, hello.min_revision,
	       hello.max_revision);
	printf("capabilities:  ");
	print_caps(hello.caps);
	printf("started:        %s\n", when);
	printf("uptime:         ");
	print_duration(info.uptime);
	printf("max read/write: %u bytes\n", info.max_data);
	if (t.mount)
		print_mount(&t);
	bramble_free(b);
	target_release(&t);
	return 0;
bad:
	fputs(info_usage, stderr);
	return 2;
}
