/* lease.c - trusted attributes, entries and opens (see lease.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bfs.h"
#include "bramble_ctl.h"
#include "klease.h"
#include "lease.h"
#include "lease_int.h"
#include "log.h"
#include "xalloc.h"

static uint64_t hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t fh_hash(const struct bramble_fh *fh)
{
	return hash_bytes(0xcbf29ce484222325ULL, fh->data, fh->len);
}

static uint64_t ent_hash(const struct bramble_fh *dir, const char *name)
{
	return hash_bytes(fh_hash(dir) ^ 0x5bd1e995, name, strlen(name) + 1);
}

static struct memo memo_of(const struct bramble_cred *cr, int kind)
{
	struct memo m = { .uid = cr->uid, .gid = cr->gid, .kind = kind };

	m.groups = hash_bytes(cr->ngroups, cr->groups,
			      BR_MIN(cr->ngroups, (uint32_t)BRAMBLE_NGROUPS) *
			      sizeof(cr->groups[0]));
	return m;
}

/* ---- the tables (caller holds t->lock) */

static void clear_all(struct lease_table *t)
{
	for (size_t i = 0; i < LEASE_BUCKETS; i++) {
		while (t->recs[i]) {
			struct lrec *r = t->recs[i];

			t->recs[i] = r->next;
			free(r);
		}
		while (t->ents[i]) {
			struct lent *e = t->ents[i];

			t->ents[i] = e->next;
			free(e);
		}
	}
	t->nrecs = t->nents = 0;
	t->gen++;       /* results fetched before: their callbacks are lost */
}

struct lrec *rec_find(struct lease_table *t, const struct bramble_fh *fh)
{
	uint64_t h = fh_hash(fh);
	struct lrec *r = t->recs[h % LEASE_BUCKETS];

	while (r && !(r->hash == h && bramble_fh_eq(&r->fh, fh)))
		r = r->next;
	return r;
}

static struct lrec *rec_get(struct lease_table *t, const struct bramble_fh *fh)
{
	struct lrec *r = rec_find(t, fh);

	if (r)
		return r;
	if (t->nrecs >= LEASE_MAX_RECS)
		clear_all(t);
	r = xcalloc(1, sizeof(*r));
	r->hash = fh_hash(fh);
	r->fh = *fh;
	r->next = t->recs[r->hash % LEASE_BUCKETS];
	t->recs[r->hash % LEASE_BUCKETS] = r;
	t->nrecs++;
	return r;
}

bool rec_trusted(const struct lease_table *t, const struct lrec *r)
{
	return r && r->valid && r->gen == t->gen && now_ns() < r->expires;
}

static bool memo_has(const struct lrec *r, const struct memo *m)
{
	for (unsigned int i = 0; i < r->nmemo; i++) {
		const struct memo *x = &r->memo[i];

		if (x->uid == m->uid && x->gid == m->gid && x->groups == m->groups &&
		    x->kind == m->kind)
			return true;
	}
	return false;
}

static void memo_add(struct lrec *r, const struct memo *m)
{
	if (memo_has(r, m))
		return;
	if (r->nmemo == LEASE_MEMO)     /* the oldest goes */
		memmove(r->memo, r->memo + 1, (LEASE_MEMO - 1) * sizeof(*m));
	else
		r->nmemo++;
	r->memo[r->nmemo - 1] = *m;
}

/* r becomes trusted now: nothing older may count (its entries, who may
 * do what, its attributes). */
static void rec_renew(struct lease_table *t, struct lrec *r)
{
	r->stamp = ++t->stamps;
	r->nnoted = 0;
	r->nmemo = 0;
	r->st_valid = false;
	r->valid = true;
	r->gen = t->gen;
}

/* r was trusted until its lease ran out (nothing called back), with many
 * of its names noted. */
bool lapsed(const struct lease_table *t, const struct lrec *r)
{
	return r->valid && r->gen == t->gen && now_ns() >= r->expires &&
	       r->nnoted >= REFETCH_MIN_NOTED;
}

/* fh was fetched: trusted (tok) or not.  st NULL: no attributes came (a
 * LOOKUP's directory).  Returns the record when trusted. */
static struct lrec *note(struct lease_table *t, const struct lease_tok *tok,
			 const struct bramble_fh *fh, const struct stat *st)
{
	struct lrec *r = rec_find(t, fh);

	/* A result a callback about it (or a break) may have overtaken:
	 * not trusted, and what is trusted of it stays (a callback would
	 * have ended that). */
	if (!tok->on || tok->gen != t->gen || (r && r->called > tok->seq))
		return NULL;
	r = rec_get(t, fh);
	if (!rec_trusted(t, r)) {
		bool walked = lapsed(t, r);

		rec_renew(t, r);
		r->refetch = walked;
	}
	r->expires = now_ns() + t->lease_ns;
	if (st) {
		r->st = *st;
		r->st_valid = true;
	}
	return r;
}

