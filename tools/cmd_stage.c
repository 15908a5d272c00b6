/* cmd_stage.c - `bramble stage`: stage paths of bramblefs mounts into the
 * node cache, pinned for a job (stage.h does the work), and `--release`.
 *
 * This file parses the options, turns them into a list of paths (through
 * stage_args.c: arguments, quoted globs, a manifest, a learned set of the
 * mount), prints the progress/summary/JSON and picks the exit status:
 * 0 everything staged, 1 something was not (each on stderr as "not
 * staged: PATH: REASON"), 2 usage.
 *
 * Who stages what: every server call is made as the user staged for --
 * --user USER, else (root, in a Prolog) $SLURM_JOB_UID/$SLURM_JOB_GID,
 * else the real uid, gid and groups -- and globs are expanded as that
 * user too (a child process with the user's ids).  An ordinary user
 * (not root) does not write the node cache: the mount's bramblefs stages
 * for them (stage_req.c), under its per-user limit, owner user:NAME[:ID]. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bramble.h"
#include "bramble_cache.h"
#include "buf.h"
#include "cmds.h"
#include "json.h"
#include "stage.h"
#include "stage_args.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

static const char stage_usage[] =
	"usage: bramble stage [-q] [--json] [--job ID] [--expires SEC]\n"
	"                     [--manifest FILE] [--learned NAME [--record-dir DIR]]\n"
	"                     [--cache-dir DIR] [--threads N] PATH...\n"
	"       bramble stage --release ID|OWNER [--cache-dir DIR] [PATH...]\n"
	"Fetch every chunk of the files under PATH (files, directories, quoted\n"
	"globs) that the node cache lacks, pin them for the job and keep the\n"
	"files' maps, so the mount then reads them with no data call.\n"
	"  --job ID         pin owner job:ID (default $SLURM_JOB_ID, else user:NAME);\n"
	"                   an ordinary user's pins are user:NAME:ID (user:NAME)\n"
	"  --user USER      (root) stage for USER: every server call with USER's\n"
	"                   uid, gid and groups (default in a Prolog: $SLURM_JOB_UID)\n"
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
	"  --release ID     unpin every chunk of job:ID (they stay cached); an\n"
	"                   ordinary user releases only their own: user:NAME:ID,\n"
	"                   or OWNER given whole (user:NAME)\n"
	"  (root only, for bramblefs: --owner OWNER, --user-max SIZE|N%, --paths0)\n"
	"Ordinary users stage through the mount's bramblefs, which owns the node\n"
	"cache: only what they may read, within its stage_user_max.\n"
	"Exit status: 0 everything staged, 1 something not (listed on stderr),\n"
	"2 usage error.\n";

/* ---- output */

static void print_failures(const struct stage_args *a, const struct stage_result *r)
{
	for (size_t i = 0; i < a->pre_path.n; i++)
		fprintf(stderr, "bramble stage: not staged: %s: %s\n", a->pre_path.v[i],
			a->pre_why.v[i]);
	for (size_t i = 0; i < r->nfailed; i++)
		fprintf(stderr, "bramble stage: not staged: %s: %s\n", r->failed[i].path,
			r->failed[i].reason);
}

#define U(x) ((unsigned long long)(x))

