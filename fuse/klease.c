/* klease.c - long kernel timeouts, tracked and taken back (see klease.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bfs.h"
#include "hashtab.h"
#include "klease.h"
#include "log.h"
#include "xalloc.h"

/* Kernel notes waiting for the notifying thread. */
#define NOTE_MAX 65536
/* How long a delayed note waits: long enough for a process woken by a
 * reply to have applied it (klease.h). */
#define NOTE_DELAY_NS (20 * 1000000LL)
/* A full table is swept of what expired at most this often. */
#define SWEEP_NS 1000000000LL

/* One object of which the kernel holds something for long. */
struct kobj {
	struct hashtab_node hn;    /* in k->objs, by handle */
	struct bramble_fh fh;
	int64_t attr_until;        /* its attributes; 0: not for long */
	struct kname *names;       /* its entries held for long */
};

/* One entry (positive or negative) of a directory held for long. */
struct kname {
	struct hashtab_node hn;    /* in k->names, by (directory, name) */
	struct kobj *dir;
	struct kname *prev, *next; /* dir->names */
	int64_t until;
	char name[];
};

struct note {
	struct note *next;
	struct bramble_fh fh;
	bool data;                 /* pages too, not only attributes */
	char *name;                /* NULL, or an entry of fh (a directory) */
	int64_t not_before;        /* CLOCK_MONOTONIC ns; 0: at once */
};

struct nqueue {
	struct note *head, *tail;
};

struct klease {
	struct bfs *fs;
	size_t max;
	pthread_mutex_t lock;
	/* protected by lock: */
	struct hashtab objs;       /* struct kobj */
	struct hashtab names;      /* struct kname */
	size_t count;              /* names + objects held */
	int64_t last_sweep;
	struct nqueue now, later;  /* kernel notes */
	size_t nnotes;
	struct klease_counters c;
	bool stop;
	pthread_cond_t cond;
	pthread_t thr;
	bool started;
	bool no_expire;            /* notifying thread only */
};

/* ---- the table (caller holds k->lock) */

static bool kobj_is(const struct hashtab_node *n, const void *key)
{
	return bramble_fh_eq(&HASHTAB_ENTRY(n, struct kobj, hn)->fh, key);
}

struct name_key {
	const struct bramble_fh *dir;
	const char *name;
};

static bool kname_is(const struct hashtab_node *n, const void *key)
{
	const struct kname *e = HASHTAB_ENTRY(n, struct kname, hn);
	const struct name_key *nk = key;

	return bramble_fh_eq(&e->dir->fh, nk->dir) && !strcmp(e->name, nk->name);
}

static uint64_t name_hash(const struct bramble_fh *dir, const char *name)
{
	return hash_u64(hash_bytes(dir->data, dir->len) ^
			hash_bytes(name, strlen(name)));
}

static struct kobj *obj_find(struct klease *k, const struct bramble_fh *fh)
{
	struct hashtab_node *n = hashtab_find(&k->objs, hash_bytes(fh->data, fh->len),
					      kobj_is, fh);

	return n ? HASHTAB_ENTRY(n, struct kobj, hn) : NULL;
}

static struct kname *name_find(struct klease *k, const struct bramble_fh *dir,
			       const char *name)
{
	struct name_key nk = { dir, name };
	struct hashtab_node *n = hashtab_find(&k->names, name_hash(dir, name),
					      kname_is, &nk);

	return n ? HASHTAB_ENTRY(n, struct kname, hn) : NULL;
}

static void name_del(struct klease *k, struct kname *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		e->dir->names = e->next;
	if (e->next)
		e->next->prev = e->prev;
	hashtab_remove(&k->names, &e->hn);
	k->count--;
	free(e);
}

/* o goes when it holds nothing any more. */
static void obj_tidy(struct klease *k, struct kobj *o)
{
	if (o->attr_until || o->names)
		return;
	hashtab_remove(&k->objs, &o->hn);
	k->count--;
	free(o);
}

static int sweep_one(struct hashtab_node *n, void *arg)
{
	struct klease *k = arg;
	struct kobj *o = HASHTAB_ENTRY(n, struct kobj, hn);
	int64_t now = now_ns();

	for (struct kname *e = o->names, *next; e; e = next) {
		next = e->next;
		if (e->until <= now)
			name_del(k, e);
	}
	if (o->attr_until <= now)
		o->attr_until = 0;
	obj_tidy(k, o);
	return 0;
}

/* Room for two more (an object and a name), sweeping what expired. */
static bool room(struct klease *k)
{
	if (k->count + 2 <= k->max)
		return true;
	if (now_ns() - k->last_sweep < SWEEP_NS)
		return false;
	k->last_sweep = now_ns();
	hashtab_foreach(&k->objs, sweep_one, k);
	return k->count + 2 <= k->max;
}

