/* rpc.h - call plumbing shared by the procedure functions (calls.c,
 * calls_data.c, tree.c, locks.c, bench.c, callback.c):
 * encode, send with a deadline, decode the reply header and body, count.
 *
 * Internal to client/; the public API is bramble.h.  Thread-safe: any
 * number of calls run at once on one struct bramble. */
#ifndef BR_RPC_H
#define BR_RPC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth.h"
#include "bramble.h"
#include "conn.h"
#include "proto.h"
#include "rpcmsg.h"

_Static_assert(BRAMBLE_FH_MAX == BR_FH_MAX, "bramble.h out of date");
_Static_assert(BRAMBLE_NPROCS == BR_NPROCS, "bramble.h out of date");
_Static_assert(BRAMBLE_DATA_MAX == BR_DATA_MAX, "bramble.h out of date");
_Static_assert(BRAMBLE_NGROUPS == RPC_AUTH_SYS_GROUPS, "bramble.h out of date");

struct proc_counter {
	_Atomic uint64_t calls, errors, total_us;
};

struct bramble {
	struct conn *conn;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char addr_str[64];
	int resvport;
	unsigned int timeout_ms;
	bool hard;                 /* no deadlines (bramble_opts.hard) */
	/* Random, made once per struct bramble: sent as the AUTH_SYS
	 * machinename so the server's duplicate-request cache knows a call
	 * re-sent on a new connection (same XID) for what it is. */
	char client_id[17];
	/* HELLO: what we ask for, and the answer of the current connection
	 * (hello_lock: written by the reader thread on a redial). */
	uint64_t caps, need;
	char *client_name;
	pthread_mutex_t hello_lock;
	struct bramble_hello hello;
	bramble_restart_fn *restart_fn;
	void *restart_ctx;
	struct auth auth;           /* MUNGE sessions (auth.h) */
	struct proc_counter stats[BR_NPROCS];
	/* Callbacks (callback.c): the hook is set once, before calls. */
	bramble_callback_fn *cb_fn;
	void *cb_ctx;
	_Atomic uint64_t cb_epoch, cb_count, cb_objects, cb_forgets;
	struct bramble_peers *peers;    /* peer fan-out (peerlink.c); NULL: off */
};

/* peerlink.c: bramble_read_chunk() when peers are on, and their end. */
ssize_t peers_read_chunk(struct bramble *b, const struct bramble_cred *cr,
			 const struct bramble_fh *fh, uint32_t idx, const unsigned char *hash,
			 uint64_t version, void *buf, size_t size,
			 struct bramble_chunk_wire *wire);
void peers_release(struct bramble *b);
/* The reader's redial, after HELLO on fd: register the peer service. */
void peers_on_dial(struct bramble *b, int fd, int timeout_ms);

/* One call in progress. */
struct rpc_op {
	uint32_t proc;
	int64_t start_ns;
	struct conn_req req;
	const char *body;          /* results, inside req.reply */
	size_t body_len;
};

/* Send proc with args and wait for an accepted reply.  cr NULL sends
 * AUTH_NONE.  On 0, op->body/body_len hold the results.  Always finish
 * with rpc_end(), whatever this returned. */
int rpc_run(struct bramble *b, struct rpc_op *op, uint32_t proc,
	    const struct bramble_cred *cr, xdrproc_t xargs, const void *args);
/* rpc_run() plus rpcmsg_decode_body() into res (release: xdr_free). */
int rpc_run_decode(struct bramble *b, struct rpc_op *op, uint32_t proc,
		   const struct bramble_cred *cr, xdrproc_t xargs,
		   const void *args, xdrproc_t xres, void *res, size_t res_size);
/* Release the call, count it, and pass rc through. */
int rpc_end(struct bramble *b, struct rpc_op *op, int rc);

/* Plain C types <-> wire types, for the procedure files.  rpc_fh_arg
 * points w into fh (encoding only reads it); rpc_fh_out copies (out may
 * be NULL), and rpc_attr_out converts (st may be NULL). */
void rpc_time_to_wire(br_time *w, const struct timespec *ts);
void rpc_fh_arg(br_fh *w, const struct bramble_fh *fh);
void rpc_fh_out(struct bramble_fh *out, const br_fh *w);
void rpc_attr_out(struct stat *st, const br_attr *a);

/* ---- READ_CHUNK2 (calls_data.c): the call alone, for whoever decides
 * what to do with its answer (a chunk from the server, or a peer to ask:
 * chunkcodec_decode() turns BR_FROM_SERVER data into the chunk).  flags:
 * BR_RC_*; failed: a peer that failed this chunk (NULL: none).  On 0, *r
 * holds an BR_OK reply (the caller xdr_free()s it with
 * xdr_br_read_chunk2_res); -errno otherwise (status included). */
/* Whether this client asks for compressed chunks (its caps, the server's). */
bool bramble_chunk_zstd_ok(struct bramble *b);
int bramble_read_chunk2_call(struct bramble *b, const struct bramble_cred *cr,
			     const struct bramble_fh *fh, uint32_t idx,
			     const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			     uint64_t version, unsigned int flags,
			     const br_peer_addr *failed, br_read_chunk2_res *r);

#endif
