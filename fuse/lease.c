/* lease.c - trusted attributes, entries and opens (see lease.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bfs.h"
#include "bramble_ctl.h"
#include "lease.h"
#include "log.h"
#include "xalloc.h"

#define LEASE_BUCKETS 4096
/* Past these, everything is dropped at once (trust is only an
 * optimisation; a tree walked once more costs one RPC per object). */
#define LEASE_MAX_RECS (256 * 1024)
#define LEASE_MAX_ENTS (256 * 1024)
#define LEASE_MEMO 4
/* Kernel invalidations waiting for the notifying thread. */
#define LEASE_NOTE_MAX 65536

enum memo_kind { MEMO_OPEN_RDONLY = 1, MEMO_SEARCH = 2 };

/* Who may do what, as the server once decided. */
struct memo {
	uint32_t uid, gid;
	uint64_t groups;           /* hash of the supplementary groups */
	int kind;
};

/* One object (by handle). */
struct lrec {
	struct lrec *next;
	uint64_t hash;
	struct bramble_fh fh;
	bool valid;                /* trusted, if gen and expires agree */
	uint64_t gen;              /* table gen when it became trusted */
	int64_t expires;           /* CLOCK_MONOTONIC ns */
	uint64_t stamp;            /* new each time it becomes trusted */
	bool st_valid;             /* st holds its attributes */
	struct stat st;
	struct memo memo[LEASE_MEMO];
	unsigned int nmemo;
};

/* One name in a directory: valid while the directory's record is, with
 * the stamp it had when the entry was noted. */
struct lent {
	struct lent *next;
	uint64_t hash;
	struct bramble_fh dir;
	uint64_t stamp;
	bool negative;
	struct bramble_fh fh;
	char name[];
};

struct note {
	struct note *next;
	struct bramble_fh fh;
	bool data;                 /* pages too, not only attributes */
	char *name;                /* NULL, or an entry of fh (a directory) */
};

struct lease_table {
	struct bfs *fs;
	int64_t lease_ns;
	pthread_mutex_t lock;
	/* protected by lock: */
	struct lrec *recs[LEASE_BUCKETS];
	struct lent *ents[LEASE_BUCKETS];
	size_t nrecs, nents;
	uint64_t gen, stamps;
	struct lease_counters c;
	/* kernel notes, protected by lock */
	struct note *nhead, *ntail;
	size_t nnotes;
	bool stop;
	pthread_cond_t ncond;
	pthread_t thr;
	bool started;
	bool no_expire;            /* notifying thread only */
};

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
}

static struct lrec *rec_find(struct lease_table *t, const struct bramble_fh *fh)
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

static bool rec_trusted(const struct lease_table *t, const struct lrec *r)
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
	r->nmemo = 0;
	r->st_valid = false;
	r->valid = true;
	r->gen = t->gen;
}

/* fh was fetched: trusted (tok) or not.  st NULL: no attributes came (a
 * LOOKUP's directory).  Returns the record when trusted. */
static struct lrec *note(struct lease_table *t, const struct lease_tok *tok,
			 const struct bramble_fh *fh, const struct stat *st)
{
	struct lrec *r;

	if (!tok->on || bramble_callback_epoch(t->fs->cl) != tok->epoch) {
		r = rec_find(t, fh);
		if (r)
			r->valid = false;
		return NULL;
	}
	r = rec_get(t, fh);
	if (!rec_trusted(t, r))
		rec_renew(t, r);
	r->expires = now_ns() + t->lease_ns;
	if (st) {
		r->st = *st;
		r->st_valid = true;
	}
	return r;
}

