/* cmd_stats.c - `bramble stats`: the server's counters (STATS) as a table,
 * JSON, the Prometheus text exposition format, or rates every few
 * seconds; for a mount, its own counters too (stats_mount.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "json.h"
#include "stats_mount.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

static const char stats_usage[] =
	"usage: bramble stats [OPTIONS] HOST[:PORT]|MOUNT\n"
	"  --json          one JSON object\n"
	"  --prometheus    the Prometheus text exposition format (for\n"
	"                  node_exporter's textfile collector)\n"
	"  --watch SEC     rates (per second) every SEC seconds until interrupted\n"
	"  --count N       with --watch: stop after N intervals\n"
	"  -t SECONDS      how long to wait for the server (default 5)\n"
	"The server's counters since it started; for a MOUNT also the mount's\n"
	"own (calls it made, where its reads came from, its node cache).\n";

enum fmt { FMT_TABLE, FMT_JSON, FMT_PROM };

#define MB 1e6

static double per_sec(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0;
}

/* A named counter of the reply (0 when the server has none of that name). */
static uint64_t counter(const struct bramble_server_stats *s, const char *name)
{
	for (size_t i = 0; i < s->ncounters; i++)
		if (!strcmp(s->counters[i].name, name))
			return s->counters[i].value;
	return 0;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* Compressed chunks (a server that has the counters): what chunk
 * replies cost on the wire against their bytes. */
static void print_wire_line(const struct bramble_server_stats *s)
{
	uint64_t wire = counter(s, "chunk_wire_bytes_total");
	uint64_t file = counter(s, "chunk_file_bytes_total");

	if (!file)
		return;
	printf("chunk wire: %.2f MB sent for %.2f MB of chunks (%.1f %%); %llu zstd, "
	       "%llu raw, %llu incompressible; codec %.0f MB/s\n",
	       (double)wire / MB, (double)file / MB, pct(wire, file),
	       (unsigned long long)counter(s, "chunk_sent_zstd_total"),
	       (unsigned long long)counter(s, "chunk_sent_raw_total"),
	       (unsigned long long)counter(s, "chunk_incompressible_total"),
	       (double)counter(s, "chunk_codec_bytes_per_second") / 1e6);
}

/* The hot-chunk cache and the chunk index, from the named counters. */
static void print_chunk_lines(const struct bramble_server_stats *s)
{
	uint64_t hits = counter(s, "chunk_cache_hits_total");
	uint64_t misses = counter(s, "chunk_cache_misses_total");

	if (!s->ncounters)
		return;
	printf("chunk cache: %llu hits, %llu misses (%.1f %% hits), %.2f MB from RAM, "
	       "%llu evictions; %.2f of %.2f MB used, %llu chunks\n",
	       (unsigned long long)hits, (unsigned long long)misses,
	       pct(hits, hits + misses), (double)counter(s, "chunk_cache_hit_bytes_total") / MB,
	       (unsigned long long)counter(s, "chunk_cache_evictions_total"),
	       (double)counter(s, "chunk_cache_used_bytes") / MB,
	       (double)counter(s, "chunk_cache_bound_bytes") / MB,
	       (unsigned long long)counter(s, "chunk_cache_entries"));
	printf("chunk index: %llu files hashed (%.2f MB read), %llu chunks read from "
	       "disk (%.2f MB)\n",
	       (unsigned long long)counter(s, "chunk_files_hashed_total"),
	       (double)counter(s, "chunk_hashed_bytes_total") / MB,
	       (unsigned long long)counter(s, "chunk_reads_total"),
	       (double)counter(s, "chunk_read_bytes_total") / MB);
	print_wire_line(s);
}

/* ---- table */

static void print_table(const char *server, const struct bramble_server_stats *s)
{
	uint64_t up = s->uptime_ms / 1000;

	printf("server %s, up %llud %02llu:%02llu:%02llu\n", server,
	       (unsigned long long)(up / 86400), (unsigned long long)(up % 86400 / 3600),
	       (unsigned long long)(up % 3600 / 60), (unsigned long long)(up % 60));
	printf("%-12s %10s %8s %10s %10s %8s %8s %8s %8s\n", "procedure", "calls",
	       "errors", "MB in", "MB out", "p50 us", "p90 us", "p99 us", "max us");
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct bramble_server_proc_stats *p = &s->procs[i];

		if (p->calls == 0)
			continue;
		printf("%-12s %10llu %8llu %10.2f %10.2f %8llu %8llu %8llu %8llu\n",
		       p->name, (unsigned long long)p->calls,
		       (unsigned long long)p->errors, (double)p->bytes_in / MB,
		       (double)p->bytes_out / MB, (unsigned long long)p->p50_us,
		       (unsigned long long)p->p90_us, (unsigned long long)p->p99_us,
		       (unsigned long long)p->max_us);
	}
	printf("connections: %llu open, %llu accepted, %llu refused\n",
	       (unsigned long long)s->conns_current, (unsigned long long)s->conns_total,
	       (unsigned long long)s->conns_refused);
	printf("disk: read %.2f MB (%.1f MB/s while reading), "
	       "wrote %.2f MB (%.1f MB/s while writing)\n",
	       (double)s->disk_read_bytes / MB,
	       per_sec(s->disk_read_bytes, s->disk_read_ns) / MB,
	       (double)s->disk_write_bytes / MB,
	       per_sec(s->disk_write_bytes, s->disk_write_ns) / MB);
	print_chunk_lines(s);
}

