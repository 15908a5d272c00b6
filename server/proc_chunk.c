/* proc_chunk.c - CHUNKMAP and READ_CHUNK: the chunk index (chunkidx.h) on
 * the wire.  Both read the file's contents, so both open it as the caller
 * (read permission is checked by the kernel) and run in a pool worker,
 * never in the loop: hashing a file reads all of it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "chunkcache.h"
#include "chunkidx.h"
#include "proc.h"

_Static_assert(CHUNKIDX_HASH_LEN == sizeof(br_chunk_hash), "hash size");
_Static_assert(CHUNKIDX_MAX_CHUNK <= BR_DATA_MAX, "a chunk fits a reply");

/* A read-only fd of the regular file fh, opened as the caller (without
 * the fd cache, whose entries the data calls reuse: a CHUNKMAP is rare
 * next to READs; and without the owner override, which only calls
 * through a file the client opened have). */
static int open_for_reading(struct call *c, const br_fh *fh)
{
	struct stat st;

	return call_open_file(c, fh, O_RDONLY, false, &st);
}

/* CHUNKMAP's answer from map, which the reply takes over. */
static void chunkmap_reply(const br_chunkmap_args *a, struct chunkidx_map *m,
			   br_chunkmap_ok *ok)
{
	ok->file_version = m->version;
	ok->size = m->size;
	ok->chunk_size = m->chunk_size;
	ok->first = a->first;
	ok->hashes.hashes_len = m->count;
	ok->hashes.hashes_val = (br_chunk_hash *)m->hashes;  /* xdr_free frees it */
	ok->eof = (uint64_t)m->first + m->count >= m->nchunks;
}

/* CHUNKMAP (hashing the file when the index has no map of it) or, known
 * only, CHUNKMAP_KNOWN (-ENODATA then: bramble_prot.x). */
static int chunkmap(struct call *c, br_chunkmap_args *a, br_chunkmap_res *res,
		    bool known_only)
{
	uint32_t max = a->max == 0 || a->max > BR_CHUNKS_MAX ? BR_CHUNKS_MAX : a->max;
	struct chunkidx_map m;
	int fd, rc;

	if (!c->svc->chunks)
		return -EOPNOTSUPP;
	fd = open_for_reading(c, &a->fh);
	if (fd < 0)
		return fd;
	if (known_only)
		rc = chunkidx_map_indexed(c->svc->chunks, fd, a->first, max, &m);
	else
		rc = chunkidx_map(c->svc->chunks, fd, a->first, max, &m);
	call_close_quiet(fd);
	if (rc == 0)
		chunkmap_reply(a, &m, &res->br_chunkmap_res_u.ok);
	return rc;
}

int proc_chunkmap(struct call *c, void *args, void *res)
{
	return chunkmap(c, args, res, false);
}

int proc_chunkmap_known(struct call *c, void *args, void *res)
{
	return chunkmap(c, args, res, true);
}

/* Chunk a->idx from the hot-chunk cache or, on a miss, the disk (then
 * kept).  The cache answers only when the index vouches that the version
 * the client names is the file's current one and has that hash at idx;
 * otherwise the disk decides by the bytes, as without a cache, so a
 * stale version gets -ESTALE either way.  One disk read per chunk however
 * many readers ask for it at once (chunkcache.h). */
static int read_chunk(struct service *svc, int fd, const br_read_chunk_args *a,
		      void **data, size_t *len)
{
	const unsigned char *hash = (const unsigned char *)a->hash;
	struct chunkcache_fill *fill = NULL;
	int rc;

	if (!chunkcache_enabled(svc->ccache)) {
		chunkcache_count_miss(svc->ccache);     /* --cache-mem 0 */
	} else {
		rc = chunkidx_chunk_current(svc->chunks, fd, a->idx, hash,
					    a->file_version);
		if (rc < 0)
			return rc;
		if (rc == 1 && chunkcache_get(svc->ccache, hash, data, len, &fill) == 1)
			return 0;
		if (rc == 0)
			chunkcache_count_miss(svc->ccache);
	}
	rc = chunkidx_read_chunk(svc->chunks, fd, a->idx, hash, a->file_version,
				 data, len);
	/* Bytes read are checked against the hash: right for the cache even
	 * when the index could not vouch for the version. */
	if (fill)
		chunkcache_fill_done(svc->ccache, fill, rc == 0 ? *data : NULL, *len);
	else if (rc == 0 && svc->ccache)
		chunkcache_put(svc->ccache, hash, *data, *len);
	return rc;
}

int proc_read_chunk(struct call *c, void *args, void *res)
{
	br_read_chunk_args *a = args;
	br_read_chunk_res *r = res;
	void *data = NULL;
	size_t len = 0;
	int fd, rc;

	if (!c->svc->chunks)
		return -EOPNOTSUPP;
	fd = open_for_reading(c, &a->fh);
	if (fd < 0)
		return fd;
	rc = read_chunk(c->svc, fd, a, &data, &len);
	call_close_quiet(fd);
	if (rc < 0)
		return rc;
	r->br_read_chunk_res_u.data.data_len = (u_int)len;
	r->br_read_chunk_res_u.data.data_val = data;
	return 0;
}
