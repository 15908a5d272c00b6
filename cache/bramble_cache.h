/* bramble_cache.h - the node-local chunk cache of libbramble (public,
 * beside bramble.h).
 *
 * Chunks are named by the XXH3-128 hash of their bytes (16 bytes,
 * canonical big-endian, as on the wire).  The cache keeps chunks the
 * caller has verified and hands them back only after verifying them
 * again: a reader never sees wrong bytes from it.
 *
 * Disk mode: one directory shared by every process of the node (every
 * bramblefs mount, the `bramble` tools):
 *   DIR/index.db        SQLite (WAL): one row per chunk (length, last use,
 *                       pin count), the pins (hash, owner, expiry), the
 *                       used bytes and the quota
 *   DIR/chunks/ab/<32 hex digits>   the chunk files (0600), ab = first byte
 *   DIR/tmp/<pid>.<n>   chunks being written; DIR/tmp/<pid>.e<32 hex>
 *                       chunks being evicted.  Leftovers of dead processes
 *                       are removed (or put back) at open.
 * Every change of the chunk files happens inside a write transaction of
 * the index (BEGIN IMMEDIATE), so the files and the rows agree across
 * processes: a put renames its file into place just before its COMMIT; an
 * eviction moves files out to tmp/ before its COMMIT and unlinks them
 * after.  A crash leaves at worst a file that no row names (never trusted;
 * removed by verify) or a row whose file is missing or bad (get's
 * verification repairs it).  The quota holds across processes: the used
 * bytes are kept in the index and every put checks them in its transaction.
 *
 * RAM mode: the same API over a bounded in-memory LRU of this process;
 * nothing is shared between processes or kept across opens.
 *
 * Threads: every function is safe to call from any number of threads on
 * one cache (one mutex around the index; file reads and hashing run
 * outside it).  After fork() the child must not use the parent's cache:
 * it opens its own.
 *
 * Errors: 0 (or a length) or -errno. */
#ifndef BRAMBLE_CACHE_H
#define BRAMBLE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BRAMBLE_HASH_LEN 16            /* XXH3-128, canonical big-endian bytes */
#define BRAMBLE_CACHE_DIR "/var/cache/bramble"
#define BRAMBLE_CACHE_OWNER_MAX 255    /* bytes of a pin's owner string */
/* Modes.  Their names ("off", "disk", "ram": -o cache=, .bramble's
 * cache= line, `bramble cache stats') are spelled only by the two
 * functions below. */
enum { BRAMBLE_CACHE_OFF = 0, BRAMBLE_CACHE_DISK = 1, BRAMBLE_CACHE_RAM = 2 };
/* The name of mode, or NULL when it is none of them. */
const char *bramble_cache_mode_name(int mode);
/* The mode called name (BRAMBLE_CACHE_*), or -EINVAL. */
int bramble_cache_mode_parse(const char *name);

struct bramble_cache_opts {
	int mode;              /* BRAMBLE_CACHE_DISK or _RAM (OFF: open fails -EINVAL;
	                        * callers simply do not open a cache) */
	const char *dir;       /* disk: NULL = BRAMBLE_CACHE_DIR; created 0700 if missing */
	uint64_t size;         /* quota: bytes of chunk data.  0 = default: disk: the
	                        * quota stored in the directory by the last open that
	                        * named one, else 10% of the cache filesystem, at least
	                        * 256 MiB, at most 16 GiB; ram: 1/8 of RAM, at most 1 GiB.
	                        * A disk cache opened with another size keeps the new one
	                        * (the quota is per open; the last one named is stored for
	                        * `bramble cache` and opens with 0). */
	uint64_t maps_max;     /* file maps kept (see below); 0 = BRAMBLE_CACHE_MAPS_MAX
	                        * (disk), BRAMBLE_CACHE_RAM_MAPS_MAX (ram) */
};

struct bramble_cache;

/* On success *out owns the cache (free: bramble_cache_close()).  0 or
 * -errno with a message in err ("cannot open the node cache index
 * '/var/cache/bramble/index.db': ..."). */
int bramble_cache_open(const struct bramble_cache_opts *o, struct bramble_cache **out,
		       char *err, size_t errlen);
