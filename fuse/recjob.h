/* recjob.h - which Slurm job a process belongs to, for the learned sets
 * (record.h).
 *
 * The job is the process's SLURM_JOB_ID (from /proc/PID/environ), else a
 * "job_ID" component of its cgroup path (/proc/PID/cgroup: Slurm's
 * cgroup plugins, v1 and v2, put every task under .../job_ID/step_N/).
 * Only digits are taken (the id ends up in a file name).
 *
 * Answers are cached per (pid, start time) for 5 s: a storm of opens by
 * one process reads /proc once, then at most one small /proc/PID/stat
 * every 100 ms to tell a reused pid.  An exec into another environment is
 * seen within those 5 s.
 *
 * Thread-safe (one mutex, never held during /proc reads). */
#ifndef BR_FUSE_RECJOB_H
#define BR_FUSE_RECJOB_H

#include <stdbool.h>
#include <sys/types.h>

#define RECJOB_MAX 24  /* a job id (up to 20 digits) and its NUL */

struct recjob;

/* Caller frees with recjob_free (NULL is fine). */
struct recjob *recjob_new(void);
void recjob_free(struct recjob *r);

/* The job of process pid into job: true, or false when it has none (or
 * is gone, or pid <= 0: not visible in this pid namespace). */
bool recjob_of(struct recjob *r, pid_t pid, char job[RECJOB_MAX]);

#endif
