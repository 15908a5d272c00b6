/* cmd_stage.c - `bramble stage`: stage paths of bramblefs mounts into the
 * node cache, pinned for a job (stage.h does the work), and `--release`.
 *
 * This file turns the command line into a list of paths (arguments,
 * quoted globs, a manifest, a learned set of the mount), prints the
 * progress/summary/JSON and picks the exit status: 0 everything staged,
 * 1 something was not (each on stderr as "not staged: PATH: REASON"),
 * 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <pwd.h>
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
#include "target.h"
#include "util.h"
#include "xalloc.h"

static const char stage_usage[] =
	"usage: bramble stage [-q] [--json] [--job ID] [--expires SEC]\n"
	"                     [--manifest FILE] [--learned NAME [--record-dir DIR]]\n"
	"                     [--cache-dir DIR] [--threads N] PATH...\n"
	"       bramble stage --release ID [--cache-dir DIR] [PATH...]\n"
	"Fetch every chunk of the files under PATH (files, directories, quoted\n"
	"globs) that the node cache lacks, pin them for the job and keep the\n"
	"files' maps, so the mount then reads them with no data call.\n"
	"  --job ID         pin owner job:ID (default $SLURM_JOB_ID, else user:NAME)\n"
	"  --expires SEC    the pins expire after SEC seconds (default: never;\n"
	"                   --release or `bramble cache gc' drops them)\n"
	"  --manifest FILE  also the paths in FILE, one per line ('#' comments)\n"
	"  --learned NAME   the files of learned set NAME (bramblefs -o record=);\n"
	"                   PATHs then only name the mounts (default: the\n"
	"                   current directory's, else every mount that has it)\n"
	"  --record-dir DIR where learned sets are (default: the mount's record=)\n"
	"  --cache-dir DIR  the node cache (default: the mount's cache_dir=)\n"
	"  --threads N      files fetched at once (default 8)\n"
	"  -q               no progress line, no summary\n"
	"  --json           the summary as one JSON object on stdout\n"
	"  --release ID     unpin every chunk of job:ID (they stay cached)\n"
	"Exit status: 0 everything staged, 1 something not (listed on stderr),\n"
	"2 usage error.\n";

/* A growing list of strings, and the failures found before staging. */
struct list {
	char **v;
	size_t n;
};

static void list_add(struct list *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

struct args {
	bool quiet, json;
	const char *job, *manifest, *learned, *record_dir, *cache_dir, *release;
	int64_t expires;
	unsigned threads;
	struct list paths, pre_path, pre_why;   /* pre_*: failures before staging */
};

static void pre_fail(struct args *a, const char *path, const char *why)
{
	list_add(&a->pre_path, path);
	list_add(&a->pre_why, why);
}

/* A path, or a glob the shell left quoted. */
static void add_arg(struct args *a, const char *p)
{
	struct stat st;
	glob_t g;

	if (!strpbrk(p, "*?[") || lstat(p, &st) == 0) {
		list_add(&a->paths, p);
		return;
	}
	if (glob(p, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		pre_fail(a, p, "no file matches");
	} else {
		for (size_t i = 0; i < g.gl_pathc; i++)
			list_add(&a->paths, g.gl_pathv[i]);
	}
	globfree(&g);
}

static int read_manifest(struct args *a, const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "bramble stage: cannot read %s: %s\n", file, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *p = line;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
				 line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		p += strspn(p, " \t");
		if (*p && *p != '#')
			add_arg(a, p);
	}
	free(line);
	fclose(f);
	return 0;
}

/* Every bramblefs mount point of this machine (/proc/self/mounts). */
static void bramblefs_mounts(struct list *out)
{
	FILE *m = fopen("/proc/self/mounts", "r");
	char line[4096], dev[1024], mnt[2048], type[256];

	if (!m)
		return;
	while (fgets(line, sizeof(line), m))
		if (sscanf(line, "%1023s %2047s %255s", dev, mnt, type) == 3 &&
		    !strcmp(type, "fuse.bramblefs"))
			list_add(out, mnt);
	fclose(m);
}

/* ---- learned sets (the format: stage.h's contract, README) */

/* Undo the set's escapes ("\\\\" and "\\n") in place; -1 if malformed. */
static int unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p == '\\')
			*o++ = '\\';
		else if (*p == 'n')
			*o++ = '\n';
		else
			return -1;
	}
	*o = '\0';
	return 0;
}