/* ---- JSON (by hand: json.h escapes the strings) */

static void json_u64(const char *key, uint64_t v, bool comma)
{
	printf("\"%s\": %llu%s", key, (unsigned long long)v, comma ? ", " : "");
}

static void print_json(const char *server, const struct bramble_server_stats *s,
		       const char *mount, const struct mount_counters *mc)
{
	fputs("{\"server\": ", stdout);
	json_str(server);
	printf(", \"start_time\": %lld, ", (long long)s->start_time);
	json_u64("uptime_ms", s->uptime_ms, true);
	fputs("\"procedures\": {", stdout);
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct bramble_server_proc_stats *p = &s->procs[i];

		printf("%s\n  ", i ? "," : "");
		json_str(p->name);
		fputs(": {", stdout);
		json_u64("calls", p->calls, true);
		json_u64("errors", p->errors, true);
		json_u64("bytes_in", p->bytes_in, true);
		json_u64("bytes_out", p->bytes_out, true);
		json_u64("p50_us", p->p50_us, true);
		json_u64("p90_us", p->p90_us, true);
		json_u64("p99_us", p->p99_us, true);
		json_u64("max_us", p->max_us, true);
		json_u64("sum_us", p->sum_us, false);
		putchar('}');
	}
	fputs("},\n \"connections\": {", stdout);
	json_u64("current", s->conns_current, true);
	json_u64("total", s->conns_total, true);
	json_u64("refused", s->conns_refused, false);
	fputs("},\n \"disk\": {", stdout);
	json_u64("read_bytes", s->disk_read_bytes, true);
	json_u64("write_bytes", s->disk_write_bytes, true);
	json_u64("read_ns", s->disk_read_ns, true);
	json_u64("write_ns", s->disk_write_ns, false);
	fputs("},\n \"counters\": {", stdout);
	for (size_t i = 0; i < s->ncounters; i++)
		json_u64(s->counters[i].name, s->counters[i].value, i + 1 < s->ncounters);
	putchar('}');
	if (mount) {
		fputs(",\n \"mount\": ", stdout);
		mount_print_json(mount, mc);
	}
	fputs("}\n", stdout);
}

/* ---- Prometheus text exposition format (version 0.0.4): a family's
 * HELP and TYPE lines come once, before all its samples; label values
 * escape backslash, double quote and newline. */

static void prom_label(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
	putchar('"');
}

static void prom_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{server="..."[,proc="..."][,quantile="..."]} */
static void prom_series(const char *name, const char *server, const char *proc,
			const char *quantile)
{
	printf("%s{server=", name);
	prom_label(server);
	if (proc) {
		fputs(",proc=", stdout);
		prom_label(proc);
	}
	if (quantile)
		printf(",quantile=\"%s\"", quantile);
	putchar('}');
}

static void prom_u64(const char *name, const char *server, const char *proc, uint64_t v)
{
	prom_series(name, server, proc, NULL);
	printf(" %llu\n", (unsigned long long)v);
}

static void prom_sec(const char *name, const char *server, const char *proc,
		     const char *quantile, uint64_t us)
{
	prom_series(name, server, proc, quantile);
	printf(" %.6f\n", (double)us / 1e6);
}

/* The named counters: bramble_server_NAME, a counter when NAME ends in
 * _total (the server's convention), else a gauge. */
