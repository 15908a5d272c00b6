/* cmd_cache.c - `bramble cache`: look at and manage the node-local chunk
 * cache (bramble_cache.h) in its directory: what is cached and pinned by
 * whom, pin/unpin, evict, verify, gc of expired pins, stats.  It opens
 * the same directory the mounts use, at the same time, through the same
 * index transactions; it never changes the stored quota. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bramble_cache.h"
#include "cmds.h"
#include "json.h"
#include "stage.h"
#include "util.h"
#include "xalloc.h"

static const char cache_usage[] =
	"usage: bramble cache [--dir DIR] COMMAND [ARGS]\n"
	"  ls [-l] [--json]          pins by owner (chunks, bytes, expiry);\n"
	"                            -l: every chunk (hash, size, last use, pins)\n"
	"  stats [--json]            quota, bytes used, chunks, pinned\n"
	"  pin --owner OWNER [--expires SEC] HASH|PATH...\n"
	"                            pin cached chunks for OWNER (for SEC seconds;\n"
	"                            default: until unpinned); a PATH in a mount is\n"
	"                            staged as `bramble stage' does, pinned for OWNER\n"
	"  unpin OWNER [HASH...]     drop OWNER's pins (all of them without HASH)\n"
	"  evict [--keep BYTES]      evict unpinned chunks, least recently used\n"
	"                            first, down to BYTES (K, M, G, T suffixes;\n"
	"                            default 0: every unpinned chunk)\n"
	"  verify                    read and hash every chunk; remove bad ones and\n"
	"                            files the index does not know (exit 1: bad found)\n"
	"  gc                        remove pins whose expiry has passed, and pins\n"
	"                            job:ID of Slurm jobs that no longer exist\n"
	"                            (when squeue or scontrol can say)\n"
	"--dir DIR: the cache directory (default " BRAMBLE_CACHE_DIR ").\n"
	"HASH: 32 hex digits, as `bramble cache ls -l' prints them.\n";

#define HEX_LEN (2 * BRAMBLE_HASH_LEN)

static void hex(const unsigned char *h, char out[HEX_LEN + 1])
{
	for (int i = 0; i < BRAMBLE_HASH_LEN; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static int unhex(const char *s, unsigned char h[BRAMBLE_HASH_LEN])
{
	if (strlen(s) != HEX_LEN || strspn(s, "0123456789abcdefABCDEF") != HEX_LEN)
		return -EINVAL;
	for (int i = 0; i < BRAMBLE_HASH_LEN; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		h[i] = (unsigned char)v;
	}
	return 0;
}

static void when(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "never");
		return;
	}
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- ls */

struct ls_ctx {
	bool json;
	size_t n;
};

static int ls_pin(void *ctx, const struct bramble_cache_pininfo *p)
{
	struct ls_ctx *l = ctx;
	char t[32];

	if (l->json) {
		printf("%s\n  {\"owner\": ", l->n++ ? "," : "");
		json_str(p->owner);
		printf(", \"chunks\": %llu, \"bytes\": %llu, \"expires\": %lld}",
		       (unsigned long long)p->chunks, (unsigned long long)p->bytes,
		       (long long)p->expires);
		return 0;
	}
	if (l->n++ == 0)
		printf("%-24s %8s %14s  %s\n", "OWNER", "CHUNKS", "BYTES", "EXPIRES");
	when(p->expires, t, sizeof(t));
	printf("%-24s %8llu %14llu  %s\n", p->owner, (unsigned long long)p->chunks,
	       (unsigned long long)p->bytes, t);
	return 0;
}

static int ls_chunk(void *ctx, const struct bramble_cache_entry *e)
{
	struct ls_ctx *l = ctx;
	char h[HEX_LEN + 1], t[32];

	hex(e->hash, h);
	if (l->json) {
		printf("%s\n  {\"hash\": \"%s\", \"bytes\": %llu, \"last_use\": %lld, "
		       "\"pins\": %u}", l->n++ ? "," : "", h, (unsigned long long)e->len,
		       (long long)e->last_use, e->npins);
		return 0;
	}
	if (l->n++ == 0)
		printf("%-32s %10s  %-19s  %s\n", "HASH", "BYTES", "LAST USE", "PINS");
	when(e->last_use, t, sizeof(t));
	printf("%s %10llu  %-19s  %u\n", h, (unsigned long long)e->len, t, e->npins);
	return 0;
}

