/* ctl.c - the control file `.bramble' at the mount root.
 *
 * Found by lookup only (never listed, so `cp -a /clusterfs` does not copy
 * it), read-only, owned by root.  Its `key=value' lines tell the bramble
 * tool which server and options this mount uses (fixed when the mount
 * starts: st_size is their length), then the mount's counters as of the
 * open (read through direct I/O, so past st_size):
 *   rpc.NAME.calls / .errors / .us   libbramble's calls per procedure
 *   conn.connects / .resent / .timeouts / .in_flight
 *   read.*    where read bytes came from (bramble_reader_stats)
 *   cache.*   the node cache: size now, and this mount's use of it
 *   lease.*, cb.*                    callbacks and what they saved (lease.h)
 *   record.*  learned sets (record.h); opening .bramble writes them first
 *   wb.*      write-behind: writes, merged, requests, ... (wb.h)
 * bramble_ctl.h names every key and says the format: `bramble stats',
 * `bench', `stage' and `record' read it, and so do scripts.
 *
 * stage_socket=PATH (when there is one) is where an ordinary user's
 * `bramble stage` asks this bramblefs to stage for them (stagereq.h). */
#include <string.h>
#include <unistd.h>

#include "bfs.h"
#include "bramble_ctl.h"
#include "bramble_peers.h"
#include "chunkfs.h"
#include "lease.h"
#include "proto.h"
#include "record.h"
#include "stagereq.h"
#include "wb.h"

/* A settings line, "KEY=VALUE\n", with VALUE printed by fmt. */
#define CTL_LINE(key, fmt) key "=" fmt "\n"

void ctl_render(struct bfs *fs, const char *mountpoint)
{
	const struct bfs_opts *o = &fs->opts;
	struct buf *b = &fs->ctl;

	buf_reset(b);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_SERVER, "%s"), o->host);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_PORT, "%u"), o->port);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_EXPORT, "%s"), o->source);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_SUBDIR, "%s"), o->subdir);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_MOUNTPOINT, "%s"), mountpoint ? mountpoint : "");
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_VERSION, "%s"), PACKAGE_VERSION);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_ATTR_TIMEOUT, "%g"), o->attr_timeout);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_ENTRY_TIMEOUT, "%g"), o->entry_timeout);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_NEGATIVE_TIMEOUT, "%g"), o->negative_timeout);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_TIMEOUT, "%g"), o->timeout);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_HARD, "%d"), o->hard ? 1 : 0);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_MAX_DATA, "%u"), fs->max_data);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_READ_ONLY, "%d"), fs->read_only);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_CACHE, "%s"),
		 bramble_cache_mode_name(o->cache_mode));
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_CACHE_DIR, "%s"),
		 o->cache_dir ? o->cache_dir : BRAMBLE_CACHE_DIR);
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_PEERS, "%u"), chunkfs_peer_port(fs->chunks));
	buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_PID, "%ld"), (long)getpid());
	if (o->record_dir)
		buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_RECORD, "%s"), o->record_dir);
	/* The socket the file names is opened with it: once, when the mount
	 * is ready (this runs then, also for -o bg). */
	if (!fs->stagereq)
		stagereq_start(fs);
	if (fs->stagereq) {
		buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_STAGE_SOCKET, "%s"),
			 stagereq_path(fs->stagereq));
		buf_addf(b, CTL_LINE(BRAMBLE_CTL_KEY_STAGE_USER_MAX, "%s"), o->stage_user_max ?
			 o->stage_user_max : BFS_STAGE_USER_MAX_DEFAULT);
	}
}

#define KV(prefix, s, field) \
	buf_addf(out, prefix "%s=%llu\n", #field, (unsigned long long)(s).field)

/* The chunk reader's and the node cache's counters. */
static void ctl_add_chunks(struct bfs *fs, struct buf *out)
{
	struct bramble_reader_stats rd;
	struct bramble_cache_stats cs;

	if (!fs->chunks)
		return;  /* cache=off */
	if (chunkfs_peer_port(fs->chunks)) {
		struct bramble_peer_stats ps;

		bramble_peers_get_stats(fs->cl, &ps);
		KV(BRAMBLE_CTL_PREFIX_PEER, ps, from_peers);
		KV(BRAMBLE_CTL_PREFIX_PEER, ps, from_peers_bytes);
		KV(BRAMBLE_CTL_PREFIX_PEER, ps, failures);
		KV(BRAMBLE_CTL_PREFIX_PEER, ps, served);
		KV(BRAMBLE_CTL_PREFIX_PEER, ps, served_bytes);
		KV(BRAMBLE_CTL_PREFIX_PEER, ps, refused);
	}
	chunkfs_stats(fs->chunks, &rd, &cs);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, reads);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, bytes_read);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, front_hits);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, cache_hits);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, fetches);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, bytes_from_cache);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, bytes_from_server);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, wire_from_server);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, zstd_fetches);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, waits);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, readahead);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, stale);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, passed);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, cache_put_errors);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, unmapped);
	KV(BRAMBLE_CTL_PREFIX_READ, rd, filled);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, quota);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, used);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, chunks);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, pinned_chunks);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, pinned_bytes);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, hits);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, misses);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, bytes_hit);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, puts);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, bytes_put);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, dedup_puts);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, evictions);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, bytes_evicted);
	KV(BRAMBLE_CTL_PREFIX_CACHE, cs, verify_failures);
}

static void ctl_add_wb(struct bfs *fs, struct buf *out)
{
	struct wb_stats ws;

	if (!fs->wb)
		return;
	wb_get_stats(fs->wb, &ws);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, writes);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, merged);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, requests);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, held);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, hold_timeouts);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, attrs);
	KV(BRAMBLE_CTL_PREFIX_WB, ws, attrs_merged);
}

void ctl_snapshot(struct bfs *fs, struct buf *out)
{
	struct bramble_proc_stats procs[BRAMBLE_NPROCS];
	struct bramble_conn_stats conn;

	buf_add(out, fs->ctl.data, fs->ctl.len);
	record_ctl(fs, out);  /* first writes the changed sets */
	if (!fs->cl)
		return;  /* -o bg, not connected yet */
	bramble_stats(fs->cl, procs, BRAMBLE_NPROCS, &conn);
	for (size_t i = 0; i < BRAMBLE_NPROCS; i++) {
		if (!procs[i].calls)
			continue;
		buf_addf(out, BRAMBLE_CTL_PREFIX_RPC "%s.calls=%llu\n", procs[i].name,
			 (unsigned long long)procs[i].calls);
		buf_addf(out, BRAMBLE_CTL_PREFIX_RPC "%s.errors=%llu\n", procs[i].name,
			 (unsigned long long)procs[i].errors);
		buf_addf(out, BRAMBLE_CTL_PREFIX_RPC "%s.us=%llu\n", procs[i].name,
			 (unsigned long long)procs[i].total_us);
	}
	KV(BRAMBLE_CTL_PREFIX_CONN, conn, connects);
	KV(BRAMBLE_CTL_PREFIX_CONN, conn, resent);
	KV(BRAMBLE_CTL_PREFIX_CONN, conn, timeouts);
	KV(BRAMBLE_CTL_PREFIX_CONN, conn, in_flight);
	ctl_add_chunks(fs, out);
	ctl_add_wb(fs, out);
	lease_ctl(fs, out);
}

void ctl_stat(const struct bfs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	/* Its FUSE inode number is reserved (INODE_CTL_INO); st_ino must not
	 * look like a server object's either (2 is the root of ext4). */
	st->st_ino = BFS_CTL_ST_INO;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)fs->ctl.len;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((fs->ctl.len + 511) / 512);
}
