/* cmd_envcp.c - `bramble envcp`: copy a relocatable environment, rewriting
 * its prefix; `--check` verifies one.  Options and output only: the work is
 * in envcp.c (copy) and envcp_check.c. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cmds.h"
#include "envcp.h"
#include "envcp_rw.h"
#include "target.h"
#include "util.h"

static const char envcp_usage[] =
	"usage: bramble envcp [OPTIONS] SRC DST\n"
	"       bramble envcp --check [--old-prefix PREFIX] [--json] DST\n"
	"Copy the environment prefix SRC (conda env, venv, software tree) to DST\n"
	"and rewrite its embedded prefix to DST's; inside a bramble mount, files\n"
	"that need no rewriting are copied on the server.\n"
	"  --skip-unsafe        a binary whose prefix cannot grow is copied unchanged\n"
	"                       and reported, without failing the copy\n"
	"  --old-prefix PREFIX  the prefix SRC's files hold (default: the one SRC's\n"
	"                       " ENVCP_MARKER " records, else SRC's path)\n"
	"  -j, --jobs N         files copied at a time (default 8)\n"
	"  --progress           show progress on stderr\n"
	"  --json               print the summary as JSON on stdout\n"
	"  --check              verify DST: no old prefix left, libraries resolve,\n"
	"                       interpreters exist, bin/python runs\n"
	"  -t SECONDS           in a bramble mount, how long to wait for its server\n"
	"                       before giving up (default 5)\n";

enum { OPT_SKIP = 256, OPT_OLD, OPT_PROGRESS, OPT_JSON, OPT_CHECK };

struct progress {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;              /* protected by lock */
	bool tty;
};

static void print_progress(const struct progress *pg, bool last)
{
	const struct envcp_stats *s = envcp_live_stats();

	if (!s)
		return;
	fprintf(stderr, "%senvcp: %llu/%llu entries, %.1f MB, %llu rewritten%s",
		pg->tty ? "\r" : "",
		(unsigned long long)__atomic_load_n(&s->done, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&s->total, __ATOMIC_RELAXED),
		(double)__atomic_load_n(&s->bytes, __ATOMIC_RELAXED) / 1e6,
		(unsigned long long)(__atomic_load_n(&s->text, __ATOMIC_RELAXED) +
				     __atomic_load_n(&s->binary, __ATOMIC_RELAXED)),
		pg->tty && !last ? "   " : "\n");
}

static void *progress_main(void *arg)
{
	struct progress *pg = arg;
	struct timespec until;

	pthread_mutex_lock(&pg->lock);
	while (!pg->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += pg->tty ? 0 : 2;
		until.tv_nsec += pg->tty ? 300000000 : 0;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&pg->cond, &pg->lock, &until);
		if (!pg->stop)
			print_progress(pg, false);
	}
	pthread_mutex_unlock(&pg->lock);
	return NULL;
}

static void json_u64(struct buf *b, const char *k, uint64_t v, bool comma)
{
	buf_addf(b, "\"%s\": %llu%s", k, (unsigned long long)v, comma ? ", " : "");
}

