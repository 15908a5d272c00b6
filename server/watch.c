/* watch.c - watch sets and CB_CHANGED records (see watch.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "log.h"
#include "proto.h"
#include "rpcmsg.h"
#include "watch.h"
#include "xalloc.h"

/* Change numbers of recently changed handles, hashed: a slot remembers
 * the newest change of every handle that hashes to it (never too old,
 * sometimes too new: safe).  A fixed array on purpose, not a hash table:
 * it forgets nothing it must remember and never grows. */
#define WATCH_RECENT (1u << 16)
#define CHG_MAX 6               /* objects one call changes (victims too) */
#define READS_MAX 2             /* objects one call reads by handle */

/* One (connection, object) pair. */
struct went {
	struct wobj *obj;
	struct watch_client *wc;
	struct went *onext;             /* the object's watchers */
	struct went *lprev, *lnext;     /* wc's LRU: old -> young */
};

/* One watched object. */
struct wobj {
	struct hashtab_node hn;         /* in watch.objs, by handle bytes */
	uint32_t len;
	unsigned char fh[BR_FH_MAX];
	struct went *watchers;
};

struct watch_client {
	struct watch *w;
	atomic_uint refs;
	atomic_bool enabled;            /* written under w->lock */
	atomic_bool attrs;              /* BR_CAP_CB_ATTRS; as enabled */
	struct conn *conn;              /* loop thread only */
	/* protected by w->lock: */
	bool closed;
	struct went *old, *young;
	unsigned int count;
};

struct watch {
	pthread_mutex_t lock;
	unsigned int max;
	watch_send_fn *send;
	void *send_ctx;
	watch_attr_fn *attr;
	void *attr_ctx;
	atomic_uint xid;
	_Atomic uint64_t seq;           /* written under lock */
	atomic_ulong npairs;            /* st.watched, readable without lock */
	/* protected by lock: */
	struct hashtab objs;            /* struct wobj */
	uint64_t *recent;
	struct watch_stats st;
};

/* ---- what each procedure reads and changes */

struct chg {
	const br_fh *fh;
	const char *names[2];
	unsigned int nnames;
};

static void chg_add(struct chg *c, unsigned int *n, const br_fh *fh,
		    const char *name)
{
	/* Two names of one directory (a rename within it): one object. */
	for (unsigned int i = 0; i < *n && name; i++) {
		if (c[i].fh->br_fh_len == fh->br_fh_len && c[i].nnames < 2 &&
		    !memcmp(c[i].fh->br_fh_val, fh->br_fh_val, fh->br_fh_len)) {
			c[i].names[c[i].nnames++] = name;
			return;
		}
	}
	if (*n >= CHG_MAX || fh->br_fh_len == 0)
		return;
	c[*n] = (struct chg){ .fh = fh, .names = { name }, .nnames = name != NULL };
	(*n)++;
}

/* What proc changes (whether it succeeded or not: a failed WRITE may have
 * written part; a spurious callback costs a client one round trip). */
static unsigned int changes_of(uint32_t proc, const void *args, const void *res,
			       int rc, struct chg *c)
{
	unsigned int n = 0;

	switch (proc) {
	case BRPROC_SETATTR:
	case BRPROC_WRITE:
	case BRPROC_SETXATTR:
	case BRPROC_REMOVEXATTR:
		/* Each of these argument structs starts with the handle. */
		chg_add(c, &n, &((const br_fh_args *)args)->fh, NULL);
		break;
	case BRPROC_OPEN:
		if (((const br_open_args *)args)->flags & BR_OPEN_TRUNC)
			chg_add(c, &n, &((const br_open_args *)args)->fh, NULL);
		break;
	case BRPROC_COPY_RANGE:
		chg_add(c, &n, &((const br_copy_args *)args)->dst, NULL);
		break;
	case BRPROC_CREATE:
		/* An existing file may have been truncated. */
		if (rc == 0)
			chg_add(c, &n, &((const br_entry_res *)res)->br_entry_res_u.ok.fh,
				NULL);
		/* br_create_args starts as br_dirop_args */
		/* fall through */
	case BRPROC_MKDIR:
	case BRPROC_SYMLINK:
	case BRPROC_MKNOD:
	case BRPROC_REMOVE:
	case BRPROC_REMOVE_OPEN:
	case BRPROC_RMDIR: {
		const br_dirop_args *a = args;

		chg_add(c, &n, &a->dir, a->name);
		break;
	}
	case BRPROC_LINK: {
		const br_link_args *a = args;

		chg_add(c, &n, &a->fh, NULL);
		chg_add(c, &n, &a->dir, a->name);
		break;
	}
	case BRPROC_RENAME: {
		const br_rename_args *a = args;

		chg_add(c, &n, &a->from_dir, a->from_name);
		chg_add(c, &n, &a->to_dir, a->to_name);
		break;
	}
	}
	return n;
}

