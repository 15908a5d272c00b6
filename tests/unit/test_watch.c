/* test_watch.c - server/watch.c: who is told what.  Calls are fed to
 * watch_before/watch_after as dispatch.c does, with decoded XDR argument
 * and result structs; a sender collects the records meant for other
 * connections (and the caller's own SELF notices), the trail those that
 * follow the caller's reply.  Records are
 * decoded back to check their objects, flags and names. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "rpcmsg.h"
#include "watch.h"

#define MAXREC 16

struct sent {
	struct watch_client *wc[MAXREC];
	struct buf rec[MAXREC];
	int n;
};

static void sender(void *ctx, struct watch_client *wc, struct buf *rec)
{
	struct sent *s = ctx;

	ck_assert_int_lt(s->n, MAXREC);
	s->wc[s->n] = wc;
	s->rec[s->n] = *rec;
	buf_init(rec, 0);
	s->n++;
}

static void sent_release(struct sent *s)
{
	for (int i = 0; i < s->n; i++) {
		watch_client_unref(s->wc[i]);
		buf_release(&s->rec[i]);
	}
	s->n = 0;
}

/* Decode the first record in b (mark included), which must be version
 * vers, into a (its XDR struct, size bytes). */
static void decode_vers(const struct buf *b, uint32_t vers, xdrproc_t xa,
			void *a, size_t size)
{
	struct rpc_call call;

	ck_assert_uint_ge(b->len, 4);
	ck_assert_int_eq(rpcmsg_decode_call(b->data + 4, b->len - 4, &call),
			 RPCMSG_CALL_OK);
	ck_assert_uint_eq(call.prog, BR_CB_PROG);
	ck_assert_uint_eq(call.vers, vers);
	ck_assert_uint_eq(call.proc, BR_CB_CHANGED);
	memset(a, 0, size);
	ck_assert_int_eq(rpcmsg_decode_body(call.args, call.args_len, xa, a, size), 0);
}

static void decode(const struct buf *b, br_cb_changed_args *a)
{
	decode_vers(b, BR_CB_VERS, (xdrproc_t)xdr_br_cb_changed_args, a, sizeof(*a));
}

/* A version 2 record (BR_CAP_CB_ATTRS). */
static void decode_attrs(const struct buf *b, br_cb_changed_attrs_args *a)
{
	decode_vers(b, BR_CB_VERS_ATTRS, (xdrproc_t)xdr_br_cb_changed_attrs_args,
		    a, sizeof(*a));
}

static br_fh mkfh(char *bytes)
{
	br_fh f = { .br_fh_len = (u_int)strlen(bytes), .br_fh_val = bytes };

	return f;
}

static void hello(struct watch *w, struct watch_client *wc)
{
	br_hello_args a = { .caps = BR_CAP_CALLBACKS, .client = "t" };

	watch_after(w, wc, BRPROC_HELLO, &a, NULL, 0, 0, NULL, 0, NULL);
}

static void getattr(struct watch *w, struct watch_client *wc, br_fh fh)
{
	br_fh_args a = { .fh = fh };
	uint64_t seq = watch_seq(w);

	watch_before(w, wc, BRPROC_GETATTR, &a);
	watch_after(w, wc, BRPROC_GETATTR, &a, NULL, 0, seq, NULL, 0, NULL);
}

static void write_(struct watch *w, struct watch_client *wc, br_fh fh,
		   struct buf *trail)
{
	br_write_args a = { .fh = fh };

	watch_after(w, wc, BRPROC_WRITE, &a, NULL, 0, watch_seq(w), NULL, 0, trail);
}

static void hello_attrs(struct watch *w, struct watch_client *wc)
{
	br_hello_args a = { .caps = BR_CAP_CALLBACKS | BR_CAP_CB_ATTRS, .client = "t" };

	watch_after(w, wc, BRPROC_HELLO, &a, NULL, 0, 0, NULL, 0, NULL);
}

/* The attr hook of the tests: size 42, or a change by another connection
 * (racer) slipping in between the call and the fstat, or a failure. */
struct attr_ctx {
	struct watch *w;
	struct watch_client *racer;
	int rc;
	int calls;
};

