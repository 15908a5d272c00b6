/* inode.c - the inode table (see inode.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "inode.h"
#include "xalloc.h"

struct inode {
	uint64_t ino;
	struct bramble_fh fh;
	uint64_t nlookup;
	struct hashtab_node by_fh, by_ino;  /* in the table's by_fh and by_ino */
	/* close-to-open: attributes last seen at open or own change */
	bool cto_valid;
	off_t size;
	struct timespec mtime, ctime;
	/* attributes last handed to the kernel (its size grown by writes) */
	bool k_valid;
	struct stat k_st;
	/* opens on this node and the silly-rename to undo at last close */
	unsigned int nopen;
	char *silly_name;
	struct bramble_fh silly_dir;
	bool orphaned;             /* removed while open: kept by the server */
};

struct inode_table {
	pthread_mutex_t lock;
	struct hashtab by_fh, by_ino;    /* protected by lock; the same inodes */
	uint64_t next_ino;               /* protected by lock */
	uint64_t nopen;                  /* opens, all inodes; protected by lock */
	struct inode *root;
};

static uint64_t fh_hash(const struct bramble_fh *fh)
{
	return hash_bytes(fh->data, fh->len);
}

static bool ino_is(const struct hashtab_node *n, const void *ino)
{
	return HASHTAB_ENTRY(n, struct inode, by_ino)->ino == *(const uint64_t *)ino;
}

static bool fh_is(const struct hashtab_node *n, const void *fh)
{
	return bramble_fh_eq(&HASHTAB_ENTRY(n, struct inode, by_fh)->fh, fh);
}

static struct inode *find_ino(struct inode_table *t, uint64_t ino)
{
	struct hashtab_node *n = hashtab_find(&t->by_ino, hash_u64(ino), ino_is, &ino);

	return n ? HASHTAB_ENTRY(n, struct inode, by_ino) : NULL;
}

static struct inode *find_fh(struct inode_table *t, const struct bramble_fh *fh,
			     uint64_t hash)
{
	struct hashtab_node *n = hashtab_find(&t->by_fh, hash, fh_is, fh);

	return n ? HASHTAB_ENTRY(n, struct inode, by_fh) : NULL;
}

static struct inode *new_inode(struct inode_table *t, const struct bramble_fh *fh,
			       uint64_t hash, uint64_t ino)
{
	struct inode *in = xcalloc(1, sizeof(*in));

	in->ino = ino;
	in->fh = *fh;
	hashtab_insert(&t->by_fh, &in->by_fh, hash);
	hashtab_insert(&t->by_ino, &in->by_ino, hash_u64(ino));
	return in;
}

static void unlink_inode(struct inode_table *t, struct inode *in)
{
	hashtab_remove(&t->by_fh, &in->by_fh);
	hashtab_remove(&t->by_ino, &in->by_ino);
}

int inode_table_new(const struct bramble_fh *root, struct inode_table **out)
{
	struct inode_table *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	hashtab_init(&t->by_fh, 1024);
	hashtab_init(&t->by_ino, 1024);
	t->next_ino = INODE_FIRST_INO;
	t->root = new_inode(t, root, fh_hash(root), INODE_ROOT_INO);
	t->root->nlookup = 1;  /* the kernel holds the root from the start */
	*out = t;
	return 0;
}

/* Frees an inode without unlinking it: both tables go next. */
static int free_inode(struct hashtab_node *n, void *unused)
{
	struct inode *in = HASHTAB_ENTRY(n, struct inode, by_fh);

	free(in->silly_name);
	free(in);
	return 0;
}

void inode_table_free(struct inode_table *t)
{
	if (!t)
		return;
	hashtab_foreach(&t->by_fh, free_inode, NULL);
	hashtab_release(&t->by_fh);
	hashtab_release(&t->by_ino);
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
	n = t->by_ino.count;
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
		in->k_st = *st;
	}
	pthread_mutex_unlock(&t->lock);
}

void inode_kattr_grow(struct inode_table *t, uint64_t ino, uint64_t end)
{
	struct inode *in;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in && in->k_valid && (uint64_t)in->k_st.st_size < end)
		in->k_st.st_size = (off_t)end;
	pthread_mutex_unlock(&t->lock);
}

bool inode_kattr_get(struct inode_table *t, uint64_t ino, struct stat *st)
{
	struct inode *in;
	bool valid = false;

	pthread_mutex_lock(&t->lock);
	in = find_ino(t, ino);
	if (in && in->k_valid) {
		*st = in->k_st;
		valid = true;
	}
	pthread_mutex_unlock(&t->lock);
	return valid;
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
		same = in->k_valid && in->k_st.st_size == st->st_size &&
		       ts_eq(&in->k_st.st_mtim, &st->st_mtim) &&
		       ts_eq(&in->k_st.st_ctim, &st->st_ctim);
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