static void prom_counters(const char *server, const struct bramble_server_stats *s)
{
	static const char *const help[][2] = {
		{ "chunk_cache_hits_total", "READ_CHUNK calls answered from the hot-chunk cache." },
		{ "chunk_cache_misses_total", "READ_CHUNK calls that read the disk." },
		{ "chunk_cache_hit_bytes_total", "Bytes answered from the hot-chunk cache." },
		{ "chunk_cache_inserts_total", "Chunks put in the hot-chunk cache." },
		{ "chunk_cache_evictions_total", "Chunks evicted to make room." },
		{ "chunk_cache_waits_total", "Lookups that waited for another's disk read." },
		{ "chunk_cache_used_bytes", "RAM held by the hot-chunk cache." },
		{ "chunk_cache_bound_bytes", "Bound of the hot-chunk cache (--cache-mem)." },
		{ "chunk_cache_entries", "Chunks in the hot-chunk cache." },
		{ "chunk_reads_total", "Chunks READ_CHUNK read from disk." },
		{ "chunk_read_bytes_total", "Bytes READ_CHUNK read from disk." },
		{ "chunk_files_hashed_total", "Files (re)hashed by the chunk index." },
		{ "chunk_hashed_bytes_total", "Bytes read to hash files." },
		{ "chunk_map_hits_total", "Chunk maps served from the index without hashing." },
		{ "chunk_files_from_reads_total", "Files mapped from the READs that read them (no hashing pass)." },
		{ "chunk_bytes_from_reads_total", "Bytes of those files." },
		{ "chunk_scans_abandoned_total", "Files whose READs stopped being in order before the end." },
		{ "chunk_stale_dropped_total", "Index entries dropped by READ_CHUNK as stale." },
		{ "chunk_wire_bytes_total", "Chunk bytes sent on the wire (compressed or not)." },
		{ "chunk_file_bytes_total", "Uncompressed bytes of the chunks sent." },
		{ "chunk_sent_zstd_total", "Chunks sent zstd-compressed." },
		{ "chunk_sent_raw_total", "Chunks sent raw." },
		{ "chunk_compressed_total", "Chunks compressed (once per chunk while cached)." },
		{ "chunk_incompressible_total", "Chunks whose compression did not pay." },
		{ "chunk_zstd_skipped_slow_total", "Chunks sent raw: the codec was slower than the link." },
		{ "chunk_codec_in_bytes_total", "Bytes given to the compressor." },
		{ "chunk_codec_ns_total", "CPU nanoseconds the compressor took." },
		{ "chunk_codec_bytes_per_second", "Compressor speed now, per CPU second (moving average)." },
		{ "chunk_zstd_saved_permille", "Share of bytes compression saves, per mille (moving average)." },
		{ "chunk_link_bytes_per_second", "Link speed the last compression decision saw." },
		{ "chunk_cache_zstd_entries", "Hot-cache chunks kept with a compressed form." },
		{ "chunk_cache_zstd_bytes", "Bytes of those compressed forms." },
	};
	char name[64];

	for (size_t i = 0; i < s->ncounters; i++) {
		const char *n = s->counters[i].name, *h = "A server counter.";
		size_t l = strlen(n);

		for (size_t k = 0; k < ARRAY_SIZE(help); k++)
			if (!strcmp(help[k][0], n))
				h = help[k][1];
		snprintf(name, sizeof(name), "bramble_server_%s", n);
		prom_head(name, l > 6 && !strcmp(n + l - 6, "_total") ? "counter" : "gauge", h);
		prom_u64(name, server, NULL, s->counters[i].value);
	}
}

enum { F_CALLS, F_ERRORS, F_IN, F_OUT, F_NFIELDS };

static uint64_t proc_field(const struct bramble_server_proc_stats *p, int f)
{
	return f == F_CALLS ? p->calls : f == F_ERRORS ? p->errors :
	       f == F_IN ? p->bytes_in : p->bytes_out;
}

