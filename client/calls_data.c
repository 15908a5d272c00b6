/* calls_data.c - the procedures that move file contents: READ, WRITE,
 * COPY_RANGE, and the chunk calls CHUNKMAP, READ_CHUNK and READ_CHUNK2
 * (see bramble.h;
 * the metadata procedures are in calls.c, which says how these functions
 * are built).  Data is never copied twice: arguments point into the
 * caller's buffer, and READ is decoded by hand into it. */
#include <errno.h>
#include <string.h>

#include "chunkcodec.h"
#include "log.h"
#include "rpc.h"

/* ---- data */

/* READ is decoded by hand so the data lands in the caller's buffer
 * without an intermediate allocation; its length is checked against
 * count before a byte is copied. */
ssize_t bramble_read(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, uint64_t off, void *buf,
		     size_t count, bool *eof)
{
	struct rpc_op op;
	br_read_args a = { .offset = off,
			   .count = (u_int)BR_MIN(count, (size_t)BR_DATA_MAX) };
	u_int len = 0;
	int rc;

	rpc_fh_arg(&a.fh, fh);
	rc = rpc_run(b, &op, BRPROC_READ, cr, (xdrproc_t)xdr_br_read_args, &a);
	if (rc == 0) {
		XDR x;
		br_stat st;
		bool_t e = FALSE;

		xdrmem_create(&x, (char *)op.body, (u_int)op.body_len, XDR_DECODE);
		if (!xdr_br_stat(&x, &st)) {
			rc = -EBADMSG;
		} else if ((rc = br_stat_to_errno(st)) == 0) {
			if (!xdr_u_int(&x, &len) || len > a.count ||
			    !xdr_opaque(&x, buf, len) || !xdr_bool(&x, &e))
				rc = -EBADMSG;
			else if (xdr_getpos(&x) != op.body_len)
				rc = -EBADMSG;
			else if (eof)
				*eof = e;
		}
		xdr_destroy(&x);
	}
	rc = rpc_end(b, &op, rc);
	return rc < 0 ? rc : (ssize_t)len;
}

ssize_t bramble_write(struct bramble *b, const struct bramble_cred *cr,
		      const struct bramble_fh *fh, uint64_t off,
		      const void *buf, size_t count, unsigned int flags,
		      struct stat *st)
{
	struct rpc_op op;
	br_write_args a = { .offset = off, .flags = flags };
	br_write_res r;
	u_int n = 0;
	int rc;

	if (count > BR_DATA_MAX)
		return -EINVAL;
	rpc_fh_arg(&a.fh, fh);
	a.data.data_len = (u_int)count;
	a.data.data_val = (char *)buf;
	rc = rpc_run_decode(b, &op, BRPROC_WRITE, cr, (xdrproc_t)xdr_br_write_args,
			    &a, (xdrproc_t)xdr_br_write_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			n = r.br_write_res_u.ok.count;
			if (n > count)
				rc = -EBADMSG;
			rpc_attr_out(st, &r.br_write_res_u.ok.attr);
		}
		xdr_free((xdrproc_t)xdr_br_write_res, (char *)&r);
	}
	rc = rpc_end(b, &op, rc);
	return rc < 0 ? rc : (ssize_t)n;
}

ssize_t bramble_copy_range(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *src, uint64_t src_off,
			   const struct bramble_fh *dst, uint64_t dst_off,
			   uint64_t count, struct stat *dst_st)
{
	struct rpc_op op;
	br_copy_args a = { .src_offset = src_off, .dst_offset = dst_off,
			   .count = count };
	br_copy_res r;
	uint64_t n = 0;
	int rc;

	rpc_fh_arg(&a.src, src);
	rpc_fh_arg(&a.dst, dst);
	rc = rpc_run_decode(b, &op, BRPROC_COPY_RANGE, cr,
			    (xdrproc_t)xdr_br_copy_args, &a,
			    (xdrproc_t)xdr_br_copy_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			n = r.br_copy_res_u.ok.count;
			if (n > count)
				rc = -EBADMSG;
			rpc_attr_out(dst_st, &r.br_copy_res_u.ok.dst_attr);
		}
		xdr_free((xdrproc_t)xdr_br_copy_res, (char *)&r);
	}
	rc = rpc_end(b, &op, rc);
	return rc < 0 ? rc : (ssize_t)n;
}

/* ---- chunks */