static void learned_from(struct args *a, const char *mount_path)
{
	char *dir = NULL, *file = NULL, *line = NULL, why[512];
	struct target t;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	bool head = false;

	if (target_mount(mount_path, &t) < 0) {
		pre_fail(a, mount_path, "not in a bramble mount");
		return;
	}
	if (a->record_dir) {
		dir = xstrdup(a->record_dir);
	} else if (target_ctl_get(&t, "record")) {
		const char *v = target_ctl_get(&t, "record");

		dir = xstrndup(v, strcspn(v, "\n"));
	}
	if (!dir || !*dir) {
		snprintf(why, sizeof(why), "learned set '%s': the mount %s records no sets "
			 "(bramblefs -o record=DIR) and no --record-dir was given",
			 a->learned, t.mount);
		pre_fail(a, mount_path, why);
		goto out;
	}
	file = xmalloc(strlen(dir) + strlen(a->learned) + 8);
	sprintf(file, "%s/%s.set", dir, a->learned);
	f = fopen(file, "r");
	if (!f) {
		snprintf(why, sizeof(why), "learned set '%s': %s: %s", a->learned, file,
			 strerror(errno));
		pre_fail(a, mount_path, why);
		goto out;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *full;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!head) {
			if (strcmp(line, "# bramble learned set v1")) {
				snprintf(why, sizeof(why), "%s is not a learned set "
					 "(no '# bramble learned set v1' line)", file);
				pre_fail(a, mount_path, why);
				head = true;   /* said */
				break;
			}
			head = true;
			continue;
		}
		/* "# truncated" and other comments; "./#x" is how a name
		 * starting with '#' is written */
		if (!*line || *line == '#' || unescape(line) < 0)
			continue;
		full = xmalloc(strlen(t.mount) + strlen(line) + 2);
		sprintf(full, "%s/%s", t.mount, line + (*line == '/'));
		list_add(&a->paths, full);
		free(full);
	}
	/* a set of only the header is an empty set; no header is no set */
	if (!head) {
		snprintf(why, sizeof(why), "learned set %s: empty file", file);
		pre_fail(a, mount_path, why);
	}
out:
	if (f)
		fclose(f);
	free(line);
	free(file);
	free(dir);
	target_release(&t);
}

/* --learned without a PATH: the current directory's mount, else every
 * bramblefs mount whose record directory holds the set. */
static void learned_anywhere(struct args *a)
{
	struct list mounts = { 0 };
	struct target t;
	size_t found = 0;

	if (target_mount(".", &t) == 0) {
		target_release(&t);
		learned_from(a, ".");
		return;
	}
	bramblefs_mounts(&mounts);
	for (size_t i = 0; i < mounts.n; i++) {
		const char *v;
		char *file;

		if (target_mount(mounts.v[i], &t) < 0)
			continue;
		v = a->record_dir ? a->record_dir : target_ctl_get(&t, "record");
		if (v) {
			size_t n = a->record_dir ? strlen(v) : strcspn(v, "\n");

			file = xmalloc(n + strlen(a->learned) + 8);
			sprintf(file, "%.*s/%s.set", (int)n, v, a->learned);
			if (access(file, F_OK) == 0) {
				learned_from(a, mounts.v[i]);
				found++;
			}
			free(file);
		}
		target_release(&t);
	}
	if (!found) {
		char why[512];

		snprintf(why, sizeof(why), "no bramblefs mount records a set named '%s' "
			 "(give a PATH in the mount, or --record-dir)", a->learned);
		pre_fail(a, a->learned, why);
	}
	list_free(&mounts);
}

/* ---- output */

static void print_failures(const struct args *a, const struct stage_result *r)
{
	for (size_t i = 0; i < a->pre_path.n; i++)
		fprintf(stderr, "bramble stage: not staged: %s: %s\n", a->pre_path.v[i],
			a->pre_why.v[i]);
	for (size_t i = 0; i < r->nfailed; i++)
		fprintf(stderr, "bramble stage: not staged: %s: %s\n", r->failed[i].path,
			r->failed[i].reason);
}

#define U(x) ((unsigned long long)(x))

