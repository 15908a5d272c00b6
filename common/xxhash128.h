/* xxhash128.h - the one XXH3-128 helper: chunk names on the server (chunk
 * index), on the wire and in the node cache are all this function's
 * output. */
#ifndef BR_XXHASH128_H
#define BR_XXHASH128_H

#include <stddef.h>

#define BR_HASH128_LEN 16

/* XXH3-128 of data in its canonical (big-endian) 16 bytes. */
void br_hash128(const void *data, size_t len, unsigned char out[BR_HASH128_LEN]);

/* The same over bytes that arrive in pieces: br_hash128_stream_new()
 * (caller frees: br_hash128_stream_free, NULL is fine), then _update per
 * piece, then _digest, which gives br_hash128() of all the pieces in
 * order and starts the stream afresh. */
struct br_hash128_stream;
struct br_hash128_stream *br_hash128_stream_new(void);
void br_hash128_stream_update(struct br_hash128_stream *s, const void *data,
			      size_t len);
void br_hash128_stream_digest(struct br_hash128_stream *s,
			      unsigned char out[BR_HASH128_LEN]);
void br_hash128_stream_free(struct br_hash128_stream *s);

#endif