static void print_json(const struct envcp_result *r, int rc)
{
	const struct envcp_stats *s = &r->st;
	struct buf b = BUF_INIT;

	buf_adds(&b, "{\"src\": ");
	envcp_json_str(&b, r->src ? r->src : "");
	buf_adds(&b, ", \"dst\": ");
	envcp_json_str(&b, r->dst ? r->dst : "");
	buf_adds(&b, ", \"old_prefix\": ");
	envcp_json_str(&b, r->old_prefix ? r->old_prefix : "");
	buf_adds(&b, ", \"old_prefix_from\": ");
	envcp_json_str(&b, r->old_from ? r->old_from : "");
	buf_adds(&b, ", \"new_prefix\": ");
	envcp_json_str(&b, r->new_prefix ? r->new_prefix : "");
	buf_addf(&b, ", \"ok\": %s, \"seconds\": %.3f, ", rc == 0 && !s->errors ? "true" : "false",
		 r->seconds);
	json_u64(&b, "files", s->files, true);
	json_u64(&b, "dirs", s->dirs, true);
	json_u64(&b, "symlinks", s->symlinks, true);
	json_u64(&b, "hardlinks", s->hardlinks, true);
	json_u64(&b, "special", s->special, true);
	json_u64(&b, "bytes", s->bytes, true);
	buf_adds(&b, "\"rewritten\": {");
	json_u64(&b, "text", s->text, true);
	json_u64(&b, "binary", s->binary, true);
	json_u64(&b, "shebangs", s->shebangs, true);
	json_u64(&b, "long_shebangs", s->long_shebangs, true);
	json_u64(&b, "prompts", s->prompts, true);
	json_u64(&b, "symlinks", s->links_rewritten, false);
	buf_adds(&b, "}, ");
	json_u64(&b, "copy_file_range", s->offloaded, true);
	json_u64(&b, "scanned", s->scanned, true);
	json_u64(&b, "trusted", s->trusted, true);
	json_u64(&b, "pyc_kept", s->pyc, true);
	json_u64(&b, "errors", s->errors, true);
	buf_adds(&b, "\"unsafe\": [");
	for (size_t i = 0, k = 0; i < r->nissues; i++) {
		if (!r->issues[i].unsafe)
			continue;
		buf_adds(&b, k++ ? ", {\"path\": " : "{\"path\": ");
		envcp_json_str(&b, r->issues[i].path);
		buf_adds(&b, ", \"reason\": ");
		envcp_json_str(&b, r->issues[i].msg);
		buf_adds(&b, "}");
	}
	buf_adds(&b, "], \"failed\": [");
	for (size_t i = 0, k = 0; i < r->nissues; i++) {
		if (r->issues[i].unsafe)
			continue;
		buf_adds(&b, k++ ? ", {\"path\": " : "{\"path\": ");
		envcp_json_str(&b, r->issues[i].path);
		buf_adds(&b, ", \"error\": ");
		envcp_json_str(&b, r->issues[i].msg);
		buf_adds(&b, "}");
	}
	buf_adds(&b, "]}\n");
	fputs(b.data, stdout);
	buf_release(&b);
}

static void print_text(const struct envcp_result *r)
{
	const struct envcp_stats *s = &r->st;

	printf("%s -> %s: %llu files (%.1f MB), %llu dirs, %llu symlinks, %llu hard links "
	       "in %.2f s\n", r->src, r->dst, (unsigned long long)s->files,
	       (double)s->bytes / 1e6, (unsigned long long)s->dirs,
	       (unsigned long long)s->symlinks, (unsigned long long)s->hardlinks, r->seconds);
	printf("prefix %s (from the %s) -> %s\n", r->old_prefix, r->old_from, r->new_prefix);
	printf("rewritten: %llu text (%llu #! lines, %llu made portable), %llu binary, "
	       "%llu symlinks; %llu copied by copy_file_range, %llu not read (marker), "
	       "%llu .pyc kept\n", (unsigned long long)s->text,
	       (unsigned long long)s->shebangs, (unsigned long long)s->long_shebangs,
	       (unsigned long long)s->binary, (unsigned long long)s->links_rewritten,
	       (unsigned long long)s->offloaded, (unsigned long long)s->trusted,
	       (unsigned long long)s->pyc);
	if (s->unsafe || s->errors)
		printf("%llu unsafe (copied unchanged), %llu failed\n",
		       (unsigned long long)s->unsafe, (unsigned long long)s->errors);
}