void bramble_cache_close(struct bramble_cache *c);      /* NULL ok */
int bramble_cache_mode(const struct bramble_cache *c);
/* The quota this open enforces (bytes). */
uint64_t bramble_cache_quota(const struct bramble_cache *c);

/* Verified bytes of chunk `hash' into buf: returns the length; -ENOENT when
 * not cached -- ALSO when the stored copy is missing, truncated or does not
 * hash to `hash': that is counted (verify_failures), logged once with
 * log_warn naming the file, and the entry and file are removed, so the
 * caller fetches again and puts (repair).  -ENOSPC: buf smaller than the
 * chunk.  Marks the chunk used (LRU) -- at most one index write per chunk
 * per 10 s, so a hot chunk does not write the database on every read. */
ssize_t bramble_cache_get(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN],
			  void *buf, size_t size);
/* Present (no verification; for "already cached?" decisions). */
bool bramble_cache_has(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN]);
/* Store a chunk the caller has verified.  0, also when already present
 * (counted as a dedup hit; then only the pin is added).  Evicts unpinned
 * chunks, least recently used first, so the data never exceeds the quota
 * -- gradually: it frees what is needed plus 1/64 of the quota of headroom
 * when it can.  Pins whose expiry has passed are dropped first when room is
 * needed.  -ENOSPC when only evicting pinned chunks would make room
 * (nothing changes then), -EFBIG when len > quota, -EINVAL for a bad owner,
 * or -errno.  pin_owner non-NULL also pins it for that owner until
 * pin_expires (unix seconds; 0 = no expiry). */
int bramble_cache_put(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN],
		      const void *data, size_t len, const char *pin_owner, int64_t pin_expires);

/* Pins: eviction never removes a chunk with a pin.  Owner strings are free
 * text ("job:1234", "user:alice"), 1 to BRAMBLE_CACHE_OWNER_MAX bytes.  A
 * second pin by the same owner replaces the expiry. */
int bramble_cache_pin(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN],
		      const char *owner, int64_t expires);          /* -ENOENT: not cached */
/* The same for n chunks at once, in few transactions (disk mode): a chunk
 * not cached is not pinned and gets missing[i] true (else false).  0, or
 * -errno (then some may be pinned, and missing[] is incomplete). */
int bramble_cache_pin_many(struct bramble_cache *c,
			   const unsigned char (*hashes)[BRAMBLE_HASH_LEN], size_t n,
			   const char *owner, int64_t expires, bool *missing);
/* *count (may be NULL): pins removed. */
int bramble_cache_unpin(struct bramble_cache *c, const char *owner,
			const unsigned char *hash /* NULL: all of owner's */, uint64_t *count);
/* Remove pins whose expiry (non-zero) is <= now; *expired (may be NULL): how many. */
int bramble_cache_gc(struct bramble_cache *c, int64_t now, uint64_t *expired);
/* Evict unpinned chunks (LRU first) until the data is <= keep_bytes (0:
 * every unpinned).  *freed (may be NULL): bytes evicted. */
int bramble_cache_evict(struct bramble_cache *c, uint64_t keep_bytes, uint64_t *freed);

/* Check every cached chunk: read it and hash it.  Bad ones are removed as
 * in get (counted in bad and verify_failures); also removes index rows
 * whose file is gone (bad too), chunk files no row names and leftover
 * temporary files of dead processes (orphans).  checked/bytes: chunks and
 * bytes read. */
struct bramble_cache_verify { uint64_t checked, bad, bytes, orphans; };
int bramble_cache_verify(struct bramble_cache *c, struct bramble_cache_verify *r);

struct bramble_cache_stats {
	int mode;
	uint64_t quota, used, chunks, pinned_chunks, pinned_bytes;   /* from the index now */
	/* this process, since open (puts/bytes_put: chunks newly stored;
	 * dedup_puts: puts of chunks already there): */
	uint64_t hits, misses, bytes_hit, puts, bytes_put, dedup_puts,
		 evictions, bytes_evicted, verify_failures;
};
void bramble_cache_get_stats(struct bramble_cache *c, struct bramble_cache_stats *s);

/* Listings.  The callback runs without any lock held (it may call the
 * cache); a non-zero return stops the listing and is returned.  Strings
 * are valid during the call only.  last_use: unix seconds. */
