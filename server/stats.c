/* stats.c - the server's counters (stats.h); proc_stats.c serves them. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"
#include "xalloc.h"

#define RELAXED memory_order_relaxed

struct proc_counters {
	_Atomic uint64_t calls, errors, bytes_in, bytes_out;
	struct stats_hist lat;
};

struct stats {
	struct proc_counters procs[BR_NPROCS];
	_Atomic uint64_t conns_current, conns_total, conns_refused;
	_Atomic uint64_t disk_read_bytes, disk_write_bytes;
	_Atomic uint64_t disk_read_ns, disk_write_ns;
};

static void add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, RELAXED);
}

static uint64_t get(const _Atomic uint64_t *c)
{
	/* C11 wants a non-const pointer for a load; it only reads. */
	return atomic_load_explicit((_Atomic uint64_t *)c, RELAXED);
}

/* ---- histogram */

/* 0..3 exactly; then for 2^e <= us < 2^(e+1) the 4 sub-buckets split by
 * the two bits below the leading one. */
static unsigned int bucket_of(uint64_t us)
{
	unsigned int e;

	if (us < 4)
		return (unsigned int)us;
	e = 63u - (unsigned int)__builtin_clzll(us);
	if (e > STATS_HIST_EMAX)
		return STATS_HIST_BUCKETS - 1;
	return 4 + (e - 2) * 4 + (unsigned int)((us >> (e - 2)) & 3);
}

/* The largest value bucket b holds (the last one: everything above). */
static uint64_t bucket_top(unsigned int b)
{
	unsigned int e, sub;

	if (b < 4)
		return b;
	if (b == STATS_HIST_BUCKETS - 1)
		return UINT64_MAX;
	e = (b - 4) / 4 + 2;
	sub = (b - 4) % 4;
	return ((uint64_t)(5 + sub) << (e - 2)) - 1;
}

void stats_hist_add(struct stats_hist *h, uint64_t us)
{
	uint64_t m = get(&h->max_us);

	add(&h->n[bucket_of(us)], 1);
	add(&h->sum_us, us);
	/* A new maximum is rare: the loop is taken almost never. */
	while (us > m && !atomic_compare_exchange_weak_explicit(&h->max_us, &m, us,
								 RELAXED, RELAXED))
		;
}

uint64_t stats_hist_quantile(const struct stats_hist *h, double q)
{
	uint64_t counts[STATS_HIST_BUCKETS], total = 0, rank, seen = 0;
	uint64_t max = get(&h->max_us);

	/* One pass to copy: the ranks then agree with the counts walked. */
	for (unsigned int b = 0; b < STATS_HIST_BUCKETS; b++) {
		counts[b] = get(&h->n[b]);
		total += counts[b];
	}
	if (total == 0)
		return 0;
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	rank = BR_MAX(rank, 1);
	for (unsigned int b = 0; b < STATS_HIST_BUCKETS; b++) {
		seen += counts[b];
		if (seen >= rank)
			return BR_MIN(bucket_top(b), max);
	}
	return max;
}

/* ---- counters */

struct stats *stats_new(void)
{
	return xcalloc(1, sizeof(struct stats));
}

void stats_free(struct stats *st)
{
	free(st);
}

void stats_call(struct stats *st, uint32_t proc, bool error,
		uint64_t bytes_in, uint64_t bytes_out, int64_t ns)
{
	struct proc_counters *p;

	if (!st || proc >= BR_NPROCS)
		return;
	p = &st->procs[proc];
	add(&p->calls, 1);
	if (error)
		add(&p->errors, 1);
	add(&p->bytes_in, bytes_in);
	add(&p->bytes_out, bytes_out);
	stats_hist_add(&p->lat, ns > 0 ? (uint64_t)ns / 1000 : 0);
}

void stats_disk(struct stats *st, bool write, uint64_t bytes, int64_t ns)
{
	if (!st)
		return;
	add(write ? &st->disk_write_bytes : &st->disk_read_bytes, bytes);
	add(write ? &st->disk_write_ns : &st->disk_read_ns, ns > 0 ? (uint64_t)ns : 0);
}

void stats_conn_open(struct stats *st)
{
	if (!st)
		return;
	add(&st->conns_current, 1);
	add(&st->conns_total, 1);
}

void stats_conn_closed(struct stats *st)
{
	if (st)
		atomic_fetch_sub_explicit(&st->conns_current, 1, RELAXED);
}

void stats_conn_refused(struct stats *st)
{
	if (st)
		add(&st->conns_refused, 1);
}

void stats_read_proc(const struct stats *st, uint32_t proc, struct stats_proc *out)
{
	const struct proc_counters *p;

	memset(out, 0, sizeof(*out));
	if (!st || proc >= BR_NPROCS)
		return;
	p = &st->procs[proc];
	out->calls = get(&p->calls);
	out->errors = get(&p->errors);
	out->bytes_in = get(&p->bytes_in);
	out->bytes_out = get(&p->bytes_out);
	out->p50_us = stats_hist_quantile(&p->lat, 0.50);
	out->p90_us = stats_hist_quantile(&p->lat, 0.90);
	out->p99_us = stats_hist_quantile(&p->lat, 0.99);
	out->max_us = get(&p->lat.max_us);
	out->sum_us = get(&p->lat.sum_us);
}

void stats_read_totals(const struct stats *st, struct stats_totals *out)
{
	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	out->conns_current = get(&st->conns_current);
	out->conns_total = get(&st->conns_total);
	out->conns_refused = get(&st->conns_refused);
	out->disk_read_bytes = get(&st->disk_read_bytes);
	out->disk_write_bytes = get(&st->disk_write_bytes);
	out->disk_read_ns = get(&st->disk_read_ns);
	out->disk_write_ns = get(&st->disk_write_ns);
}
