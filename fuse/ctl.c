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
 * The names are stable: `bramble stats MOUNT' reads them.
 *
 * stage_socket=PATH (when there is one) is where an ordinary user's
 * `bramble stage` asks this bramblefs to stage for them (stagereq.h). */
#include <string.h>
#include <unistd.h>

#include "bfs.h"
#include "chunkfs.h"
#include "proto.h"
#include "record.h"
#include "stagereq.h"

void ctl_render(struct bfs *fs, const char *mountpoint)
{
	const struct bfs_opts *o = &fs->opts;

	buf_reset(&fs->ctl);
	buf_addf(&fs->ctl, "server=%s\n", o->host);
	buf_addf(&fs->ctl, "port=%u\n", o->port);
	buf_addf(&fs->ctl, "export=%s\n", o->source);
	buf_addf(&fs->ctl, "subdir=%s\n", o->subdir);
	buf_addf(&fs->ctl, "mountpoint=%s\n", mountpoint ? mountpoint : "");
	buf_addf(&fs->ctl, "version=%s\n", PACKAGE_VERSION);
	buf_addf(&fs->ctl, "attr_timeout=%g\n", o->attr_timeout);
	buf_addf(&fs->ctl, "entry_timeout=%g\n", o->entry_timeout);
	buf_addf(&fs->ctl, "negative_timeout=%g\n", o->negative_timeout);
	buf_addf(&fs->ctl, "timeout=%g\n", o->timeout);
	buf_addf(&fs->ctl, "hard=%d\n", o->hard ? 1 : 0);
	buf_addf(&fs->ctl, "max_data=%u\n", fs->max_data);
	buf_addf(&fs->ctl, "read_only=%d\n", fs->read_only);
	buf_addf(&fs->ctl, "cache=%s\n", o->cache_mode == BRAMBLE_CACHE_DISK ? "disk" :
		 o->cache_mode == BRAMBLE_CACHE_RAM ? "ram" : "off");
	buf_addf(&fs->ctl, "cache_dir=%s\n", o->cache_dir ? o->cache_dir : BRAMBLE_CACHE_DIR);
	buf_addf(&fs->ctl, "pid=%ld\n", (long)getpid());
	if (o->record_dir)
		buf_addf(&fs->ctl, "record=%s\n", o->record_dir);
	/* The socket the file names is opened with it: once, when the mount
	 * is ready (this runs then, also for -o bg). */
	if (!fs->stagereq)
		stagereq_start(fs);
	if (fs->stagereq) {
		buf_addf(&fs->ctl, "stage_socket=%s\n", stagereq_path(fs->stagereq));
		buf_addf(&fs->ctl, "stage_user_max=%s\n", o->stage_user_max ?
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
	chunkfs_stats(fs->chunks, &rd, &cs);
	KV("read.", rd, reads);
	KV("read.", rd, bytes_read);
	KV("read.", rd, front_hits);
	KV("read.", rd, cache_hits);
	KV("read.", rd, fetches);
	KV("read.", rd, bytes_from_cache);
	KV("read.", rd, bytes_from_server);
	KV("read.", rd, waits);
	KV("read.", rd, readahead);
	KV("read.", rd, stale);
	KV("read.", rd, passed);
	KV("read.", rd, cache_put_errors);
	KV("cache.", cs, quota);
	KV("cache.", cs, used);
	KV("cache.", cs, chunks);
	KV("cache.", cs, pinned_chunks);
	KV("cache.", cs, pinned_bytes);
	KV("cache.", cs, hits);
	KV("cache.", cs, misses);
	KV("cache.", cs, bytes_hit);
	KV("cache.", cs, puts);
	KV("cache.", cs, bytes_put);
	KV("cache.", cs, dedup_puts);
	KV("cache.", cs, evictions);
	KV("cache.", cs, bytes_evicted);
	KV("cache.", cs, verify_failures);
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
		buf_addf(out, "rpc.%s.calls=%llu\n", procs[i].name,
			 (unsigned long long)procs[i].calls);
		buf_addf(out, "rpc.%s.errors=%llu\n", procs[i].name,
			 (unsigned long long)procs[i].errors);
		buf_addf(out, "rpc.%s.us=%llu\n", procs[i].name,
			 (unsigned long long)procs[i].total_us);
	}
	buf_addf(out, "conn.connects=%llu\n", (unsigned long long)conn.connects);
	buf_addf(out, "conn.resent=%llu\n", (unsigned long long)conn.resent);
	buf_addf(out, "conn.timeouts=%llu\n", (unsigned long long)conn.timeouts);
	buf_addf(out, "conn.in_flight=%u\n", conn.in_flight);
	ctl_add_chunks(fs, out);
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