/* Objects proc reads by the handles in its arguments: watched before it
 * runs. */
static unsigned int reads_of(uint32_t proc, const void *args, const br_fh **out)
{
	switch (proc) {
	case BRPROC_GETATTR:
	case BRPROC_OPEN:
	case BRPROC_LOOKUP:             /* its directory */
	case BRPROC_READDIRPLUS:        /* its directory */
		/* Each of these argument structs starts with the handle. */
		out[0] = &((const br_fh_args *)args)->fh;
		return 1;
	}
	return 0;
}

/* ---- the tables (caller holds w->lock) */

static uint64_t fh_hash(const void *p, size_t len)
{
	return hash_bytes(p, len);
}

static bool wobj_is(const struct hashtab_node *n, const void *key)
{
	const struct wobj *o = HASHTAB_ENTRY(n, struct wobj, hn);
	const br_fh *fh = key;

	return o->len == fh->br_fh_len && !memcmp(o->fh, fh->br_fh_val, o->len);
}

static struct wobj *obj_find(struct watch *w, uint64_t h, const br_fh *fh)
{
	struct hashtab_node *n = hashtab_find(&w->objs, h, wobj_is, fh);

	return n ? HASHTAB_ENTRY(n, struct wobj, hn) : NULL;
}

static void lru_unlink(struct watch_client *wc, struct went *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		wc->old = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		wc->young = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_append(struct watch_client *wc, struct went *e)
{
	e->lprev = wc->young;
	e->lnext = NULL;
	if (wc->young)
		wc->young->lnext = e;
	else
		wc->old = e;
	wc->young = e;
}

/* wc's pair with o, if any. */
static struct went *went_of(struct wobj *o, const struct watch_client *wc)
{
	struct went *e = o ? o->watchers : NULL;

	while (e && e->wc != wc)
		e = e->onext;
	return e;
}

static void lru_touch(struct watch_client *wc, struct went *e)
{
	lru_unlink(wc, e);
	lru_append(wc, e);
}

/* Drop one pair; its object goes with its last watcher. */
static void went_del(struct watch *w, struct went *e)
{
	struct wobj *o = e->obj;
	struct went **pp;

	for (pp = &o->watchers; *pp != e; pp = &(*pp)->onext)
		;
	*pp = e->onext;
	lru_unlink(e->wc, e);
	e->wc->count--;
	w->st.watched--;
	atomic_store(&w->npairs, w->st.watched);
	free(e);
	if (!o->watchers) {
		hashtab_remove(&w->objs, &o->hn);
		free(o);
	}
}

/* ---- outgoing records */

struct cbo {
	uint32_t len;
	unsigned char fh[BR_FH_MAX];
	unsigned int flags;
	const char *names[2];           /* borrowed from the call's args */
	unsigned int nnames;
	bool has_attr;                  /* SELF, BR_CAP_CB_ATTRS: attr is set */
	br_attr attr;
};

struct cbmsg {
	struct watch_client *wc;        /* a reference, unless it is the caller's */
	struct cbo *objs;
	unsigned int n, cap;
};

struct cbset {
	struct cbmsg *m;
	unsigned int n, cap;
};

static struct cbmsg *msg_for(struct cbset *s, struct watch_client *wc,
			     struct watch_client *self)
{
	for (unsigned int i = 0; i < s->n; i++)
		if (s->m[i].wc == wc)
			return &s->m[i];
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4;
		s->m = xrealloc(s->m, s->cap * sizeof(*s->m));
	}
	if (wc != self)
		watch_client_ref(wc);
	s->m[s->n] = (struct cbmsg){ .wc = wc };
	return &s->m[s->n++];
}

