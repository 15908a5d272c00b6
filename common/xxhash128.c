/* xxhash128.c - XXH3-128 in canonical form (see xxhash128.h). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "xalloc.h"
#include "xxhash128.h"

void br_hash128(const void *data, size_t len, unsigned char out[BR_HASH128_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(out, c.digest, BR_HASH128_LEN);
}

/* An XXH3 state, which libxxhash allocates (its layout is not public
 * without XXH_STATIC_LINKING_ONLY). */
struct br_hash128_stream {
	XXH3_state_t *st;
};

struct br_hash128_stream *br_hash128_stream_new(void)
{
	struct br_hash128_stream *s = xcalloc(1, sizeof(*s));

	s->st = XXH3_createState();
	if (!s->st)
		abort();                /* out of memory, as xmalloc */
	XXH3_128bits_reset(s->st);
	return s;
}

void br_hash128_stream_update(struct br_hash128_stream *s, const void *data,
			      size_t len)
{
	XXH3_128bits_update(s->st, data, len);
}

void br_hash128_stream_digest(struct br_hash128_stream *s,
			      unsigned char out[BR_HASH128_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->st));
	memcpy(out, c.digest, BR_HASH128_LEN);
	XXH3_128bits_reset(s->st);
}

void br_hash128_stream_free(struct br_hash128_stream *s)
{
	if (!s)
		return;
	XXH3_freeState(s->st);
	free(s);
}
