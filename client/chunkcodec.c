/* chunkcodec.c - decoding and checking a chunk (chunkcodec.h). */
#include <errno.h>
#include <string.h>
#include <zstd.h>

#include "chunkcodec.h"
#include "xxhash128.h"

_Static_assert(CHUNKCODEC_HASH_LEN == BR_HASH128_LEN, "hash size");

/* One zstd frame, all of src, that says it holds exactly len bytes and
 * gives exactly that many into buf (room checked by the caller). */
static int unzstd(const void *src, size_t n, void *buf, size_t len)
{
	unsigned long long want = ZSTD_getFrameContentSize(src, n);
	size_t got;

	/* Errors and "unknown" are huge values: they fail this too. */
	if (want != (unsigned long long)len)
		return -EBADMSG;
	if (ZSTD_findFrameCompressedSize(src, n) != n)
		return -EBADMSG;        /* a broken frame, or more than one */
	got = ZSTD_decompress(buf, len, src, n);
	if (ZSTD_isError(got) || got != len)
		return -EBADMSG;
	return 0;
}

ssize_t chunkcodec_decode(const br_chunk_data *d,
			  const unsigned char hash[CHUNKCODEC_HASH_LEN],
			  void *buf, size_t size)
{
	const void *bytes = d->data.data_val;
	size_t n = d->data.data_len;
	unsigned char got[BR_HASH128_LEN];
	int rc;

	if (d->len > size)
		return -ERANGE;
	switch (d->enc) {
	case BR_ENC_RAW:
		if (n != d->len)
			return -EBADMSG;
		if (n)
			memcpy(buf, bytes, n);
		break;
	case BR_ENC_ZSTD:
		rc = unzstd(bytes, n, buf, d->len);
		if (rc < 0)
			return rc;
		break;
	default:
		return -EBADMSG;
	}
	/* -EIO, as for a raw reply with wrong bytes: the encoding was
	 * sound, its contents are not the chunk asked for. */
	br_hash128(buf, d->len, got);
	if (memcmp(got, hash, CHUNKCODEC_HASH_LEN))
		return -EIO;
	return (ssize_t)d->len;
}
