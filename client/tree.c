/* tree.c - TREE in libbramble: bramble_tree() (one call) and
 * bramble_tree_walk() (the whole walk), see bramble.h.
 *
 * As in calls.c, XDR types stay in this file: each entry is handed to
 * the caller's callback as plain C types that point into the decoded
 * reply, valid during the callback only.  A reply that could make a walk
 * go round forever (no entry but no end, or a cookie that does not move)
 * is refused with -EBADMSG rather than trusted. */
#include <errno.h>
#include <string.h>

#include "rpc.h"

_Static_assert(BRAMBLE_CAP_TREE == BR_CAP_TREE, "bramble.h out of date");
_Static_assert(BRAMBLE_TREE_CHUNKS == BR_TREE_CHUNKS, "bramble.h out of date");
_Static_assert(BRAMBLE_TREE_HASH == BR_TREE_HASH, "bramble.h out of date");
_Static_assert(BRAMBLE_TREE_CHUNKS_MAX == BR_TREE_CHUNKS_MAX, "bramble.h out of date");
_Static_assert(BRAMBLE_TREE_ENTRIES_MAX == BR_TREE_ENTRIES_MAX, "bramble.h out of date");

static int map_out(struct bramble_tree_entry *e, const br_tree_chunks *ch)
{
	uint32_t cs = ch->chunk_size;
	uint64_t n = ch->hashes.hashes_len;

	e->has_map = true;
	e->map_status = br_stat_to_errno(ch->status);
	if (e->map_status < 0)
		return 0;
	if (cs == 0 || (cs & (cs - 1)) || (ch->size + cs - 1) / cs != n)
		return -EBADMSG;
	e->map.version = ch->file_version;
	e->map.size = ch->size;
	e->map.chunk_size = cs;
	e->map.first = 0;
	e->map.count = (uint32_t)n;
	e->map.eof = true;
	e->hashes = (const unsigned char (*)[BRAMBLE_CHUNK_HASH_LEN])ch->hashes.hashes_val;
	return 0;
}

static int deliver(const br_tree_ok *ok, bramble_tree_fn *fn, void *ctx)
{
	int rc = 0;

	for (u_int i = 0; i < ok->entries.entries_len && rc == 0; i++) {
		const br_tree_entry *w = &ok->entries.entries_val[i];
		struct bramble_tree_entry e;
		struct bramble_fh fh;
		struct stat st;

		if (!w->path || !*w->path)
			return -EBADMSG;
		memset(&e, 0, sizeof(e));
		e.path = w->path;
		e.status = br_stat_to_errno(w->status);
		rpc_fh_out(&fh, &w->fh);
		e.fh = &fh;
		br_attr_to_stat(&w->attr, &st);
		e.attr = &st;
		e.target = w->target ? w->target : "";
		if (w->chunks)
			rc = map_out(&e, w->chunks);
		if (rc == 0)
			rc = fn(ctx, &e);
	}
	return rc;
}

int bramble_tree(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *dir, const struct bramble_tree_args *ta,
		 bramble_tree_fn *fn, void *ctx, char *next, bool *eof)
{
	struct rpc_op op;
	br_tree_args a = {
		.cookie = (char *)(ta->cookie ? ta->cookie : ""),
		.flags = ta->flags,
		.max_depth = ta->max_depth,
		.max_entries = ta->max_entries,
		.max_bytes = ta->max_bytes,
	};
	br_tree_res r;
	int rc;

	if (strlen(a.cookie) > BR_PATH_MAX)
		return -ENAMETOOLONG;
	rpc_fh_arg(&a.dir, dir);
	rc = rpc_run_decode(b, &op, BRPROC_TREE, cr, (xdrproc_t)xdr_br_tree_args, &a,
			    (xdrproc_t)xdr_br_tree_res, &r, sizeof(r));
	if (rc == 0) {
		const br_tree_ok *ok = &r.br_tree_res_u.ok;

		rc = br_stat_to_errno(r.status);
		if (rc == 0 && !ok->eof && (ok->entries.entries_len == 0 ||
					    !ok->cookie || !*ok->cookie))
			rc = -EBADMSG;  /* no progress: a walk would never end */
		if (rc == 0)
			rc = deliver(ok, fn, ctx);
		if (rc == 0 && next)
			strcpy(next, ok->cookie ? ok->cookie : "");  /* <= BR_PATH_MAX */
		if (eof)
			*eof = rc == 0 && ok->eof;
		xdr_free((xdrproc_t)xdr_br_tree_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

/* Paths of a walk increase strictly in the walk's order: compare
 * component by component, bytewise (the server sorts names with strcmp,
 * and '/' must sort below every byte of a name for this to hold). */
static int path_cmp(const char *x, const char *y)
{
	for (;; x++, y++) {
		unsigned char cx = *x == '/' ? 0 : (unsigned char)*x;
		unsigned char cy = *y == '/' ? 0 : (unsigned char)*y;

		if (!*x || !*y)
			return (*x != 0) - (*y != 0);
		if (cx != cy)
			return cx < cy ? -1 : 1;
	}
}

int bramble_tree_walk(struct bramble *b, const struct bramble_cred *cr,
		      const struct bramble_fh *dir, uint32_t flags,
		      bramble_tree_fn *fn, void *ctx)
{
	char cookie[BRAMBLE_PATH_MAX + 1] = "", next[BRAMBLE_PATH_MAX + 1];
	struct bramble_tree_args a = { .cookie = cookie, .flags = flags };
	bool eof = false;
	int rc;

	while (!eof) {
		rc = bramble_tree(b, cr, dir, &a, fn, ctx, next, &eof);
		if (rc != 0)
			return rc;
		if (!eof && *cookie && path_cmp(next, cookie) <= 0)
			return -EBADMSG;        /* a server going backwards */
		memcpy(cookie, next, sizeof(cookie));
	}
	return 0;
}