static int run_check(const char *dst, const char *old, bool json)
{
	struct envcp_check_result r;
	struct buf b = BUF_INIT;
	int rc = envcp_check(dst, old, &r);

	if (rc < 0)
		return 1;
	if (json) {
		buf_adds(&b, "{\"dst\": ");
		envcp_json_str(&b, r.dst);
		buf_adds(&b, ", \"old_prefix\": ");
		if (r.old_prefix)
			envcp_json_str(&b, r.old_prefix);
		else
			buf_adds(&b, "null");
		buf_adds(&b, ", \"made_for\": ");
		if (r.made_for)
			envcp_json_str(&b, r.made_for);
		else
			buf_adds(&b, "null");
		buf_addf(&b, ", \"ok\": %s, ", r.nproblems ? "false" : "true");
		json_u64(&b, "files", r.files, true);
		json_u64(&b, "elf", r.elfs, true);
		json_u64(&b, "scripts", r.scripts, true);
		buf_adds(&b, "\"python_prefix\": ");
		if (r.python)
			envcp_json_str(&b, r.python);
		else
			buf_adds(&b, "null");
		buf_adds(&b, ", \"problems\": [");
		for (size_t i = 0; i < r.nproblems; i++) {
			const struct envcp_problem *p = &r.problems[i];

			buf_adds(&b, i ? ", {\"kind\": " : "{\"kind\": ");
			envcp_json_str(&b, p->kind);
			buf_adds(&b, ", \"path\": ");
			envcp_json_str(&b, p->path);
			if (p->offset >= 0)
				buf_addf(&b, ", \"offset\": %lld", p->offset);
			buf_adds(&b, ", \"message\": ");
			envcp_json_str(&b, p->msg);
			buf_adds(&b, "}");
		}
		buf_adds(&b, "]}\n");
		fputs(b.data, stdout);
		buf_release(&b);
	} else {
		for (size_t i = 0; i < r.nproblems; i++) {
			const struct envcp_problem *p = &r.problems[i];

			if (p->offset >= 0)
				printf("%-7s %s:%lld: %s\n", p->kind, p->path, p->offset, p->msg);
			else
				printf("%-7s %s: %s\n", p->kind, *p->path ? p->path : ".", p->msg);
		}
		printf("%s: %s (%llu files, %llu ELF objects, %llu scripts%s%s%s)\n", r.dst,
		       r.nproblems ? "PROBLEMS" : "ok", (unsigned long long)r.files,
		       (unsigned long long)r.elfs, (unsigned long long)r.scripts,
		       r.old_prefix ? "; old prefix " : "; no old prefix known",
		       r.old_prefix ? r.old_prefix : "",
		       r.python ? "; bin/python runs" : "");
	}
	rc = r.nproblems ? 1 : 0;
	envcp_check_release(&r);
	return rc;
}

int cmd_envcp(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "skip-unsafe", no_argument, NULL, OPT_SKIP },
		{ "old-prefix", required_argument, NULL, OPT_OLD },
		{ "jobs", required_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct envcp_opts o = { .threads = 8 };
	struct progress pg = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .cond = PTHREAD_COND_INITIALIZER };
	struct envcp_result r;
	bool json = false, check = false, pthread_ok = false;
	unsigned long long v;
	int64_t timeout_ms = TARGET_TIMEOUT_MS;
	int c, rc;

	while ((c = getopt_long(argc, argv, "j:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SKIP:
			o.skip_unsafe = true;
			break;
		case OPT_OLD:
			if (optarg[0] != '/')
				goto bad;
			o.old_prefix = optarg;
			break;
		case 'j':
			if (parse_uint(optarg, 1, 256, &v) < 0)
				goto bad;
			o.threads = (unsigned int)v;
			break;
		case 't':
			if (parse_seconds_ms(optarg, &timeout_ms) < 0 || timeout_ms < 1)
				goto bad;
			break;
		case OPT_PROGRESS:
			o.progress = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case 'h':
			fputs(envcp_usage, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (check) {
		if (optind != argc - 1 || o.skip_unsafe || o.progress)
			goto bad;
		if (target_reachable(argv[optind], (unsigned int)timeout_ms) < 0)
			return 1;
		return run_check(argv[optind], o.old_prefix, json);
	}
	if (optind != argc - 2)
		goto bad;
	o.src = argv[optind];
	o.dst = argv[optind + 1];
	/* A dead server would make the copy wait on every call. */
	if (target_reachable(o.src, (unsigned int)timeout_ms) < 0 ||
	    target_reachable(o.dst, (unsigned int)timeout_ms) < 0)
		return 1;
	if (o.progress) {
		pg.tty = isatty(2);
		pthread_ok = pthread_create(&pg.th, NULL, progress_main, &pg) == 0;
	}
	rc = envcp_copy(&o, &r);
	if (pthread_ok) {
		pthread_mutex_lock(&pg.lock);
		pg.stop = true;
		pthread_cond_signal(&pg.cond);
		pthread_mutex_unlock(&pg.lock);
		pthread_join(pg.th, NULL);
		fprintf(stderr, "%s", pg.tty ? "\n" : "");
	}
	for (size_t i = 0; i < r.nissues; i++)
		fprintf(stderr, "bramble envcp: %s: %s%s\n", r.issues[i].path,
			r.issues[i].unsafe && !o.skip_unsafe ? "refused: " :
			r.issues[i].unsafe ? "skipped: " : "", r.issues[i].msg);
	if (json)
		print_json(&r, rc);
	else if (r.src && rc == 0)
		print_text(&r);
	if (rc == 0 && (r.st.errors || (r.st.unsafe && !o.skip_unsafe)))
		rc = -1;
	envcp_result_release(&r);
	return rc < 0 ? 1 : 0;
bad:
	fputs(envcp_usage, stderr);
	return 2;
}
