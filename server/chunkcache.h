/* chunkcache.h - the server's hot-chunk cache: chunk bytes in RAM, keyed
 * by their XXH3-128 hash (chunkidx.h), bounded, least recently used out
 * first.
 *
 * Why: when eight nodes read the same file at once (a job starting on a
 * whole cluster) each READ_CHUNK would read and hash the same chunk from
 * disk; with the cache the disk is read once and the other seven copies
 * come from RAM.  The page cache would often hold the bytes too, but not
 * under memory pressure from other files, and never without a read and a
 * hash per call.
 *
 * Content-addressed: an entry is the bytes whose hash is its key, so an
 * entry can never be stale.  Whether those bytes are still what a given
 * file holds is the caller's question (chunkidx_chunk_current()).
 *
 * Bound: `used' counts each entry's bytes plus its bookkeeping (struct
 * size) and never exceeds the bound: an insertion first evicts least
 * recently used entries, and gives up (the chunk is simply not kept) when
 * the room cannot be made -- a chunk larger than the bound, or every
 * entry in the way being copied out at that moment.  A bound of 0 is a
 * cache that keeps nothing and counts every lookup as a miss.
 *
 * One load per chunk (single flight): the first lookup that misses gets a
 * fill ticket and reads the disk; a lookup of the same hash meanwhile
 * waits for that load instead of reading too, then takes the bytes from
 * RAM (a hit).  When the load fails or its bytes could not be kept, the
 * waiters look again (and one of them loads).  So N concurrent readers of
 * a chunk cost one disk read, and the counters are exact: misses are
 * disk reads.
 *
 * Thread-safe: one mutex over the table, the LRU list and the counters;
 * the copy out of a hit runs outside it (the entry is referenced, so
 * eviction passes it by).  Returned bytes are malloc'd copies the caller
 * frees (they go straight into the READ_CHUNK reply, which xdr_free()s
 * them).
 *
 * Compressed forms (chunkcache_set_zstd, READ_CHUNK2): an entry may also
 * keep its chunk as a zstd frame, or remember that the chunk does not
 * compress, so a hot chunk is compressed once, not once per reader. */
#ifndef BR_CHUNKCACHE_H
#define BR_CHUNKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNKCACHE_KEY_LEN 16
#define CHUNKCACHE_DEFAULT_MAX (1ull << 30)   /* auto: 1/8 of RAM, at most this */
/* Chunks seen while hashing a whole file (CHUNKMAP) are kept only for
 * files this small, and at most 1/64 of the bound: see chunkcache_wants_file. */
#define CHUNKCACHE_HASHED_FILE_MAX (256u << 10)

struct chunkcache;
struct chunkcache_fill;

struct chunkcache_stats {
	uint64_t hits;          /* lookups answered from RAM */
	uint64_t misses;        /* lookups that had to read the disk */
	uint64_t hit_bytes;     /* bytes answered from RAM */
	uint64_t inserts;       /* chunks kept (loads and puts) */
	uint64_t evictions;     /* entries dropped to make room */
	uint64_t waits;         /* lookups that waited for another's load */
	uint64_t used;          /* bytes held now (data + bookkeeping) */
	uint64_t bound;
	uint64_t entries;       /* chunks held (and loads under way) */
	uint64_t zstd_entries;  /* ... of which with a compressed form */
	uint64_t zstd_bytes;    /* bytes of those forms (in used) */
};

/* What the cache knows of a chunk's compressed form (chunkzip.h). */
enum chunkcache_z {
	CHUNKCACHE_Z_UNTRIED,   /* never compressed (or it did not fit) */
	CHUNKCACHE_Z_HAVE,      /* kept beside the bytes */
	CHUNKCACHE_Z_NONE,      /* incompressible: do not try again */
};

