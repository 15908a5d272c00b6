/* lease_kernel.c - what the kernel may keep of trusted results, and the
 * names this mount makes (see lease.h, klease.h). */
#include <string.h>

#include "klease.h"
#include "lease.h"
#include "lease_int.h"

/* The attributes that matter to a process: st is what the record says. */
static bool same_attrs(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
	       a->st_nlink == b->st_nlink && a->st_uid == b->st_uid &&
	       a->st_gid == b->st_gid && a->st_size == b->st_size &&
	       a->st_rdev == b->st_rdev &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The entry dir/name, as trusted now, says fh (NULL: no such name). */
static bool ent_trusted(struct lease_table *t, const struct lrec *d,
			const struct bramble_fh *dir, const char *name,
			const struct bramble_fh *fh)
{
	struct lent *e;

	if (!rec_trusted(t, d))
		return false;
	e = ent_find(t, dir, name, NULL);
	if (!e || e->stamp != d->stamp || e->negative != !fh)
		return false;
	return !fh || bramble_fh_eq(&e->fh, fh);
}

static double secs_left(int64_t until)
{
	return (double)(until - now_ns()) / 1e9;
}

/* Long kernel timeouts need the kernel to check permissions itself (a
 * name it keeps is not looked up again for another user). */
static bool kernel_may_keep(struct bfs *fs)
{
	return lease_enabled(fs->leases) && !fs->opts.server_permissions;
}

void lease_kernel_ttl(struct bfs *fs, const struct bramble_fh *dir,
		      const char *name, const struct bramble_fh *fh,
		      const struct stat *st, struct lease_kt *kt)
{
	struct lease_table *t = fs->leases;
	struct lrec *r;

	memset(kt, 0, sizeof(*kt));
	kt->entry = fs->opts.entry_timeout;
	kt->attr = fs->opts.attr_timeout;
	if (!kernel_may_keep(fs))
		return;
	pthread_mutex_lock(&t->lock);
	/* An explicit 0 (NFS's noac) keeps the kernel from caching at all.
	 * Not in the root, nor the root's own attributes (below): taken back
	 * when the connection breaks, they would make the kernel ask for the
	 * root's attributes at once (an entry's expiry drops its
	 * directory's), and every path -- .bramble's too, which the tools
	 * read to say "server gone" -- would wait for the server. */
	r = dir && kt->entry > 0 && !bramble_fh_eq(dir, &fs->root_fh) ?
	    rec_find(t, dir) : NULL;
	if (r && ent_trusted(t, r, dir, name, fh) &&
	    klease_hold(t->k, dir, name, r->expires)) {
		kt->entry = BR_MAX(kt->entry, secs_left(r->expires));
		kt->long_entry = true;
		kt->dir = *dir;
		kt->name = name;
		kt->dstamp = r->stamp;
	}
	r = fh && st && kt->attr > 0 && !bramble_fh_eq(fh, &fs->root_fh) ?
	    rec_find(t, fh) : NULL;
	if (r && rec_trusted(t, r) && r->st_valid && same_attrs(&r->st, st) &&
	    klease_hold(t->k, fh, NULL, r->expires)) {
		kt->attr = BR_MAX(kt->attr, secs_left(r->expires));
		kt->long_attr = true;
		kt->fh = *fh;
		kt->fstamp = r->stamp;
	}
	if (fh)
		kt->fh = *fh;
	pthread_mutex_unlock(&t->lock);
}

void lease_kernel_done(struct bfs *fs, const struct lease_kt *kt)
{
	struct lease_table *t = fs->leases;
	struct lrec *r;

	if (!kt->long_entry && !kt->long_attr)
		return;
	pthread_mutex_lock(&t->lock);
	if (kt->long_entry) {
		r = rec_find(t, &kt->dir);
		if (!ent_trusted(t, r, &kt->dir, kt->name,
				 kt->fh.len ? &kt->fh : NULL) || r->stamp != kt->dstamp)
			klease_note_later(t->k, &kt->dir, kt->name);
	}
	if (kt->long_attr) {
		r = rec_find(t, &kt->fh);
		if (!rec_trusted(t, r) || r->stamp != kt->fstamp)
			klease_note_later(t->k, &kt->fh, NULL);
	}
	pthread_mutex_unlock(&t->lock);
}

uint64_t lease_dir_mark(struct bfs *fs, const struct bramble_fh *dir)
{
	struct lease_table *t = fs->leases;
	struct lrec *r;
	uint64_t mark = 0;

	if (!lease_enabled(t))
		return 0;
	pthread_mutex_lock(&t->lock);
	r = rec_find(t, dir);
	if (rec_trusted(t, r))
		mark = r->stamp;
	pthread_mutex_unlock(&t->lock);
	return mark;
}

/* dir is trusted now with the stamp it had at mark (its own changes keep
 * it: trust_own); caller holds t->lock. */
static struct lrec *still_marked(struct lease_table *t,
				 const struct bramble_fh *dir, uint64_t mark)
{
	struct lrec *r = mark ? rec_find(t, dir) : NULL;

	return rec_trusted(t, r) && r->stamp == mark ? r : NULL;
}

void lease_note_made(struct bfs *fs, const struct bramble_fh *dir,
		     uint64_t mark, const char *name, const struct bramble_fh *fh)
{
	struct lease_table *t = fs->leases;
	struct lrec *d;

	if (!mark)
		return;
	pthread_mutex_lock(&t->lock);
	d = still_marked(t, dir, mark);
	if (d)
		ent_put(t, dir, name, d->stamp, fh);
	pthread_mutex_unlock(&t->lock);
}

void lease_rename_begin(struct bfs *fs, const struct bramble_fh *from,
			const char *name, const struct bramble_fh *to,
			struct lease_rename *rn)
{
	struct lease_table *t = fs->leases;
	struct lrec *d;
	struct lent *e;

	memset(rn, 0, sizeof(*rn));
	if (!lease_enabled(t))
		return;
	pthread_mutex_lock(&t->lock);
	d = rec_find(t, to);
	if (rec_trusted(t, d))
		rn->to_mark = d->stamp;
	d = rec_find(t, from);
	e = ent_find(t, from, name, NULL);
	if (rec_trusted(t, d) && e && e->stamp == d->stamp && !e->negative) {
		rn->fh = e->fh;
		rn->known = true;
	}
	pthread_mutex_unlock(&t->lock);
}

void lease_renamed(struct bfs *fs, const struct bramble_fh *from,
		   const char *name, const struct bramble_fh *to,
		   const char *newname, const struct lease_rename *rn,
		   bool exchange)
{
	struct lease_table *t = fs->leases;
	struct lrec *d;

	if (!lease_enabled(t))
		return;
	if (exchange) {         /* both names now lead elsewhere */
		klease_moved(t->k, from, name, from, name, false);
		klease_moved(t->k, to, newname, to, newname, false);
		return;
	}
	pthread_mutex_lock(&t->lock);
	d = still_marked(t, to, rn->to_mark);
	/* The name leads where the old one did (the SELF notice dropped
	 * both entries), and the kernel's entry moved with its time. */
	if (d && rn->known)
		ent_put(t, to, newname, d->stamp, &rn->fh);
	klease_moved(t->k, from, name, to, newname, d != NULL);
	pthread_mutex_unlock(&t->lock);
}

bool lease_dir_refetch(struct bfs *fs, const struct bramble_fh *dir)
{
	struct lease_table *t = fs->leases;
	struct lrec *r;
	bool yes = false;

	if (!lease_enabled(t))
		return false;
	pthread_mutex_lock(&t->lock);
	r = rec_find(t, dir);
	/* Lapsed now, or renewed from lapsed (by the LOOKUP of its own name
	 * in its parent, say): once. */
	if (r && (lapsed(t, r) || (rec_trusted(t, r) && r->refetch))) {
		r->refetch = false;
		r->nnoted = 0;
		yes = true;
	}
	pthread_mutex_unlock(&t->lock);
	return yes;
}