static int attr_hook(void *ctx, const br_fh *fh, br_attr *out)
{
	struct attr_ctx *x = ctx;

	x->calls++;
	if (x->racer) {
		struct watch_client *r = x->racer;

		x->racer = NULL;
		write_(x->w, r, *fh, NULL);
	}
	memset(out, 0, sizeof(*out));
	out->size = 42;
	return x->rc;
}

/* Another connection's write: one record to the watcher, then nothing. */
START_TEST(write_told_once)
{
	struct sent s = { 0 };
	struct watch *w = watch_new(0);
	struct watch_client *a = watch_client_new(w, NULL);
	struct watch_client *b = watch_client_new(w, NULL);
	struct watch_client *n = watch_client_new(w, NULL);
	struct buf trail;
	br_cb_changed_args cb;
	br_fh f = mkfh("file-f");

	buf_init(&trail, 0);
	watch_set_sender(w, sender, &s);
	hello(w, b);
	getattr(w, b, f);
	getattr(w, n, f);               /* n has no callbacks: not watched */
	write_(w, a, f, &trail);
	ck_assert_int_eq(s.n, 1);
	ck_assert_ptr_eq(s.wc[0], b);
	ck_assert_uint_eq(trail.len, 0);
	decode(&s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_len, 1);
	ck_assert_uint_eq(cb.objs.objs_val[0].fh.br_fh_len, 6);
	ck_assert(!memcmp(cb.objs.objs_val[0].fh.br_fh_val, "file-f", 6));
	ck_assert_uint_eq(cb.objs.objs_val[0].flags, 0);
	xdr_free((xdrproc_t)xdr_br_cb_changed_args, (char *)&cb);
	sent_release(&s);
	write_(w, a, f, &trail);        /* forgotten once told */
	ck_assert_int_eq(s.n, 0);
	watch_client_close(a);
	watch_client_close(b);
	watch_client_close(n);
	watch_client_unref(a);
	watch_client_unref(b);
	watch_client_unref(n);
	buf_release(&trail);
	watch_free(w);
}
END_TEST

/* The caller's own change comes back before its reply (to the sender,
 * not in the trail), flagged SELF. */
/* a with BR_CAP_CB_ATTRS, b without callbacks, the attr hook set. */
struct fx {
	struct sent s;
	struct watch *w;
	struct watch_client *a, *b;
	struct attr_ctx x;
};

static void fx_init(struct fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->w = watch_new(0);
	fx->a = watch_client_new(fx->w, NULL);
	fx->b = watch_client_new(fx->w, NULL);
	fx->x.w = fx->w;
	watch_set_sender(fx->w, sender, &fx->s);
	watch_set_attr(fx->w, attr_hook, &fx->x);
	hello_attrs(fx->w, fx->a);
}

static void fx_release(struct fx *fx)
{
	sent_release(&fx->s);
	watch_client_close(fx->a);
	watch_client_close(fx->b);
	watch_client_unref(fx->a);
	watch_client_unref(fx->b);
	watch_free(fx->w);
}

/* BR_CAP_CB_ATTRS: a's own write comes back with the attributes, and a
 * stays watching: b's later write is called back to it. */
START_TEST(self_attrs)
{
	struct fx fx;
	br_cb_changed_attrs_args cb;
	br_fh f = mkfh("file-f");

	fx_init(&fx);
	write_(fx.w, fx.a, f, NULL);          /* not watched: nothing, no fstat */
	ck_assert_int_eq(fx.s.n, 0);
	ck_assert_int_eq(fx.x.calls, 0);
	getattr(fx.w, fx.a, f);
	write_(fx.w, fx.a, f, NULL);
	ck_assert_int_eq(fx.s.n, 1);
	ck_assert_ptr_eq(fx.s.wc[0], fx.a);
	decode_attrs(&fx.s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_len, 1);
	ck_assert_uint_eq(cb.objs.objs_val[0].obj.flags, BR_CB_SELF);
	ck_assert_ptr_nonnull(cb.objs.objs_val[0].attr);
	ck_assert_uint_eq(cb.objs.objs_val[0].attr->size, 42);
	xdr_free((xdrproc_t)xdr_br_cb_changed_attrs_args, (char *)&cb);
	sent_release(&fx.s);
	write_(fx.w, fx.b, f, NULL);          /* still watched */
	ck_assert_int_eq(fx.s.n, 1);
	ck_assert_ptr_eq(fx.s.wc[0], fx.a);
	decode_attrs(&fx.s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_val[0].obj.flags, 0);
	ck_assert_ptr_null(cb.objs.objs_val[0].attr);
	xdr_free((xdrproc_t)xdr_br_cb_changed_attrs_args, (char *)&cb);
	sent_release(&fx.s);
	write_(fx.w, fx.b, f, NULL);          /* then forgotten */
	ck_assert_int_eq(fx.s.n, 0);
	fx_release(&fx);
}
END_TEST