static int cache_ls(struct bramble_cache *c, const char *dir, bool json, bool all)
{
	struct ls_ctx l = { .json = json };
	struct bramble_cache_stats s;
	int rc;

	bramble_cache_get_stats(c, &s);
	if (json) {
		fputs("{\"dir\": ", stdout);
		json_str(dir);
		printf(", \"chunks\": %llu, \"bytes\": %llu,\n \"pins\": [",
		       (unsigned long long)s.chunks, (unsigned long long)s.used);
	} else {
		printf("%s: %llu chunks, %llu bytes; %llu pinned (%llu bytes)\n", dir,
		       (unsigned long long)s.chunks, (unsigned long long)s.used,
		       (unsigned long long)s.pinned_chunks, (unsigned long long)s.pinned_bytes);
	}
	rc = bramble_cache_list_pins(c, ls_pin, &l);
	if (rc == 0 && all) {
		fputs(json ? "],\n \"chunk_list\": [" : "\n", stdout);
		l.n = 0;
		rc = bramble_cache_list(c, ls_chunk, &l);
	}
	if (json)
		fputs("]}\n", stdout);
	return rc;
}

/* ---- stats */

static void cache_stats(struct bramble_cache *c, const char *dir, bool json)
{
	struct bramble_cache_stats s;
	uint64_t maps = 0;

	bramble_cache_get_stats(c, &s);
	bramble_cache_map_count(c, &maps);
	if (json) {
		fputs("{\"dir\": ", stdout);
		json_str(dir);
		printf(", \"mode\": \"%s\", \"quota\": %llu, \"used\": %llu, \"chunks\": %llu, "
		       "\"pinned_chunks\": %llu, \"pinned_bytes\": %llu, \"maps\": %llu}\n",
		       bramble_cache_mode_name(s.mode), (unsigned long long)s.quota,
		       (unsigned long long)s.used, (unsigned long long)s.chunks,
		       (unsigned long long)s.pinned_chunks, (unsigned long long)s.pinned_bytes,
		       (unsigned long long)maps);
		return;
	}
	printf("node cache %s (%s)\n", dir, bramble_cache_mode_name(s.mode));
	printf("quota   %14llu bytes (%.1f MiB)\n", (unsigned long long)s.quota,
	       (double)s.quota / (1 << 20));
	printf("used    %14llu bytes (%.1f%%)\n", (unsigned long long)s.used,
	       s.quota ? 100.0 * (double)s.used / (double)s.quota : 0);
	printf("chunks  %14llu\n", (unsigned long long)s.chunks);
	printf("pinned  %14llu chunks, %llu bytes\n", (unsigned long long)s.pinned_chunks,
	       (unsigned long long)s.pinned_bytes);
	printf("maps    %14llu (file maps kept for staged and read files)\n",
	       (unsigned long long)maps);
}

/* ---- pin / unpin */

/* The chunk an argument names (a path is pin_paths' business). */
static int arg_hash(const char *arg, unsigned char h[BRAMBLE_HASH_LEN])
{
	if (unhex(arg, h) == 0)
		return 0;
	fprintf(stderr, "bramble: '%s' is not a chunk hash (32 hex digits)\n", arg);
	return -EINVAL;
}

/* Files and directories of mounts: staged (stage.h), pinned for owner,
 * into dir when --dir was given, else into each mount's cache. */
static int pin_paths(char **paths, size_t n, const char *owner, int64_t expires,
		     const char *dir)
{
	struct stage_opts o = { .owner = owner, .expires = expires, .cache_dir = dir };
	struct stage_result r;
	int status = stage_run(&o, paths, n, &r);

	for (size_t i = 0; i < r.nfailed; i++)
		fprintf(stderr, "bramble: not pinned: %s: %s\n", r.failed[i].path,
			r.failed[i].reason);
	printf("pinned %llu file(s) (%llu chunks, %llu fetched) for '%s'\n",
	       (unsigned long long)r.files, (unsigned long long)r.chunks,
	       (unsigned long long)r.fetched, owner);
	stage_result_free(&r);
	return status;
}

static bool is_path(const char *arg)
{
	struct stat st;

	return strchr(arg, '/') || (strlen(arg) != HEX_LEN && stat(arg, &st) == 0);
}

