/* bramble_reader.h - libbramble's chunk reader: file contents through the
 * server's chunk index (CHUNKMAP / READ_CHUNK) and the node's chunk cache
 * (bramble_cache.h), with read-ahead.
 *
 * A file map (struct bramble_filemap) is the list of chunk hashes of one
 * version of a file, fetched whole with CHUNKMAP.  Reading a range of the
 * file through a map reads the chunks it covers: from a small RAM front of
 * recently used chunks, else from the node cache (verified there), else
 * from the server (verified by bramble_read_chunk) and then stored in the
 * node cache.  Chunks are named by content, so two files with the same
 * bytes share cache entries and transfers (dedup), and a chunk one thread
 * is fetching is waited for, not fetched twice, by the others.
 *
 * Read-ahead: when a map is read sequentially, the next chunks are fetched
 * by the reader's worker threads while the caller copies, so a cold
 * sequential read keeps several READ_CHUNKs in flight.
 *
 * Staleness: a map describes one version of the file.  When the server's
 * file no longer has a chunk's bytes (changed since the map), the read
 * returns -ESTALE: fetch a new map and read again.  Chunks that come from
 * the caches are the map's version by construction (content-addressed),
 * so deciding when a map is still the file's current one -- close-to-open
 * -- is the caller's job (bramblefs checks the attributes OPEN returns).
 *
 * Thread-safe: any number of threads may read through one reader at once.
 * Maps are reference-counted and immutable. */
#ifndef BRAMBLE_READER_H
#define BRAMBLE_READER_H

#include <stdint.h>
#include <sys/types.h>

#include "bramble.h"
#include "bramble_cache.h"

struct bramble_filemap {
	uint64_t version;          /* the file's contents version (server) */
	uint64_t size;             /* its size when hashed */
	uint32_t chunk_size;
	uint32_t nchunks;
	unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN];
	unsigned int refs;         /* private: bramble_filemap_ref/put */
};

/* The whole map of fh (as many CHUNKMAPs as it takes), with one reference
 * for the caller.  -ESTALE when the file changed while the map was being
 * paged in (ask again), or -errno of the calls. */
int bramble_filemap_get(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *fh,
			struct bramble_filemap **out);
/* A map of hashes[0 .. nchunks) (taken over: freed with the map), with
 * one reference for the caller: for maps kept elsewhere (the node cache's
 * stored maps, bramble_filemap_from_cache). */
struct bramble_filemap *bramble_filemap_new(uint64_t version, uint64_t size,
					    uint32_t chunk_size, uint32_t nchunks,
					    unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN]);
/* The map of a node-cache map m, with one reference for the caller: it
 * takes m->hashes (m is left empty). */
struct bramble_filemap *bramble_filemap_from_cache(struct bramble_cache_map *m);
struct bramble_filemap *bramble_filemap_ref(struct bramble_filemap *m);
void bramble_filemap_put(struct bramble_filemap *m);   /* NULL is fine */

struct bramble_reader_opts {
	unsigned int threads;      /* fetch workers; 0: 4 */
	unsigned int readahead;    /* chunks ahead of a sequential reader;
	                            * 0: 4 (BRAMBLE_READER_NO_READAHEAD: none) */
	unsigned int front_chunks; /* RAM front; 0: 2 * readahead + 4 */
};
#define BRAMBLE_READER_NO_READAHEAD (~0u)

struct bramble_reader;

/* cache may be NULL: chunks then come from the server and the RAM front
 * only.  b and cache must outlive the reader. */
int bramble_reader_new(struct bramble *b, struct bramble_cache *cache,
		       const struct bramble_reader_opts *o,
		       struct bramble_reader **out);
/* Waits for the fetches in flight, then frees. */
void bramble_reader_free(struct bramble_reader *r);

/* Bytes [off, off + len) of the file as of map into buf: the count read
 * (short only at the map's end of file), -ESTALE (see above), -EAGAIN
 * for a small read away from where the file was being read whose chunk
 * no cache holds (fetching all of it would move up to 256 times the bytes
 * asked for: read the range with bramble_read() instead), or -errno.
 * Prefetches ahead when the map is being read sequentially. */
ssize_t bramble_reader_read(struct bramble_reader *r,
			    const struct bramble_cred *cr,
			    const struct bramble_fh *fh,
			    struct bramble_filemap *map, uint64_t off,
			    void *buf, size_t len);

/* What one bramble_reader_fetch() did. */
struct bramble_fetch_result {
	uint64_t chunks;           /* chunks of the range */
	uint64_t fetched;          /* ... transferred from the server */
	uint64_t cached;           /* ... already in the node cache */
	uint64_t bytes_fetched;
	uint64_t bytes_cached;
};

/* Make chunks [first, first + count) of map present in the node cache
 * (needs one), pinned for pin_owner until pin_expires when pin_owner is
 * not NULL, with up to the reader's thread count of fetches in flight.
 * 0, or the first -errno (-ENOSPC: the quota is full of pinned chunks;
 * -ESTALE: the file changed). */
int bramble_reader_fetch(struct bramble_reader *r,
			 const struct bramble_cred *cr,
			 const struct bramble_fh *fh,
			 struct bramble_filemap *map, uint32_t first,
			 uint32_t count, const char *pin_owner,
			 int64_t pin_expires, struct bramble_fetch_result *res);

/* Where the bytes read came from, since the reader was made. */
struct bramble_reader_stats {
	uint64_t reads;            /* bramble_reader_read calls */
	uint64_t bytes_read;       /* ... bytes returned */
	uint64_t front_hits;       /* chunk lookups answered by the RAM front */
	uint64_t cache_hits;       /* ... by the node cache */
	uint64_t fetches;          /* ... by a READ_CHUNK */
	uint64_t bytes_from_cache; /* chunk bytes loaded from the node cache */
	uint64_t bytes_from_server;/* chunk bytes received from the server */
	uint64_t waits;            /* lookups that waited for a fetch in flight */
	uint64_t readahead;        /* chunks prefetched */
	uint64_t stale;            /* reads that returned -ESTALE */
	uint64_t passed;           /* small random reads left to READ (-EAGAIN) */
	uint64_t cache_put_errors; /* chunks the node cache refused */
	uint64_t maps;             /* maps fetched */
};
void bramble_reader_get_stats(struct bramble_reader *r,
			      struct bramble_reader_stats *out);

#endif
