/* stage_gc.c - pins of Slurm jobs that no longer exist (stage.h,
 * `bramble cache gc`).
 *
 * A job's pins are "job:ID".  Slurm is asked once with squeue (every job
 * it still runs or holds, %A: one id per array element too); a job not in
 * that list has ended.  Without squeue, scontrol is asked per job ("Invalid
 * job id" means gone; a finished state too).  When Slurm cannot answer
 * (no commands, controller down) nothing is removed: a pin kept too long
 * costs room, a pin removed under a running job costs the job its data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bramble_cache.h"
#include "buf.h"
#include "stage.h"
#include "util.h"
#include "xalloc.h"

/* Run argv (looked up in PATH) with stdout and stderr into out; its exit
 * status, or -errno when it could not run (-ENOENT: not installed). */
static int run_capture(char *const argv[], struct buf *out)
{
	int fds[2], status;
	char chunk[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && out->len < (16u << 20))
			buf_add(out, chunk, (size_t)n);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool in_path(const char *cmd)
{
	const char *path = getenv("PATH");
	struct buf p = BUF_INIT;
	bool found = false;

	for (const char *s = path ? path : "/usr/bin:/bin"; !found && *s;) {
		size_t n = strcspn(s, ":");

		buf_reset(&p);
		buf_addf(&p, "%.*s/%s", (int)n, s, cmd);
		found = access(p.data, X_OK) == 0;
		s += n + (s[n] == ':');
	}
	buf_release(&p);
	return found;
}

struct owners {
	char **v;
	size_t n;
};

static int collect(void *ctx, const struct bramble_cache_pininfo *p)
{
	struct owners *o = ctx;

	if (strncmp(p->owner, "job:", 4) || !p->owner[4])
		return 0;
	o->v = xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
	o->v[o->n++] = xstrdup(p->owner + 4);
	return 0;
}

/* A whole word of text equal to id. */
static bool has_word(const char *text, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = strstr(text, id); p; p = strstr(p + 1, id))
		if ((p == text || p[-1] == '\n' || p[-1] == ' ') &&
		    (p[n] == '\n' || p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* 1 alive, 0 gone, -1 unknown (scontrol per job). */
static int scontrol_alive(const char *id)
{
	char *argv[] = { (char *)"scontrol", (char *)"-o", (char *)"show", (char *)"job",
			 (char *)id, NULL };
	struct buf out = BUF_INIT;
	int rc = run_capture(argv, &out), alive = -1;
	const char *text = out.data ? out.data : "";

	if (strstr(text, "Invalid job id"))
		alive = 0;
	else if (rc == 0 && strstr(text, "JobState="))
		alive = strstr(text, "JobState=COMPLETED") || strstr(text, "JobState=CANCELLED") ||
			strstr(text, "JobState=FAILED") || strstr(text, "JobState=TIMEOUT") ||
			strstr(text, "JobState=NODE_FAIL") || strstr(text, "JobState=OUT_OF_MEMORY") ||
			strstr(text, "JobState=BOOT_FAIL") || strstr(text, "JobState=DEADLINE") ||
			strstr(text, "JobState=PREEMPTED") ? 0 : 1;
	buf_release(&out);
	return alive;
}

static int unpin_job(struct bramble_cache *c, FILE *out, const char *id, uint64_t *removed)
{
	char owner[BRAMBLE_CACHE_OWNER_MAX + 1];
	uint64_t n = 0;
	int rc;

	snprintf(owner, sizeof(owner), "job:%s", id);
	rc = bramble_cache_unpin(c, owner, NULL, &n);
	if (rc == 0) {
		fprintf(out, "removed %llu pin(s) of %s: the job no longer exists\n",
			(unsigned long long)n, owner);
		*removed += n;
	}
	return rc;
}

void stage_jobs_alive(char *const *ids, size_t n, int *alive)
{
	char *sq[] = { (char *)"squeue", (char *)"-h", (char *)"-a", (char *)"-o", (char *)"%A %i",
		       NULL };
	struct buf list = BUF_INIT;
	bool squeue = false;
	int st = 0;

	for (size_t i = 0; i < n; i++)
		alive[i] = -1;
	if (n == 0)
		return;
	if (in_path("squeue")) {
		st = run_capture(sq, &list);
		squeue = st == 0;
		if (!squeue)
			fprintf(stderr, "bramble: Slurm did not answer (squeue: %s): jobs' "
				"pins and sets kept\n", list.len ? strtok(list.data, "\n") : "failed");
	}
	/* no Slurm on this node: "job:" pins are someone's own naming, kept */
	for (size_t i = 0; i < n; i++) {
		if (squeue)
			alive[i] = has_word(list.data ? list.data : "", ids[i]);
		else if (st == 0 && in_path("scontrol"))
			alive[i] = scontrol_alive(ids[i]);
		if (alive[i] < 0 && !squeue && st == 0 && in_path("scontrol"))
			fprintf(stderr, "bramble: job %s: Slurm did not say whether it "
				"exists: its pins and sets kept\n", ids[i]);
	}
	buf_release(&list);
}

int stage_gc_dead_jobs(struct bramble_cache *c, FILE *out, uint64_t *removed)
{
	struct owners o = { 0 };
	int rc = bramble_cache_list_pins(c, collect, &o);
	int *alive = xcalloc(BR_MAX(o.n, (size_t)1), sizeof(*alive));

	*removed = 0;
	if (rc == 0)
		stage_jobs_alive(o.v, o.n, alive);
	for (size_t i = 0; rc == 0 && i < o.n; i++)
		if (alive[i] == 0)
			rc = unpin_job(c, out, o.v[i], removed);
	for (size_t i = 0; i < o.n; i++)
		free(o.v[i]);
	free(o.v);
	free(alive);
	return rc;
}