static void print_json(const struct args *a, const char *owner,
		       const struct stage_result *r, bool ok)
{
	size_t k = 0;

	fputs("{\"owner\": ", stdout);
	json_str(owner);
	printf(", \"ok\": %s, \"files\": %llu, \"bytes\": %llu, \"chunks\": %llu,\n"
	       " \"fetched_chunks\": %llu, \"fetched_bytes\": %llu,"
	       " \"cached_chunks\": %llu, \"cached_bytes\": %llu,\n"
	       " \"dedup_chunks\": %llu, \"dedup_bytes\": %llu, \"maps\": %llu,"
	       " \"quota\": %llu, \"pinned\": %llu, \"seconds\": %.3f,\n \"not_staged\": [",
	       ok ? "true" : "false", U(r->files), U(r->bytes), U(r->chunks), U(r->fetched),
	       U(r->bytes_fetched), U(r->cached), U(r->bytes_cached), U(r->dedup),
	       U(r->bytes_dedup), U(r->maps), U(r->quota), U(r->pinned), r->seconds);
	for (size_t i = 0; i < a->pre_path.n; i++, k++) {
		printf("%s{\"path\": ", k ? ", " : "");
		json_str(a->pre_path.v[i]);
		fputs(", \"reason\": ", stdout);
		json_str(a->pre_why.v[i]);
		putchar('}');
	}
	for (size_t i = 0; i < r->nfailed; i++, k++) {
		printf("%s{\"path\": ", k ? ", " : "");
		json_str(r->failed[i].path);
		fputs(", \"reason\": ", stdout);
		json_str(r->failed[i].reason);
		putchar('}');
	}
	puts("]}");
}

static void print_summary(const char *owner, const struct stage_result *r)
{
	char b[32], f[32], c[32], d[32], rate[32];

	stage_human(r->bytes, b, sizeof(b));
	stage_human(r->bytes_fetched, f, sizeof(f));
	stage_human(r->bytes_cached, c, sizeof(c));
	stage_human(r->bytes_dedup, d, sizeof(d));
	stage_human(r->seconds > 0 ? (uint64_t)((double)r->bytes_fetched / r->seconds) : 0,
		    rate, sizeof(rate));
	printf("staged %llu files (%s) for %s in %.2f s: fetched %s (%llu chunks, %s/s), "
	       "already cached %s (%llu), deduplicated %s (%llu)\n", U(r->files), b, owner,
	       r->seconds, f, U(r->fetched), rate, c, U(r->cached), d, U(r->dedup));
}

/* ---- --release */

/* The cache directories to release in: --cache-dir, else those of the
 * PATHs' mounts, else of every bramblefs mount, else the default. */
static void release_dirs(const struct args *a, struct list *dirs)
{
	struct list mounts = { 0 };

	if (a->cache_dir) {
		list_add(dirs, a->cache_dir);
		return;
	}
	for (size_t i = 0; i < a->paths.n; i++)
		list_add(&mounts, a->paths.v[i]);
	if (!mounts.n)
		bramblefs_mounts(&mounts);
	for (size_t i = 0; i < mounts.n; i++) {
		struct target t;
		const char *v;
		char *dir;
		bool seen = false;

		if (target_mount(mounts.v[i], &t) < 0)
			continue;
		v = target_ctl_get(&t, "cache_dir");
		dir = v ? xstrndup(v, strcspn(v, "\n")) : xstrdup(BRAMBLE_CACHE_DIR);
		for (size_t k = 0; k < dirs->n; k++)
			seen |= !strcmp(dirs->v[k], dir);
		if (!seen)
			list_add(dirs, dir);
		free(dir);
		target_release(&t);
	}
	if (!dirs->n)
		list_add(dirs, BRAMBLE_CACHE_DIR);
	list_free(&mounts);
}

