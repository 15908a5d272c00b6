/* cmd_record.c - `bramble record`: the learned input set a job left on a
 * mount mounted with -o record=DIR (fuse/record.h), under a stable name.
 *
 *   bramble record [--name NAME] [--rm] --job ID MOUNT
 *   bramble record --discard --job ID MOUNT
 *   bramble record --gc MOUNT
 *
 * Reading MOUNT/.bramble makes bramblefs write every changed set first,
 * so the set holds every open the job made until now.  Without --name it
 * prints the set's path (DIR/job-ID.set); with --name it copies it to
 * DIR/NAME.set (tmp + rename: a reader sees the old or the new set, never
 * half of one), which `bramble stage --learned NAME` fetches.  --rm then
 * removes DIR/job-ID.set (the Epilog's cleanup; bramblefs writes it again
 * if the job opens more files).
 *
 * Naming after the fact, rather than from a variable the job sets when
 * it starts: the Epilog (or the user) decides whether the run was one
 * worth learning from, and a named set is never seen half-written by the
 * next job staging it.
 *
 * bramblefs records every job's opens (it cannot know which jobs will ask
 * for their set); the Epilog keeps only what was asked for: --discard
 * removes the set of a job that did not ask to record, or failed (no set
 * is not an error).  --gc removes the sets of jobs Slurm no longer knows
 * (left by nodes without that Epilog, or by a lost Epilog). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cmds.h"
#include "stage.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

#define SET_HEADER "# bramble learned set v1\n"  /* == RECORD_HEADER */

static const char record_usage[] =
	"usage: bramble record [--name NAME] [--rm] --job ID MOUNT\n"
	"       bramble record --discard --job ID MOUNT\n"
	"       bramble record --gc MOUNT\n"
	"  --job ID     the Slurm job whose learned set to take\n"
	"  --name NAME  copy it to NAME.set in the mount's record directory,\n"
	"               for `bramble stage --learned NAME' (letters, digits,\n"
	"               '.', '_', '-'; not starting with '.')\n"
	"  --rm         then remove job-ID.set\n"
	"  --discard    remove job-ID.set (a job that did not ask to record)\n"
	"  --gc         remove the sets job-ID.set of jobs Slurm no longer knows\n"
	"Without --name: print the path of the job's set.  MOUNT must be mounted\n"
	"with -o record=DIR.\n";

static bool name_ok(const char *s, bool digits_only)
{
	size_t n = strlen(s);

	if (n == 0 || n > 200 || s[0] == '.')
		return false;
	for (; *s; s++) {
		bool digit = *s >= '0' && *s <= '9';
		bool other = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			     *s == '.' || *s == '_' || *s == '-';

		if (!digit && (digits_only || !other))
			return false;
	}
	return true;
}

/* Read path whole into b.  0 or -errno. */
static int slurp(const char *path, struct buf *b)
{
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, (size_t)n);
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

/* Write b to dst through dst.tmp.PID, synced, then renamed.  0 or -errno. */
static int write_atomic(const char *dir, const char *name, const struct buf *b)
{
	struct buf tmp = BUF_INIT, dst = BUF_INIT;
	int fd, rc;

	buf_addf(&tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
	buf_addf(&dst, "%s/%s", dir, name);
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	rc = fd < 0 ? -errno : write_all(fd, b->data, b->len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp.data, dst.data) < 0)
		rc = -errno;
	if (rc < 0 && fd >= 0)
		unlink(tmp.data);
	buf_release(&tmp);
	buf_release(&dst);
	return rc;
}

static size_t count_paths(const struct buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == '\n' && i + 1 < b->len && b->data[i + 1] != '#')
			n++;
	return n;
}

/* The record directory of the mount spec (caller frees), or NULL. */
static char *record_dir(const char *spec)
{
	struct target t;
	char *dir = NULL;

	if (target_parse(spec, &t) < 0)
		return NULL;  /* said why */
	if (!t.mount) {
		fprintf(stderr, "bramble record: %s is not a bramblefs mount\n", spec);
	} else if (!(dir = bramble_ctl_value(t.ctl, BRAMBLE_CTL_KEY_RECORD))) {
		fprintf(stderr, "bramble record: %s is not mounted with -o record=DIR\n",
			t.mount);
	}
	target_release(&t);
	return dir;
}