static void print_prom(const char *server, const struct bramble_server_stats *s)
{
	static const char *const names[F_NFIELDS][2] = {
		{ "bramble_server_calls_total", "Calls answered, by procedure." },
		{ "bramble_server_errors_total",
		  "Calls answered with an error status, by procedure." },
		{ "bramble_server_received_bytes_total",
		  "Request records received (record marks included), by procedure." },
		{ "bramble_server_sent_bytes_total",
		  "Reply records sent (record marks included), by procedure." },
	};
	const char *lat = "bramble_server_latency_seconds";

	for (int f = 0; f < F_NFIELDS; f++) {
		prom_head(names[f][0], "counter", names[f][1]);
		for (size_t i = 0; i < s->nprocs; i++)
			prom_u64(names[f][0], server, s->procs[i].name,
				 proc_field(&s->procs[i], f));
	}
	prom_head(lat, "summary", "Time from a request read to its reply queued, "
		  "by procedure (quantiles within 25 %).");
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct bramble_server_proc_stats *p = &s->procs[i];

		prom_sec(lat, server, p->name, "0.5", p->p50_us);
		prom_sec(lat, server, p->name, "0.9", p->p90_us);
		prom_sec(lat, server, p->name, "0.99", p->p99_us);
		prom_sec("bramble_server_latency_seconds_sum", server, p->name, NULL,
			 p->sum_us);
		prom_u64("bramble_server_latency_seconds_count", server, p->name, p->calls);
	}
	prom_head("bramble_server_latency_max_seconds", "gauge",
		  "Longest call since the server started, by procedure.");
	for (size_t i = 0; i < s->nprocs; i++)
		prom_sec("bramble_server_latency_max_seconds", server,
			 s->procs[i].name, NULL, s->procs[i].max_us);
	prom_head("bramble_server_connections", "gauge", "Open client connections.");
	prom_u64("bramble_server_connections", server, NULL, s->conns_current);
	prom_head("bramble_server_connections_accepted_total", "counter",
		  "Client connections accepted.");
	prom_u64("bramble_server_connections_accepted_total", server, NULL, s->conns_total);
	prom_head("bramble_server_connections_refused_total", "counter",
		  "Client connections refused (--max-conns, networks).");
	prom_u64("bramble_server_connections_refused_total", server, NULL,
		 s->conns_refused);
	prom_head("bramble_server_disk_read_bytes_total", "counter",
		  "Bytes read from files by READ, READ_CHUNK and the chunk index.");
	prom_u64("bramble_server_disk_read_bytes_total", server, NULL, s->disk_read_bytes);
	prom_head("bramble_server_disk_written_bytes_total", "counter",
		  "Bytes written to files by WRITE and COPY_RANGE.");
	prom_u64("bramble_server_disk_written_bytes_total", server, NULL,
		 s->disk_write_bytes);
	prom_head("bramble_server_disk_read_seconds_total", "counter",
		  "Time spent in those reads.");
	prom_sec("bramble_server_disk_read_seconds_total", server, NULL, NULL,
		 s->disk_read_ns / 1000);
	prom_head("bramble_server_disk_write_seconds_total", "counter",
		  "Time spent in those writes (and their syncs).");
	prom_sec("bramble_server_disk_write_seconds_total", server, NULL, NULL,
		 s->disk_write_ns / 1000);
	prom_head("bramble_server_uptime_seconds", "gauge", "Seconds since the server started.");
	prom_sec("bramble_server_uptime_seconds", server, NULL, NULL, s->uptime_ms * 1000);
	prom_counters(server, s);
}

/* ---- --watch: deltas between two readings */

static void print_rates(const struct bramble_server_stats *a,
			const struct bramble_server_stats *b)
{
	double dt = (double)(b->uptime_ms - a->uptime_ms) / 1000;
	char when[16];
	time_t now = time(NULL);
	struct tm tm;

	if (dt <= 0)
		dt = 1e-3;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s  %-12s %10s %8s %10s %10s %10s\n", when, "procedure", "calls/s",
	       "errors/s", "MB/s in", "MB/s out", "avg us");
	for (size_t i = 0; i < b->nprocs && i < a->nprocs; i++) {
		const struct bramble_server_proc_stats *p = &a->procs[i], *q = &b->procs[i];
		uint64_t n = q->calls - p->calls;

		if (n == 0)
			continue;
		printf("          %-12s %10.1f %8.1f %10.2f %10.2f %10.0f\n", q->name,
		       (double)n / dt, (double)(q->errors - p->errors) / dt,
		       (double)(q->bytes_in - p->bytes_in) / MB / dt,
		       (double)(q->bytes_out - p->bytes_out) / MB / dt,
		       (double)(q->sum_us - p->sum_us) / (double)n);
	}
	printf("          connections %llu open, %.1f accepted/s; disk read %.2f MB/s, "
	       "write %.2f MB/s\n", (unsigned long long)b->conns_current,
	       (double)(b->conns_total - a->conns_total) / dt,
	       (double)(b->disk_read_bytes - a->disk_read_bytes) / MB / dt,
	       (double)(b->disk_write_bytes - a->disk_write_bytes) / MB / dt);
	if (b->ncounters && a->ncounters) {
		uint64_t h = counter(b, "chunk_cache_hits_total") -
			     counter(a, "chunk_cache_hits_total");
		uint64_t m = counter(b, "chunk_cache_misses_total") -
			     counter(a, "chunk_cache_misses_total");

		printf("          chunk cache %.1f hits/s, %.1f misses/s (%.0f %% hits), "
		       "%.2f MB/s from RAM, %.2f MB used\n", (double)h / dt, (double)m / dt,
		       pct(h, h + m), (double)(counter(b, "chunk_cache_hit_bytes_total") -
					      counter(a, "chunk_cache_hit_bytes_total")) / MB / dt,
		       (double)counter(b, "chunk_cache_used_bytes") / MB);
	}
	fflush(stdout);
}