static int do_release(const struct args *a)
{
	struct list dirs = { 0 };
	char owner[BRAMBLE_CACHE_OWNER_MAX + 1], err[512];
	uint64_t total = 0;
	int status = 0;

	snprintf(owner, sizeof(owner), "job:%s", a->release);
	release_dirs(a, &dirs);
	for (size_t i = 0; i < dirs.n; i++) {
		struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_DISK, .dir = dirs.v[i] };
		struct bramble_cache *c;
		char idx[4200];
		uint64_t n = 0;
		int rc;

		/* releasing must not create a cache where there was none */
		snprintf(idx, sizeof(idx), "%s/index.db", dirs.v[i]);
		if (access(idx, F_OK) < 0)
			continue;
		rc = bramble_cache_open(&o, &c, err, sizeof(err));
		if (rc == 0) {
			rc = bramble_cache_unpin(c, owner, NULL, &n);
			bramble_cache_close(c);
			if (rc < 0)
				snprintf(err, sizeof(err), "%s: %s", dirs.v[i], strerror(-rc));
		}
		if (rc < 0) {
			fprintf(stderr, "bramble stage: cannot release %s: %s\n", owner, err);
			status = 1;
		}
		total += n;
	}
	if (a->json) {
		fputs("{\"owner\": ", stdout);
		json_str(owner);
		printf(", \"released\": %llu, \"ok\": %s}\n", U(total), status ? "false" : "true");
	} else if (!a->quiet) {
		printf("released %llu pin(s) of %s\n", U(total), owner);
	}
	list_free(&dirs);
	return status;
}

/* ---- main */

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' }, { "job", required_argument, NULL, 'j' },
		{ "expires", required_argument, NULL, 'e' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "learned", required_argument, NULL, 'l' },
		{ "record-dir", required_argument, NULL, 'R' },
		{ "cache-dir", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "release", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	unsigned long long v;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q': a->quiet = true; break;
		case 'J': a->json = true; break;
		case 'j': a->job = optarg; break;
		case 'm': a->manifest = optarg; break;
		case 'l': a->learned = optarg; break;
		case 'R': a->record_dir = optarg; break;
		case 'c': a->cache_dir = optarg; break;
		case 'r': a->release = optarg; break;
		case 'e':
			if (parse_uint(optarg, 1, 100ull * 365 * 86400, &v) < 0)
				return 2;
			a->expires = (int64_t)time(NULL) + (int64_t)v;
			break;
		case 't':
			if (parse_uint(optarg, 1, 64, &v) < 0)
				return 2;
			a->threads = (unsigned)v;
			break;
		case 'h':
			fputs(stage_usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if ((a->job && !*a->job) || (a->release && !*a->release) ||
	    (!a->release && !a->manifest && !a->learned && optind == argc))
		return 2;
	return -1;
}

static void owner_of(const struct args *a, char *out, size_t len)
{
	const char *job = a->job ? a->job : getenv("SLURM_JOB_ID");
	struct passwd *pw;

	if (job && *job) {
		snprintf(out, len, "job:%s", job);
		return;
	}
	pw = getpwuid(getuid());
	if (pw)
		snprintf(out, len, "user:%s", pw->pw_name);
	else
		snprintf(out, len, "user:%u", (unsigned)getuid());
}

static int stage_main(struct args *a, int argc, char **argv)
{
	struct stage_result r;
	char owner[BRAMBLE_CACHE_OWNER_MAX + 1];
	struct stage_opts o = { .owner = owner, .expires = a->expires,
				.cache_dir = a->cache_dir, .threads = a->threads };
	int status;

	owner_of(a, owner, sizeof(owner));
	if (a->learned) {
		if (optind == argc)
			learned_anywhere(a);
		for (int i = optind; i < argc; i++)
			learned_from(a, argv[i]);
	} else {
		for (int i = optind; i < argc; i++)
			add_arg(a, argv[i]);
	}
	if (a->manifest && read_manifest(a, a->manifest) < 0)
		return 1;
	o.progress = !a->quiet && !a->json && isatty(STDERR_FILENO);
	status = stage_run(&o, a->paths.v, a->paths.n, &r);
	if (a->pre_path.n)
		status = 1;
	print_failures(a, &r);
	if (a->json)
		print_json(a, owner, &r, status == 0);
	else if (!a->quiet)
		print_summary(owner, &r);
	stage_result_free(&r);
	return status;
}

int cmd_stage(int argc, char **argv)
{
	struct args a = { 0 };
	int rc = parse(argc, argv, &a);

	if (rc >= 0) {
		if (rc == 2)
			fputs(stage_usage, stderr);
		return rc;
	}
	if (a.release) {
		for (int i = optind; i < argc; i++)
			list_add(&a.paths, argv[i]);
		rc = do_release(&a);
	} else {
		rc = stage_main(&a, argc, argv);
	}
	list_free(&a.paths);
	list_free(&a.pre_path);
	list_free(&a.pre_why);
	return rc;
}
