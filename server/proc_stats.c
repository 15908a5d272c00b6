/* proc_stats.c - STATS: the server's counters (stats.h) and the named
 * counters of the chunk cache, the chunk index and the callbacks, on the
 * wire.  Any user may read them: they name no file and no user. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "chunkcache.h"
#include "chunkidx.h"
#include "peers.h"
#include "chunkscan.h"
#include "chunkzip.h"
#include "proc.h"
#include "stats.h"
#include "util.h"
#include "watch.h"
#include "xalloc.h"

static void proc_entry(const struct stats *st, uint32_t proc, br_proc_stats *e)
{
	struct stats_proc s;

	stats_read_proc(st, proc, &s);
	e->name = xstrdup(br_proc_name(proc));
	e->calls = s.calls;
	e->errors = s.errors;
	e->bytes_in = s.bytes_in;
	e->bytes_out = s.bytes_out;
	e->lat_p50_us = s.p50_us;
	e->lat_p90_us = s.p90_us;
	e->lat_p99_us = s.p99_us;
	e->lat_max_us = s.max_us;
	e->lat_sum_us = s.sum_us;
}

/* ---- named counters (BR_STATS_COUNTERS) */

#define NAMED_MAX 48            /* room in the reply; raise with new names */
_Static_assert(NAMED_MAX <= BR_STATS_COUNTERS_MAX, "named counters bound");

static void counter(br_stats_ext_ok *ok, const char *name, uint64_t v)
{
	br_stats_counter *c;

	assert(ok->counters.counters_len < NAMED_MAX);
	c = &ok->counters.counters_val[ok->counters.counters_len++];
	c->name = xstrdup(name);
	c->value = v;
}

/* Compressed chunks (chunkzip.h): what chunk replies cost on the wire
 * against their size, and the codec. */
static void zip_counters(const struct service *svc, const struct chunkcache_stats *cs,
			 br_stats_ext_ok *ok)
{
	struct chunkzip_stats zs;

	chunkzip_get_stats(svc->czip, &zs);
	counter(ok, "chunk_wire_bytes_total", zs.wire_bytes);
	counter(ok, "chunk_file_bytes_total", zs.file_bytes);
	counter(ok, "chunk_sent_zstd_total", zs.sent_zstd);
	counter(ok, "chunk_sent_raw_total", zs.sent_raw);
	counter(ok, "chunk_compressed_total", zs.compressed);
	counter(ok, "chunk_incompressible_total", zs.incompressible);
	counter(ok, "chunk_zstd_skipped_slow_total", zs.skipped_slow);
	counter(ok, "chunk_codec_in_bytes_total", zs.codec_in_bytes);
	counter(ok, "chunk_codec_ns_total", zs.codec_ns);
	counter(ok, "chunk_codec_bytes_per_second", zs.codec_bps);
	counter(ok, "chunk_link_bytes_per_second", zs.link_bps);
	counter(ok, "chunk_zstd_saved_permille", zs.saved_pm);
	counter(ok, "chunk_cache_zstd_entries", cs->zstd_entries);
	counter(ok, "chunk_cache_zstd_bytes", cs->zstd_bytes);
}

/* The hot-chunk cache and the chunk index (whether many nodes reading
 * the same chunks read the disk once shows in hits, misses and
 * chunk_read_bytes), and the callbacks. */
