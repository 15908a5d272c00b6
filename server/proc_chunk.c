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
#include "peers.h"
#include "pool.h"
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

/* ---- READ_CHUNK2 and PEER_REGISTER: chunks that may come from a peer
 * (peers.h). */

/* Whether a->hash is chunk a->idx of the file's current version, as the
 * index vouches (no disk read): what sending the caller elsewhere needs. */
static bool chunk_vouched(struct service *svc, int fd, const br_read_chunk2_args *a)
{
	return chunkidx_chunk_current(svc->chunks, fd, a->idx,
				      (const unsigned char *)a->hash, a->file_version) == 1;
}

/* Send the caller to a peer for the chunk: true when *r is filled so. */
static bool route_to_peer(struct call *c, int fd, const br_read_chunk2_args *a,
			  br_chunk_src *r)
{
	struct peers *p = c->svc->peers;

	if (!p || !(a->flags & BR_RC_PEERS) || !chunk_vouched(c->svc, fd, a))
		return false;
	if (!peers_route(p, c->job->conn_id, c->peer, (const unsigned char *)a->hash,
			 a->failed.failed_len ? a->failed.failed_val : NULL,
			 a->flags & BR_RC_LACKED, &r->br_chunk_src_u.peer))
		return false;
	r->from = BR_FROM_PEER;
	return true;
}

int proc_read_chunk2(struct call *c, void *args, void *res)
{
	br_read_chunk2_args *a = args;
	br_read_chunk2_res *r = res;
	br_read_chunk_args ra = { .fh = a->fh, .idx = a->idx,
				  .file_version = a->file_version };
	br_chunk_data *d = &r->br_read_chunk2_res_u.ok.br_chunk_src_u.data;
	void *data = NULL;
	size_t len = 0;
	int fd, rc;

	if (!c->svc->chunks)
		return -EOPNOTSUPP;
	fd = open_for_reading(c, &a->fh);
	if (fd < 0)
		return fd;
	if (route_to_peer(c, fd, a, &r->br_read_chunk2_res_u.ok)) {
		call_close_quiet(fd);
		return 0;
	}
	memcpy(ra.hash, a->hash, sizeof(ra.hash));
	rc = read_chunk(c->svc, fd, &ra, &data, &len);
	call_close_quiet(fd);
	if (rc < 0)
		return rc;
	if (c->svc->peers && (a->flags & BR_RC_PEERS))
		peers_served(c->svc->peers, c->job->conn_id, (const unsigned char *)a->hash,
			     data, len);
	r->br_read_chunk2_res_u.ok.from = BR_FROM_SERVER;
	d->enc = BR_ENC_RAW;
	d->len = (u_int)len;
	d->data.data_len = (u_int)len;
	d->data.data_val = data;
	return 0;
}

/* Only root of a client (an unsquashed AUTH_SYS uid 0 from a reserved
 * port, or MUNGE's) may offer a peer service: an ordinary user could not
 * serve wrong bytes (they are checked) but could make nodes wait on it. */
int proc_peer_register(struct call *c, void *args, void *res)
{
	br_peer_register_args *a = args;

	(void)res;
	if (!c->svc->peers)
		return -EOPNOTSUPP;
	if (c->job->flavor == RPC_AUTH_NONE || c->job->cred.uid != 0)
		return -EPERM;
	return peers_register(c->svc->peers, c->job->conn_id, c->peer, a->port,
			      (const unsigned char *)a->key);
}
