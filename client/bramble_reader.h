/* bramble_reader.h - libbramble's chunk reader: file contents through the
 * server's chunk index (CHUNKMAP / READ_CHUNK) and the node's chunk cache
 * (bramble_cache.h), with read-ahead; and the read path, which decides
 * for bramblefs and `bramble stage' when a file is read that way.
 *
 * File maps (filemap.c).  A map (struct bramble_filemap) is the list of
 * chunk hashes of one version of a file, fetched whole with CHUNKMAP (or
 * carried by TREE).  It belongs to the attributes the file had when it was
 * fetched -- size, mtime and ctime (struct bramble_filemap_attr) -- and a
 * map kept for later (in memory, or in the node cache for every process of
 * the node) serves a later open only when that open sees the same
 * attributes: close-to-open, as OPEN reports them.
 *
 * The reader (chunkread.c).  Reading a range of the file through a map
 * reads the chunks it covers: from a small RAM front of recently used
 * chunks, else from the node cache (verified there), else from the server
 * (verified by bramble_read_chunk) and then stored in the node cache.
 * Chunks are named by content, so two files with the same bytes share
 * cache entries and transfers (dedup), and a chunk one thread is fetching
 * is waited for, not fetched twice, by the others.  When a map is read
 * sequentially, the next chunks are fetched by the reader's worker threads
 * while the caller copies, so a cold sequential read keeps several
 * READ_CHUNKs in flight.  When the server's file no longer has a chunk's
 * bytes (changed since the map), the read returns -ESTALE: fetch a new map
 * and read again.  Chunks that come from the caches are the map's version
 * by construction (content-addressed), so whether a map is still the
 * file's current one is the read path's question, not the reader's.
 *
 * The read path (readpath.c).  Which way a read goes -- chunks through the
 * node cache, or plain READ (bramble_read) -- and which map it reads by:
 * see "the read path" below.
 *
 * Thread-safe: any number of threads may read through one reader or one
 * read path at once.  Maps are reference-counted and immutable. */
#ifndef BRAMBLE_READER_H
#define BRAMBLE_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "bramble.h"
#include "bramble_cache.h"

/* ---- file maps (filemap.c) */

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
/* The same when the server already has the map (it never hashes the file
 * for this: bramble_chunkmap_known, for a server with
 * BRAMBLE_CAP_CHUNKMAP_KNOWN): -ENODATA when it has none yet. */
int bramble_filemap_known(struct bramble *b, const struct bramble_cred *cr,
			  const struct bramble_fh *fh,
			  struct bramble_filemap **out);
/* bramble_filemap_get() for a caller that has no open's attributes (bramble
 * stage): the map, then the attributes it belongs to into *st (GETATTR
 * after it).  -ESTALE when the file's size is no longer the map's. */
int bramble_filemap_get_attr(struct bramble *b, const struct bramble_cred *cr,
			     const struct bramble_fh *fh, struct bramble_filemap **out,
			     struct stat *st);
/* A map of hashes[0 .. nchunks) (taken over: freed with the map), with
 * one reference for the caller: for maps kept elsewhere. */
struct bramble_filemap *bramble_filemap_new(uint64_t version, uint64_t size,
					    uint32_t chunk_size, uint32_t nchunks,
					    unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN]);
/* The map of a node-cache map m, with one reference for the caller: it
 * takes m->hashes (m is left empty). */
struct bramble_filemap *bramble_filemap_from_cache(struct bramble_cache_map *m);
/* The map a TREE entry carried (a copy, one reference), or NULL when it
 * carried none, or only part of one, or one of another size than the
 * entry's attributes. */
struct bramble_filemap *bramble_filemap_from_tree(const struct bramble_tree_entry *e);
struct bramble_filemap *bramble_filemap_ref(struct bramble_filemap *m);
void bramble_filemap_put(struct bramble_filemap *m);   /* NULL is fine */

/* The attributes a map belongs to. */
struct bramble_filemap_attr {
	uint64_t size;
	int64_t mtime_ns, ctime_ns;    /* unix ns (util.h ts_to_ns) */
};
void bramble_filemap_attr_of(struct bramble_filemap_attr *a, const struct stat *st);
/* A map kept for attributes a serves a file now at b only when true. */
bool bramble_filemap_attr_eq(const struct bramble_filemap_attr *a,
			     const struct bramble_filemap_attr *b);

/* Keep m in the node cache as fh's map for attributes a, for every process
 * of the node.  -ESTALE without storing when m is not of a's size (the file
 * changed between the map and a: they do not belong together), else what
 * bramble_cache_map_put() returns. */
int bramble_filemap_keep(struct bramble_cache *c, const struct bramble_fh *fh,
			 const struct bramble_filemap *m,
			 const struct bramble_filemap_attr *a);
/* The map the node cache keeps for fh, when it belongs to a (one
 * reference for the caller); else NULL. */
struct bramble_filemap *bramble_filemap_kept(struct bramble_cache *c,
					     const struct bramble_fh *fh,
					     const struct bramble_filemap_attr *a);
/* The same, without marking the map used (bramble_cache_map_peek). */
struct bramble_filemap *bramble_filemap_peek(struct bramble_cache *c,
					     const struct bramble_fh *fh,
					     const struct bramble_filemap_attr *a);
/* Whether the node cache keeps a map of fh, of whatever attributes: an
 * earlier version of the file was read on this node. */
bool bramble_filemap_kept_any(struct bramble_cache *c, const struct bramble_fh *fh);
/* Drop the node cache's map of fh (it proved stale). */
int bramble_filemap_forget(struct bramble_cache *c, const struct bramble_fh *fh);

