/* callback.c - CB_CHANGED records from the server, decoded for the hook
 * (bramble.h "callbacks"; the wire format is in bramble_prot.x). */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "rpc.h"

/* Either version of CB_CHANGED's arguments (bramble_prot.x). */
union cb_args {
	br_cb_changed_args v1;              /* BR_CB_VERS */
	br_cb_changed_attrs_args v2;        /* BR_CB_VERS_ATTRS */
};

/* One object for the hook (attr: NULL or its attributes after the
 * change). */
static void take_obj(struct bramble_cb_event *ev, struct bramble_cb_obj *objs,
		     const br_cb_obj *o, const br_attr *attr)
{
	struct bramble_cb_obj *d = &objs[ev->nobjs];

	if (o->fh.br_fh_len > BRAMBLE_FH_MAX)
		return;
	memset(d, 0, sizeof(*d));
	d->fh.len = o->fh.br_fh_len;
	memcpy(d->fh.data, o->fh.br_fh_val, d->fh.len);
	d->flags = o->flags;
	d->nnames = BR_MIN(o->names.names_len, (u_int)BRAMBLE_CB_NAMES_MAX);
	for (unsigned int k = 0; k < d->nnames; k++)
		d->names[k] = o->names.names_val[k];
	d->has_attr = attr != NULL;
	if (attr)
		br_attr_to_stat(attr, &d->attr);
	ev->nobjs++;
}

/* A record conn.c found to be a CALL: decode it and tell the hook. */
static void on_changed(struct bramble *b, const char *rec, size_t len)
{
	struct bramble_cb_obj objs[BR_CB_OBJS_MAX];
	struct bramble_cb_event ev = { .kind = BRAMBLE_CB_CHANGED, .objs = objs };
	union cb_args a;
	struct rpc_call call;
	xdrproc_t xa;

	if (rpcmsg_decode_call(rec, len, &call) != RPCMSG_CALL_OK ||
	    call.prog != BR_CB_PROG || call.proc != BR_CB_CHANGED ||
	    (call.vers != BR_CB_VERS && call.vers != BR_CB_VERS_ATTRS)) {
		log_warn_rl("unknown call from the server ignored");
		return;
	}
	xa = call.vers == BR_CB_VERS ? (xdrproc_t)xdr_br_cb_changed_args
				     : (xdrproc_t)xdr_br_cb_changed_attrs_args;
	memset(&a, 0, sizeof(a));
	if (rpcmsg_decode_body(call.args, call.args_len, xa, &a, sizeof(a)) < 0) {
		log_warn_rl("undecodable callback from the server ignored");
		/* Something changed and we cannot tell what: trust nothing. */
		ev.kind = BRAMBLE_CB_FORGET;
	} else if (call.vers == BR_CB_VERS) {
		for (u_int i = 0; i < a.v1.objs.objs_len; i++)
			take_obj(&ev, objs, &a.v1.objs.objs_val[i], NULL);
	} else {
		for (u_int i = 0; i < a.v2.objs.objs_len; i++)
			take_obj(&ev, objs, &a.v2.objs.objs_val[i].obj,
				 a.v2.objs.objs_val[i].attr);
	}
	atomic_fetch_add(&b->cb_epoch, 1);
	if (ev.kind == BRAMBLE_CB_FORGET) {
		atomic_fetch_add(&b->cb_forgets, 1);
	} else {
		atomic_fetch_add(&b->cb_count, 1);
		atomic_fetch_add(&b->cb_objects, ev.nobjs);
	}
	b->cb_fn(b->cb_ctx, &ev);
	xdr_free(xa, (char *)&a);
}

/* conn_cb_fn: rec NULL means the connection broke. */
static void on_record(void *ctx, const char *rec, size_t len)
{
	struct bramble *b = ctx;
	struct bramble_cb_event ev = { .kind = BRAMBLE_CB_FORGET };

	if (rec) {
		on_changed(b, rec, len);
		return;
	}
	atomic_fetch_add(&b->cb_epoch, 1);
	atomic_fetch_add(&b->cb_forgets, 1);
	b->cb_fn(b->cb_ctx, &ev);
}

void bramble_set_callback_hook(struct bramble *b, bramble_callback_fn *fn,
			       void *ctx)
{
	b->cb_fn = fn;
	b->cb_ctx = ctx;
	conn_set_callback(b->conn, fn ? on_record : NULL, b);
}

bool bramble_callbacks_on(struct bramble *b)
{
	struct conn_counters cc;
	bool on;

	if (!b->cb_fn || !(b->caps & BRAMBLE_CAP_CALLBACKS))
		return false;
	pthread_mutex_lock(&b->hello_lock);
	on = b->hello.caps & BRAMBLE_CAP_CALLBACKS;
	pthread_mutex_unlock(&b->hello_lock);
	if (!on)
		return false;
	conn_get_counters(b->conn, &cc);
	return cc.connected;
}

uint64_t bramble_callback_epoch(struct bramble *b)
{
	return atomic_load(&b->cb_epoch);
}

void bramble_callback_counters(struct bramble *b, uint64_t *callbacks,
			       uint64_t *objects, uint64_t *forgets)
{
	*callbacks = atomic_load(&b->cb_count);
	*objects = atomic_load(&b->cb_objects);
	*forgets = atomic_load(&b->cb_forgets);
}
