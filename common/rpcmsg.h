/* rpcmsg.h - ONC RPC v2 messages (RFC 5531) and TCP record marking.
 *
 * rpcgen is used for the XDR of bramble's own types only; libtirpc's
 * svc_run/clnt_call run one call at a time in their own poll loop, so the
 * server (libev) and the client (pipelined, one reader thread) frame and
 * dispatch with these helpers instead.  Both sides share them, so a header
 * built by one is always parsed by the other.
 *
 * Records: each record is one or more fragments, each preceded by a
 * 4-byte big-endian mark (high bit = last fragment, low 31 bits = length).
 * Records are always capped by the reader: a mark announcing more than the
 * cap is an error before a single byte is allocated for it.
 *
 * Every function returns 0 or -errno unless it says otherwise. */
#ifndef BR_RPCMSG_H
#define BR_RPCMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rpc/rpc.h>

#include "buf.h"

#define RPC_AUTH_NONE 0
#define RPC_AUTH_SYS 1
#define RPC_AUTH_SHORT 2        /* RFC 5531: the server's shorthand */
#define RPC_AUTH_BODY_MAX 400   /* RFC 5531: opaque body<400> */
#define RPC_MACHNAME_MAX 255
#define RPC_AUTH_SYS_GROUPS 16
/* MUNGE sessions (server/auth.h): the AUTH_SHORT handle's length, and
 * the payload bramble seals inside each MUNGE credential. */
#define RPC_SHORT_LEN 16
#define RPC_MUNGE_PAYLOAD_LEN 16

/* ---- record marking */

/* Incremental reassembly of one record from a byte stream. */
struct rm_reader {
	struct buf rec;        /* the record so far */
	size_t max;            /* cap on a whole record */
	uint32_t frag_left;    /* bytes still to come in this fragment */
	unsigned char mark[4];
	unsigned int mark_have;
	bool last;             /* current fragment is the last */
	bool complete;         /* rec holds a whole record */
};

void rm_reader_init(struct rm_reader *r, size_t max);
void rm_reader_release(struct rm_reader *r);
/* Consume bytes from data.  *used gets how many were taken.  Returns 1
 * when r->rec holds a complete record (the rest of data is left for the
 * next record: call rm_reader_next() first), 0 when all of data was
 * consumed and more is needed, -E2BIG when the record would exceed the cap
 * (the stream cannot be resynchronised: close it). */
int rm_reader_feed(struct rm_reader *r, const void *data, size_t len,
		   size_t *used);
/* Forget the completed record and start on the next one. */
void rm_reader_next(struct rm_reader *r);

/* ---- credentials */

/* AUTH_SYS parameters, as the server will use them. */
struct br_cred {
	uint32_t uid;
	uint32_t gid;
	uint32_t ngroups;          /* <= RPC_AUTH_SYS_GROUPS */
	uint32_t groups[RPC_AUTH_SYS_GROUPS];
};

/* ---- calls */

/* Append one whole record (mark + call header + args) to out.  cred NULL
 * sends AUTH_NONE.  -EMSGSIZE if the record would exceed BR_RECORD_MAX. */
int rpcmsg_encode_call(struct buf *out, uint32_t xid, uint32_t prog,
		       uint32_t vers, uint32_t proc, const struct br_cred *cred,
		       xdrproc_t xargs, const void *args);
/* The same with an AUTH_SYS machinename (NULL or "" sends none; cut at
 * RPC_MACHNAME_MAX bytes): libbramble sends its client id there, which
 * the server's duplicate-request cache keys on.  Ignored for AUTH_NONE. */
int rpcmsg_encode_call_named(struct buf *out, uint32_t xid, uint32_t prog,
			     uint32_t vers, uint32_t proc,
			     const struct br_cred *cred, const char *machname,
			     xdrproc_t xargs, const void *args);

/* A credential of any flavor, as a client sends it. */
struct rpc_auth {
	uint32_t flavor;           /* RPC_AUTH_NONE, RPC_AUTH_SYS, or opaque */
	const struct br_cred *sys; /* RPC_AUTH_SYS: who */
	const char *machname;      /* RPC_AUTH_SYS: as for _named; may be NULL */
	const void *body;          /* any other flavor: its opaque body ... */
	uint32_t body_len;         /* ... of at most RPC_AUTH_BODY_MAX bytes */
};

/* The same with any credential (AUTH_SHORT, BR_AUTH_MUNGE, ...); the
 * verifier is AUTH_NONE.  -EMSGSIZE also for a body over the RFC's 400. */
int rpcmsg_encode_call_auth(struct buf *out, uint32_t xid, uint32_t prog,
			    uint32_t vers, uint32_t proc,
			    const struct rpc_auth *auth, xdrproc_t xargs,
			    const void *args);

