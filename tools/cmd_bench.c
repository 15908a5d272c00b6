/* cmd_bench.c - `bramble bench [MOUNT|HOST[:PORT]]': measure each layer
 * between an application and the server's disk, then name the one that
 * limits the mount (bench.h: what is measured; bench_report.c: the
 * verdict).  Every measurement is bounded in time (--seconds), so the
 * whole run stays under a minute by default. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "bramble_cache.h"
#include "buf.h"
#include "cmds.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

static const char bench_usage[] =
	"usage: bramble bench [OPTIONS] [MOUNT|HOST[:PORT]]\n"
	"Measure each layer -- round trip, network, the server's disk, this\n"
	"node's cache disk, I/O and metadata through the mount -- and name the\n"
	"bottleneck.  MOUNT defaults to the current directory; the scratch\n"
	"files go in it (it may be any directory of the mount you can write).\n"
	"  --json            one JSON object (keys in bramble(1))\n"
	"  --svg FILE        also draw the layers as a bar chart (SVG)\n"
	"  --quick           small and short: about 10 s\n"
	"  --seconds N       longest any one measurement runs (default 3; quick 1)\n"
	"  --size SIZE       largest scratch file (default 1G; quick 64M)\n"
	"  --files N         files for the metadata test (default 1000; quick 200)\n"
	"  --threads N       network calls in flight (default 8)\n"
	"  --cache-dir DIR   the node cache directory to measure (default: the\n"
	"                    mount's cache_dir, else " BRAMBLE_CACHE_DIR ")\n"
	"The server's disk is measured only for root (brambled --bench-disk).\n";

static void on_sigint(int sig)
{
	(void)sig;
	bench_stop = 1;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Which cache directory to measure, or why none. */
static void pick_cache_dir(struct bench *bn, const struct target *t)
{
	char *dir = bn->cache_dir_opt ? xstrdup(bn->cache_dir_opt) :
		    bramble_ctl_value(t->ctl, BRAMBLE_CTL_KEY_CACHE_DIR);
	int mode;

	bn->cache_mode = bramble_ctl_value(t->ctl, BRAMBLE_CTL_KEY_CACHE);
	mode = bn->cache_mode ? bramble_cache_mode_parse(bn->cache_mode) : -1;
	if (!bn->cache_dir_opt && (mode == BRAMBLE_CACHE_RAM || mode == BRAMBLE_CACHE_OFF)) {
		free(dir);
		bench_skip(bn, BL_CDISK_WRITE, "the mount keeps no cache on disk (cache=%s)",
			   bn->cache_mode);
		bench_skip(bn, BL_CDISK_READ, "%s", bn->f[BL_CDISK_WRITE].why);
		return;
	}
	if (!dir)
		dir = xstrdup(BRAMBLE_CACHE_DIR);
	if (!is_dir(dir)) {
		bench_skip(bn, BL_CDISK_WRITE, "no cache directory %s (give --cache-dir DIR)", dir);
		bench_skip(bn, BL_CDISK_READ, "%s", bn->f[BL_CDISK_WRITE].why);
		free(dir);
		return;
	}
	bn->cache_dir = dir;
}

/* Our own directory in the mount for the I/O and metadata tests: in the
 * directory given when it is one inside the mount (a user's own, on a
 * root-squashed export), else at the mount's root. */
static void make_scratch(struct bench *bn, const struct target *t, const char *spec)
{
	char *where = is_dir(spec) ? realpath(spec, NULL) : NULL;
	char *ro = bramble_ctl_value(t->ctl, BRAMBLE_CTL_KEY_READ_ONLY);
	struct buf p = BUF_INIT;

	if (ro && !strcmp(ro, "1")) {
		bench_skip(bn, BL_SEQ_WRITE, "a read-only mount");
	} else {
		buf_addf(&p, "%s/.bramble-bench.%ld.%lld", where ? where : bn->mount,
			 (long)getpid(),
			 (long long)(now_ns() % 1000000));
		if (mkdir(p.data, 0700) == 0)
			bn->scratch = buf_detach(&p, NULL);
		else
			bench_fail(bn, BL_SEQ_WRITE, "cannot make %s: %s%s", p.data,
				   strerror(errno), errno == EACCES || errno == EPERM ?
				   " (give a directory of the mount you may write)" : "");
	}
	buf_release(&p);
	free(ro);
	free(where);
}

/* The scratch directory, once its files are gone.  A file just closed
 * may still be open in bramblefs (the kernel sends RELEASE after close
 * returns), so its unlink left a silly-renamed name behind for a moment:
 * wait for it rather than report a leftover.  0 or -errno. */
static int remove_scratch(const char *dir)
{
	int rc = 0;

	for (int i = 0; i < 40; i++) {
		rc = rmdir(dir) < 0 ? -errno : 0;
		if (rc != -ENOTEMPTY)
			break;
		usleep(50 * 1000);
	}
	return rc;
}