static struct kobj *obj_get(struct klease *k, const struct bramble_fh *fh)
{
	struct kobj *o = obj_find(k, fh);

	if (o)
		return o;
	o = xcalloc(1, sizeof(*o));
	o->fh = *fh;
	hashtab_insert(&k->objs, &o->hn, hash_bytes(fh->data, fh->len));
	k->count++;
	return o;
}

static void name_add(struct klease *k, struct kobj *dir, const char *name,
		     int64_t until)
{
	struct kname *e = xcalloc(1, sizeof(*e) + strlen(name) + 1);

	e->dir = dir;
	e->until = until;
	strcpy(e->name, name);
	e->next = dir->names;
	if (e->next)
		e->next->prev = e;
	dir->names = e;
	hashtab_insert(&k->names, &e->hn, name_hash(&dir->fh, name));
	k->count++;
}

/* ---- kernel notes */

/* must: a note taking back what the kernel holds for long, never
 * dropped (the table they come from is bounded by k->max). */
static void enqueue(struct klease *k, const struct bramble_fh *fh, bool data,
		    const char *name, int64_t not_before, bool must)
{
	struct nqueue *q = not_before ? &k->later : &k->now;
	struct note *n;

	if (k->nnotes >= NOTE_MAX && !must) {
		log_warn_rl("too many kernel invalidations queued; the kernel "
			    "keeps some attributes until its timeouts");
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->fh = *fh;
	n->data = data;
	n->name = name ? xstrdup(name) : NULL;
	n->not_before = not_before;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
	k->nnotes++;
	pthread_cond_signal(&k->cond);
}

static struct note *dequeue(struct nqueue *q)
{
	struct note *n = q->head;

	q->head = n->next;
	if (!q->head)
		q->tail = NULL;
	return n;
}

static void tell_kernel(struct klease *k, struct note *n)
{
	struct bfs *fs = k->fs;
	uint64_t ino;

	if (!fs->se || !fs->inodes || !inode_find_fh(fs->inodes, &n->fh, &ino))
		return;                 /* the kernel does not know it */
	if (n->name && !k->no_expire) {
		/* Expire, not invalidate: the next use looks the name up
		 * again, but a directory someone is in stays hashed (its
		 * getcwd() keeps working).  Kernels before 6.2 refuse. */
		int rc = fuse_lowlevel_notify_expire_entry(fs->se, ino, n->name,
							   strlen(n->name),
							   FUSE_LL_EXPIRE_ONLY);

		if (rc == -ENOSYS || rc == -EINVAL) {
			k->no_expire = true;
			log_info("kernel cannot expire entries: invalidating them");
		}
		if (!k->no_expire)
			return;
	}
	if (n->name)
		fuse_lowlevel_notify_inval_entry(fs->se, ino, n->name, strlen(n->name));
	else
		fuse_lowlevel_notify_inval_inode(fs->se, ino, n->data ? 0 : -1, 0);
}

/* The next note due, or NULL (then *wait_until: when one is; 0: none). */
static struct note *next_due(struct klease *k, int64_t *wait_until)
{
	*wait_until = 0;
	if (k->now.head)
		return dequeue(&k->now);
	if (k->later.head) {
		if (k->later.head->not_before <= now_ns())
			return dequeue(&k->later);
		*wait_until = k->later.head->not_before;
	}
	return NULL;
}

static void *notify_main(void *arg)
{
	struct klease *k = arg;
	int64_t until;

	pthread_mutex_lock(&k->lock);
	while (!k->stop) {
		struct note *n = next_due(k, &until);

		if (!n) {
			struct timespec ts = { until / 1000000000LL, until % 1000000000LL };

			if (until)
				pthread_cond_timedwait(&k->cond, &k->lock, &ts);
			else
				pthread_cond_wait(&k->cond, &k->lock);
			continue;
		}
		pthread_mutex_unlock(&k->lock);
		tell_kernel(k, n);
		free(n->name);
		free(n);
		pthread_mutex_lock(&k->lock);
		/* Counted once done: notes_queued 0 means all told. */
		k->nnotes--;
		k->c.kernel_notes++;
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

/* ---- the interface */

void klease_note(struct klease *k, const struct bramble_fh *fh, bool data,
		 const char *name)
{
	pthread_mutex_lock(&k->lock);
	enqueue(k, fh, data, name, 0, false);
	pthread_mutex_unlock(&k->lock);
}

void klease_note_later(struct klease *k, const struct bramble_fh *fh,
		       const char *name)
{
	pthread_mutex_lock(&k->lock);
	enqueue(k, fh, false, name, now_ns() + NOTE_DELAY_NS, true);
	pthread_mutex_unlock(&k->lock);
}

bool klease_hold(struct klease *k, const struct bramble_fh *fh,
		 const char *name, int64_t until_ns)
{
	struct kobj *o;
	struct kname *e;
	bool ok = true;

	pthread_mutex_lock(&k->lock);
	o = obj_find(k, fh);
	e = name && o ? name_find(k, fh, name) : NULL;
	if (e) {
		e->until = BR_MAX(e->until, until_ns);
	} else if (!name && o) {
		o->attr_until = BR_MAX(o->attr_until, until_ns);
	} else if (!room(k)) {
		ok = false;
	} else {
		o = obj_get(k, fh);
		if (name)
			name_add(k, o, name, until_ns);
		else
			o->attr_until = until_ns;
	}
	pthread_mutex_unlock(&k->lock);
	return ok;
}

void klease_moved(struct klease *k, const struct bramble_fh *from,
		  const char *from_name, const struct bramble_fh *to,
		  const char *to_name, bool keep)
{
	struct kname *e, *old;
	struct kobj *o;
	int64_t until;

	pthread_mutex_lock(&k->lock);
	e = name_find(k, from, from_name);
	if (!e)
		goto out;               /* the kernel held it briefly only */
	until = e->until;
	o = e->dir;
	name_del(k, e);
	obj_tidy(k, o);
	old = name_find(k, to, to_name);
	if (old) {
		o = old->dir;
		name_del(k, old);
		obj_tidy(k, o);
	}
	if (until <= now_ns())
		goto out;
	/* Still tracked where the kernel now has it; if there is no room,
	 * or it is not watched there, it is not held for long any more. */
	if (keep && room(k))
		name_add(k, obj_get(k, to), to_name, until);
	else
		enqueue(k, to, false, to_name, 0, true);
out:
	pthread_mutex_unlock(&k->lock);
}

/* Queue what the kernel holds of o for long, and drop o. */
static void take_back_obj(struct klease *k, struct kobj *o)
{
	int64_t now = now_ns();

	while (o->names) {
		struct kname *e = o->names;

		if (e->until > now) {
			enqueue(k, &o->fh, false, e->name, 0, true);
			k->c.taken_back++;
		}
		name_del(k, e);
	}
	if (o->attr_until > now) {
		enqueue(k, &o->fh, false, NULL, 0, true);
		k->c.taken_back++;
	}
	o->attr_until = 0;
	obj_tidy(k, o);
}

void klease_take_back(struct klease *k, const struct bramble_fh *fh)
{
	struct kobj *o;

	pthread_mutex_lock(&k->lock);
	o = obj_find(k, fh);
	if (o)
		take_back_obj(k, o);
	pthread_mutex_unlock(&k->lock);
}

static int take_back_one(struct hashtab_node *n, void *arg)
{
	take_back_obj(arg, HASHTAB_ENTRY(n, struct kobj, hn));
	return 0;
}

void klease_take_back_all(struct klease *k)
{
	pthread_mutex_lock(&k->lock);
	hashtab_foreach(&k->objs, take_back_one, k);
	pthread_mutex_unlock(&k->lock);
}

void klease_get_counters(struct klease *k, struct klease_counters *out)
{
	pthread_mutex_lock(&k->lock);
	*out = k->c;
	out->notes_queued = k->nnotes;
	out->held = k->count;
	pthread_mutex_unlock(&k->lock);
}

/* ---- lifecycle */

struct klease *klease_new(struct bfs *fs, size_t max)
{
	struct klease *k = xcalloc(1, sizeof(*k));
	pthread_condattr_t ca;

	k->fs = fs;
	k->max = max;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);  /* now_ns()'s */
	pthread_cond_init(&k->cond, &ca);
	pthread_condattr_destroy(&ca);
	hashtab_init(&k->objs, 0);
	hashtab_init(&k->names, 0);
	return k;
}

int klease_start(struct klease *k)
{
	int rc = -pthread_create(&k->thr, NULL, notify_main, k);

	k->started = rc == 0;
	return rc;
}

void klease_stop(struct klease *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	if (k->started)
		pthread_join(k->thr, NULL);
	k->started = false;
}

static int free_obj(struct hashtab_node *n, void *arg)
{
	struct klease *k = arg;
	struct kobj *o = HASHTAB_ENTRY(n, struct kobj, hn);

	while (o->names)
		name_del(k, o->names);
	hashtab_remove(&k->objs, &o->hn);
	free(o);
	return 0;
}

static void free_queue(struct nqueue *q)
{
	while (q->head) {
		struct note *n = dequeue(q);

		free(n->name);
		free(n);
	}
}

void klease_free(struct klease *k)
{
	if (!k)
		return;
	klease_stop(k);
	free_queue(&k->now);
	free_queue(&k->later);
	hashtab_foreach(&k->objs, free_obj, k);
	hashtab_release(&k->objs);
	hashtab_release(&k->names);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
