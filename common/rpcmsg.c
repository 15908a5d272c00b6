/* rpcmsg.c - ONC RPC messages and record marking over libtirpc's XDR. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "proto.h"
#include "rpcmsg.h"

/* ---- record marking */

void rm_reader_init(struct rm_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->rec, 0);
	r->max = max;
}

void rm_reader_release(struct rm_reader *r)
{
	buf_release(&r->rec);
}

void rm_reader_next(struct rm_reader *r)
{
	size_t max = r->max;

	buf_reset(&r->rec);
	r->frag_left = 0;
	r->mark_have = 0;
	r->last = false;
	r->complete = false;
	r->max = max;
}

int rm_reader_feed(struct rm_reader *r, const void *data, size_t len,
		   size_t *used)
{
	const unsigned char *p = data;
	size_t off = 0;

	*used = 0;
	if (r->complete)
		return 1;
	while (off < len) {
		if (r->frag_left == 0 && r->mark_have < 4) {
			r->mark[r->mark_have++] = p[off++];
			if (r->mark_have < 4)
				continue;
			uint32_t m = (uint32_t)r->mark[0] << 24 |
				     (uint32_t)r->mark[1] << 16 |
				     (uint32_t)r->mark[2] << 8 | r->mark[3];
			r->last = m & 0x80000000u;
			r->frag_left = m & 0x7fffffffu;
			if (r->frag_left > r->max - r->rec.len) {
				*used = off;
				return -E2BIG;
			}
			if (r->frag_left == 0) {
				r->mark_have = 0;
				if (r->last) {
					r->complete = true;
					*used = off;
					return 1;
				}
				continue;
			}
			/* Grow once for the whole fragment: its size is
			 * already known to be under the cap. */
			buf_grow(&r->rec, r->frag_left);
			continue;
		}
		size_t take = BR_MIN(len - off, (size_t)r->frag_left);

		buf_add(&r->rec, p + off, take);
		off += take;
		r->frag_left -= (uint32_t)take;
		if (r->frag_left == 0) {
			r->mark_have = 0;
			if (r->last) {
				r->complete = true;
				*used = off;
				return 1;
			}
		}
	}
	*used = off;
	return 0;
}

/* ---- encoding helpers */