static int cache_pin(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	char **paths = NULL;
	size_t npaths = 0;
	static const struct option longopts[] = {
		{ "owner", required_argument, NULL, 'o' },
		{ "expires", required_argument, NULL, 'e' }, { NULL, 0, NULL, 0 }
	};
	unsigned long long secs = 0;
	const char *owner = NULL;
	int64_t expires = 0;
	int ch, status = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+o:e:", longopts, NULL)) != -1) {
		if (ch == 'o')
			owner = optarg;
		else if (ch == 'e' && parse_uint(optarg, 0, 100ull * 365 * 86400, &secs) == 0)
			expires = secs ? (int64_t)time(NULL) + (int64_t)secs : 0;
		else
			return 2;
	}
	if (!owner || optind == argc)
		return 2;
	for (int i = optind; i < argc; i++) {
		unsigned char h[BRAMBLE_HASH_LEN];
		int rc;

		if (is_path(argv[i])) {
			paths = xrealloc(paths, (npaths + 1) * sizeof(*paths));
			paths[npaths++] = argv[i];
			continue;
		}
		rc = arg_hash(argv[i], h);
		if (rc < 0) {
			free(paths);
			return 2;
		}
		if (!c) {
			fprintf(stderr, "bramble: no node cache to pin %s in\n", argv[i]);
			status = 1;
			continue;
		}
		rc = bramble_cache_pin(c, h, owner, expires);
		if (rc == -ENOENT) {
			fprintf(stderr, "bramble: chunk %s is not in the cache\n", argv[i]);
			status = 1;
		} else if (rc < 0) {
			fprintf(stderr, "bramble: cannot pin %s: %s\n", argv[i], strerror(-rc));
			free(paths);
			return rc == -EINVAL ? 2 : 1;
		}
	}
	if (npaths && pin_paths(paths, npaths, owner, expires, dir) != 0)
		status = 1;
	free(paths);
	return status;
}

static int cache_unpin(struct bramble_cache *c, int argc, char **argv)
{
	uint64_t n, total = 0;
	int rc = 0;

	if (argc < 2)
		return 2;
	if (argc == 2)
		rc = bramble_cache_unpin(c, argv[1], NULL, &total);
	for (int i = 2; rc == 0 && i < argc; i++) {
		unsigned char h[BRAMBLE_HASH_LEN];

		if (arg_hash(argv[i], h) < 0)
			return 2;
		rc = bramble_cache_unpin(c, argv[1], h, &n);
		total += n;
	}
	if (rc < 0) {
		fprintf(stderr, "bramble: cannot unpin: %s\n", strerror(-rc));
		return rc == -EINVAL ? 2 : 1;
	}
	printf("removed %llu pin(s) of '%s'\n", (unsigned long long)total, argv[1]);
	return 0;
}

/* ---- evict, verify, gc */

static int cache_evict(struct bramble_cache *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keep", required_argument, NULL, 'k' }, { NULL, 0, NULL, 0 }
	};
	struct bramble_cache_stats s;
	uint64_t keep = 0, freed = 0;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+k:", longopts, NULL)) != -1)
		if (ch != 'k' || parse_size(optarg, &keep) < 0)
			return 2;
	if (optind != argc)
		return 2;
	rc = bramble_cache_evict(c, keep, &freed);
	if (rc < 0) {
		fprintf(stderr, "bramble: evict: %s\n", strerror(-rc));
		return 1;
	}
	bramble_cache_get_stats(c, &s);
	printf("evicted %llu bytes; %llu bytes in %llu chunks remain (%llu pinned)\n",
	       (unsigned long long)freed, (unsigned long long)s.used,
	       (unsigned long long)s.chunks, (unsigned long long)s.pinned_chunks);
	return 0;
}

static int cache_verify(struct bramble_cache *c)
{
	struct bramble_cache_verify r;
	int rc = bramble_cache_verify(c, &r);

	if (rc < 0) {
		fprintf(stderr, "bramble: verify: %s\n", strerror(-rc));
		return 1;
	}
	printf("checked %llu chunks (%llu bytes): %llu bad (removed), "
	       "%llu stray files removed\n", (unsigned long long)r.checked,
	       (unsigned long long)r.bytes, (unsigned long long)r.bad,
	       (unsigned long long)r.orphans);
	return r.bad ? 1 : 0;
}

