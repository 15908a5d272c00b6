/* chunkzip.h - compressed chunks (READ_CHUNK2, BR_ENC_ZSTD): the codec,
 * the rule that says when compressing pays, and the counters of what
 * chunk replies cost on the wire.
 *
 * The rule (doc/staging.md, "Compressed chunks").  A chunk is sent as one
 * zstd frame (level CHUNKZIP_LEVEL, content size in the frame) when the
 * client accepts it and
 *  - the frame is smaller than CHUNKZIP_PAYS_PCT % of the chunk; a chunk
 *    that is not is "incompressible": sent raw, and the hot-chunk cache
 *    remembers it so it is not tried again (chunkcache_set_zstd);
 *  - and, under --compress=auto, the codec is faster than the link.
 *    Chunks go out pipelined (read-ahead, several readers): while one
 *    is on the wire the next is compressed, so compressed chunks flow at
 *    link/ratio as long as the codec keeps up with the link.  codec: the
 *    compressor's speed so far (input bytes per second of the thread's
 *    CPU time, a moving average over recent chunks that compressed);
 *    link: what the client's connection drains, as the kernel measures
 *    its deliveries (conn.h, linkrate.h; carried by job->link_bps).  An
 *    unknown figure (nothing compressed yet, a connection with no sample
 *    yet) counts as "compress": the first chunks measure them.  While
 *    the rule says no, one chunk in CHUNKZIP_PROBE_EVERY is compressed
 *    anyway, so a codec measured slow under a passing load is measured
 *    again.
 * A chunk the cache holds compressed already is sent compressed whatever
 * the speeds (its cost was paid once); --compress=on compresses whatever
 * the speeds, --compress=off never (and answers BR_ENC_RAW always).
 *
 * Thread-safe: workers compress; one mutex over the speed and counters. */
#ifndef BR_CHUNKZIP_H
#define BR_CHUNKZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNKZIP_LEVEL 1
#define CHUNKZIP_PAYS_PCT 90
#define CHUNKZIP_PROBE_EVERY 64

enum chunkzip_mode { CHUNKZIP_AUTO, CHUNKZIP_ON, CHUNKZIP_OFF };

struct chunkzip;

struct chunkzip_stats {
	/* Chunk replies (READ_CHUNK and READ_CHUNK2, from the server). */
	uint64_t sent_zstd;          /* chunks sent as a zstd frame */
	uint64_t sent_raw;           /* chunks sent raw */
	uint64_t wire_bytes;         /* chunk bytes as they went on the wire */
	uint64_t file_bytes;         /* ... their uncompressed size */
	/* The codec. */
	uint64_t compressed;         /* chunks compressed (each once while cached) */
	uint64_t incompressible;     /* ... of which did not pay */
	uint64_t skipped_slow;       /* chunks sent raw: codec slower than link */
	uint64_t codec_in_bytes;     /* bytes given to the compressor */
	uint64_t codec_ns;           /* ... the CPU time it took (thread's) */
	uint64_t codec_bps;          /* its speed now (moving average of the
				      * compressions that paid); 0: unknown */
	uint64_t saved_pm;           /* share of bytes they saved, per mille
				      * (moving average; for the record) */
	uint64_t link_bps;           /* the link speed the last decision saw */
};

/* "auto", "on" or "off" -> *out.  0 or -EINVAL. */
int chunkzip_mode_parse(const char *s, enum chunkzip_mode *out);

/* Never fails. */
struct chunkzip *chunkzip_new(enum chunkzip_mode mode);
/* NULL is fine. */
void chunkzip_free(struct chunkzip *z);

/* Whether a client that accepts zstd may be sent compressed chunks at
 * all (not --compress=off, and z not NULL). */
bool chunkzip_enabled(const struct chunkzip *z);

/* Whether to compress a chunk never compressed before, for a connection
 * whose link drains link_bps bytes per second (0: unknown): the rule
 * above.  Counts the chunks it turns away (skipped_slow). */
bool chunkzip_should_try(struct chunkzip *z, uint64_t link_bps);

/* Compress len bytes of raw into one zstd frame.  Returns 1 with *out
 * (malloc'd: the caller frees) and *out_len when it pays, 0 when it does
 * not (incompressible; *out untouched).  Measures the codec's speed. */
int chunkzip_compress(struct chunkzip *z, const void *raw, size_t len,
		      void **out, size_t *out_len);

/* Count a chunk reply: wire bytes of it, file_len once decoded. */
void chunkzip_count_sent(struct chunkzip *z, bool zstd, size_t wire_len,
			 size_t file_len);

void chunkzip_get_stats(struct chunkzip *z, struct chunkzip_stats *out);

#endif
