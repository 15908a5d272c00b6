/* chunkcodec.h - a chunk's bytes as they travel (br_chunk_data: raw, or
 * one zstd frame) turned back into the chunk, and checked.
 *
 * The one place a client trusts chunk bytes from the wire: whatever sent
 * them (the server's READ_CHUNK or READ_CHUNK2, or a peer), they become
 * the chunk only when they decode to exactly `len' bytes that hash
 * (XXH3-128) to the chunk's name.  Nothing else is ever cached or
 * returned as the chunk.
 *
 * Pure functions of their arguments; thread-safe (zstd decoding keeps no
 * state between calls). */
#ifndef BR_CHUNKCODEC_H
#define BR_CHUNKCODEC_H

#include <stddef.h>
#include <sys/types.h>

#include "bramble_prot.h"

#define CHUNKCODEC_HASH_LEN 16

/* Decode d into buf (size bytes of room) and check that the result is
 * the chunk named hash.  Returns the chunk's length (d->len), or:
 *   -EBADMSG  the bytes are not a chunk's encoding: an unknown enc, a raw
 *             chunk whose length is not d->len, a zstd payload that is not
 *             exactly one frame, or whose frame does not decode, or does
 *             not say or give exactly d->len bytes;
 *   -ERANGE   d->len is more than size;
 *   -EIO      well-formed, but the bytes do not hash to hash (wrong
 *             contents: a broken sender, memory or wire).
 * On failure buf may hold anything: never use it. */
ssize_t chunkcodec_decode(const br_chunk_data *d,
			  const unsigned char hash[CHUNKCODEC_HASH_LEN],
			  void *buf, size_t size);

#endif