static int cache_gc(struct bramble_cache *c)
{
	uint64_t n = 0, dead = 0;
	int rc = bramble_cache_gc(c, time(NULL), &n);

	if (rc == 0) {
		printf("removed %llu expired pin(s)\n", (unsigned long long)n);
		rc = stage_gc_dead_jobs(c, stdout, &dead);
	}
	if (rc < 0) {
		fprintf(stderr, "bramble: gc: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

/* ---- main: one table of subcommands; each returns the exit status */

/* The flags of ls and stats: --json, and -l for ls. */
static int flags(int argc, char **argv, bool allow_l, bool *json, bool *all)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, allow_l ? "+l" : "+", longopts, NULL)) != -1) {
		if (ch == 'j')
			*json = true;
		else if (ch == 'l')
			*all = true;
		else
			return -1;
	}
	return optind == argc ? 0 : -1;
}

static int sub_ls(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	bool json = false, all = false;

	if (flags(argc, argv, true, &json, &all) < 0)
		return 2;
	return cache_ls(c, dir, json, all) < 0 ? 1 : 0;
}

static int sub_stats(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	bool json = false, all = false;

	if (flags(argc, argv, false, &json, &all) < 0)
		return 2;
	cache_stats(c, dir, json);
	return 0;
}

static int sub_pin(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	return cache_pin(c, dir, argc, argv);
}

static int sub_unpin(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	(void)dir;
	return cache_unpin(c, argc, argv);
}

static int sub_evict(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	(void)dir;
	return cache_evict(c, argc, argv);
}

static int sub_verify(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	(void)dir;
	(void)argv;
	return argc == 1 ? cache_verify(c) : 2;
}

static int sub_gc(struct bramble_cache *c, const char *dir, int argc, char **argv)
{
	(void)dir;
	(void)argv;
	return argc == 1 ? cache_gc(c) : 2;
}

static const struct sub {
	const char *name;
	int (*fn)(struct bramble_cache *c, const char *dir, int argc, char **argv);
} subs[] = {
	{ "ls", sub_ls }, { "stats", sub_stats }, { "pin", sub_pin }, { "unpin", sub_unpin },
	{ "evict", sub_evict }, { "verify", sub_verify }, { "gc", sub_gc },
};

static int open_dir(const char *dir, struct bramble_cache **c)
{
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_DISK, .dir = dir };
	char err[512], *idx = xmalloc(strlen(dir) + sizeof("/index.db"));
	struct stat st;
	int rc;

	/* Looking must not create a cache where there was none. */
	sprintf(idx, "%s/index.db", dir);
	rc = stat(idx, &st) < 0 ? -errno : 0;
	free(idx);
	if (rc < 0) {
		fprintf(stderr, "bramble: no node cache in '%s': %s\n", dir, strerror(-rc));
		return rc;
	}
	rc = bramble_cache_open(&o, c, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "bramble: %s\n", err);
	return rc;
}

int cmd_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *dir = BRAMBLE_CACHE_DIR;
	bool dir_given = false;
	const struct sub *sub = NULL;
	struct bramble_cache *c = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (ch == 'd') {
			dir = optarg;
			dir_given = true;
		} else if (ch == 'h') {
			fputs(cache_usage, stdout);
			return 0;
		} else {
			goto bad;
		}
	}
	for (size_t i = 0; optind < argc && i < ARRAY_SIZE(subs); i++)
		if (!strcmp(argv[optind], subs[i].name))
			sub = &subs[i];
	if (!sub)
		goto bad;
	if (sub->fn == sub_pin && !dir_given) {
		/* paths go to their mounts' caches: no cache here is fine */
		struct stat st;
		char *idx = xmalloc(strlen(dir) + sizeof("/index.db"));

		sprintf(idx, "%s/index.db", dir);
		if (stat(idx, &st) == 0 && open_dir(dir, &c) < 0) {
			free(idx);
			return 1;
		}
		free(idx);
		rc = sub->fn(c, NULL, argc - optind, argv + optind);
	} else {
		if (open_dir(dir, &c) < 0)
			return 1;
		rc = sub->fn(c, dir, argc - optind, argv + optind);
	}
	bramble_cache_close(c);
	if (rc != 2)
		return rc;
bad:
	fputs(cache_usage, stderr);
	return 2;
}