struct lent *ent_find(struct lease_table *t, const struct bramble_fh *dir,
			     const char *name, struct lent ***slot)
{
	uint64_t h = ent_hash(dir, name);
	struct lent **pp = &t->ents[h % LEASE_BUCKETS];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && bramble_fh_eq(&(*pp)->dir, dir) &&
		    !strcmp((*pp)->name, name))
			break;
	if (slot)
		*slot = pp;
	return *pp;
}

void ent_put(struct lease_table *t, const struct bramble_fh *dir,
		    const char *name, uint64_t stamp, const struct bramble_fh *fh)
{
	struct lent **pp, *e = ent_find(t, dir, name, &pp);
	struct lrec *d;

	if (e) {                        /* replace it */
		*pp = e->next;
		free(e);
		t->nents--;
	}
	if (t->nents >= LEASE_MAX_ENTS) {
		clear_all(t);
		return;         /* its directory's record went too */
	}
	d = fh ? rec_find(t, dir) : NULL;
	if (d && d->stamp == stamp)
		d->nnoted++;
	e = xcalloc(1, sizeof(*e) + strlen(name) + 1);
	e->hash = ent_hash(dir, name);
	e->dir = *dir;
	e->stamp = stamp;
	e->negative = !fh;
	if (fh)
		e->fh = *fh;
	strcpy(e->name, name);
	e->next = t->ents[e->hash % LEASE_BUCKETS];
	t->ents[e->hash % LEASE_BUCKETS] = e;
	t->nents++;
}

static void ent_drop(struct lease_table *t, const struct bramble_fh *dir,
		     const char *name)
{
	struct lent **pp, *e = ent_find(t, dir, name, &pp);

	if (e) {
		*pp = e->next;
		free(e);
		t->nents--;
	}
}

/* ---- the callback hook (the connection's reading thread: no blocking) */

/* This mount's own change, with the attributes the server took after
 * it, and the server still watching the object (BRAMBLE_CAP_CB_ATTRS):
 * trusted with them -- the kernel's GETATTR of a directory after each
 * create or remove in it is answered here.  A trusted directory keeps
 * its entries (no other change came between, or its callback would have
 * ended the trust): only the names this mount changed go, and if it
 * changed the directory's mode or owner, who may search it.
 * Anything else is trusted anew, as a fresh result: the change may have
 * altered who may do what. */
static void trust_own(struct lease_table *t, const struct bramble_cb_obj *o)
{
	struct lrec *r = rec_get(t, &o->fh);

	if (rec_trusted(t, r) && S_ISDIR(o->attr.st_mode)) {
		if (o->flags & BRAMBLE_CB_ENTRIES) {
			for (unsigned int i = 0; i < o->nnames; i++)
				ent_drop(t, &o->fh, o->names[i]);
		} else if (!r->st_valid || r->st.st_mode != o->attr.st_mode ||
			   r->st.st_uid != o->attr.st_uid ||
			   r->st.st_gid != o->attr.st_gid) {
			/* Who may search it (times alone do not matter; ACLs
			 * are not set through brambled). */
			r->nmemo = 0;
		}
	} else {
		rec_renew(t, r);
	}
	r->expires = now_ns() + t->lease_ns;
	r->st = o->attr;
	r->st_valid = true;
}

static void called_back(struct lease_table *t, const struct bramble_cb_obj *o)
{
	struct lrec *r;

	t->c.objects_called++;
	/* Results fetched before this, now coming in, no longer count. */
	r = rec_get(t, &o->fh);
	r->called = ++t->cbseq;
	if ((o->flags & BRAMBLE_CB_SELF) && o->has_attr) {
		trust_own(t, o);
		return;
	}
	r->valid = false;               /* its entries go with it (stamps) */
	/* DROPPED: not changed, only no longer watched.  SELF: this mount's
	 * own change, which its kernel made and knows (sizes, links,
	 * entries); telling it would even hurt: an invalidated directory
	 * entry is unhashed, and a shell cd'ed into the directory it just
	 * made would find its cwd gone.  But neither is watched any more:
	 * what the kernel holds of them for long is taken back. */
	if (o->flags & (BRAMBLE_CB_DROPPED | BRAMBLE_CB_SELF)) {
			klease_take_back(t->k, &o->fh);
		return;
	}
	klease_note(t->k, &o->fh, true, NULL);  /* attributes and pages */
	for (unsigned int i = 0; i < o->nnames; i++)
		klease_note(t->k, &o->fh, false, o->names[i]);
	/* The server no longer watches it: the names the callback did not
	 * name may change unseen from now on (and those it named and the
	 * kernel held for long are sure to be told). */
	klease_take_back(t->k, &o->fh);
}