/* A change by another connection between a's change and the fstat: its
 * callback may reach a first, so a's notice goes without attributes and
 * ends the watch.  So does a failed fstat. */
START_TEST(self_attrs_voided)
{
	struct fx fx;
	br_cb_changed_attrs_args cb;
	br_fh f = mkfh("file-f");

	fx_init(&fx);

	fx.x.racer = fx.b;
	getattr(fx.w, fx.a, f);
	write_(fx.w, fx.a, f, NULL);
	ck_assert_int_eq(fx.s.n, 2);       /* b's callback, then a's notice */
	decode_attrs(&fx.s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_val[0].obj.flags, 0);
	xdr_free((xdrproc_t)xdr_br_cb_changed_attrs_args, (char *)&cb);
	decode_attrs(&fx.s.rec[1], &cb);
	ck_assert_uint_eq(cb.objs.objs_val[0].obj.flags, BR_CB_SELF);
	ck_assert_ptr_null(cb.objs.objs_val[0].attr);
	xdr_free((xdrproc_t)xdr_br_cb_changed_attrs_args, (char *)&cb);
	sent_release(&fx.s);
	write_(fx.w, fx.b, f, NULL);          /* no longer watched */
	ck_assert_int_eq(fx.s.n, 0);
	fx.x.rc = -ESTALE;
	getattr(fx.w, fx.a, f);
	write_(fx.w, fx.a, f, NULL);
	ck_assert_int_eq(fx.s.n, 1);
	decode_attrs(&fx.s.rec[0], &cb);
	ck_assert_ptr_null(cb.objs.objs_val[0].attr);
	xdr_free((xdrproc_t)xdr_br_cb_changed_attrs_args, (char *)&cb);
	sent_release(&fx.s);
	write_(fx.w, fx.b, f, NULL);          /* no longer watched */
	ck_assert_int_eq(fx.s.n, 0);
	fx_release(&fx);
}
END_TEST

START_TEST(self_before_reply)
{
	struct sent s = { 0 };
	struct watch *w = watch_new(0);
	struct watch_client *b = watch_client_new(w, NULL);
	struct buf trail;
	br_cb_changed_args cb;
	br_fh f = mkfh("file-f");

	buf_init(&trail, 0);
	watch_set_sender(w, sender, &s);
	hello(w, b);
	getattr(w, b, f);
	write_(w, b, f, &trail);
	ck_assert_int_eq(s.n, 1);
	ck_assert_ptr_eq(s.wc[0], b);
	ck_assert_uint_eq(trail.len, 0);
	decode(&s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_len, 1);
	ck_assert_uint_eq(cb.objs.objs_val[0].flags, BR_CB_SELF);
	xdr_free((xdrproc_t)xdr_br_cb_changed_args, (char *)&cb);
	sent_release(&s);
	watch_client_close(b);
	watch_client_unref(b);
	buf_release(&trail);
	watch_free(w);
}
END_TEST

/* A rename within a watched directory: one object, both names. */
START_TEST(rename_names)
{
	struct sent s = { 0 };
	struct watch *w = watch_new(0);
	struct watch_client *a = watch_client_new(w, NULL);
	struct watch_client *b = watch_client_new(w, NULL);
	br_cb_changed_args cb;
	br_fh d = mkfh("dir-d");
	br_dirop_args look = { .dir = d, .name = "x" };
	br_rename_args rn = { .from_dir = d, .from_name = "x", .to_dir = d,
			      .to_name = "y" };
	br_entry_res none = { .status = BR_ENOENT };

	watch_set_sender(w, sender, &s);
	hello(w, b);
	watch_before(w, b, BRPROC_LOOKUP, &look);
	watch_after(w, b, BRPROC_LOOKUP, &look, &none, -ENOENT, watch_seq(w),
		    NULL, 0, NULL);
	watch_after(w, a, BRPROC_RENAME, &rn, NULL, 0, watch_seq(w), NULL, 0, NULL);
	ck_assert_int_eq(s.n, 1);
	decode(&s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_len, 1);
	ck_assert_uint_eq(cb.objs.objs_val[0].flags, BR_CB_ENTRIES);
	ck_assert_uint_eq(cb.objs.objs_val[0].names.names_len, 2);
	ck_assert_str_eq(cb.objs.objs_val[0].names.names_val[0], "x");
	ck_assert_str_eq(cb.objs.objs_val[0].names.names_val[1], "y");
	xdr_free((xdrproc_t)xdr_br_cb_changed_args, (char *)&cb);
	sent_release(&s);
	watch_client_close(a);
	watch_client_close(b);
	watch_client_unref(a);
	watch_client_unref(b);
	watch_free(w);
}
END_TEST

