/* statcost.c - what the server's counters cost per call (the target: "<2%
 * of throughput"), measured on the real code: the two clock reads a call's
 * latency takes and stats_call() itself, from one thread and from two at
 * once (the workers and the loop contend on the same counters).
 *
 *   tests/bench/statcost [CALL_US]
 *
 * prints ns per counted call and, given the time of the cheapest real call
 * in microseconds (a NULL round trip: `bramble bench` or rpclat), the share
 * of it the counting takes.  That share is an upper bound on what the
 * counters cost in throughput: every other call takes longer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"
#include "util.h"

#define CALLS 5000000

static struct stats *st;

static void *count_calls(void *arg)
{
	uint32_t proc = (uint32_t)(uintptr_t)arg;

	for (int i = 0; i < CALLS; i++) {
		int64_t t0 = now_ns();

		stats_call(st, proc, false, 120, 96, now_ns() - t0);
	}
	return NULL;
}

/* ns per counted call with nthreads counting at once. */
static double run(int nthreads)
{
	pthread_t th[2];
	int64_t t0 = now_ns();

	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, count_calls, (void *)(uintptr_t)(1 + i % 2));
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return (double)(now_ns() - t0) / CALLS;
}

int main(int argc, char **argv)
{
	double call_us = argc > 1 ? atof(argv[1]) : 0;
	double one, two;

	st = stats_new();
	run(1);  /* warm up */
	one = run(1);
	two = run(2);
	printf("counting one call: %.1f ns (one thread), %.1f ns of wall time per "
	       "thread with two threads counting at once\n", one, two);
	if (call_us > 0)
		printf("share of a %.1f us call: %.2f %% (one thread), %.2f %% (two)\n",
		       call_us, one / (call_us * 10), two / (call_us * 10));
	stats_free(st);
	return 0;
}