static struct lent *ent_find(struct lease_table *t, const struct bramble_fh *dir,
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

static void ent_put(struct lease_table *t, const struct bramble_fh *dir,
		    const char *name, uint64_t stamp, const struct bramble_fh *fh)
{
	struct lent **pp, *e = ent_find(t, dir, name, &pp);

	if (e) {                        /* replace it */
		*pp = e->next;
		free(e);
		t->nents--;
	}
	if (t->nents >= LEASE_MAX_ENTS)
		clear_all(t);
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

/* ---- telling the kernel (its own thread: lease.h) */

static void queue_note(struct lease_table *t, const struct bramble_fh *fh,
		       bool data, const char *name)
{
	struct note *n;

	if (t->nnotes >= LEASE_NOTE_MAX) {
		log_warn_rl("lease: too many kernel invalidations queued; the "
			    "kernel keeps some attributes until its timeouts");
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->fh = *fh;
	n->data = data;
	n->name = name ? xstrdup(name) : NULL;
	if (t->ntail)
		t->ntail->next = n;
	else
		t->nhead = n;
	t->ntail = n;
	t->nnotes++;
	pthread_cond_signal(&t->ncond);
}

static void tell_kernel(struct lease_table *t, struct note *n)
{
	struct bfs *fs = t->fs;
	uint64_t ino;

	if (!fs->se || !fs->inodes || !inode_find_fh(fs->inodes, &n->fh, &ino))
		return;                 /* the kernel does not know it */
	if (n->name && !t->no_expire) {
		/* Expire, not invalidate: the next use looks the name up
		 * again, but a directory someone is in stays hashed (its
		 * getcwd() keeps working).  Kernels before 6.2 refuse. */
		int rc = fuse_lowlevel_notify_expire_entry(fs->se, ino, n->name,
							   strlen(n->name),
							   FUSE_LL_EXPIRE_ONLY);

		if (rc == -ENOSYS || rc == -EINVAL) {
			t->no_expire = true;
			log_info("kernel cannot expire entries: invalidating them");
		}
		if (!t->no_expire)
			return;
	}
	if (n->name)
		fuse_lowlevel_notify_inval_entry(fs->se, ino, n->name, strlen(n->name));
	else
		fuse_lowlevel_notify_inval_inode(fs->se, ino, n->data ? 0 : -1, 0);
}

static void *notify_main(void *arg)
{
	struct lease_table *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct note *n = t->nhead;

		if (!n) {
			pthread_cond_wait(&t->ncond, &t->lock);
			continue;
		}
		t->nhead = n->next;
		if (!t->nhead)
			t->ntail = NULL;
		pthread_mutex_unlock(&t->lock);
		tell_kernel(t, n);
		free(n->name);
		free(n);
		pthread_mutex_lock(&t->lock);
		/* Counted once done: lease.notes_queued 0 means all told. */
		t->nnotes--;
		t->c.kernel_notes++;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- the callback hook (the connection's reading thread: no blocking) */

/* This mount's own change, with the attributes the server took after
 * it, and the server still watching the object (BRAMBLE_CAP_CB_ATTRS):
 * trusted anew, as a fresh result -- the kernel's GETATTR of a directory
 * after each create or remove in it is answered here.  Anew also because
 * the change may have altered its entries or who may do what. */
static void trust_own(struct lease_table *t, const struct bramble_cb_obj *o)
{
	struct lrec *r = rec_get(t, &o->fh);

	rec_renew(t, r);
	r->expires = now_ns() + t->lease_ns;
	r->st = o->attr;
	r->st_valid = true;
}

static void called_back(struct lease_table *t, const struct bramble_cb_obj *o)
{
	struct lrec *r;

	t->c.objects_called++;
	if ((o->flags & BRAMBLE_CB_SELF) && o->has_attr) {
		trust_own(t, o);
		return;
	}
	r = rec_find(t, &o->fh);
	if (r)
		r->valid = false;       /* its entries go with it (stamps) */
	/* DROPPED: not changed, only no longer watched.  SELF: this mount's
	 * own change, which its kernel made and knows (sizes, links,
	 * entries); telling it would even hurt: an invalidated directory
	 * entry is unhashed, and a shell cd'ed into the directory it just
	 * made would find its cwd gone. */
	if (o->flags & (BRAMBLE_CB_DROPPED | BRAMBLE_CB_SELF))
		return;
	queue_note(t, &o->fh, true, NULL);      /* attributes and pages */
	for (unsigned int i = 0; i < o->nnames; i++)
		queue_note(t, &o->fh, false, o->names[i]);
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

	if (fs->leases && fs->leases->lease_ns > 0) {
		/* The epoch first: a callback after it voids the result. */
		tok.epoch = bramble_callback_epoch(fs->cl);
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
	pthread_cond_init(&t->ncond, NULL);
	return t;
}

int lease_start(struct lease_table *t)
{
	int rc;

	if (!t->lease_ns)
		return 0;
	rc = -pthread_create(&t->thr, NULL, notify_main, t);
	t->started = rc == 0;
	return rc;
}

void lease_stop(struct lease_table *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->ncond);
	pthread_mutex_unlock(&t->lock);
	if (t->started)
		pthread_join(t->thr, NULL);
	t->started = false;
}

void lease_free(struct lease_table *t)
{
	if (!t)
		return;
	lease_stop(t);
	while (t->nhead) {
		struct note *n = t->nhead;

		t->nhead = n->next;
		free(n->name);
		free(n);
	}
	clear_all(t);
	pthread_cond_destroy(&t->ncond);
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
	pthread_mutex_lock(&t->lock);
	*out = t->c;
	out->notes_queued = t->nnotes;
	pthread_mutex_unlock(&t->lock);
}