/* An object a LOOKUP found, changed after the call began: not watched,
 * called back at once (RACE) after the reply. */
START_TEST(race)
{
	struct sent s = { 0 };
	struct watch *w = watch_new(0);
	struct watch_client *a = watch_client_new(w, NULL);
	struct watch_client *b = watch_client_new(w, NULL);
	struct buf trail;
	br_cb_changed_args cb;
	br_fh d = mkfh("dir-d"), f = mkfh("file-f");
	br_dirop_args look = { .dir = d, .name = "f" };
	br_entry_res found = { .status = BR_OK };
	uint64_t seq0;

	buf_init(&trail, 0);
	found.br_entry_res_u.ok.fh = f;
	watch_set_sender(w, sender, &s);
	hello(w, b);
	seq0 = watch_seq(w);
	watch_before(w, b, BRPROC_LOOKUP, &look);
	write_(w, a, f, NULL);          /* while b's LOOKUP runs */
	watch_after(w, b, BRPROC_LOOKUP, &look, &found, 0, seq0, NULL, 0, &trail);
	decode(&trail, &cb);
	ck_assert_uint_eq(cb.objs.objs_len, 1);
	ck_assert_uint_eq(cb.objs.objs_val[0].flags, BR_CB_RACE);
	xdr_free((xdrproc_t)xdr_br_cb_changed_args, (char *)&cb);
	write_(w, a, f, NULL);          /* so it was not watched */
	ck_assert_int_eq(s.n, 0);
	watch_client_close(a);
	watch_client_close(b);
	watch_client_unref(a);
	watch_client_unref(b);
	buf_release(&trail);
	watch_free(w);
}
END_TEST

/* The bound: the oldest watch goes, and its client is told. */
START_TEST(bound)
{
	struct sent s = { 0 };
	struct watch *w = watch_new(2);
	struct watch_client *b = watch_client_new(w, NULL);
	struct watch_stats st;
	br_cb_changed_args cb;

	watch_set_sender(w, sender, &s);
	hello(w, b);
	getattr(w, b, mkfh("one"));
	getattr(w, b, mkfh("two"));
	getattr(w, b, mkfh("one"));     /* young again */
	getattr(w, b, mkfh("three"));   /* "two" goes */
	ck_assert_int_eq(s.n, 1);
	decode(&s.rec[0], &cb);
	ck_assert_uint_eq(cb.objs.objs_val[0].flags, BR_CB_DROPPED);
	ck_assert(!memcmp(cb.objs.objs_val[0].fh.br_fh_val, "two", 3));
	xdr_free((xdrproc_t)xdr_br_cb_changed_args, (char *)&cb);
	sent_release(&s);
	watch_get_stats(w, &st);
	ck_assert_uint_eq(st.watched, 2);
	ck_assert_uint_eq(st.dropped, 1);
	ck_assert_uint_eq(st.clients, 1);
	watch_client_close(b);
	watch_get_stats(w, &st);
	ck_assert_uint_eq(st.watched, 0);
	ck_assert_uint_eq(st.clients, 0);
	watch_client_unref(b);
	watch_free(w);
}
END_TEST

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, write_told_once);
	tcase_add_test(tc, self_attrs);
	tcase_add_test(tc, self_attrs_voided);
	tcase_add_test(tc, self_before_reply);
	tcase_add_test(tc, rename_names);
	tcase_add_test(tc, race);
	tcase_add_test(tc, bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
