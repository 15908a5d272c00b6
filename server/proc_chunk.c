/* proc_chunk.c - CHUNKMAP, READ_CHUNK and READ_CHUNK2: the chunk index
 * (chunkidx.h) on the wire, chunks maybe compressed (chunkzip.h).  Both read the file's contents, so both open it as the caller
 * (read permission is checked by the kernel) and run in a pool worker,
 * never in the loop: hashing a file reads all of it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "chunkcache.h"
#include "chunkidx.h"
#include "chunkzip.h"
#include "peers.h"
#include "pool.h"
#include "proc.h"
#include "xalloc.h"

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

/* Whether the index vouches that the version the client names is the
 * file's current one and has a->hash at a->idx: 1 yes, 0 the disk must
 * decide (by the bytes), or -errno (-ESTALE...).  Without a hot-chunk
 * cache nothing needs vouching: 0. */
static int chunk_vouched(struct service *svc, int fd, const br_read_chunk_args *a)
{
	if (!chunkcache_enabled(svc->ccache))
		return 0;
	return chunkidx_chunk_current(svc->chunks, fd, a->idx,
				      (const unsigned char *)a->hash, a->file_version);
}

/* What compressing a chunk gave: z CHUNKCACHE_Z_HAVE with the frame
 * (malloc'd), _NONE (incompressible), _UNTRIED (the rule said no). */
struct zform {
	enum chunkcache_z z;
	void *frame;
	size_t len;
};

/* Compress len bytes of raw when the rule says so (chunkzip.h). */
static void try_compress(struct service *svc, uint64_t link_bps, const void *raw,
			 size_t len, struct zform *zf)
{
	*zf = (struct zform){ .z = CHUNKCACHE_Z_UNTRIED };
	if (!chunkzip_should_try(svc->czip, link_bps))
		return;
	if (chunkzip_compress(svc->czip, raw, len, &zf->frame, &zf->len) == 1)
		zf->z = CHUNKCACHE_Z_HAVE;
	else
		zf->z = CHUNKCACHE_Z_NONE;
}

/* Send the frame instead of the bytes (c takes it over). */
static void use_frame(struct chunkcache_copy *c, struct zform *zf)
{
	c->z = zf->z;
	if (zf->z != CHUNKCACHE_Z_HAVE)
		return;
	free(c->data);
	c->data = zf->frame;
	c->size = zf->len;
	c->zstd = true;
	zf->frame = NULL;
}

/* Chunk a->idx from the hot-chunk cache or, on a miss, the disk (then
 * kept); compressed (when zstd_ok, as the rule says) before the cache
 * keeps it, so that readers waiting for the same load get the form too
 * and the chunk is compressed once.  The cache answers only when the
 * index vouched (vouched 1); otherwise the disk decides by the bytes, as
 * without a cache, so a stale version gets -ESTALE either way.  One disk
 * read per chunk however many readers ask for it at once (chunkcache.h). */
static int read_chunk(struct service *svc, int fd, const br_read_chunk_args *a,
		      int vouched, bool zstd_ok, uint64_t link_bps,
		      struct chunkcache_copy *out)
{
	const unsigned char *hash = (const unsigned char *)a->hash;
	struct chunkcache_fill *fill = NULL;
	struct zform zf = { .z = CHUNKCACHE_Z_UNTRIED };
	void *data = NULL;
	size_t len = 0;
	int rc;

	if (vouched == 1 &&
	    chunkcache_get2(svc->ccache, hash, zstd_ok, out, &fill) == 1)
		return 0;
	if (vouched != 1)
		chunkcache_count_miss(svc->ccache);
	rc = chunkidx_read_chunk(svc->chunks, fd, a->idx, hash, a->file_version,
				 &data, &len);
	if (rc == 0 && zstd_ok)
		try_compress(svc, link_bps, data, len, &zf);
	/* Bytes read are checked against the hash: right for the cache even
	 * when the index could not vouch for the version. */
	if (fill) {
		chunkcache_fill_done_z(svc->ccache, fill, rc == 0 ? data : NULL, len,
				       zf.z, zf.frame, zf.len);
	} else if (rc == 0 && svc->ccache) {
		chunkcache_put(svc->ccache, hash, data, len);
		if (zf.z != CHUNKCACHE_Z_UNTRIED)
			chunkcache_set_zstd(svc->ccache, hash, zf.frame, zf.len);
	}
	if (rc < 0)
		return rc;
	*out = (struct chunkcache_copy){ .data = data, .size = len, .len = len };
	use_frame(out, &zf);
	return 0;
}

/* The chunk's bytes for a reply, compressed when the client accepts it
 * (BR_RC_ZSTD) and it pays: what READ_CHUNK2 answers from the server
 * itself (BR_FROM_SERVER).  vouched: chunk_vouched()'s answer.  A chunk
 * the cache holds but never tried is compressed here, and the cache told.
 * On success out->data is malloc'd (xdr_free frees it). */