static int do_record(const char *dir, const char *job, const char *name, bool rm)
{
	struct buf src = BUF_INIT, set = BUF_INIT, dst = BUF_INIT;
	int rc, status = 1;

	buf_addf(&src, "%s/job-%s.set", dir, job);
	rc = slurp(src.data, &set);
	if (rc == -ENOENT) {
		fprintf(stderr, "bramble record: job %s has no learned set in %s "
			"(it opened no file on the mount yet)\n", job, dir);
		goto out;
	}
	if (rc == 0 && strncmp(set.data, SET_HEADER, strlen(SET_HEADER)))
		rc = -EBADMSG;
	if (rc < 0) {
		fprintf(stderr, "bramble record: %s: %s\n", src.data,
			rc == -EBADMSG ? "not a learned set" : strerror(-rc));
		goto out;
	}
	if (!name) {
		printf("%s\n", src.data);
	} else {
		buf_addf(&dst, "%s.set", name);
		rc = write_atomic(dir, dst.data, &set);
		if (rc < 0) {
			fprintf(stderr, "bramble record: cannot write %s/%s: %s\n", dir,
				dst.data, strerror(-rc));
			goto out;
		}
		printf("%s/%s: %zu paths (job %s)\n", dir, dst.data, count_paths(&set), job);
	}
	if (rm && unlink(src.data) < 0) {
		fprintf(stderr, "bramble record: cannot remove %s: %s\n", src.data,
			strerror(errno));
		goto out;
	}
	status = 0;
out:
	buf_release(&src);
	buf_release(&set);
	buf_release(&dst);
	return status;
}

static int do_discard(const char *dir, const char *job)
{
	struct buf src = BUF_INIT;
	int status = 0;

	buf_addf(&src, "%s/job-%s.set", dir, job);
	if (unlink(src.data) < 0 && errno != ENOENT) {
		fprintf(stderr, "bramble record: cannot remove %s: %s\n", src.data,
			strerror(errno));
		status = 1;
	}
	buf_release(&src);
	return status;
}

/* The job ids of dir's job-ID.set files. */
static void job_sets(const char *dir, char ***ids, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*ids = NULL;
	*n = 0;
	while (d && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len <= 8 || strncmp(e->d_name, "job-", 4) ||
		    strcmp(e->d_name + len - 4, ".set"))
			continue;
		*ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = xstrndup(e->d_name + 4, len - 8);
	}
	if (d)
		closedir(d);
}

static int do_gc(const char *dir)
{
	char **ids;
	size_t n, removed = 0;
	int *alive, status = 0;

	job_sets(dir, &ids, &n);
	alive = xcalloc(n ? n : 1, sizeof(*alive));
	stage_jobs_alive(ids, n, alive);
	for (size_t i = 0; i < n; i++) {
		if (alive[i] == 0 && name_ok(ids[i], true)) {
			int st = do_discard(dir, ids[i]);

			status |= st;
			removed += st == 0;
		}
		free(ids[i]);
	}
	printf("%s: removed %zu learned set(s) of jobs that no longer exist\n", dir, removed);
	free(ids);
	free(alive);
	return status;
}

int cmd_record(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "name", required_argument, NULL, 'n' },
		{ "rm", no_argument, NULL, 'r' },
		{ "discard", no_argument, NULL, 'd' },
		{ "gc", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *job = NULL, *name = NULL;
	bool rm = false, discard = false, gc = false;
	char *dir;
	int ch, status;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+j:n:rdgh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			job = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'r':
			rm = true;
			break;
		case 'd':
			discard = true;
			break;
		case 'g':
			gc = true;
			break;
		case 'h':
			fputs(record_usage, stdout);
			return 0;
		default:
			fputs(record_usage, stderr);
			return 2;
		}
	}
	if ((gc ? (job || discard || name || rm) : (!job || (discard && (name || rm)))) ||
	    optind + 1 != argc) {
		fputs(record_usage, stderr);
		return 2;
	}
	if (job && (!name_ok(job, true) || strlen(job) > 20)) {
		fprintf(stderr, "bramble record: --job %s: not a job id (digits)\n", job);
		return 2;
	}
	if (name && !name_ok(name, false)) {
		fprintf(stderr, "bramble record: --name %s: use letters, digits, '.', "
			"'_' and '-', not starting with '.'\n", name);
		return 2;
	}
	dir = record_dir(argv[optind]);
	if (!dir)
		return 1;
	status = gc ? do_gc(dir) : discard ? do_discard(dir, job) :
		 do_record(dir, job, name, rm);
	free(dir);
	return status;
}
