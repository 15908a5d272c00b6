/* xxhash128.h - the one XXH3-128 helper: chunk names on the server (chunk
 * index), on the wire and in the node cache are all this function's
 * output. */
#ifndef BR_XXHASH128_H
#define BR_XXHASH128_H

#include <stddef.h>

#define BR_HASH128_LEN 16

/* XXH3-128 of data in its canonical (big-endian) 16 bytes. */
void br_hash128(const void *data, size_t len, unsigned char out[BR_HASH128_LEN]);

#endif