static int chunk_data_get(struct service *svc, int fd, const br_read_chunk_args *a,
			  int vouched, unsigned int flags, uint64_t link_bps,
			  br_chunk_data *out)
{
	bool zstd_ok = (flags & BR_RC_ZSTD) && chunkzip_enabled(svc->czip);
	struct chunkcache_copy c;
	struct zform zf;
	int rc = read_chunk(svc, fd, a, vouched, zstd_ok, link_bps, &c);

	if (rc < 0)
		return rc;
	if (zstd_ok && !c.zstd && c.z == CHUNKCACHE_Z_UNTRIED) {
		try_compress(svc, link_bps, c.data, c.len, &zf);
		if (zf.z != CHUNKCACHE_Z_UNTRIED)
			chunkcache_set_zstd(svc->ccache, (const unsigned char *)a->hash,
					    zf.frame, zf.len);
		use_frame(&c, &zf);
	}
	chunkzip_count_sent(svc->czip, c.zstd, c.size, c.len);
	out->enc = c.zstd ? BR_ENC_ZSTD : BR_ENC_RAW;
	out->len = (u_int)c.len;
	out->data.data_len = (u_int)c.size;
	out->data.data_val = c.data;
	return 0;
}

int proc_read_chunk(struct call *c, void *args, void *res)
{
	br_read_chunk_args *a = args;
	br_read_chunk_res *r = res;
	struct chunkcache_copy cc;
	int fd, rc;

	if (!c->svc->chunks)
		return -EOPNOTSUPP;
	fd = open_for_reading(c, &a->fh);
	if (fd < 0)
		return fd;
	rc = chunk_vouched(c->svc, fd, a);
	if (rc >= 0)
		rc = read_chunk(c->svc, fd, a, rc, false, 0, &cc);
	call_close_quiet(fd);
	if (rc < 0)
		return rc;
	chunkzip_count_sent(c->svc->czip, false, cc.size, cc.len);
	r->br_read_chunk_res_u.data.data_len = (u_int)cc.size;
	r->br_read_chunk_res_u.data.data_val = cc.data;
	return 0;
}

/* ---- READ_CHUNK2 and PEER_REGISTER: chunks that may come compressed,
 * or from a peer (peers.h). */

/* Whether the caller may be sent to a peer for this chunk. */
static bool wants_peers(const struct call *c, const br_read_chunk2_args *a)
{
	return c->svc->peers && (a->flags & BR_RC_PEERS);
}

/* Send the caller to a peer for the chunk: true when *r is filled so.
 * Only for a chunk the index vouches for (vouched 1, whether or not there
 * is a hot-chunk cache): the bytes will not pass the server. */
static bool route_to_peer(struct call *c, int vouched, const br_read_chunk2_args *a,
			  br_chunk_src *r)
{
	struct peers *p = c->svc->peers;

	if (!wants_peers(c, a) || vouched != 1)
		return false;
	if (!peers_route(p, c->job->conn_id, c->peer, (const unsigned char *)a->hash,
			 a->failed.failed_len ? a->failed.failed_val : NULL,
			 a->flags & BR_RC_LACKED, &r->br_chunk_src_u.peer))
		return false;
	r->from = BR_FROM_PEER;
	return true;
}

/* The server sent chunk d itself to a caller that takes chunks from
 * peers: it is that chunk's newest source (peers_served), and its strong
 * hash is made the first time, from the uncompressed bytes. */
static void note_served(struct call *c, const br_read_chunk2_args *a, const br_chunk_data *d)
{
	const unsigned char *hash = (const unsigned char *)a->hash;
	void *raw = NULL;

	if (!wants_peers(c, a))
		return;
	if (d->enc == BR_ENC_ZSTD && !peers_knows(c->svc->peers, hash, d->len)) {
		raw = xmalloc(d->len ? d->len : 1);
		if (ZSTD_decompress(raw, d->len, d->data.data_val, d->data.data_len) != d->len) {
			free(raw);      /* (our own frame: cannot happen) */
			return;
		}
	}
	peers_served(c->svc->peers, c->job->conn_id, hash,
		     raw ? raw : d->enc == BR_ENC_RAW ? d->data.data_val : NULL, d->len);
	free(raw);
}

/* READ_CHUNK2: READ_CHUNK's checks (the caller opens the file: read
 * permission; the index vouches, or the bytes decide), then the answer:
 * another node (BR_RC_PEERS), or the bytes from the server, maybe
 * compressed (BR_RC_ZSTD). */
int proc_read_chunk2(struct call *c, void *args, void *res)
{
	br_read_chunk2_args *a2 = args;
	br_read_chunk2_res *r = res;
	br_chunk_src *src = &r->br_read_chunk2_res_u.ok;
	br_read_chunk_args a = { .fh = a2->fh, .idx = a2->idx,
				 .file_version = a2->file_version };
	int fd, rc;

	if (!c->svc->chunks)
		return -EOPNOTSUPP;
	memcpy(a.hash, a2->hash, sizeof(a.hash));
	fd = open_for_reading(c, &a.fh);
	if (fd < 0)
		return fd;
	/* One index lookup for both questions: may the caller go to a peer,
	 * may the hot-chunk cache answer (chunk_vouched's rule: without a
	 * cache the disk decides, errors included). */
	rc = wants_peers(c, a2) ? chunkidx_chunk_current(c->svc->chunks, fd, a.idx,
							 (const unsigned char *)a.hash,
							 a.file_version)
				: chunk_vouched(c->svc, fd, &a);
	if (route_to_peer(c, rc, a2, src)) {
		call_close_quiet(fd);
		return 0;
	}
	if (!chunkcache_enabled(c->svc->ccache))
		rc = 0;
	if (rc >= 0) {
		src->from = BR_FROM_SERVER;
		rc = chunk_data_get(c->svc, fd, &a, rc, a2->flags,
				    c->job ? c->job->link_bps : 0,
				    &src->br_chunk_src_u.data);
	}
	call_close_quiet(fd);
	if (rc == 0)
		note_served(c, a2, &src->br_chunk_src_u.data);
	return rc;
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