/* What a chunk cost on the wire, and, when asked, its encoded bytes
 * taken over from the reply d (which then no longer owns them). */
static void wire_keep(struct bramble_chunk_wire *wire, br_chunk_data *d)
{
	if (!wire)
		return;
	wire->enc = d->enc == BR_ENC_ZSTD ? BRAMBLE_ENC_ZSTD : BRAMBLE_ENC_RAW;
	wire->wire_len = d->data.data_len;
	if (wire->keep) {
		wire->bytes = d->data.data_val;
		d->data.data_val = NULL;
		d->data.data_len = 0;
	}
}

/* CHUNKMAP or CHUNKMAP_KNOWN (proc): the same question and answer. */
static int chunkmap(struct bramble *b, uint32_t proc, const struct bramble_cred *cr,
		    const struct bramble_fh *fh, uint32_t first, uint32_t max,
		    unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN],
		    struct bramble_chunkmap *out)
{
	struct rpc_op op;
	br_chunkmap_args a = { .first = first,
			       .max = max ? max : BR_CHUNKS_MAX };
	br_chunkmap_res r;
	int rc;

	if (a.max > BR_CHUNKS_MAX)
		return -EINVAL;
	rpc_fh_arg(&a.fh, fh);
	rc = rpc_run_decode(b, &op, proc, cr,
			    (xdrproc_t)xdr_br_chunkmap_args, &a,
			    (xdrproc_t)xdr_br_chunkmap_res, &r, sizeof(r));
	if (rc == 0) {
		const br_chunkmap_ok *ok = &r.br_chunkmap_res_u.ok;

		rc = br_stat_to_errno(r.status);
		/* A reply that does not answer the question is not used. */
		if (rc == 0 && (ok->first != first || ok->hashes.hashes_len > a.max ||
				ok->chunk_size == 0 ||
				(ok->chunk_size & (ok->chunk_size - 1))))
			rc = -EBADMSG;
		if (rc == 0) {
			out->version = ok->file_version;
			out->size = ok->size;
			out->chunk_size = ok->chunk_size;
			out->first = ok->first;
			out->count = ok->hashes.hashes_len;
			out->eof = ok->eof;
			if (out->count)
				memcpy(hashes, ok->hashes.hashes_val,
				       (size_t)out->count * BRAMBLE_CHUNK_HASH_LEN);
		}
		xdr_free((xdrproc_t)xdr_br_chunkmap_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

int bramble_chunkmap(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, uint32_t first, uint32_t max,
		     unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN],
		     struct bramble_chunkmap *out)
{
	return chunkmap(b, BRPROC_CHUNKMAP, cr, fh, first, max, hashes, out);
}

int bramble_chunkmap_known(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *fh, uint32_t first, uint32_t max,
			   unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN],
			   struct bramble_chunkmap *out)
{
	return chunkmap(b, BRPROC_CHUNKMAP_KNOWN, cr, fh, first, max, hashes, out);
}

/* A chunk that failed its check: applications see EIO (fuse/ops.c), the
 * log says what came. */
static void log_bad_chunk(uint32_t idx, const br_chunk_data *d, ssize_t rc)
{
	const char *what = rc == -EBADMSG ? "does not decode to the chunk's length" :
			   rc == -EIO ? "decodes to other bytes than the chunk's (hash)" :
			   strerror((int)-rc);

	log_warn_rl("chunk %u from the server refused: its %s encoding (%u bytes) %s",
		    idx, d->enc == BR_ENC_ZSTD ? "zstd" : d->enc == BR_ENC_RAW ? "raw" : "unknown",
		    d->data.data_len, what);
}

/* READ_CHUNK: the chunk raw, decoded and checked as any (chunkcodec.h). */
static ssize_t read_chunk1(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *fh, uint32_t idx,
			   const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			   uint64_t version, void *buf, size_t size,
			   struct bramble_chunk_wire *wire)
{
	struct rpc_op op;
	br_read_chunk_args a = { .idx = idx, .file_version = version };
	br_read_chunk_res r;
	ssize_t n = 0;
	int rc;

