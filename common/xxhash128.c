/* xxhash128.c - XXH3-128 in canonical form (see xxhash128.h). */
#include <string.h>
#include <xxhash.h>

#include "xxhash128.h"

void br_hash128(const void *data, size_t len, unsigned char out[BR_HASH128_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(out, c.digest, BR_HASH128_LEN);
}
