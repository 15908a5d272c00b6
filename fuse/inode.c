/* inode.c - the inode table (see inode.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "xalloc.h"

struct inode {
	uint64_t ino;
	struct bramble_fh fh;
	uint64_t hash;             /* of fh */
	uint64_t nlookup;
	struct inode *next_fh, *next_ino;  /* hash chains */
	/* close-to-open: attributes last seen at open or own change */
	bool cto_valid;
	off_t size;
	struct timespec mtime, ctime;
	/* attributes last handed to the kernel */
	bool k_valid;
	off_t k_size;
	struct timespec k_mtime, k_ctime;
	/* opens on this node and the silly-rename to undo at last close */
	unsigned int nopen;
	char *silly_name;
	struct bramble_fh silly_dir;
	bool orphaned;             /* removed while open: kept by the server */
};

struct inode_table {
	pthread_mutex_t lock;
	struct inode **by_fh, **by_ino;  /* protected by lock */
	size_t nbuckets, count;          /* protected by lock */
	uint64_t next_ino;               /* protected by lock */
	uint64_t nopen;                  /* opens, all inodes; protected by lock */
	struct inode *root;
};

static uint64_t fh_hash(const struct bramble_fh *fh)
{
	uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a */

	for (uint32_t i = 0; i < fh->len; i++) {
		h ^= fh->data[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static size_t ino_bucket(const struct inode_table *t, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 20) & (t->nbuckets - 1);
}

static void link_inode(struct inode_table *t, struct inode *in)
{
	size_t bf = in->hash & (t->nbuckets - 1);
	size_t bi = ino_bucket(t, in->ino);

	in->next_fh = t->by_fh[bf];
	t->by_fh[bf] = in;
	in->next_ino = t->by_ino[bi];
	t->by_ino[bi] = in;
}

static void grow(struct inode_table *t)
{
	struct inode **old = t->by_fh;
	size_t oldn = t->nbuckets;

	t->nbuckets *= 2;
	t->by_fh = xcalloc(t->nbuckets, sizeof(*t->by_fh));
	free(t->by_ino);
	t->by_ino = xcalloc(t->nbuckets, sizeof(*t->by_ino));
	for (size_t i = 0; i < oldn; i++) {
		struct inode *in = old[i], *next;

		for (; in; in = next) {
			next = in->next_fh;
			link_inode(t, in);
		}
	}
	free(old);
}

static struct inode *find_ino(struct inode_table *t, uint64_t ino)
{
	struct inode *in = t->by_ino[ino_bucket(t, ino)];

	while (in && in->ino != ino)
		in = in->next_ino;
	return in;
}

static struct inode *find_fh(struct inode_table *t, const struct bramble_fh *fh,
			     uint64_t hash)
{
	struct inode *in = t->by_fh[hash & (t->nbuckets - 1)];

	while (in && !(in->hash == hash && bramble_fh_eq(&in->fh, fh)))
		in = in->next_fh;
	return in;
}

static struct inode *new_inode(struct inode_table *t, const struct bramble_fh *fh,
			       uint64_t hash, uint64_t ino)
{
	struct inode *in = xcalloc(1, sizeof(*in));

	in->ino = ino;
	in->fh = *fh;
	in->hash = hash;
	if (t->count + 1 > t->nbuckets * 2)
		grow(t);
	link_inode(t, in);
	t->count++;
	return in;
}

static void unlink_inode(struct inode_table *t, struct inode *in)
{
	struct inode **pp = &t->by_fh[in->hash & (t->nbuckets - 1)];

	while (*pp != in)
		pp = &(*pp)->next_fh;
	*pp = in->next_fh;
	pp = &t->by_ino[ino_bucket(t, in->ino)];
	while (*pp != in)
		pp = &(*pp)->next_ino;
	*pp = in->next_ino;
	t->count--;
}

int inode_table_new(const struct bramble_fh *root, struct inode_table **out)
{
	struct inode_table *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = 1024;
	t->by_fh = xcalloc(t->nbuckets, sizeof(*t->by_fh));
	t->by_ino = xcalloc(t->nbuckets, sizeof(*t->by_ino));
	t->next_ino = INODE_FIRST_INO;
	t->root = new_inode(t, root, fh_hash(root), INODE_ROOT_INO);
	t->root->nlookup = 1;  /* the kernel holds the root from the start */
	*out = t;
	return 0;
}

void inode_table_free(struct inode_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct inode *in = t->by_fh[i], *next;

		for (; in; in = next) {
			next = in->next_fh;
			free(in->silly_name);
			free(in);
		}
	}
	free(t->by_fh);
	free(t->by_ino);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int inode_fh(struct inode_table *t, uint64_t ino, struct bramble_fh *fh)
{
	struct inode *in;
	int rc = -ESTALE;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in) {
		*fh = in->fh;
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

uint64_t inode_ref(struct inode_table *t, const struct bramble_fh *fh)
{
	uint64_t hash = fh_hash(fh);
	struct inode *in;
	uint64_t ino;

	pthread_mutex_lock(&t->lock);
	in = find_fh(t, fh, hash);
	if (!in)
		in = new_inode(t, fh, hash, t->next_ino++);
	in->nlookup++;
	ino = in->ino;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

void inode_forget(struct inode_table *t, uint64_t ino, uint64_t n)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in && in != t->root) {
		in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
		/* An open file keeps its inode (and its silly name) even if
		 * the kernel forgot the name: the release still needs them. */
		if (in->nlookup == 0 && in->nopen == 0) {
			unlink_inode(t, in);
			free(in->silly_name);
			free(in);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

bool inode_find_fh(struct inode_table *t, const struct bramble_fh *fh,
		   uint64_t *ino)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_fh(t, fh, fh_hash(fh));
	if (in)
		*ino = in->ino;
	pthread_mutex_unlock(&t->lock);
	return in != NULL;
}

uint64_t inode_nlookup(struct inode_table *t, uint64_t ino)
{
	struct inode *in;
	uint64_t n = 0;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in)
		n = in->nlookup;
	pthread_mutex_unlock(&t->lock);
	return n;
}

size_t inode_count(struct inode_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* ---- close-to-open */

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void cto_store(struct inode *in, const struct stat *st)
{
	in->cto_valid = true;
	in->size = st->st_size;
	in->mtime = st->st_mtim;
	in->ctime = st->st_ctim;
}

bool inode_cto_unchanged(struct inode_table *t, uint64_t ino,
			 const struct stat *st)
{
	struct inode *in;
	bool same = false;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in) {
		same = in->cto_valid && in->size == st->st_size &&
		       ts_eq(&in->mtime, &st->st_mtim) &&
		       ts_eq(&in->ctime, &st->st_ctim);
		cto_store(in, st);
	}
	pthread_mutex_unlock(&t->lock);
	return same;
}

void inode_cto_note(struct inode_table *t, uint64_t ino, const struct stat *st)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in)
		cto_store(in, st);
	pthread_mutex_unlock(&t->lock);
}

static bool ts_lt(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void inode_cto_note_newer(struct inode_table *t, uint64_t ino,
			  const struct stat *st)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in && !(in->cto_valid && ts_lt(&st->st_ctim, &in->ctime)))
		cto_store(in, st);
	pthread_mutex_unlock(&t->lock);
}