struct bramble_cache_entry {
	unsigned char hash[BRAMBLE_HASH_LEN];
	uint64_t len;
	int64_t last_use;
	unsigned npins;
};
/* expires: the owner's latest pin expiry, 0 when one of its pins never expires. */
struct bramble_cache_pininfo { const char *owner; uint64_t chunks, bytes; int64_t expires; };
/* Every chunk, least recently used first. */
int bramble_cache_list(struct bramble_cache *c,
		       int (*cb)(void *ctx, const struct bramble_cache_entry *e), void *ctx);
/* One call per owner, by owner name. */
int bramble_cache_list_pins(struct bramble_cache *c,
			    int (*cb)(void *ctx, const struct bramble_cache_pininfo *p),
			    void *ctx);

/* ---- file maps (so a staged file is read with no data call at all)
 *
 * The node cache also keeps the chunk maps of files, keyed by the
 * server's file handle bytes (handles are MAC'd per server, so they do not
 * collide between servers).  A map is valid only while the file's size,
 * mtime and ctime (as the server reports them) equal the stored ones:
 * libbramble's read path compares them (bramble_filemap_kept,
 * bramble_reader.h), the cache only keeps them.  Bounded: at most
 * BRAMBLE_CACHE_MAPS_MAX rows (disk) or the RAM mode's bound, least
 * recently used dropped first.  Disk mode: a table of DIR/index.db,
 * shared by every process of the node; RAM mode: this process only.
 * Maps are not pinned: they are small, and a missing map only costs a
 * CHUNKMAP. */
#define BRAMBLE_CACHE_MAPS_MAX 1000000
#define BRAMBLE_CACHE_RAM_MAPS_MAX 65536
#define BRAMBLE_CACHE_MAP_CHUNKS_MAX (1u << 24)   /* hashes in one stored map */
struct bramble_cache_map {
	uint64_t size;
	int64_t mtime_ns, ctime_ns;    /* unix ns */
	uint64_t version;              /* the server's contents version */
	uint32_t chunk_size, nchunks;
	unsigned char (*hashes)[BRAMBLE_HASH_LEN];   /* nchunks of them */
};
/* Store (or replace) fh's map; the cache copies m.  -EINVAL: an empty or
 * too long handle, or a map whose chunks do not cover size. */
int bramble_cache_map_put(struct bramble_cache *c, const void *fh, size_t fhlen,
			  const struct bramble_cache_map *m);
/* fh's stored map into *out (out->hashes malloc'd: release it with
 * bramble_cache_map_release), or -ENOENT.  Marks it used. */
int bramble_cache_map_get(struct bramble_cache *c, const void *fh, size_t fhlen,
			  struct bramble_cache_map *out);
/* The same without marking it used: a stager looking at the maps of
 * thousands of files it does not read (no write to the index). */
int bramble_cache_map_peek(struct bramble_cache *c, const void *fh, size_t fhlen,
			   struct bramble_cache_map *out);
/* Forget fh's map (it proved stale); 0 also when there was none. */
int bramble_cache_map_drop(struct bramble_cache *c, const void *fh, size_t fhlen);
void bramble_cache_map_release(struct bramble_cache_map *m);   /* frees hashes */
/* Maps stored now. */
int bramble_cache_map_count(struct bramble_cache *c, uint64_t *n);

/* ---- staged sets (`bramble stage` of a directory staged before)
 *
 * A digest (16 bytes, the caller's) per key (a staged directory's handle
 * bytes): what the stager saw of it when it last staged it completely
 * and stored every file's map.  The stager compares it with what it sees
 * now; when they agree it need not store the maps again.  A set says
 * nothing of the chunks (they may have been evicted since: the stager
 * pins them, which checks).  Bounded: the BRAMBLE_CACHE_SETS_MAX newest.
 * Disk mode only (-EOPNOTSUPP in RAM mode); get: -ENOENT when none. */
#define BRAMBLE_CACHE_SETS_MAX 4096
int bramble_cache_set_get(struct bramble_cache *c, const void *key, size_t keylen,
			  unsigned char digest[BRAMBLE_HASH_LEN]);
int bramble_cache_set_put(struct bramble_cache *c, const void *key, size_t keylen,
			  const unsigned char digest[BRAMBLE_HASH_LEN]);

#endif
