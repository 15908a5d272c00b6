/* chunkidx.h - the server's chunk index: per file, the XXH3-128 hash of
 * each chunk, kept in bramble.db: what CHUNKMAP and READ_CHUNK serve.
 *
 * A regular file is cut into chunks of chunk_size bytes (the last one is
 * shorter; a file of 0 bytes has no chunk).  For each file identity
 * (st_dev, st_ino) the index stores the size, mtime and ctime (ns) it saw
 * when it hashed the file, the chunk size, a version and the hashes.
 * chunkidx_map() fstat()s the caller's fd: when size, mtime and ctime
 * match what is stored the hashes come from the database, otherwise the
 * file is read (pread, in the caller's thread: a pool worker, never the
 * loop) and hashed again, and the version goes up.  So a change through
 * bramble or behind its back is seen, and the index survives restarts.
 *
 * Racy entries: timestamps come from a coarse clock, so a write in the
 * same tick as the hashing, keeping the size, would leave size, mtime and
 * ctime as stored.  As git does for its index, an entry hashed less than
 * racy_ns after the file's last change is not trusted: the next lookup
 * hashes again (keeping the version when the hashes did not change).  And
 * READ_CHUNK drops an entry whose bytes no longer match although its
 * stat matches (chunkidx_read_chunk).
 *
 * Versions are per identity and only grow (a row is kept when its file
 * goes; a reused inode continues its numbering).  Rows of removed files
 * are not collected yet.
 *
 * Thread-safe: one mutex serialises the database connection (opened with
 * state_db_open()); hashing runs outside it.  A CHUNKMAP of a file another
 * worker is hashing waits for that result rather than reading the file
 * again (so eight nodes mapping a new file read it once); should two
 * hash it anyway (more files at once than the table of those being
 * hashed holds), the second finds the first's row and keeps its version
 * when nothing changed.
 *
 * Disk reads (hashing, READ_CHUNK) are counted in the server's stats
 * (opts.stats), and the chunks of small files read while hashing go to
 * the hot-chunk cache (opts.cache, chunkcache.h). */
#ifndef BR_CHUNKIDX_H
#define BR_CHUNKIDX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define CHUNKIDX_HASH_LEN 16
#define CHUNKIDX_DEFAULT_CHUNK (1u << 20)
#define CHUNKIDX_MIN_CHUNK (64u << 10)
/* A chunk must fit in one READ_CHUNK reply (BR_DATA_MAX). */
#define CHUNKIDX_MAX_CHUNK (1u << 20)
#define CHUNKIDX_RACY_NS 1000000000LL

struct chunkidx;
struct chunkcache;
struct stats;

struct chunkidx_opts {
	const char *db_path;        /* bramble.db */
	uint32_t chunk_size;        /* power of two within MIN..MAX; 0: default */
	int64_t racy_ns;            /* < 0: CHUNKIDX_RACY_NS (tests pass 0) */
	/* Both borrowed, may be NULL.  cache: the hot-chunk cache, given the
	 * chunks of small files read while hashing them (chunkcache.h says
	 * why only those).  stats: counts the disk reads (stats_disk). */
	struct chunkcache *cache;
	struct stats *stats;
};

/* What chunkidx_map() returns: chunks first .. first+count of the file's
 * nchunks.  hashes is malloc'd (NULL when count is 0): release it with
 * chunkidx_map_release(). */
struct chunkidx_map {
	uint64_t version;
	uint64_t size;
	uint32_t chunk_size;
	uint32_t nchunks;
	uint32_t first;
	uint32_t count;
	unsigned char (*hashes)[CHUNKIDX_HASH_LEN];
};

/* Counters since open (for tests and the debug log). */
struct chunkidx_stats {
	uint64_t files_hashed;      /* (re)computations */
	uint64_t bytes_hashed;
	uint64_t map_hits;          /* maps served from the database */
	uint64_t stale_dropped;     /* entries dropped by READ_CHUNK */
	uint64_t chunks_read;       /* chunks read from disk by READ_CHUNK */
	uint64_t chunk_bytes_read;
};

/* 0, or -errno with err saying what failed (naming the database). */
int chunkidx_open(const struct chunkidx_opts *o, struct chunkidx **out,
		  char *err, size_t errlen);
void chunkidx_close(struct chunkidx *ci);   /* NULL is fine */
uint32_t chunkidx_chunk_size(const struct chunkidx *ci);

/* The map of the regular file open (readable) as fd: at most max hashes
 * from chunk first (first past the end: count 0).  0, -EAGAIN when the
 * file kept changing while it was hashed, or another -errno. */
int chunkidx_map(struct chunkidx *ci, int fd, uint32_t first, uint32_t max,
		 struct chunkidx_map *out);
/* The same from the index alone, never reading the file: -ENODATA when
 * it has no entry that still describes the file (TREE, proc_tree.c). */
int chunkidx_map_indexed(struct chunkidx *ci, int fd, uint32_t first,
			 uint32_t max, struct chunkidx_map *out);
void chunkidx_map_release(struct chunkidx_map *m);

/* Record h[0 .. n), the hashes of the chunks of the file open as fd,
 * computed by the caller from bytes it read from the file since `began'
 * (wall clock, ns) when the file's attributes were st (an fstat before
 * the first of those reads): the entry chunkidx_map() would make, with
 * the same racy rule, without reading the file again (chunkscan.h).
 * -ESTALE, recording nothing, when the file's attributes are no longer st
 * or n is not its number of chunks; else 0 or -errno. */
int chunkidx_record_read(struct chunkidx *ci, int fd, const struct stat *st,
			 int64_t began, unsigned char (*h)[CHUNKIDX_HASH_LEN],
			 uint32_t n);

/* Chunk idx of fd when its bytes hash to hash: *data (malloc'd, *len
 * bytes) is the caller's.  -ESTALE when they do not (the file changed),
 * -EINVAL for a chunk beyond the end of the file's version `version' when
 * that is the current one (-ESTALE when it is not), or another -errno.
 * Uses the database only to learn the current version and chunk size; it
 * never hashes the whole file. */
int chunkidx_read_chunk(struct chunkidx *ci, int fd, uint32_t idx,
			const unsigned char hash[CHUNKIDX_HASH_LEN],
			uint64_t version, void **data, size_t *len);

/* Whether bytes hashing to `hash' may answer READ_CHUNK (fd, idx,
 * version) without reading the file: 1 when `version' is the current,
 * settled (not racy) entry of the file open as fd -- its size, mtime and
 * ctime as stored -- and its chunk idx has that hash.  An fstat and two
 * point queries; no data read.  0 when that cannot be said (another
 * version, a changed or racy file, no entry, another hash): the caller
 * then reads the disk with chunkidx_read_chunk(), which decides by the
 * bytes (so a stale version gets -ESTALE as it always did).  -errno when
 * fstat or the database fail. */
int chunkidx_chunk_current(struct chunkidx *ci, int fd, uint32_t idx,
			   const unsigned char hash[CHUNKIDX_HASH_LEN],
			   uint64_t version);

void chunkidx_get_stats(struct chunkidx *ci, struct chunkidx_stats *out);

/* XXH3-128 of data in its canonical (big-endian) 16 bytes: the form on
 * the wire and in the database. */
void chunkidx_hash(const void *data, size_t len,
		   unsigned char out[CHUNKIDX_HASH_LEN]);

#endif
