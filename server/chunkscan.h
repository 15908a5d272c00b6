/* chunkscan.h - chunk maps built from the READs that read a file, so a
 * cold file is read from disk once: for the client that reads it, and
 * hashed on the way for the index (chunkidx.h), where a later CHUNKMAP or
 * CHUNKMAP_KNOWN finds its map.
 *
 * A READ at offset 0 of a file of at least one chunk that the index has
 * no settled map of starts a scan of it; each READ's bytes are hashed in
 * file order as they come (a READ a little ahead of the next byte
 * expected is copied and waits for the gap to fill, since a client's
 * read-ahead sends several at once).  When the bytes reach the end the
 * hashes are recorded (chunkidx_record_read), if the file's attributes
 * never changed from the first READ to then; the racy rule of the index
 * applies as to any hashing.  A scan is given up when the file changes,
 * when a READ jumps too far ahead (a random reader), or when its bytes
 * waiting for a gap would pass the bound; the file is then hashed on
 * demand, as before.  At most SCAN_MAX files are scanned at once (the
 * least recently fed goes).
 *
 * Thread-safe: one mutex over the table, held while hashing (XXH3 is a
 * few tens of microseconds per MiB).  chunkscan_feed() may write to the
 * database when a scan ends: call it only where blocking is allowed
 * (chunkscan_may_block says when a READ in the loop must go to the pool
 * instead). */
#ifndef BR_CHUNKSCAN_H
#define BR_CHUNKSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct chunkidx;
struct chunkscan;

/* ci is borrowed and must outlive the scanner. */
struct chunkscan *chunkscan_new(struct chunkidx *ci);
void chunkscan_free(struct chunkscan *s);    /* NULL is fine */

/* Whether a READ of count bytes at off of a file with attributes st may
 * have to block in chunkscan_feed() (a database lookup or write): a READ
 * answered in the loop thread then goes to the pool.  False for s NULL. */
bool chunkscan_may_block(const struct chunkscan *s, const struct stat *st,
			 uint64_t off, size_t count);

/* A READ read data[0 .. len) at off from fd, a file whose attributes
 * were st just before (fstat).  s NULL is fine (nothing happens). */
void chunkscan_feed(struct chunkscan *s, int fd, const struct stat *st,
		    uint64_t off, const void *data, size_t len);

struct chunkscan_stats {
	uint64_t files;             /* maps recorded from READs */
	uint64_t bytes;             /* ... of files of this many bytes */
	uint64_t abandoned;         /* scans given up */
};
void chunkscan_get_stats(struct chunkscan *s, struct chunkscan_stats *out);

#endif