static void put_be32(char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

/* Reserve room for a record mark plus `body' bytes at the end of out and
 * return an XDR stream over the body part. */
static size_t record_begin(struct buf *out, size_t body, XDR *x)
{
	size_t start = out->len;

	buf_grow(out, 4 + body);
	xdrmem_create(x, out->data + start + 4, (u_int)body, XDR_ENCODE);
	return start;
}

/* Finish the record begun at start: fill in its mark, or, when encoding
 * failed (ok false), drop it so out is as it was.  0 or -EMSGSIZE. */
static int record_end(struct buf *out, size_t start, XDR *x, bool_t ok)
{
	u_int n = xdr_getpos(x);

	xdr_destroy(x);
	if (!ok) {
		buf_setlen(out, start);
		return -EMSGSIZE;
	}
	put_be32(out->data + start, 0x80000000u | n);
	buf_setlen(out, start + 4 + n);
	return 0;
}

static bool_t put_u32(XDR *x, uint32_t v)
{
	return xdr_u_int(x, &v);
}

static bool_t put_auth_none(XDR *x)
{
	return put_u32(x, RPC_AUTH_NONE) && put_u32(x, 0);
}

static bool_t put_auth_sys(XDR *x, const struct br_cred *c, const char *machname)
{
	char body[RPC_AUTH_BODY_MAX];
	char *mp = (char *)(machname ? machname : "");
	u_int mlen = (u_int)strnlen(mp, RPC_MACHNAME_MAX);
	XDR bx;
	u_int n;
	bool_t ok = TRUE;

	xdrmem_create(&bx, body, sizeof(body), XDR_ENCODE);
	ok = ok && put_u32(&bx, (uint32_t)time(NULL)); /* stamp */
	ok = ok && xdr_bytes(&bx, &mp, &mlen, RPC_MACHNAME_MAX);
	ok = ok && put_u32(&bx, c->uid) && put_u32(&bx, c->gid);
	ok = ok && put_u32(&bx, BR_MIN(c->ngroups, RPC_AUTH_SYS_GROUPS));
	for (uint32_t i = 0; ok && i < c->ngroups && i < RPC_AUTH_SYS_GROUPS; i++)
		ok = put_u32(&bx, c->groups[i]);
	n = xdr_getpos(&bx);
	xdr_destroy(&bx);
	char *bp = body;

	return ok && put_u32(x, RPC_AUTH_SYS) && xdr_bytes(x, &bp, &n, RPC_AUTH_BODY_MAX);
}

int rpcmsg_encode_call(struct buf *out, uint32_t xid, uint32_t prog,
		       uint32_t vers, uint32_t proc, const struct br_cred *cred,
		       xdrproc_t xargs, const void *args)
{
	return rpcmsg_encode_call_named(out, xid, prog, vers, proc, cred, NULL,
					xargs, args);
}

int rpcmsg_encode_call_named(struct buf *out, uint32_t xid, uint32_t prog,
			     uint32_t vers, uint32_t proc,
			     const struct br_cred *cred, const char *machname,
			     xdrproc_t xargs, const void *args)
{
	struct rpc_auth a = {
		.flavor = cred ? RPC_AUTH_SYS : RPC_AUTH_NONE,
		.sys = cred, .machname = machname,
	};

	return rpcmsg_encode_call_auth(out, xid, prog, vers, proc, &a, xargs, args);
}

static bool_t put_auth_opaque(XDR *x, uint32_t flavor, const void *body,
			      uint32_t len)
{
	char *bp = (char *)body;
	u_int n = len;

	return len <= RPC_AUTH_BODY_MAX && put_u32(x, flavor) &&
	       xdr_bytes(x, &bp, &n, RPC_AUTH_BODY_MAX);
}

static bool_t put_cred(XDR *x, const struct rpc_auth *a)
{
	switch (a->flavor) {
	case RPC_AUTH_NONE:
		return put_auth_none(x);
	case RPC_AUTH_SYS:
		return a->sys && put_auth_sys(x, a->sys, a->machname);
	default:
		return put_auth_opaque(x, a->flavor, a->body, a->body_len);
	}
}

int rpcmsg_encode_call_auth(struct buf *out, uint32_t xid, uint32_t prog,
			    uint32_t vers, uint32_t proc,
			    const struct rpc_auth *auth, xdrproc_t xargs,
			    const void *args)
{
	size_t body = 10 * 4 + RPC_AUTH_BODY_MAX;
	size_t start;
	XDR x;
	bool_t ok;

	if (xargs && args)
		body += xdr_sizeof(xargs, (void *)args);
	if (body > BR_RECORD_MAX)
		return -EMSGSIZE;
	start = record_begin(out, body, &x);
	ok = put_u32(&x, xid) && put_u32(&x, CALL) &&
	     put_u32(&x, RPC_MSG_VERSION) && put_u32(&x, prog) &&
	     put_u32(&x, vers) && put_u32(&x, proc);
	ok = ok && put_cred(&x, auth);
	ok = ok && put_auth_none(&x); /* verifier */
	if (ok && xargs && args)
		ok = xargs(&x, (void *)args);
	return record_end(out, start, &x, ok);
}

/* ---- the MUNGE payload: "brMG", format 1, client id (XDR) */

#define MUNGE_TAG 0x62724d47u
#define MUNGE_FORMAT 1u

void rpcmsg_munge_payload(uint64_t client_id,
			  unsigned char out[RPC_MUNGE_PAYLOAD_LEN])
{
	put_be32((char *)out, MUNGE_TAG);
	put_be32((char *)out + 4, MUNGE_FORMAT);
	put_be32((char *)out + 8, (uint32_t)(client_id >> 32));
	put_be32((char *)out + 12, (uint32_t)client_id);
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int rpcmsg_munge_payload_parse(const void *p, size_t len, uint64_t *client_id)
{
	const unsigned char *b = p;

	if (!p || len != RPC_MUNGE_PAYLOAD_LEN || get_be32(b) != MUNGE_TAG ||
	    get_be32(b + 4) != MUNGE_FORMAT)
		return -EBADMSG;
	*client_id = (uint64_t)get_be32(b + 8) << 32 | get_be32(b + 12);
	return 0;
}

/* ---- call decoding */

static bool_t get_u32(XDR *x, uint32_t *v)
{
	return xdr_u_int(x, v);
}

/* Read an opaque_auth body without allocating: returns its bytes in place. */
static bool get_auth(XDR *x, const char *base, size_t len, uint32_t *flavor,
		     const char **body, uint32_t *body_len)
{
	uint32_t n;
	u_int pos;

	if (!get_u32(x, flavor) || !get_u32(x, &n) || n > RPC_AUTH_BODY_MAX)
		return false;
	pos = xdr_getpos(x);
	if ((size_t)pos + ((n + 3) & ~3u) > len)
		return false;
	*body = base + pos;
	*body_len = n;
	return xdr_setpos(x, pos + ((n + 3) & ~3u));
}

static bool parse_auth_sys(const char *body, uint32_t len, struct br_cred *c,
			   char machname[RPC_MACHNAME_MAX + 1])
{
	XDR x;
	uint32_t stamp, namelen, n;
	u_int pos;
	bool ok;

	xdrmem_create(&x, (char *)body, len, XDR_DECODE);
	ok = get_u32(&x, &stamp) && get_u32(&x, &namelen) &&
	     namelen <= RPC_MACHNAME_MAX;
	pos = ok ? xdr_getpos(&x) : 0;
	ok = ok && (size_t)pos + namelen <= len;
	if (ok) {
		/* A NUL inside ends the name as C reads it. */
		memcpy(machname, body + pos, namelen);
		machname[namelen] = '\0';
	}
	ok = ok && xdr_setpos(&x, pos + ((namelen + 3) & ~3u)) &&
	     get_u32(&x, &c->uid) && get_u32(&x, &c->gid) && get_u32(&x, &n) &&
	     n <= RPC_AUTH_SYS_GROUPS;
	for (uint32_t i = 0; ok && i < n; i++)
		ok = get_u32(&x, &c->groups[i]);
	if (ok)
		c->ngroups = n;
	ok = ok && xdr_getpos(&x) == len;
	xdr_destroy(&x);
	return ok;
}

enum rpcmsg_call_status rpcmsg_decode_call(const void *rec, size_t len,
					   struct rpc_call *call)
{
	const char *base = rec;
	const char *body;
	uint32_t type, rpcvers, body_len, vflavor;
	enum rpcmsg_call_status st = RPCMSG_CALL_OK;
	XDR x;

	memset(call, 0, sizeof(*call));
	if (len < 4 || len > BR_RECORD_MAX)
		return RPCMSG_CALL_GARBAGE;
	xdrmem_create(&x, (char *)base, (u_int)len, XDR_DECODE);
	if (!get_u32(&x, &call->xid)) {
		st = RPCMSG_CALL_GARBAGE;
		goto out;
	}
	if (!get_u32(&x, &type) || type != CALL) {
		st = RPCMSG_CALL_NOT_CALL;
		goto out;
	}
	if (!get_u32(&x, &rpcvers) || rpcvers != RPC_MSG_VERSION) {
		st = RPCMSG_CALL_RPC_MISMATCH;
		goto out;
	}
	if (!get_u32(&x, &call->prog) || !get_u32(&x, &call->vers) ||
	    !get_u32(&x, &call->proc) ||
	    !get_auth(&x, base, len, &call->flavor, &body, &body_len)) {
		st = RPCMSG_CALL_BADCRED;
		goto out;
	}
	if (call->flavor == RPC_AUTH_SYS &&
	    !parse_auth_sys(body, body_len, &call->cred, call->machname)) {
		st = RPCMSG_CALL_BADCRED;
		goto out;
	}
	if (call->flavor != RPC_AUTH_SYS) {
		call->cred_body = body;
		call->cred_len = body_len;
	}
	if (!get_auth(&x, base, len, &vflavor, &body, &body_len)) {
		st = RPCMSG_CALL_BADVERF;
		goto out;
	}
	call->args = base + xdr_getpos(&x);
	call->args_len = len - xdr_getpos(&x);
out:
	xdr_destroy(&x);
	return st;
}

/* ---- replies */

static bool_t put_reply_head(XDR *x, uint32_t xid, uint32_t reply_stat)
{
	return put_u32(x, xid) && put_u32(x, REPLY) && put_u32(x, reply_stat);
}

int rpcmsg_reply_success(struct buf *out, uint32_t xid, xdrproc_t xres,
			 const void *res)
{
	return rpcmsg_reply_success_verf(out, xid, RPC_AUTH_NONE, NULL, 0, xres, res);
}

int rpcmsg_reply_success_verf(struct buf *out, uint32_t xid, uint32_t vflavor,
			      const void *vbody, uint32_t vlen, xdrproc_t xres,
			      const void *res)
{
	size_t body = 6 * 4 + ((vlen + 3) & ~3u);
	size_t start;
	XDR x;
	bool_t ok;

	if (vlen > RPC_AUTH_BODY_MAX)
		return -EMSGSIZE;
	if (xres && res)
		body += xdr_sizeof(xres, (void *)res);
	if (body > BR_RECORD_MAX)
		return -EMSGSIZE;
	start = record_begin(out, body, &x);
	ok = put_reply_head(&x, xid, MSG_ACCEPTED) &&
	     put_auth_opaque(&x, vflavor, vbody, vlen) && put_u32(&x, SUCCESS);
	if (ok && xres && res)
		ok = xres(&x, (void *)res);
	return record_end(out, start, &x, ok);
}

int rpcmsg_reply_accept_err(struct buf *out, uint32_t xid,
			    enum accept_stat st, uint32_t low, uint32_t high)
{
	XDR x;
	size_t start = record_begin(out, 8 * 4, &x);
	bool_t ok = put_reply_head(&x, xid, MSG_ACCEPTED) && put_auth_none(&x) &&
		    put_u32(&x, st);

	if (ok && st == PROG_MISMATCH)
		ok = put_u32(&x, low) && put_u32(&x, high);
	return record_end(out, start, &x, ok);
}

int rpcmsg_reply_denied(struct buf *out, uint32_t xid, enum reject_stat rs,
			enum auth_stat auth_st)
{
	XDR x;
	size_t start = record_begin(out, 6 * 4, &x);
	bool_t ok = put_reply_head(&x, xid, MSG_DENIED) && put_u32(&x, rs);

	if (ok && rs == RPC_MISMATCH)
		ok = put_u32(&x, RPC_MSG_VERSION) && put_u32(&x, RPC_MSG_VERSION);
	else if (ok)
		ok = put_u32(&x, auth_st);
	return record_end(out, start, &x, ok);
}

int rpcmsg_decode_reply(const void *rec, size_t len, struct rpc_reply *rep,
			bool *xid_ok)
{
	const char *base = rec;
	const char *vbody;
	uint32_t type, rstat, vflavor, vlen, astat;
	int rc = -EPROTO;
	XDR x;

	memset(rep, 0, sizeof(*rep));
	*xid_ok = false;
	xdrmem_create(&x, (char *)base, (u_int)BR_MIN(len, (size_t)BR_RECORD_MAX),
		      XDR_DECODE);
	if (!get_u32(&x, &rep->xid))
		goto out;
	*xid_ok = true;
	if (!get_u32(&x, &type) || type != REPLY || !get_u32(&x, &rstat))
		goto out;
	if (rstat == MSG_DENIED) {
		uint32_t rs;

		if (get_u32(&x, &rs))
			rc = rs == RPC_MISMATCH ? -EPROTONOSUPPORT : -EACCES;
		if (rc == -EACCES && !get_u32(&x, &rep->auth_stat))
			rep->auth_stat = AUTH_FAILED;
		goto out;
	}
	if (rstat != MSG_ACCEPTED ||
	    !get_auth(&x, base, len, &vflavor, &vbody, &vlen) ||
	    !get_u32(&x, &astat))
		goto out;
	rep->verf_flavor = vflavor;
	rep->verf_body = vbody;
	rep->verf_len = vlen;
	switch (astat) {
	case SUCCESS:
		rep->body = base + xdr_getpos(&x);
		rep->body_len = len - xdr_getpos(&x);
		rc = 0;
		break;
	case PROG_UNAVAIL:
	case PROG_MISMATCH:
		rc = -EPROTONOSUPPORT;
		break;
	case PROC_UNAVAIL:
		rc = -ENOSYS;
		break;
	case GARBAGE_ARGS:
		rc = -EINVAL;
		break;
	default:
		rc = -EREMOTEIO;
		break;
	}
out:
	xdr_destroy(&x);
	return rc;
}

int rpcmsg_decode_body(const void *p, size_t len, xdrproc_t proc, void *obj,
		       size_t obj_size)
{
	XDR x;
	bool_t ok;

	memset(obj, 0, obj_size);
	if (len > BR_RECORD_MAX)
		return -EBADMSG;
	xdrmem_create(&x, (char *)p, (u_int)len, XDR_DECODE);
	ok = proc(&x, obj);
	if (ok && xdr_getpos(&x) != len)
		ok = FALSE;
	/* xdr_string() accepts a string with a NUL inside and silently cuts
	 * it there ("a\0/x" decodes as "a"): the call would act on another
	 * name than the one sent.  Only such a string makes the canonical
	 * encoding of what was decoded shorter than the input (found by
	 * tests/fuzz), so measuring it again catches every one of them. */
	if (ok && xdr_sizeof(proc, obj) != len)
		ok = FALSE;
	xdr_destroy(&x);
	if (!ok) {
		xdr_free(proc, obj);
		memset(obj, 0, obj_size);
		return -EBADMSG;
	}
	return 0;
}
