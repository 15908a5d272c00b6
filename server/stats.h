/* stats.h - the server's counters, served by the STATS procedure
 * (proc_stats.c).
 *
 * Per procedure: calls, errors (a status other than BR_OK, or an RPC-level
 * error), request and reply bytes (whole records, record mark included)
 * and a latency histogram; plus connections (open, accepted, refused) and
 * the bytes and time of the data procedures' disk reads and writes.
 *
 * Latency runs from the moment the loop has the whole request (job->t0_ns)
 * to the moment its reply is queued on the connection (conn.c send_job):
 * what a client sees minus the network.  The histogram is log-linear in
 * microseconds: exact below 4 us, then 4 sub-buckets per power of two (so
 * a percentile is within 25 % of the true value, and never above the
 * largest value seen), up to 2^32 us; longer waits land in the last bucket.
 *
 * Concurrency: every counter is a C11 atomic updated with relaxed
 * fetch-adds, and any thread may update or read at any time.  Why not
 * per-thread counters merged on read: call counters are updated by the
 * loop thread alone (the one thread that queues replies), so their cache
 * lines stay in that core and an uncontended `lock add' costs a few ns
 * against the microseconds of a call; the disk counters are updated by
 * workers after a syscall of microseconds or more.  Per-thread copies would
 * need thread registration and a merge on read for no measurable gain.
 * A reader sees each value exact, but the set is not a snapshot: a
 * procedure's calls may be one ahead of its histogram for a moment.
 *
 * Ownership: stats_new() allocates; the service (service.h svc->stats)
 * keeps it for the life of the process.  Every update function accepts a
 * NULL struct stats and then does nothing (unit tests build services
 * without one). */
#ifndef BR_STATS_H
#define BR_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

#define STATS_HIST_EMAX 31     /* last power of two with its own buckets */
#define STATS_HIST_BUCKETS (4 + (STATS_HIST_EMAX - 1) * 4)

/* A latency histogram in microseconds (zeroed = empty). */
struct stats_hist {
	_Atomic uint64_t n[STATS_HIST_BUCKETS];
	_Atomic uint64_t max_us;
	_Atomic uint64_t sum_us;
};

void stats_hist_add(struct stats_hist *h, uint64_t us);
/* The q-quantile (0 < q <= 1) in microseconds: the largest value of the
 * bucket holding the ceil(q * count)-th smallest value, capped at the
 * maximum.  0 for an empty histogram. */
uint64_t stats_hist_quantile(const struct stats_hist *h, double q);

struct stats;

struct stats *stats_new(void);
void stats_free(struct stats *st);

/* One answered call of procedure proc (< BR_NPROCS; others are ignored):
 * the loop thread calls it as the reply is queued.  ns: its latency. */
void stats_call(struct stats *st, uint32_t proc, bool error,
		uint64_t bytes_in, uint64_t bytes_out, int64_t ns);
/* Disk I/O of the data procedures (READ, WRITE, COPY_RANGE, READ_CHUNK,
 * and the chunk index hashing files for CHUNKMAP): bytes moved and the
 * time the syscalls took. */
void stats_disk(struct stats *st, bool write, uint64_t bytes, int64_t ns);
/* Connections: accepted (opened), closed, refused at accept. */
void stats_conn_open(struct stats *st);
void stats_conn_closed(struct stats *st);
void stats_conn_refused(struct stats *st);

/* What a reader gets for one procedure. */
struct stats_proc {
	uint64_t calls, errors, bytes_in, bytes_out;
	uint64_t p50_us, p90_us, p99_us, max_us, sum_us;
};

struct stats_totals {
	uint64_t conns_current, conns_total, conns_refused;
	uint64_t disk_read_bytes, disk_write_bytes;
	uint64_t disk_read_ns, disk_write_ns;
};

void stats_read_proc(const struct stats *st, uint32_t proc, struct stats_proc *out);
void stats_read_totals(const struct stats *st, struct stats_totals *out);

#endif