static void print_json(const struct stage_args *a, const char *owner,
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
static void release_dirs(const struct stage_args *a, struct strlist *dirs)
{
	struct strlist mounts = { 0 };

	if (a->cache_dir) {
		strlist_add(dirs, a->cache_dir);
		return;
	}
	for (size_t i = 0; i < a->paths.n; i++)
		strlist_add(&mounts, a->paths.v[i]);
	if (!mounts.n)
		stage_args_all_mounts(&mounts);
	for (size_t i = 0; i < mounts.n; i++) {
		struct target t;
		char *dir;
		bool seen = false;

		if (target_mount(mounts.v[i], &t) < 0)
			continue;
		dir = bramble_ctl_value(t.ctl, BRAMBLE_CTL_KEY_CACHE_DIR);
		if (!dir)
			dir = xstrdup(BRAMBLE_CACHE_DIR);
		for (size_t k = 0; k < dirs->n; k++)
			seen |= !strcmp(dirs->v[k], dir);
		if (!seen)
			strlist_add(dirs, dir);
		free(dir);
		target_release(&t);
	}
	if (!dirs->n)
		strlist_add(dirs, BRAMBLE_CACHE_DIR);
	strlist_free(&mounts);
}

static int do_release(const struct stage_args *a)
{
	struct strlist dirs = { 0 };
	char owner[BRAMBLE_CACHE_OWNER_MAX + 1], err[512];
	uint64_t total = 0;
	int status = 0;

	/* "4711" is job:4711; an owner may be named whole ("user:ann:7") */
	snprintf(owner, sizeof(owner), strchr(a->release, ':') ? "%s" : "job:%s", a->release);
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
	strlist_free(&dirs);
	return status;
}

/* ---- main */

static int parse(int argc, char **argv, struct stage_args *a)
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
		{ "user", required_argument, NULL, 'u' },
		{ "owner", required_argument, NULL, 'o' },
		{ "user-max", required_argument, NULL, 'M' },
		{ "paths0", no_argument, NULL, '0' },
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
		case 'u': a->user = optarg; break;
		case 'o': a->owner = optarg; break;
		case 'M': a->user_max = optarg; break;
		case '0': a->paths0 = true; break;
		case 'e':
			if (parse_uint(optarg, 1, 100ull * 365 * 86400, &v) < 0)
				return 2;
			a->expires = (int64_t)time(NULL) + (int64_t)v;
			a->expires_rel = v;
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
	    (a->owner && (!*a->owner || strlen(a->owner) > BRAMBLE_CACHE_OWNER_MAX)) ||
	    (!a->release && !a->manifest && !a->learned && !a->paths0 && optind == argc))
		return 2;
	if ((a->user || a->owner || a->user_max || a->paths0) && geteuid() != 0) {
		fputs("bramble stage: --user, --owner, --user-max and --paths0 are root's "
		      "(an ordinary user stages as themselves)\n", stderr);
		return 2;
	}
	return -1;
}

/* Who the staging is for: --user, else (root) the Slurm job's user, else
 * the real ids.  -1 (said) when USER does not exist. */
static int setup_cred(struct stage_args *a)
{
	const char *spec = a->user, *gspec = NULL;
	unsigned long long v;
	struct passwd *pw = NULL;
	gid_t groups[64];
	int n = (int)ARRAY_SIZE(groups);

	if (!spec && getuid() == 0 && geteuid() == 0) {
		spec = getenv("SLURM_JOB_UID");
		gspec = getenv("SLURM_JOB_GID");
		if (spec && !*spec)
			spec = NULL;
	}
	memset(&a->cred, 0, sizeof(a->cred));
	if (!spec) {
		gid_t g[BRAMBLE_NGROUPS];
		int k = getgroups(BRAMBLE_NGROUPS, g);

		a->cred.uid = (uint32_t)getuid();
		a->cred.gid = (uint32_t)getgid();
		for (int i = 0; i < k; i++)
			a->cred.groups[a->cred.ngroups++] = (uint32_t)g[i];
		pw = getpwuid(getuid());
	} else {
		bool num = parse_uint(spec, 0, UINT32_MAX - 1, &v) == 0;

		pw = num ? getpwuid((uid_t)v) : getpwnam(spec);
		if (!pw && !num) {
			fprintf(stderr, "bramble stage: no user '%s'\n", spec);
			return -1;
		}
		a->cred.uid = pw ? (uint32_t)pw->pw_uid : (uint32_t)v;
		a->cred.gid = pw ? (uint32_t)pw->pw_gid : a->cred.uid;
		if (gspec && *gspec) {
			if (parse_uint(gspec, 0, UINT32_MAX - 1, &v) < 0) {
				fprintf(stderr, "bramble stage: SLURM_JOB_GID=%s: not a gid\n", gspec);
				return -1;
			}
			a->cred.gid = (uint32_t)v;
		}
		/* the groups a login of the user would have (initgroups) */
		if (pw && getgrouplist(pw->pw_name, a->cred.gid, groups, &n) < 0)
			n = (int)ARRAY_SIZE(groups);
		for (int i = 0; pw && i < n && a->cred.ngroups < BRAMBLE_NGROUPS; i++)
			a->cred.groups[a->cred.ngroups++] = (uint32_t)groups[i];
		if (!pw)
			a->cred.groups[a->cred.ngroups++] = a->cred.gid;
	}
	if (pw)
		snprintf(a->name, sizeof(a->name), "%s", pw->pw_name);
	else
		snprintf(a->name, sizeof(a->name), "%u", (unsigned)a->cred.uid);
	a->for_user = a->cred.uid != (uint32_t)geteuid();
	return 0;
}

static const char *job_of(const struct stage_args *a)
{
	const char *job = a->job ? a->job : getenv("SLURM_JOB_ID");

	return job && *job ? job : NULL;
}

static void owner_of(const struct stage_args *a, char *out, size_t len)
{
	if (a->owner)
		snprintf(out, len, "%s", a->owner);
	else if (job_of(a))
		snprintf(out, len, "job:%s", job_of(a));
	else
		snprintf(out, len, "user:%s", a->name);
}