void lease_on_callback(void *ctx, const struct bramble_cb_event *ev)
{
	struct bfs *fs = ctx;
	struct lease_table *t = fs->leases;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (ev->kind == BRAMBLE_CB_FORGET) {
		t->gen++;               /* nothing is trusted any more */
		t->c.forgets++;
		klease_take_back_all(t->k);
	} else {
		for (unsigned int i = 0; i < ev->nobjs; i++)
			called_back(t, &ev->objs[i]);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- the operations */

struct lease_tok lease_begin(struct bfs *fs)
{
	struct lease_tok tok = { 0 };

	struct lease_table *t = fs->leases;

	if (t && t->lease_ns > 0) {
		/* The numbers first: a callback after them voids the result. */
		pthread_mutex_lock(&t->lock);
		tok.gen = t->gen;
		tok.seq = t->cbseq;
		pthread_mutex_unlock(&t->lock);
		tok.on = bramble_callbacks_on(fs->cl);
	}
	return tok;
}

int lease_getattr(struct bfs *fs, const struct bramble_cred *cr,
		  const struct bramble_fh *fh, struct stat *st)
{
	struct lease_table *t = fs->leases;
	struct lease_tok tok = lease_begin(fs);
	struct lrec *r;
	int rc;

	if (tok.on) {
		pthread_mutex_lock(&t->lock);
		r = rec_find(t, fh);
		if (rec_trusted(t, r) && r->st_valid) {
			*st = r->st;
			t->c.getattr_saved++;
			pthread_mutex_unlock(&t->lock);
			return 0;
		}
		pthread_mutex_unlock(&t->lock);
	}
	rc = bramble_getattr(fs->cl, cr, fh, st);
	if (rc == 0 && t) {
		pthread_mutex_lock(&t->lock);
		note(t, &tok, fh, st);
		pthread_mutex_unlock(&t->lock);
	}
	return rc;
}

/* A LOOKUP answered from the tables: 0, -ENOENT, or 1 (ask). */
static int lookup_here(struct lease_table *t, const struct bramble_cred *cr,
		       const struct bramble_fh *dir, const char *name,
		       struct bramble_fh *fh, struct stat *st)
{
	struct memo m = memo_of(cr, MEMO_SEARCH);
	struct lrec *d = rec_find(t, dir), *r;
	struct lent *e;

	if (!rec_trusted(t, d) || !memo_has(d, &m))
		return 1;
	e = ent_find(t, dir, name, NULL);
	if (!e || e->stamp != d->stamp)
		return 1;
	if (e->negative)
		return -ENOENT;
	r = rec_find(t, &e->fh);
	if (!rec_trusted(t, r) || !r->st_valid)
		return 1;
	*fh = e->fh;
	*st = r->st;
	return 0;
}

int lease_lookup(struct bfs *fs, const struct bramble_cred *cr,
		 const struct bramble_fh *dir, const char *name,
		 struct bramble_fh *fh, struct stat *st)
{
	struct lease_table *t = fs->leases;
	struct lease_tok tok = lease_begin(fs);
	struct lrec *d;
	int rc;

	if (tok.on) {
		pthread_mutex_lock(&t->lock);
		rc = lookup_here(t, cr, dir, name, fh, st);
		if (rc <= 0)
			t->c.lookup_saved++;
		pthread_mutex_unlock(&t->lock);
		if (rc <= 0)
			return rc;
	}
	rc = bramble_lookup(fs->cl, cr, dir, name, fh, st);
	if ((rc == 0 || rc == -ENOENT) && t) {
		struct memo m = memo_of(cr, MEMO_SEARCH);

		pthread_mutex_lock(&t->lock);
		/* The server watched the directory before looking in it. */
		d = note(t, &tok, dir, NULL);
		if (d) {
			memo_add(d, &m);
			ent_put(t, dir, name, d->stamp, rc == 0 ? fh : NULL);
		}
		if (rc == 0)
			note(t, &tok, fh, st);
		pthread_mutex_unlock(&t->lock);
	}
	return rc;
}

void lease_note_dirent(struct bfs *fs, const struct lease_tok *tok,
		       const struct bramble_fh *dir, const char *name,
		       const struct bramble_fh *fh, const struct stat *st)
{
	struct lease_table *t = fs->leases;
	struct lrec *d;

	if (!t || !tok->on)
		return;
	pthread_mutex_lock(&t->lock);
	/* A listing needs read permission, a lookup search permission: no
	 * memo here, the first LOOKUP of each user still asks. */
	d = note(t, tok, dir, NULL);
	if (d)
		ent_put(t, dir, name, d->stamp, fh);
	note(t, tok, fh, st);
	pthread_mutex_unlock(&t->lock);
}

int lease_open(struct bfs *fs, const struct bramble_cred *cr,
	       const struct bramble_fh *fh, int flags, unsigned int bflags,
	       struct stat *st)
{
	struct lease_table *t = fs->leases;
	struct lease_tok tok = lease_begin(fs);
	bool rdonly = (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC);
	struct memo m = memo_of(cr, MEMO_OPEN_RDONLY);
	struct lrec *r;
	int rc;

	if (tok.on && rdonly) {
		pthread_mutex_lock(&t->lock);
		r = rec_find(t, fh);
		if (rec_trusted(t, r) && r->st_valid && S_ISREG(r->st.st_mode) &&
		    memo_has(r, &m)) {
			*st = r->st;
			t->c.open_saved++;
			pthread_mutex_unlock(&t->lock);
			return 0;
		}
		pthread_mutex_unlock(&t->lock);
	}
	rc = bramble_open(fs->cl, cr, fh, bflags, st);
	if (rc == 0 && t) {
		pthread_mutex_lock(&t->lock);
		r = note(t, &tok, fh, st);
		if (r && rdonly)
			memo_add(r, &m);
		pthread_mutex_unlock(&t->lock);
	}
	return rc;
}

void lease_ctl(struct bfs *fs, struct buf *out)
{
	struct lease_counters c = { 0 };
	uint64_t n = 0, objs = 0, forgets = 0;

	if (fs->leases)
		lease_get_counters(fs->leases, &c);
	if (fs->cl)
		bramble_callback_counters(fs->cl, &n, &objs, &forgets);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "on=%d\n", fs->cl && lease_enabled(fs->leases) &&
		 bramble_callbacks_on(fs->cl));
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "getattr_saved=%llu\n", (unsigned long long)c.getattr_saved);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "lookup_saved=%llu\n", (unsigned long long)c.lookup_saved);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "open_saved=%llu\n", (unsigned long long)c.open_saved);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "kernel_notes=%llu\n", (unsigned long long)c.kernel_notes);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "notes_queued=%llu\n", (unsigned long long)c.notes_queued);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "kernel_held=%llu\n", (unsigned long long)c.kernel_held);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "taken_back=%llu\n", (unsigned long long)c.taken_back);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "objects_called=%llu\n", (unsigned long long)c.objects_called);
	buf_addf(out, BRAMBLE_CTL_PREFIX_LEASE "forgets=%llu\n", (unsigned long long)c.forgets);
	buf_addf(out, BRAMBLE_CTL_PREFIX_CB "received=%llu\n", (unsigned long long)n);
	buf_addf(out, BRAMBLE_CTL_PREFIX_CB "objects=%llu\n", (unsigned long long)objs);
	buf_addf(out, BRAMBLE_CTL_PREFIX_CB "forgets=%llu\n", (unsigned long long)forgets);
}