static void msg_add(struct cbmsg *m, const void *fh, uint32_t len,
		    unsigned int flags, const struct chg *names)
{
	struct cbo *o;

	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 4;
		m->objs = xrealloc(m->objs, m->cap * sizeof(*m->objs));
	}
	o = &m->objs[m->n++];
	memset(o, 0, sizeof(*o));
	o->len = len;
	memcpy(o->fh, fh, len);
	o->flags = flags;
	if (names && names->nnames) {
		o->flags |= BR_CB_ENTRIES;
		o->nnames = names->nnames;
		memcpy(o->names, names->names, sizeof(o->names));
	}
}

static void obj_fill(br_cb_obj *d, const struct cbo *o, char **names)
{
	d->fh.br_fh_len = o->len;
	d->fh.br_fh_val = (char *)o->fh;
	d->flags = o->flags;
	names[0] = (char *)o->names[0];
	names[1] = (char *)o->names[1];
	d->names.names_len = o->nnames;
	d->names.names_val = names;
}

/* Objects [i, i + k) of m as one record: version BR_CB_VERS_ATTRS for a
 * BR_CAP_CB_ATTRS connection, else BR_CB_VERS. */
static int rec_encode(struct watch *w, const struct cbmsg *m, unsigned int i,
		      unsigned int k, uint64_t seq, struct buf *out)
{
	br_cb_obj objs[BR_CB_OBJS_MAX];
	br_cb_obj_attrs aobjs[BR_CB_OBJS_MAX];
	char *names[BR_CB_OBJS_MAX][2];
	uint32_t xid = atomic_fetch_add(&w->xid, 1);

	for (unsigned int j = 0; j < k; j++) {
		const struct cbo *o = &m->objs[i + j];

		obj_fill(&objs[j], o, names[j]);
		aobjs[j].obj = objs[j];
		aobjs[j].attr = o->has_attr ? (br_attr *)&o->attr : NULL;
	}
	if (atomic_load(&m->wc->attrs)) {
		br_cb_changed_attrs_args a = {
			.seq = seq, .objs = { .objs_len = k, .objs_val = aobjs },
		};

		return rpcmsg_encode_call(out, xid, BR_CB_PROG, BR_CB_VERS_ATTRS,
					  BR_CB_CHANGED, NULL,
					  (xdrproc_t)xdr_br_cb_changed_attrs_args, &a);
	} else {
		br_cb_changed_args a = {
			.seq = seq, .objs = { .objs_len = k, .objs_val = objs },
		};

		return rpcmsg_encode_call(out, xid, BR_CB_PROG, BR_CB_VERS,
					  BR_CB_CHANGED, NULL,
					  (xdrproc_t)xdr_br_cb_changed_args, &a);
	}
}

/* Encode m as CB_CHANGED records of at most BR_CB_OBJS_MAX objects each,
 * appended to out. */
static void msg_encode(struct watch *w, const struct cbmsg *m, uint64_t seq,
		       struct buf *out)
{
	for (unsigned int i = 0; i < m->n; i += BR_CB_OBJS_MAX) {
		unsigned int k = BR_MIN(m->n - i, (unsigned int)BR_CB_OBJS_MAX);

		if (rec_encode(w, m, i, k, seq, out) < 0)
			log_warn_rl("callback record too large: dropped");
	}
}

/* Hand every record out: self's into trail, the others' to the sender. */
static void send_all(struct watch *w, struct cbset *s, struct watch_client *self,
		     uint64_t seq, struct buf *trail)
{
	unsigned int nrec = 0, nobj = 0;

	for (unsigned int i = 0; i < s->n; i++) {
		struct cbmsg *m = &s->m[i];

		nrec += (m->n + BR_CB_OBJS_MAX - 1) / BR_CB_OBJS_MAX;
		nobj += m->n;
		if (m->wc == self) {
			if (trail)
				msg_encode(w, m, seq, trail);
		} else {
			struct buf rec;

			buf_init(&rec, 256);
			msg_encode(w, m, seq, &rec);
			if (w->send && rec.len)
				w->send(w->send_ctx, m->wc, &rec);  /* takes the ref */
			else
				watch_client_unref(m->wc);
			buf_release(&rec);
		}
		free(m->objs);
	}
	free(s->m);
	if (nrec) {
		pthread_mutex_lock(&w->lock);
		w->st.callbacks += nrec;
		w->st.objects += nobj;
		pthread_mutex_unlock(&w->lock);
	}
}

