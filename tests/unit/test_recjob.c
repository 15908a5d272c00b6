/* test_recjob.c - fuse/recjob.c: the Slurm job of a process, from its
 * environment (the cgroup path is covered by tests/integ/53-record.sh,
 * which can make a job_N cgroup as root). */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recjob.h"

/* A `sleep 30' whose environment is exactly env; returns once it has
 * exec'd (the pipe closes on exec). */
static pid_t spawn(char *const env[])
{
	int p[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *argv[] = { "sleep", "30", NULL };

		execve("/bin/sleep", argv, env);
		_exit(127);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static bool own_cgroup_has_job(void)
{
	char buf[8192];
	int fd = open("/proc/self/cgroup", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "/job_") != NULL;
}

START_TEST(test_env_job)
{
	char *env[] = { "A=1", "SLURM_JOB_ID=4711", "Z=2", NULL };
	struct recjob *r = recjob_new();
	char job[RECJOB_MAX];
	pid_t pid = spawn(env);

	ck_assert(recjob_of(r, pid, job));
	ck_assert_str_eq(job, "4711");
	ck_assert(recjob_of(r, pid, job));  /* cached */
	ck_assert_str_eq(job, "4711");
	reap(pid);
	recjob_free(r);
}
END_TEST

START_TEST(test_no_job)
{
	char *none[] = { "SLURM_JOB_IDX=5", "XSLURM_JOB_ID=6", NULL };
	char *bad[] = { "SLURM_JOB_ID=12/../x", NULL };
	char *empty[] = { "SLURM_JOB_ID=", NULL };
	char *const *envs[] = { none, bad, empty };
	struct recjob *r = recjob_new();
	char job[RECJOB_MAX];

	if (own_cgroup_has_job())
		return;  /* children would inherit a job_N cgroup */
	for (size_t i = 0; i < 3; i++) {
		pid_t pid = spawn(envs[i]);

		ck_assert_msg(!recjob_of(r, pid, job), "env %zu: job '%s'", i, job);
		ck_assert(!recjob_of(r, pid, job));  /* cached "none" */
		reap(pid);
	}
	ck_assert(!recjob_of(r, 0, job));   /* not in our pid namespace */
	ck_assert(!recjob_of(r, -1, job));
	recjob_free(r);
}
END_TEST

START_TEST(test_gone)
{
	char *env[] = { "SLURM_JOB_ID=9", NULL };
	struct recjob *r = recjob_new();
	char job[RECJOB_MAX];
	pid_t pid = spawn(env);

	reap(pid);
	ck_assert(!recjob_of(r, pid, job));
	recjob_free(r);
	recjob_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("recjob");
	TCase *tc = tcase_create("recjob");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_env_job);
	tcase_add_test(tc, test_no_job);
	tcase_add_test(tc, test_gone);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