/* The payload bramble seals into a MUNGE credential: a tag (so that a
 * credential made for another service is refused) and the client id the
 * duplicate-request cache keys on (what AUTH_SYS carries as machinename).
 * _parse: 0, or -EBADMSG when p is not such a payload. */
void rpcmsg_munge_payload(uint64_t client_id,
			  unsigned char out[RPC_MUNGE_PAYLOAD_LEN]);
int rpcmsg_munge_payload_parse(const void *p, size_t len, uint64_t *client_id);

enum rpcmsg_call_status {
	RPCMSG_CALL_OK,          /* header fine; args at call->args */
	RPCMSG_CALL_GARBAGE,     /* not even an xid: close the connection */
	RPCMSG_CALL_NOT_CALL,    /* a reply or unknown type: drop it */
	RPCMSG_CALL_RPC_MISMATCH,/* rpcvers != 2: deny RPC_MISMATCH */
	RPCMSG_CALL_BADCRED,     /* malformed credential: deny AUTH_BADCRED */
	RPCMSG_CALL_BADVERF,     /* malformed verifier: deny AUTH_BADVERF */
};

struct rpc_call {
	uint32_t xid, prog, vers, proc;
	uint32_t flavor;           /* RPC_AUTH_NONE, RPC_AUTH_SYS, other */
	struct br_cred cred;       /* valid when flavor == RPC_AUTH_SYS */
	char machname[RPC_MACHNAME_MAX + 1]; /* AUTH_SYS machinename, NUL-
				    * terminated (cut at a NUL inside); "" if none */
	const char *cred_body;     /* other flavors: the opaque body, in the */
	uint32_t cred_len;         /* record (<= RPC_AUTH_BODY_MAX) */
	const char *args;          /* points into the record */
	size_t args_len;
};

/* Parse a call header.  Never allocates. */
enum rpcmsg_call_status rpcmsg_decode_call(const void *rec, size_t len,
					   struct rpc_call *call);

/* ---- replies */

/* Append a record with an accepted SUCCESS reply and its results. */
int rpcmsg_reply_success(struct buf *out, uint32_t xid, xdrproc_t xres,
			 const void *res);
/* The same with a verifier of flavor vflavor (vlen <= RPC_AUTH_BODY_MAX),
 * e.g. the AUTH_SHORT handle that answers a MUNGE credential. */
int rpcmsg_reply_success_verf(struct buf *out, uint32_t xid, uint32_t vflavor,
			      const void *vbody, uint32_t vlen, xdrproc_t xres,
			      const void *res);
/* Append an accepted reply without results: PROG_UNAVAIL, PROC_UNAVAIL,
 * GARBAGE_ARGS, SYSTEM_ERR, or PROG_MISMATCH (with low/high versions). */
int rpcmsg_reply_accept_err(struct buf *out, uint32_t xid,
			    enum accept_stat st, uint32_t low, uint32_t high);
/* Append a denied reply: RPC_MISMATCH (auth_st ignored) or AUTH_ERROR. */
int rpcmsg_reply_denied(struct buf *out, uint32_t xid, enum reject_stat rs,
			enum auth_stat auth_st);

struct rpc_reply {
	uint32_t xid;
	const char *body;          /* results, when accepted SUCCESS */
	size_t body_len;
	uint32_t verf_flavor;      /* accepted replies: the server's verifier */
	const char *verf_body;     /* (in the record) */
	uint32_t verf_len;
	uint32_t auth_stat;        /* denied AUTH_ERROR: why (AUTH_TOOWEAK, ...) */
};

/* Parse a reply.  Returns 0 for accepted SUCCESS (results at body),
 * -EPROTO when the record is not a reply (xid valid only if it could be
 * read: *xid_ok says), or the error the reply carries: -EPROTONOSUPPORT
 * (program or version unknown), -ENOSYS (procedure unknown: an older
 * server), -EINVAL (garbage args), -EREMOTEIO (server system error),
 * -EACCES (authentication refused: rep->auth_stat says how). */
int rpcmsg_decode_reply(const void *rec, size_t len, struct rpc_reply *rep,
			bool *xid_ok);

/* ---- bodies */

/* Decode an XDR body into obj (zeroed first).  On success the caller
 * releases obj with xdr_free(proc, obj); on failure nothing needs freeing.
 * -EBADMSG if it does not decode, has trailing bytes, or holds a string
 * with a NUL byte inside (which XDR would cut short). */
int rpcmsg_decode_body(const void *p, size_t len, xdrproc_t proc, void *obj,
		       size_t obj_size);

#endif