/* A chunk handed out by chunkcache_get2. */
struct chunkcache_copy {
	void *data;             /* malloc'd copy: the caller frees */
	size_t size;            /* its bytes */
	size_t len;             /* the chunk's length (uncompressed) */
	bool zstd;              /* data is the compressed form */
	enum chunkcache_z z;
};

/* A cache of at most bound bytes (0: keeps nothing).  Never fails. */
struct chunkcache *chunkcache_new(uint64_t bound);
/* No lookup may be running.  NULL is fine. */
void chunkcache_free(struct chunkcache *cc);

/* Whether cc keeps anything (not NULL, bound above 0). */
bool chunkcache_enabled(const struct chunkcache *cc);

/* The bound --cache-mem "auto" means: 1/8 of physical RAM, at most
 * CHUNKCACHE_DEFAULT_MAX. */
uint64_t chunkcache_default_bound(void);

/* Look key up.  A hit returns 1 with *data (malloc'd copy, the caller
 * frees) and *len.  A miss returns 0 and, in *fill, the ticket of the
 * load the caller must now do: chunkcache_fill_done() it, with the bytes
 * or with NULL on failure, in every case (other lookups of the key wait
 * for it).  *fill is NULL when the cache keeps nothing.  Never fails. */
int chunkcache_get(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
		   void **data, size_t *len, struct chunkcache_fill **fill);
/* The same, handing out the compressed form instead of the bytes when
 * want_zstd and the cache has one.  A hit fills *out. */
int chunkcache_get2(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
		    bool want_zstd, struct chunkcache_copy *out,
		    struct chunkcache_fill **fill);
/* Keep z (one zstd frame of zlen bytes, made from key's bytes) beside
 * key's bytes, so the chunk is compressed once however often it is sent;
 * z NULL: the chunk is incompressible, remember not to try again.  Only
 * for an entry that is there, READY and UNTRIED (otherwise nothing
 * happens).  The form counts in the bound like the bytes: when room
 * cannot be made it is not kept (the chunk stays UNTRIED).  The caller
 * keeps z. */
void chunkcache_set_zstd(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
			 const void *z, size_t zlen);
/* End a load: keep a copy of data (len bytes, whose hash is the key: the
 * caller has checked) when room can be made; data NULL: the load failed.
 * The caller keeps data.  Wakes the lookups waiting for it. */
void chunkcache_fill_done(struct chunkcache *cc, struct chunkcache_fill *fill,
			  const void *data, size_t len);

/* The same, keeping also what the loader learnt of the chunk's
 * compressed form (z: CHUNKCACHE_Z_HAVE with zdata/zlen, or _NONE), before
 * the lookups waiting for the load wake: eight readers of a new chunk
 * get it compressed once, by the loader. */
void chunkcache_fill_done_z(struct chunkcache *cc, struct chunkcache_fill *fill,
			    const void *data, size_t len, enum chunkcache_z z,
			    const void *zdata, size_t zlen);

/* Keep a copy of a chunk read for another reason (hashing a file, a read
 * that could not use the cache), unless it is there already or being
 * loaded.  Counts no hit or miss. */
void chunkcache_put(struct chunkcache *cc, const unsigned char key[CHUNKCACHE_KEY_LEN],
		    const void *data, size_t len);
/* Count a disk read that did not go through chunkcache_get() (a read the
 * cache could not answer because the file's state was uncertain). */
void chunkcache_count_miss(struct chunkcache *cc);

/* Whether the chunks of a file of `size' bytes, read to hash it whole,
 * are worth keeping.  Only small files: whoever asks for the map of a
 * small file reads it next (one chunk, nothing to reuse from its own
 * cache), while the map of a big file is mostly asked to find the few
 * chunks that changed -- keeping all of its chunks would push hot data
 * out for bytes nobody reads.  The page cache still has them. */
bool chunkcache_wants_file(const struct chunkcache *cc, uint64_t size);

void chunkcache_get_stats(struct chunkcache *cc, struct chunkcache_stats *out);

#endif