/* ---- attributes the kernel holds */

void inode_kattr_note(struct inode_table *t, uint64_t ino, const struct stat *st)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in) {
		in->k_valid = true;
		in->k_size = st->st_size;
		in->k_mtime = st->st_mtim;
		in->k_ctime = st->st_ctim;
	}
	pthread_mutex_unlock(&t->lock);
}

void inode_kattr_clear(struct inode_table *t, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in)
		in->k_valid = false;
	pthread_mutex_unlock(&t->lock);
}

bool inode_kattr_same(struct inode_table *t, uint64_t ino, const struct stat *st)
{
	struct inode *in;
	bool same = false;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in)
		same = in->k_valid && in->k_size == st->st_size &&
		       ts_eq(&in->k_mtime, &st->st_mtim) &&
		       ts_eq(&in->k_ctime, &st->st_ctim);
	pthread_mutex_unlock(&t->lock);
	return same;
}

/* ---- opens and silly rename */

void inode_open(struct inode_table *t, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in) {
		in->nopen++;
		t->nopen++;
	}
	pthread_mutex_unlock(&t->lock);
}

int inode_close(struct inode_table *t, uint64_t ino, struct bramble_fh *dir,
		char **name)
{
	struct inode *in;
	int left = INODE_CLOSED;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in && in->nopen > 0) {
		in->nopen--;
		t->nopen--;
		if (in->nopen == 0 && in->silly_name) {
			*dir = in->silly_dir;
			*name = in->silly_name;
			in->silly_name = NULL;
			left = INODE_CLOSED_SILLY;
		} else if (in->nopen == 0 && in->orphaned) {
			in->orphaned = false;
			left = INODE_CLOSED_ORPHAN;
		}
		if (in->nopen == 0 && in->nlookup == 0 && in != t->root) {
			unlink_inode(t, in);
			free(in->silly_name);
			free(in);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return left;
}

bool inode_fh_is_open(struct inode_table *t, const struct bramble_fh *fh,
		      uint64_t *ino)
{
	struct inode *in;
	bool open = false;

	pthread_mutex_lock(&t->lock);
	in = find_fh(t, fh, fh_hash(fh));
	if (in && in->nopen > 0) {
		*ino = in->ino;
		open = true;
	}
	pthread_mutex_unlock(&t->lock);
	return open;
}

bool inode_any_open(struct inode_table *t)
{
	bool any;

	pthread_mutex_lock(&t->lock);
	any = t->nopen > 0;
	pthread_mutex_unlock(&t->lock);
	return any;
}

bool inode_set_orphan(struct inode_table *t, uint64_t ino)
{
	struct inode *in;
	bool open;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	open = in && in->nopen > 0;
	if (open)
		in->orphaned = true;
	pthread_mutex_unlock(&t->lock);
	return open;
}

bool inode_set_silly(struct inode_table *t, uint64_t ino,
		     const struct bramble_fh *dir, const char *name)
{
	struct inode *in;
	bool open;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	open = in && in->nopen > 0;
	if (open) {
		free(in->silly_name);
		in->silly_name = xstrdup(name);
		in->silly_dir = *dir;
	}
	pthread_mutex_unlock(&t->lock);
	return open;
}