/* --user-max SIZE or N%: into o. */
static int parse_user_max(const char *text, struct stage_opts *o)
{
	unsigned long long pct;
	size_t n = strlen(text);

	if (n > 1 && text[n - 1] == '%') {
		char *num = xstrndup(text, n - 1);
		int rc = parse_uint(num, 0, 100, &pct);

		free(num);
		o->limit_pct = (unsigned)pct;
		return rc;
	}
	return parse_size(text, &o->limit_bytes);
}

/* An ordinary user's staging or release, by the mount's bramblefs
 * (stage_req.c): it decides the owner (user:NAME[:ID]), the limit and
 * the credentials; this process only says what and waits. */
static int via_bramblefs(struct stage_args *a, const char *sock)
{
	struct buf req = BUF_INIT;
	char num[32], cwd[4096];
	int status;

	stage_req_add(&req, "op", a->release ? "release" : "stage");
	if (a->release)
		stage_req_add(&req, strchr(a->release, ':') ? "owner" : "id", a->release);
	else if (job_of(a))
		stage_req_add(&req, "id", job_of(a));
	if (a->json)
		stage_req_add(&req, "json", NULL);
	if (a->quiet)
		stage_req_add(&req, "quiet", NULL);
	if (a->threads) {
		snprintf(num, sizeof(num), "%u", a->threads);
		stage_req_add(&req, "threads", num);
	}
	if (a->expires_rel) {
		snprintf(num, sizeof(num), "%llu", a->expires_rel);
		stage_req_add(&req, "expires", num);
	}
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	for (size_t i = 0; !a->release && i < a->paths.n; i++) {
		struct buf p = BUF_INIT;

		if (a->paths.v[i][0] != '/')
			buf_addf(&p, "%s/", cwd);
		buf_adds(&p, a->paths.v[i]);
		stage_req_add(&req, "path", p.data);
		buf_release(&p);
	}
	status = stage_req_run(sock, &req);
	buf_release(&req);
	return status;
}

static int stage_main(struct stage_args *a, int argc, char **argv)
{
	struct stage_result r;
	char owner[BRAMBLE_CACHE_OWNER_MAX + 1], limit_prefix[300];
	struct stage_opts o = { .owner = owner, .expires = a->expires,
				.cache_dir = a->cache_dir, .threads = a->threads };
	char *sock = NULL;
	int status;

	if (setup_cred(a) < 0)
		return 1;
	owner_of(a, owner, sizeof(owner));
	o.cred = &a->cred;
	if (a->user_max) {
		if (parse_user_max(a->user_max, &o) < 0) {
			fprintf(stderr, "bramble stage: --user-max %s: not a size or N%%\n",
				a->user_max);
			return 2;
		}
		/* the user's limit, over all their owners user:NAME[:ID] */
		snprintf(limit_prefix, sizeof(limit_prefix), "user:%s", a->name);
		o.limit_prefix = limit_prefix;
	}
	if (a->paths0 && stage_args_paths0(a) < 0)
		return 1;
	if (a->learned) {
		if (optind == argc)
			stage_args_learned_anywhere(a);
		for (int i = optind; i < argc; i++)
			stage_args_learned(a, argv[i]);
	} else {
		for (int i = optind; i < argc; i++)
			stage_args_add(a, argv[i]);
	}
	if (a->manifest && stage_args_manifest(a, a->manifest) < 0)
		return 1;
	/* not root: the node cache is bramblefs's to write */
	if (geteuid() != 0 && !a->cache_dir &&
	    (sock = stage_req_socket(a->paths.v, a->paths.n))) {
		struct stage_result none = { 0 };

		print_failures(a, &none);
		status = a->paths.n ? via_bramblefs(a, sock) : 0;
		free(sock);
		return a->pre_path.n && status == 0 ? 1 : status;
	}
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
	struct stage_args a = { 0 };
	int rc = parse(argc, argv, &a);

	if (rc >= 0) {
		if (rc == 2)
			fputs(stage_usage, stderr);
		return rc;
	}
	if (a.release) {
		char *sock = NULL;

		for (int i = optind; i < argc; i++)
			strlist_add(&a.paths, argv[i]);
		if (geteuid() != 0 && !a.cache_dir)
			sock = stage_req_socket(a.paths.v, a.paths.n);
		rc = sock ? via_bramblefs(&a, sock) : do_release(&a);
		free(sock);
	} else {
		rc = stage_main(&a, argc, argv);
	}
	strlist_free(&a.paths);
	strlist_free(&a.pre_path);
	strlist_free(&a.pre_why);
	return rc;
}