/* ---- lifecycle */

struct lease_table *lease_new(struct bfs *fs, double seconds)
{
	struct lease_table *t = xcalloc(1, sizeof(*t));

	t->fs = fs;
	t->lease_ns = seconds > 0 ? (int64_t)(seconds * 1e9) : 0;
	pthread_mutex_init(&t->lock, NULL);
	t->k = klease_new(fs, LEASE_KERNEL_MAX);
	return t;
}

int lease_start(struct lease_table *t)
{
	return t->lease_ns ? klease_start(t->k) : 0;
}

void lease_stop(struct lease_table *t)
{
	if (t)
		klease_stop(t->k);
}

void lease_free(struct lease_table *t)
{
	if (!t)
		return;
	klease_free(t->k);
	clear_all(t);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

bool lease_trusted(struct bfs *fs, const struct bramble_fh *fh)
{
	struct lease_table *t = fs->leases;
	bool trusted;

	if (!lease_enabled(t))
		return false;
	pthread_mutex_lock(&t->lock);
	trusted = rec_trusted(t, rec_find(t, fh));
	pthread_mutex_unlock(&t->lock);
	return trusted;
}

bool lease_enabled(const struct lease_table *t)
{
	return t && t->lease_ns > 0;
}

void lease_get_counters(struct lease_table *t, struct lease_counters *out)
{
	struct klease_counters kc;

	klease_get_counters(t->k, &kc);
	pthread_mutex_lock(&t->lock);
	*out = t->c;
	pthread_mutex_unlock(&t->lock);
	out->kernel_notes = kc.kernel_notes;
	out->notes_queued = kc.notes_queued;
	out->kernel_held = kc.held;
	out->taken_back = kc.taken_back;
}