static void progress(const struct bench *bn, const char *what)
{
	if (!bn->json && isatty(STDERR_FILENO))
		fprintf(stderr, "measuring %s...\n", what);
}

static void run_all(struct bench *bn)
{
	int64_t t0 = now_ns();

	progress(bn, "the round trip");
	bench_rtt(bn);
	progress(bn, "the network");
	bench_net(bn);
	progress(bn, "the server's disk");
	bench_server_disk(bn);
	if (bn->cache_dir) {
		progress(bn, "the cache disk");
		bench_cache_disk(bn);
	}
	progress(bn, "I/O through the mount");
	bench_mount_io(bn);
	progress(bn, "metadata through the mount");
	bench_meta(bn);
	bn->elapsed = (double)(now_ns() - t0) / 1e9;
}

static int parse_opts(struct bench *bn, int argc, char **argv, const char **spec)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, { "svg", required_argument, NULL, 'S' },
		{ "quick", no_argument, NULL, 'q' }, { "seconds", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' }, { "files", required_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 'T' },
		{ "cache-dir", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long long secs = 0, files = 0, threads = 8;
	uint64_t size = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'j')
			bn->json = true;
		else if (c == 'S')
			bn->svg = optarg;
		else if (c == 'q')
			bn->quick = true;
		else if (c == 's' && parse_uint(optarg, 1, 60, &secs) == 0)
			;
		else if (c == 'z' && parse_size(optarg, &size) == 0 && size >= (1 << 20))
			;
		else if (c == 'f' && parse_uint(optarg, 1, 100000, &files) == 0)
			;
		else if (c == 'T' && parse_uint(optarg, 1, 64, &threads) == 0)
			;
		else if (c == 'c')
			bn->cache_dir_opt = optarg;
		else if (c == 'h')
			return 1;
		else
			return -EINVAL;
	}
	if (optind < argc - 1)
		return -EINVAL;
	*spec = optind < argc ? argv[optind] : ".";
	bn->seconds = secs ? (unsigned int)secs : bn->quick ? 1 : 3;
	bn->size_max = size ? size : bn->quick ? 64ULL << 20 : 1ULL << 30;
	bn->size_max -= bn->size_max % (1 << 20);
	bn->meta_files = files ? (unsigned int)files : bn->quick ? 200 : 1000;
	bn->threads = (unsigned int)threads;
	return 0;
}

static void bench_release(struct bench *bn)
{
	free(bn->server);
	free(bn->subdir);
	free(bn->cache_dir);
	free(bn->cache_mode);
	free(bn->scratch);
}

int cmd_bench(int argc, char **argv)
{
	struct bench bn = { 0 };
	struct target t;
	const char *spec = NULL;
	int rc = parse_opts(&bn, argc, argv, &spec);

	if (rc != 0) {
		fputs(bench_usage, rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : 2;
	}
	/* BENCH_DISK takes up to two phases of --seconds on the server. */
	if (target_open(spec, (2 * bn.seconds + 30) * 1000, &t, &bn.b) < 0)
		return 1;
	bn.cr.uid = geteuid();
	bn.cr.gid = getegid();
	if (getrandom(&bn.seed, sizeof(bn.seed), 0) != sizeof(bn.seed))
		bn.seed = (uint64_t)now_ns() ^ (uint64_t)getpid() << 32;
	bn.server = xstrdup(bramble_server_addr(bn.b));
	bn.mount = t.mount;
	bn.subdir = bramble_ctl_value(t.ctl, BRAMBLE_CTL_KEY_SUBDIR);
	if (bn.subdir)          /* as bramblefs passes it to MOUNT */
		memmove(bn.subdir, bn.subdir + strspn(bn.subdir, "/"),
			strlen(bn.subdir + strspn(bn.subdir, "/")) + 1);
	pick_cache_dir(&bn, &t);
	if (bn.mount)
		make_scratch(&bn, &t, spec);
	signal(SIGINT, on_sigint);
	run_all(&bn);
	if (bn.scratch && (rc = remove_scratch(bn.scratch)) < 0)
		fprintf(stderr, "bramble bench: cannot remove %s: %s\n", bn.scratch,
			strerror(-rc));
	signal(SIGINT, SIG_DFL);
	bench_verdict(&bn);
	if (bn.json)
		bench_print_json(&bn);
	else
		bench_print_text(&bn);
	rc = bn.svg && bench_write_svg(&bn, bn.svg) < 0 ? 1 : 0;
	/* A layer that should have been measured and was not fails the run:
	 * a report of nothing must not pass for a measurement. */
	if (bench_print_failures(&bn) > 0)
		rc = 1;
	bramble_free(bn.b);
	bench_release(&bn);
	target_release(&t);
	return bench_stop ? 130 : rc;
}