/* ---- the reader (chunkread.c) */

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
 * for a small read (under a quarter chunk) that neither starts the file
 * nor continues the last read of the map, whose chunk no cache holds
 * (fetching all of it would move up to 256 times the bytes asked for:
 * read the range with bramble_read() instead), or -errno.
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
	uint64_t wire_from_server; /* ... as they came on the wire (compressed) */
	uint64_t zstd_fetches;     /* fetches answered zstd-compressed */
	uint64_t waits;            /* lookups that waited for a fetch in flight */
	uint64_t readahead;        /* chunks prefetched */
	uint64_t stale;            /* reads that returned -ESTALE */
	uint64_t passed;           /* small random reads left to READ (-EAGAIN) */
	uint64_t cache_put_errors; /* chunks the node cache refused */
	uint64_t maps;             /* maps fetched */
	/* (the read path's) */
	uint64_t unmapped;         /* reads left to READ: no map known yet */
	uint64_t filled;           /* chunks stored in the node cache from
	                            * those READs' bytes */
};
void bramble_reader_get_stats(struct bramble_reader *r,
			      struct bramble_reader_stats *out);

/* ---- the read path (readpath.c)
 *
 * Whether a read of a file goes through chunks (the reader above, over the
 * node cache) or is a plain READ (bramble_read), and which map it reads
 * by.  One struct bramble_readpath per mount keeps a map per open file
 * with the attributes of the open it belongs to, and (bounded) per closed
 * one, so a warm reopen of an unchanged file needs no CHUNKMAP.  The
 * rules:
 *
 *  - An open whose attributes differ from the map's drops it: another
 *    node changed the file.  So does every change this node makes to it
 *    (bramble_readpath_changed: a write, truncate, copy into it, or a lock
 *    granted -- the holder before may have written) and the end of its
 *    last writer here; until the next open there are no attributes to
 *    check a map against, so no map.
 *  - While the file is open for writing on this node its reads are plain
 *    READs: the file changes under the map.
 *  - A map kept in the node cache (bramble stage, or an earlier CHUNKMAP
 *    of any process of the node) serves files of any size when it belongs
 *    to the open's attributes: a staged file is read with no data call.
 *    It is looked up once per open, not per read.
 *  - Without one, files under BRAMBLE_READPATH_MIN_FILE are plain READs:
 *    a cold read then costs one round trip (READ) instead of two
 *    (CHUNKMAP, READ_CHUNK), as on NFS, and their bytes are not cached on
 *    the node.  Larger files get the map the server already has
 *    (CHUNKMAP_KNOWN, which never hashes), kept in memory and in the node
 *    cache when it is of the open's size.  When the server has none yet,
 *    the open reads with plain READs, so the first byte never waits for
 *    the server to hash the whole file; the server builds the map from
 *    those READs, and their whole chunks go to the node cache, hashed
 *    here (bramble_readpath_read_done), so the next open reads from it.
 *    But when the node cache keeps a map of an earlier version of the
 *    file, or the server lacks CHUNKMAP_KNOWN, the server hashes the file
 *    (CHUNKMAP): most chunks are then cached here, and only changed ones
 *    move.
 *  - A small read that neither starts the file nor continues the last
 *    one, of a chunk no cache has, is a plain READ (the reader's
 *    -EAGAIN); so is a read
 *    whose map proved stale twice (the file keeps changing).  A stale map
 *    is dropped from memory and from the node cache, where the next open
 *    of an unchanged-looking file (mtime set back) would find it again.
 *  - A server without a chunk index: every read is a plain READ. */

/* Smaller files are plain READs unless a map is kept for them. */
#define BRAMBLE_READPATH_MIN_FILE (1u << 20)

struct bramble_readpath;

/* cache: the node cache maps and chunks are kept in (may be NULL: chunks
 * from the server and the reader's RAM front only); it must outlive the
 * read path. */
int bramble_readpath_new(struct bramble_cache *cache, struct bramble_readpath **out);
/* Waits for the reader's fetches in flight, then frees.  NULL is fine. */
void bramble_readpath_free(struct bramble_readpath *rp);

/* id names the file in every call (bramblefs: its inode number).  An open
 * succeeded with attributes st (OPEN's or CREATE's reply), for writing
 * or not; its release; a change made by this node. */
void bramble_readpath_open(struct bramble_readpath *rp, uint64_t id,
			   const struct stat *st, bool write);
void bramble_readpath_release(struct bramble_readpath *rp, uint64_t id, bool write);
void bramble_readpath_changed(struct bramble_readpath *rp, uint64_t id);

/* Bytes [off, off + len) of the open file id (handle fh, read as cr)
 * through chunks: the count read, -errno, or -ENOTSUP when the rules above
 * make it a plain READ (the caller then calls bramble_read).  b: the client
 * calls go through (the reader made at the first read keeps it). */
ssize_t bramble_readpath_read(struct bramble_readpath *rp, struct bramble *b,
			      const struct bramble_cred *cr,
			      const struct bramble_fh *fh, uint64_t id,
			      uint64_t off, void *buf, size_t len);

/* A plain READ of id (after -ENOTSUP above) returned buf[0 .. len) at
 * off: when the server had no map of the file, its complete chunks go to
 * the node cache (hashed here), so the next open needs no data call. */
void bramble_readpath_read_done(struct bramble_readpath *rp, uint64_t id,
				uint64_t off, const void *buf, size_t len);

/* The reader's counters (all zero before the first read). */
void bramble_readpath_get_stats(struct bramble_readpath *rp,
				struct bramble_reader_stats *out);

#endif