static void named_counters(const struct service *svc, br_stats_ext_ok *ok)
{
	struct chunkcache_stats cs;
	struct chunkidx_stats is;

	chunkcache_get_stats(svc->ccache, &cs);
	memset(&is, 0, sizeof(is));
	if (svc->chunks)
		chunkidx_get_stats(svc->chunks, &is);
	ok->counters.counters_val = xcalloc(NAMED_MAX, sizeof(br_stats_counter));
	counter(ok, "chunk_cache_hits_total", cs.hits);
	counter(ok, "chunk_cache_misses_total", cs.misses);
	counter(ok, "chunk_cache_hit_bytes_total", cs.hit_bytes);
	counter(ok, "chunk_cache_inserts_total", cs.inserts);
	counter(ok, "chunk_cache_evictions_total", cs.evictions);
	counter(ok, "chunk_cache_waits_total", cs.waits);
	counter(ok, "chunk_cache_used_bytes", cs.used);
	counter(ok, "chunk_cache_bound_bytes", cs.bound);
	counter(ok, "chunk_cache_entries", cs.entries);
	counter(ok, "chunk_reads_total", is.chunks_read);
	counter(ok, "chunk_read_bytes_total", is.chunk_bytes_read);
	counter(ok, "chunk_files_hashed_total", is.files_hashed);
	counter(ok, "chunk_hashed_bytes_total", is.bytes_hashed);
	counter(ok, "chunk_map_hits_total", is.map_hits);
	if (svc->scan) {                /* maps built from READs (chunkscan.h) */
		struct chunkscan_stats ss;

		chunkscan_get_stats(svc->scan, &ss);
		counter(ok, "chunk_files_from_reads_total", ss.files);
		counter(ok, "chunk_bytes_from_reads_total", ss.bytes);
		counter(ok, "chunk_scans_abandoned_total", ss.abandoned);
	}
	counter(ok, "chunk_stale_dropped_total", is.stale_dropped);
	zip_counters(svc, &cs, ok);
	if (svc->watch) {               /* callbacks (watch.h) */
		struct watch_stats ws;

		watch_get_stats(svc->watch, &ws);
		counter(ok, "callbacks_sent_total", ws.callbacks);
		counter(ok, "callback_objects_total", ws.objects);
		counter(ok, "watch_dropped_total", ws.dropped);
		counter(ok, "watched_objects", ws.watched);
		counter(ok, "callback_clients", ws.clients);
	}
	if (svc->peers) {               /* peer fan-out (peers.h) */
		struct peers_stats ps;

		peers_get_stats(svc->peers, &ps);
		counter(ok, "peer_services", ps.registered);
		counter(ok, "peer_redirects_total", ps.sent_to_peer);
		counter(ok, "peer_failures_total", ps.peer_failures);
		counter(ok, "peer_server_chunks_total", ps.served_chunks);
		counter(ok, "peer_server_bytes_total", ps.served_bytes);
	}
}

bool_t proc_stats_xdr_res(XDR *x, void *res)
{
	br_stats_ext_res *r = res;

	if (x->x_op != XDR_ENCODE || (r->status == BR_OK &&
				       r->br_stats_ext_res_u.ok.counters.counters_val))
		return xdr_br_stats_ext_res(x, r);
	return xdr_br_stat(x, &r->status) &&
	       (r->status != BR_OK || xdr_br_stats_ok(x, &r->br_stats_ext_res_u.ok.base));
}

/* Any user may: see the top of the file. */
int proc_stats(struct call *c, void *args, void *res)
{
	br_stats_args *a = args;
	br_stats_ext_res *r = res;
	br_stats_ok *ok = &r->br_stats_ext_res_u.ok.base;
	const struct stats *st = c->svc->stats;
	struct stats_totals t;
	u_int n = 0;

	if (a->flags & ~(u_int)BR_STATS_COUNTERS)
		return -EINVAL;
	if (a->flags & BR_STATS_COUNTERS)
		named_counters(c->svc, &r->br_stats_ext_res_u.ok);
	_Static_assert(BR_NPROCS <= BR_STATS_PROCS_MAX, "STATS array bound");
	ok->procs.procs_val = xcalloc(BR_NPROCS, sizeof(br_proc_stats));
	/* Every procedure of the protocol: the server implements them all. */
	for (uint32_t p = 0; p < BR_NPROCS; p++)
		proc_entry(st, p, &ok->procs.procs_val[n++]);
	ok->procs.procs_len = n;
	stats_read_totals(st, &t);
	ok->start_time = c->svc->start_time;
	ok->uptime_ms = (uint64_t)(now_ns() - c->svc->start_ns) / 1000000;
	ok->conns_current = t.conns_current;
	ok->conns_total = t.conns_total;
	ok->conns_refused = t.conns_refused;
	ok->disk_read_bytes = t.disk_read_bytes;
	ok->disk_write_bytes = t.disk_write_bytes;
	ok->disk_read_ns = t.disk_read_ns;
	ok->disk_write_ns = t.disk_write_ns;
	return 0;
}
