/* recjob.c - which Slurm job a process belongs to (see recjob.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "recjob.h"
#include "util.h"
#include "xalloc.h"

#define JOB_MAX RECJOB_MAX
#define PID_SLOTS 1024             /* direct-mapped by pid */
#define PID_TTL_NS (5 * 1000000000LL)
#define PID_RECHECK_NS 100000000LL  /* 100 ms: see job_cached() */
#define ENVIRON_MAX (8u << 20)     /* more is not an environment */

struct pid_slot {
	pid_t pid;
	unsigned long long start;  /* field 22 of /proc/PID/stat */
	int64_t expires;           /* the answer is this old: ask again */
	int64_t checked;           /* start time last compared */
	char job[JOB_MAX];         /* "": no job */
};

struct recjob {
	pthread_mutex_t lock;
	struct pid_slot pids[PID_SLOTS];  /* protected by lock */
};

struct recjob *recjob_new(void)
{
	struct recjob *r = xcalloc(1, sizeof(*r));

	pthread_mutex_init(&r->lock, NULL);
	return r;
}

void recjob_free(struct recjob *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static bool job_ok(const char *s, size_t n)
{
	if (n == 0 || n >= JOB_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Read /proc/PID/NAME into b (at most max bytes).  0 or -errno. */
static int read_proc(pid_t pid, const char *name, struct buf *b, size_t max)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		buf_grow(b, 4096);
		n = read(fd, b->data + b->len, 4096);
		if (n > 0)
			buf_setlen(b, b->len + (size_t)n);
	} while (n > 0 && b->len < max);
	close(fd);
	return n < 0 ? -errno : 0;
}

static int proc_start(pid_t pid, unsigned long long *start)
{
	struct buf b = BUF_INIT;
	char *p;
	int rc = read_proc(pid, "stat", &b, 4096);

	/* comm may hold anything: fields start after its last ')'. */
	p = rc == 0 ? strrchr(b.data, ')') : NULL;
	rc = -EINVAL;
	for (int field = 2; p && *p; p++) {
		if (*p != ' ')
			continue;
		if (++field == 22) {
			*start = strtoull(p + 1, NULL, 10);
			rc = 0;
			break;
		}
	}
	buf_release(&b);
	return rc;
}

static bool env_job(pid_t pid, char job[JOB_MAX])
{
	static const char key[] = "SLURM_JOB_ID=";
	struct buf b = BUF_INIT;
	bool found = false;

	if (read_proc(pid, "environ", &b, ENVIRON_MAX) == 0) {
		const char *p = b.data, *end = b.data + b.len;

		while (p < end && !found) {
			size_t n = strnlen(p, (size_t)(end - p));

			if (n > sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1) &&
			    job_ok(p + sizeof(key) - 1, n - (sizeof(key) - 1))) {
				memcpy(job, p + sizeof(key) - 1, n - (sizeof(key) - 1));
				job[n - (sizeof(key) - 1)] = '\0';
				found = true;
			}
			p += n + 1;
		}
	}
	buf_release(&b);
	return found;
}

/* A component "job_ID" of a cgroup path (Slurm's cgroup plugins, v1
 * and v2: .../job_123/step_0/...). */
static bool cgroup_job(pid_t pid, char job[JOB_MAX])
{
	struct buf b = BUF_INIT;
	bool found = false;

	if (read_proc(pid, "cgroup", &b, 65536) == 0) {
		for (const char *p = b.data; (p = strstr(p, "/job_")); p++) {
			size_t n = strcspn(p + 5, "/\n");

			if (job_ok(p + 5, n)) {
				memcpy(job, p + 5, n);
				job[n] = '\0';
				found = true;
				break;
			}
		}
	}
	buf_release(&b);
	return found;
}

/* A cached answer for pid: true when one (for the same process) holds.
 * Within PID_RECHECK_NS of the last comparison of its start time no new
 * comparison is made: the opener is alive (it waits for this open), and
 * its pid could only have come back meanwhile through pid_max forks
 * (32768 or more) in 100 ms.  That spares a /proc read per open in a
 * storm (5 us, a third of a warm open). */
static bool job_cached(struct recjob *r, pid_t pid, char job[JOB_MAX],
		       unsigned long long *start)
{
	struct pid_slot *s = &r->pids[(unsigned int)pid % PID_SLOTS];
	int64_t now = now_ns();
	struct pid_slot c;

	pthread_mutex_lock(&r->lock);
	c = *s;
	pthread_mutex_unlock(&r->lock);
	if (c.pid != pid || now >= c.expires)
		return false;
	if (now - c.checked >= PID_RECHECK_NS) {
		if (proc_start(pid, start) < 0 || *start != c.start)
			return false;  /* gone, or another process now */
		pthread_mutex_lock(&r->lock);
		if (s->pid == pid && s->start == c.start)
			s->checked = now;
		pthread_mutex_unlock(&r->lock);
	}
	memcpy(job, c.job, JOB_MAX);
	return true;
}

bool recjob_of(struct recjob *r, pid_t pid, char job[RECJOB_MAX])
{
	unsigned long long start = 0;
	struct pid_slot *s = &r->pids[(unsigned int)pid % PID_SLOTS];
	int64_t now = now_ns();

	if (pid <= 0)
		return false;
	if (job_cached(r, pid, job, &start))
		return job[0] != '\0';
	if (!start && proc_start(pid, &start) < 0)
		return false;  /* gone */
	if (!env_job(pid, job) && !cgroup_job(pid, job))
		job[0] = '\0';
	pthread_mutex_lock(&r->lock);
	s->pid = pid;
	s->start = start;
	/* Bounded: an exec into another environment is seen this late. */
	s->expires = now + PID_TTL_NS;
	s->checked = now;
	memcpy(s->job, job, JOB_MAX);
	pthread_mutex_unlock(&r->lock);
	return job[0] != '\0';
}