	rpc_fh_arg(&a.fh, fh);
	memcpy(a.hash, hash, BRAMBLE_CHUNK_HASH_LEN);
	rc = rpc_run_decode(b, &op, BRPROC_READ_CHUNK, cr,
			    (xdrproc_t)xdr_br_read_chunk_args, &a,
			    (xdrproc_t)xdr_br_read_chunk_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			br_chunk_data d = { .enc = BR_ENC_RAW,
					    .len = r.br_read_chunk_res_u.data.data_len,
					    .data = { r.br_read_chunk_res_u.data.data_len,
						      r.br_read_chunk_res_u.data.data_val } };

			n = chunkcodec_decode(&d, hash, buf, size);
			rc = n < 0 ? (int)n : 0;
			if (rc == 0)
				wire_keep(wire, &d);
			else if (rc != -ERANGE)
				log_bad_chunk(idx, &d, rc);
		}
		xdr_free((xdrproc_t)xdr_br_read_chunk_res, (char *)&r);
	}
	rc = rpc_end(b, &op, rc);
	return rc < 0 ? rc : n;
}

int bramble_read_chunk2_call(struct bramble *b, const struct bramble_cred *cr,
			     const struct bramble_fh *fh, uint32_t idx,
			     const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			     uint64_t version, unsigned int flags,
			     const br_peer_addr *failed, br_read_chunk2_res *r)
{
	struct rpc_op op;
	br_read_chunk2_args a = { .idx = idx, .file_version = version, .flags = flags };
	int rc;

	rpc_fh_arg(&a.fh, fh);
	memcpy(a.hash, hash, BRAMBLE_CHUNK_HASH_LEN);
	if (failed) {
		a.failed.failed_len = 1;
		a.failed.failed_val = (br_peer_addr *)failed;
	}
	rc = rpc_run_decode(b, &op, BRPROC_READ_CHUNK2, cr,
			    (xdrproc_t)xdr_br_read_chunk2_args, &a,
			    (xdrproc_t)xdr_br_read_chunk2_res, r, sizeof(*r));
	if (rc == 0) {
		rc = br_stat_to_errno(r->status);
		if (rc < 0)
			xdr_free((xdrproc_t)xdr_br_read_chunk2_res, (char *)r);
	}
	return rpc_end(b, &op, rc);
}

/* READ_CHUNK2, asking for a compressed answer; always from the server
 * (a peer is never asked for: BR_RC_PEERS is not set). */
static ssize_t read_chunk2(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *fh, uint32_t idx,
			   const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			   uint64_t version, void *buf, size_t size,
			   struct bramble_chunk_wire *wire)
{
	br_read_chunk2_res r;
	br_chunk_data *d = &r.br_read_chunk2_res_u.ok.br_chunk_src_u.data;
	ssize_t n;
	int rc;

	rc = bramble_read_chunk2_call(b, cr, fh, idx, hash, version, BR_RC_ZSTD,
				      NULL, &r);
	if (rc < 0)
		return rc;
	if (r.br_read_chunk2_res_u.ok.from != BR_FROM_SERVER) {
		n = -EPROTO;    /* a peer, which this call did not accept */
	} else {
		n = chunkcodec_decode(d, hash, buf, size);
		if (n >= 0)
			wire_keep(wire, d);
		else if (n != -ERANGE)
			log_bad_chunk(idx, d, n);
	}
	xdr_free((xdrproc_t)xdr_br_read_chunk2_res, (char *)&r);
	return n;
}

bool bramble_chunk_zstd_ok(struct bramble *b)
{
	return (b->caps & BRAMBLE_CAP_CHUNK_ZSTD) && bramble_server_can(b, BRAMBLE_CAP_CHUNK_ZSTD);
}

ssize_t bramble_read_chunk_ex(struct bramble *b, const struct bramble_cred *cr,
			      const struct bramble_fh *fh, uint32_t idx,
			      const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			      uint64_t version, void *buf, size_t size,
			      struct bramble_chunk_wire *wire)
{
	if (wire)
		wire->bytes = NULL;
	if (b->peers)           /* READ_CHUNK2 too (peerlink.c) */
		return peers_read_chunk(b, cr, fh, idx, hash, version, buf, size, wire);
	if (bramble_chunk_zstd_ok(b))
		return read_chunk2(b, cr, fh, idx, hash, version, buf, size, wire);
	return read_chunk1(b, cr, fh, idx, hash, version, buf, size, wire);
}

ssize_t bramble_read_chunk(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *fh, uint32_t idx,
			   const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			   uint64_t version, void *buf, size_t size)
{
	return bramble_read_chunk_ex(b, cr, fh, idx, hash, version, buf, size, NULL);
}