/* ---- registering (caller holds w->lock) */

/* wc now watches fh.  With race, an object changed since seq0 is not
 * watched but called back at once (BR_CB_RACE, after the reply). */
static void watch_add(struct watch *w, struct watch_client *wc, const br_fh *fh,
		      bool race, uint64_t seq0, struct cbset *s)
{
	uint64_t h;
	struct wobj *o;
	struct went *e;

	if (fh->br_fh_len == 0 || fh->br_fh_len > BR_FH_MAX)
		return;
	h = fh_hash(fh->br_fh_val, fh->br_fh_len);
	if (race && w->recent[h & (WATCH_RECENT - 1)] > seq0) {
		msg_add(msg_for(s, wc, wc), fh->br_fh_val, fh->br_fh_len, BR_CB_RACE,
			NULL);
		return;
	}
	o = obj_find(w, h, fh);
	if (!o) {
		o = xcalloc(1, sizeof(*o));
		o->len = fh->br_fh_len;
		memcpy(o->fh, fh->br_fh_val, fh->br_fh_len);
		hashtab_insert(&w->objs, &o->hn, h);
	}
	e = went_of(o, wc);
	if (e) {
		lru_touch(wc, e);       /* young again */
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->obj = o;
	e->wc = wc;
	e->onext = o->watchers;
	o->watchers = e;
	lru_append(wc, e);
	wc->count++;
	w->st.watched++;
	atomic_store(&w->npairs, w->st.watched);
	if (wc->count > w->max) {
		struct went *old = wc->old;

		msg_add(msg_for(s, wc, wc), old->obj->fh, old->obj->len,
			BR_CB_DROPPED, NULL);
		w->st.dropped++;
		went_del(w, old);
	}
}

/* Objects a call discovered: watched now that it ran. */
static void watch_results(struct watch *w, struct watch_client *wc,
			  uint32_t proc, const void *res, uint64_t seq0,
			  struct cbset *s)
{
	if (proc == BRPROC_LOOKUP) {
		watch_add(w, wc, &((const br_entry_res *)res)->br_entry_res_u.ok.fh,
			  true, seq0, s);
	} else if (proc == BRPROC_READDIRPLUS) {
		const br_readdir_ok *r = &((const br_readdir_res *)res)->br_readdir_res_u.ok;

		for (u_int i = 0; i < r->entries.entries_len; i++)
			watch_add(w, wc, &r->entries.entries_val[i].fh, true, seq0, s);
	}
}

/* A change of c: number it, and move its watchers to the records: to s,
 * or for a caller with BR_CAP_CB_ATTRS to mine, still watching it (its
 * notice gets the attributes after: self_notices()). */
static void watch_changed(struct watch *w, const struct chg *c,
			  struct watch_client *self, struct cbset *s,
			  struct cbset *mine)
{
	uint64_t h = fh_hash(c->fh->br_fh_val, c->fh->br_fh_len);
	uint64_t seq = atomic_load(&w->seq) + 1;
	bool keep = self && atomic_load(&self->attrs);
	struct wobj *o;
	struct went *e, *next;

	atomic_store(&w->seq, seq);
	w->recent[h & (WATCH_RECENT - 1)] = seq;
	o = obj_find(w, h, c->fh);
	for (e = o ? o->watchers : NULL; e; e = next) {
		next = e->onext;
		if (keep && e->wc == self) {
			msg_add(msg_for(mine, self, NULL), o->fh, o->len,
				BR_CB_SELF, c);
			lru_touch(self, e);
			continue;
		}
		/* Everyone, the caller too, hears before the reply: the
		 * caller's trust in what it changed ends before its call
		 * returns (a reference each: all go to the sender). */
		msg_add(msg_for(s, e->wc, NULL), o->fh, o->len,
			e->wc == self ? BR_CB_SELF : 0, c);
		went_del(w, e);         /* frees o with its last watcher */
	}
}

/* The attributes of a kept object, or the end of its watch: they count
 * only if it is still watched and no call changed it after seq (this
 * call's last change number): such a change may predate the fstat but
 * not its own record, which could then reach the client first. */
static void settle(struct watch *w, struct watch_client *self, struct cbo *o,
		   uint64_t seq)
{
	br_fh fh = { .br_fh_len = o->len, .br_fh_val = (char *)o->fh };
	uint64_t h = fh_hash(o->fh, o->len);
	struct went *e = went_of(obj_find(w, h, &fh), self);

	if (!e || self->closed || w->recent[h & (WATCH_RECENT - 1)] > seq)
		o->has_attr = false;
	if (e && !o->has_attr)
		went_del(w, e);         /* the client stops trusting it */
}

/* The caller's own SELF notices (BR_CAP_CB_ATTRS): the objects are still
 * watched, so a change after the fstat is called back, and the notice is
 * handed over under the lock, so before that callback. */
static void self_notices(struct watch *w, struct watch_client *self,
			 struct cbset *mine, uint64_t seq)
{
	struct cbmsg *m = &mine->m[0];
	struct buf rec;

	for (unsigned int i = 0; i < m->n; i++) {
		br_fh fh = { .br_fh_len = m->objs[i].len,
			     .br_fh_val = (char *)m->objs[i].fh };

		m->objs[i].has_attr = w->attr &&
				      w->attr(w->attr_ctx, &fh, &m->objs[i].attr) == 0;
	}
	buf_init(&rec, 256);
	pthread_mutex_lock(&w->lock);
	for (unsigned int i = 0; i < m->n; i++)
		settle(w, self, &m->objs[i], seq);
	msg_encode(w, m, seq, &rec);
	w->st.callbacks += (m->n + BR_CB_OBJS_MAX - 1) / BR_CB_OBJS_MAX;
	w->st.objects += m->n;
	if (w->send && rec.len)
		w->send(w->send_ctx, self, &rec);       /* takes the ref */
	else
		watch_client_unref(self);
	pthread_mutex_unlock(&w->lock);
	buf_release(&rec);
	free(m->objs);
	free(mine->m);
}

/* ---- the interface */

struct watch *watch_new(unsigned int max_per_client)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	pthread_mutex_init(&w->lock, NULL);
	w->max = max_per_client ? max_per_client : WATCH_MAX_PER_CLIENT;
	hashtab_init(&w->objs, 0);
	w->recent = xcalloc(WATCH_RECENT, sizeof(*w->recent));
	atomic_init(&w->seq, 0);
	atomic_init(&w->xid, 1);
	return w;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	/* Every client closed its set: the tables are empty. */
	if (w->objs.count)
		log_warn("watch: objects left at exit");
	hashtab_release(&w->objs);
	free(w->recent);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void watch_set_sender(struct watch *w, watch_send_fn *send, void *ctx)
{
	w->send = send;
	w->send_ctx = ctx;
}

void watch_set_attr(struct watch *w, watch_attr_fn *fn, void *ctx)
{
	w->attr = fn;
	w->attr_ctx = ctx;
}

void watch_get_stats(struct watch *w, struct watch_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->st;
	pthread_mutex_unlock(&w->lock);
}

struct watch_client *watch_client_new(struct watch *w, struct conn *conn)
{
	struct watch_client *wc = xcalloc(1, sizeof(*wc));

	wc->w = w;
	wc->conn = conn;
	atomic_init(&wc->refs, 1);
	atomic_init(&wc->enabled, false);
	atomic_init(&wc->attrs, false);
	return wc;
}

void watch_client_close(struct watch_client *wc)
{
	struct watch *w;

	if (!wc)
		return;
	w = wc->w;
	pthread_mutex_lock(&w->lock);
	if (atomic_load(&wc->enabled))
		w->st.clients--;
	atomic_store(&wc->enabled, false);
	wc->closed = true;
	while (wc->old)
		went_del(w, wc->old);
	pthread_mutex_unlock(&w->lock);
	wc->conn = NULL;
}

void watch_client_ref(struct watch_client *wc)
{
	atomic_fetch_add(&wc->refs, 1);
}

void watch_client_unref(struct watch_client *wc)
{
	if (wc && atomic_fetch_sub(&wc->refs, 1) == 1)
		free(wc);
}

struct conn *watch_client_conn(const struct watch_client *wc)
{
	return wc->conn;
}

uint64_t watch_seq(struct watch *w)
{
	return atomic_load(&w->seq);
}

void watch_before(struct watch *w, struct watch_client *wc, uint32_t proc,
		  const void *args)
{
	const br_fh *fh[READS_MAX];
	unsigned int n;
	struct cbset s = { 0 };

	if (!w || !wc || !atomic_load(&wc->enabled))
		return;
	n = reads_of(proc, args, fh);
	if (n == 0)
		return;
	pthread_mutex_lock(&w->lock);
	for (unsigned int i = 0; i < n && !wc->closed; i++)
		watch_add(w, wc, fh[i], false, 0, &s);
	pthread_mutex_unlock(&w->lock);
	/* Only a DROPPED notice for wc itself can be here; it may go before
	 * the reply (it changes nothing): no trail at hand, send it. */
	for (unsigned int i = 0; i < s.n; i++)
		watch_client_ref(s.m[i].wc);
	send_all(w, &s, NULL, atomic_load(&w->seq), NULL);
}

static void enable(struct watch *w, struct watch_client *wc, bool attrs)
{
	pthread_mutex_lock(&w->lock);
	if (!wc->closed && !atomic_load(&wc->enabled)) {
		atomic_store(&wc->attrs, attrs);
		atomic_store(&wc->enabled, true);
		w->st.clients++;
	}
	pthread_mutex_unlock(&w->lock);
}

void watch_after(struct watch *w, struct watch_client *wc, uint32_t proc,
		 const void *args, const void *res, int rc, uint64_t seq0,
		 const br_fh *victims, unsigned int nvictims, struct buf *trail)
{
	struct chg c[CHG_MAX];
	unsigned int n;
	struct cbset s = { 0 }, late = { 0 }, own = { 0 };
	bool mine;
	uint64_t seq;

	if (!w)
		return;
	if (proc == BRPROC_HELLO && rc == 0 && wc &&
	    (((const br_hello_args *)args)->caps & BR_CAP_CALLBACKS)) {
		enable(w, wc, ((const br_hello_args *)args)->caps & BR_CAP_CB_ATTRS);
		return;
	}
	n = changes_of(proc, args, res, rc, c);
	for (unsigned int i = 0; i < nvictims && n < CHG_MAX; i++)
		c[n++] = (struct chg){ .fh = &victims[i] };
	mine = wc && atomic_load(&wc->enabled) && rc == 0 &&
	       (proc == BRPROC_LOOKUP || proc == BRPROC_READDIRPLUS);
	if (n == 0 && !mine)
		return;
	pthread_mutex_lock(&w->lock);
	/* Discovered objects first: this call's own changes are not races. */
	if (mine && !wc->closed)
		watch_results(w, wc, proc, res, seq0, &late);
	for (unsigned int i = 0; i < n; i++)
		watch_changed(w, &c[i], wc, &s, &own);
	seq = atomic_load(&w->seq);
	pthread_mutex_unlock(&w->lock);
	send_all(w, &s, NULL, seq, NULL);       /* before the reply */
	if (own.n)
		self_notices(w, wc, &own, seq);         /* before it too */
	send_all(w, &late, wc, seq, trail);     /* after it */
}

unsigned int watch_names_of(struct watch *w, uint32_t proc, const void *args,
			    const br_fh **dirs, const char **names)
{
	unsigned int n = 0;

	if (!w || atomic_load(&w->npairs) == 0)
		return 0;               /* nobody watches anything */
	switch (proc) {
	case BRPROC_REMOVE:
	case BRPROC_REMOVE_OPEN:
	case BRPROC_RMDIR:
		dirs[n] = &((const br_dirop_args *)args)->dir;
		names[n++] = ((const br_dirop_args *)args)->name;
		break;
	case BRPROC_RENAME:
		dirs[n] = &((const br_rename_args *)args)->from_dir;
		names[n++] = ((const br_rename_args *)args)->from_name;
		dirs[n] = &((const br_rename_args *)args)->to_dir;
		names[n++] = ((const br_rename_args *)args)->to_name;
		break;
	}
	return n;
}