static int fetch(struct bramble *b, struct bramble_server_stats *s)
{
	struct bramble_cred cr = { .uid = (uint32_t)getuid(), .gid = (uint32_t)getgid() };
	int rc = bramble_server_stats(b, &cr, s);

	if (rc == -ENOSYS)
		fprintf(stderr, "bramble: %s has no STATS (a server older than "
			"protocol revision 3)\n", bramble_server_addr(b));
	else if (rc < 0)
		fprintf(stderr, "bramble: STATS from %s failed: %s\n",
			bramble_server_addr(b), strerror(-rc));
	return rc;
}

static int watch(struct bramble *b, const char *mount, int64_t every_ms,
		 unsigned long long count)
{
	struct bramble_server_stats *prev = xmalloc(sizeof(*prev));
	struct bramble_server_stats *cur = xmalloc(sizeof(*cur));
	struct mount_counters mprev = { 0 }, mcur = { 0 };
	int rc = fetch(b, prev);

	if (mount)
		mount_counters_read(mount, &mprev);

	for (unsigned long long i = 0; rc == 0 && (count == 0 || i < count); i++) {
		struct bramble_server_stats *t;
		struct timespec ts = { every_ms / 1000, (every_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) < 0)
			;
		rc = fetch(b, cur);
		if (rc < 0)
			break;
		print_rates(prev, cur);
		if (mount) {
			mount_counters_read(mount, &mcur);
			mount_print_rates(&mprev, &mcur, (double)every_ms / 1000);
			fflush(stdout);
			mount_counters_release(&mprev);
			mprev = mcur;
			memset(&mcur, 0, sizeof(mcur));
		}
		t = prev;
		prev = cur;
		cur = t;
	}
	mount_counters_release(&mprev);
	free(prev);
	free(cur);
	return rc < 0 ? 1 : 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	int64_t timeout_ms = TARGET_TIMEOUT_MS, every_ms = 0;
	unsigned long long count = 0;
	enum fmt fmt = FMT_TABLE;
	struct bramble_server_stats *s;
	struct mount_counters mc = { 0 };
	struct bramble *b = NULL;
	struct target t;
	int c, rc;

	while ((c = getopt_long(argc, argv, "t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_seconds_ms(optarg, &timeout_ms) < 0 || timeout_ms < 1)
				goto bad;
			break;
		case 'j':
			fmt = FMT_JSON;
			break;
		case 'p':
			fmt = FMT_PROM;
			break;
		case 'w':
			if (parse_seconds_ms(optarg, &every_ms) < 0 || every_ms < 100) {
				fprintf(stderr, "bramble: --watch wants seconds >= 0.1\n");
				return 2;
			}
			break;
		case 'n':
			if (parse_uint(optarg, 1, 1000000000, &count) < 0)
				goto bad;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1)
		goto bad;
	if (every_ms && fmt != FMT_TABLE) {
		fprintf(stderr, "bramble: --watch prints a table of rates; it does not "
			"combine with --json or --prometheus\n");
		return 2;
	}
	if (target_open(argv[optind], (unsigned int)timeout_ms, &t, &b) < 0)
		return 1;
	if (every_ms) {
		rc = watch(b, t.mount, every_ms, count);
	} else {
		s = xmalloc(sizeof(*s));
		rc = fetch(b, s) < 0 ? 1 : 0;
		if (rc == 0 && t.mount && (c = mount_counters_read(t.mount, &mc)) < 0) {
			fprintf(stderr, "bramble: cannot read %s/.bramble: %s\n", t.mount,
				strerror(-c));
			rc = 1;
		}
		if (rc == 0 && fmt == FMT_TABLE) {
			print_table(bramble_server_addr(b), s);
			if (t.mount)
				mount_print_table(t.mount, &mc);
		} else if (rc == 0 && fmt == FMT_JSON) {
			print_json(bramble_server_addr(b), s, t.mount, &mc);
		} else if (rc == 0) {
			print_prom(bramble_server_addr(b), s);
			if (t.mount)
				mount_print_prom(t.mount, &mc);
		}
		mount_counters_release(&mc);
		free(s);
	}
	bramble_free(b);
	target_release(&t);
	return rc;
bad:
	fputs(stats_usage, stderr);
	return 2;
}
