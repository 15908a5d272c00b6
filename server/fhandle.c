/* fhandle.c - file handles (fhandle.h): making and decoding them, the
 * decoded-handle cache, confinement. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cred.h"
#include "fhandle.h"
#include "handletab.h"
#include "hashtab.h"
#include "util.h"
#include "xalloc.h"

#define EXPORT_CACHE_DEFAULT 1024
#define EXPORT_WALK_MAX 4096     /* deepest directory we will verify */
/* How long a cached directory is trusted to be still beneath the root
 * (fhandle.h).  A walk of ".." costs about 3 us per level; at most one per
 * hot directory in this time is nothing beside a round trip. */
#define EXPORT_RECHECK_NS (100 * INT64_C(1000000))

/* One decoded handle: the O_PATH fd of its object. */
struct centry {
	struct export_fh fh;
	int fd;
	int64_t checked_ns;            /* now_ns() of the last beneath() */
	struct hashtab_node hn;        /* in export.table, by handle bytes */
	struct centry *prev, *next;    /* LRU list, most recent first */
};

struct export {
	int root_fd;
	dev_t dev;
	ino_t ino;
	int mnt_id;                    /* mount of the root: handles never cross it */
	uint16_t id;                   /* written into every handle */
	char *path;
	unsigned char key[EXPORT_KEY_LEN];
	/* the root's own kernel handle (or, with a handle table, the
	 * table's uuid): bound into every MAC */
	unsigned char root_kh[EXPORT_KH_MAX + 8];
	size_t root_kh_len;
	bool kernel;                   /* the filesystem makes kernel handles */
	struct handletab *ht;          /* owned; set: every handle is a table id */

	pthread_mutex_t lock;
	struct hashtab table;          /* protected by lock */
	struct centry lru;             /* protected by lock; sentinel */
	unsigned int count, max;       /* protected by lock */
};

/* ---- kernel handles */

struct khandle {
	struct file_handle h;
	unsigned char bytes[128];      /* MAX_HANDLE_SZ */
};

static int get_khandle(int dirfd, const char *name, int flags,
		       struct khandle *kh, int *mnt_id)
{
	kh->h.handle_bytes = sizeof(kh->bytes);
	if (name_to_handle_at(dirfd, name, &kh->h, mnt_id, flags) < 0) {
		int rc = -errno;

		/* EOVERFLOW: larger than MAX_HANDLE_SZ; EOPNOTSUPP: the
		 * filesystem cannot export.  Either way: no handle. */
		return rc == -EOVERFLOW ? -EOPNOTSUPP : rc;
	}
	return 0;
}

static void mac(const struct export *ex, const unsigned char *data, size_t len,
		unsigned char out[EXPORT_MAC_LEN])
{
	crypto_generichash_state s;

	crypto_generichash_init(&s, ex->key, sizeof(ex->key), EXPORT_MAC_LEN);
	crypto_generichash_update(&s, ex->root_kh, ex->root_kh_len);
	crypto_generichash_update(&s, data, len);
	crypto_generichash_final(&s, out, EXPORT_MAC_LEN);
}

static int seal(const struct export *ex, unsigned char type, const void *body,
		size_t len, struct export_fh *out);

static int wrap(const struct export *ex, const struct khandle *kh, int mnt_id,
		struct export_fh *out)
{
	/* Another mount beneath the export (or a bind mount of something
	 * outside it): its objects must not get handles of ours. */
	if (mnt_id != ex->mnt_id)
		return -EOPNOTSUPP;
	if (kh->h.handle_type < 0 || kh->h.handle_type >= EXPORT_FH_TABLE ||
	    kh->h.handle_bytes > EXPORT_KH_MAX)
		return -EOPNOTSUPP;
	return seal(ex, (unsigned char)kh->h.handle_type, kh->h.f_handle,
		    kh->h.handle_bytes, out);
}

/* Header, body and MAC of a handle. */
static int seal(const struct export *ex, unsigned char type, const void *body,
		size_t len, struct export_fh *out)
{
	out->data[0] = EXPORT_FH_VERSION;
	out->data[1] = (unsigned char)(ex->id >> 8);
	out->data[2] = (unsigned char)ex->id;
	out->data[3] = type;
	memcpy(out->data + EXPORT_FH_HDR, body, len);
	mac(ex, out->data, EXPORT_FH_HDR + len, out->data + EXPORT_FH_HDR + len);
	out->len = (uint32_t)(EXPORT_FH_HDR + len + EXPORT_MAC_LEN);
	return 0;
}

/* A table handle: the row id, big-endian. */
static int wrap_table(const struct export *ex, uint64_t id, struct export_fh *out)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(id >> (56 - 8 * i));
	return seal(ex, EXPORT_FH_TABLE, b, sizeof(b), out);
}

/* ---- the cache */

/* The MAC is a keyed hash: uniform, and nobody can aim at a bucket.
 * fh must be long enough to hold one. */
static uint64_t fh_hash(const unsigned char *fh, size_t len)
{
	uint64_t h;

	memcpy(&h, fh + len - EXPORT_MAC_LEN, sizeof(h));
	return h;
}

struct fh_key {
	const unsigned char *fh;
	size_t len;
};

static bool centry_is(const struct hashtab_node *n, const void *key)
{
	const struct centry *e = HASHTAB_ENTRY(n, struct centry, hn);
	const struct fh_key *k = key;

	return e->fh.len == k->len && !memcmp(e->fh.data, k->fh, k->len);
}

static void lru_unlink(struct centry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct export *ex, struct centry *e)
{
	e->next = ex->lru.next;
	e->prev = &ex->lru;
	ex->lru.next->prev = e;
	ex->lru.next = e;
}

static struct centry *cache_find(struct export *ex, const unsigned char *fh,
				 size_t len)
{
	struct fh_key k = { fh, len };
	struct hashtab_node *n = hashtab_find(&ex->table, fh_hash(fh, len),
					      centry_is, &k);

	return n ? HASHTAB_ENTRY(n, struct centry, hn) : NULL;
}

/* Unlink e from the table and the LRU; the caller closes and frees it. */
static void cache_unlink_locked(struct export *ex, struct centry *e)
{
	hashtab_remove(&ex->table, &e->hn);
	lru_unlink(e);
	ex->count--;
}

static void centry_free(struct centry *e)
{
	close(e->fd);
	free(e);
}

static bool recheck_due(const struct centry *e, int64_t now)
{
	return now - e->checked_ns >= EXPORT_RECHECK_NS;
}

/* Returns a duplicate of the cached fd, or -1.  *recheck: the entry was
 * last verified beneath the root EXPORT_RECHECK_NS ago or more; if it is
 * a directory the caller verifies it again, and forgets the entry when
 * that fails.  The time is taken now, so that other callers do not walk
 * the same directory meanwhile. */
static int cache_get(struct export *ex, const unsigned char *fh, size_t len,
		     bool *recheck)
{
	struct centry *e;
	int64_t now = now_ns();
	int fd = -1;

	*recheck = false;
	pthread_mutex_lock(&ex->lock);
	e = cache_find(ex, fh, len);
	if (e) {
		fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0 && recheck_due(e, now)) {
			*recheck = true;
			e->checked_ns = now;
		}
		lru_unlink(e);
		lru_push(ex, e);
	}
	pthread_mutex_unlock(&ex->lock);
	return fd;
}

void export_forget(struct export *ex, const void *fh, size_t len)
{
	struct centry *e;

	if (len < EXPORT_FH_HDR + EXPORT_MAC_LEN || len > BR_FH_MAX)
		return;                 /* no such entry: fh_hash() needs a MAC */
	pthread_mutex_lock(&ex->lock);
	e = cache_find(ex, fh, len);
	if (e)
		cache_unlink_locked(ex, e);
	pthread_mutex_unlock(&ex->lock);
	/* Closed outside the lock, which the loop thread takes too: the
	 * last close of a removed inode frees its blocks. */
	if (e)
		centry_free(e);
}

/* Remember fd (duplicated) for fh, evicting the least recently used.  The
 * caller has just verified the object is beneath the root (or reached it
 * from there). */
static void cache_put(struct export *ex, const struct export_fh *fh, int fd)
{
	struct centry *e;
	int dfd;

	pthread_mutex_lock(&ex->lock);
	if (cache_find(ex, fh->data, fh->len)) {
		pthread_mutex_unlock(&ex->lock);
		return;
	}
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		pthread_mutex_unlock(&ex->lock);
		return;
	}
	while (ex->count >= ex->max) {
		struct centry *old = ex->lru.prev;

		cache_unlink_locked(ex, old);
		centry_free(old);
	}
	e = xcalloc(1, sizeof(*e));
	e->fh = *fh;
	e->fd = dfd;
	e->checked_ns = now_ns();
	hashtab_insert(&ex->table, &e->hn, fh_hash(fh->data, fh->len));
	lru_push(ex, e);
	ex->count++;
	pthread_mutex_unlock(&ex->lock);
}

/* ---- open / close */

int export_open(const char *dir, const unsigned char key[EXPORT_KEY_LEN],
		unsigned int cache_max, struct export **out)
{
	return export_open_id(dir, 0, key, cache_max, out);
}

int export_open_id(const char *dir, uint16_t id,
		   const unsigned char key[EXPORT_KEY_LEN], unsigned int cache_max,
		   struct export **out)
{
	struct export *ex = xcalloc(1, sizeof(*ex));
	struct khandle kh;
	struct stat st;
	int rc = 0;

	ex->root_fd = -1;
	ex->id = id;
	pthread_mutex_init(&ex->lock, NULL);
	ex->lru.next = ex->lru.prev = &ex->lru;
	ex->max = cache_max ? cache_max : EXPORT_CACHE_DEFAULT;
	hashtab_init(&ex->table, 0);
	memcpy(ex->key, key, EXPORT_KEY_LEN);
	ex->path = xstrdup(dir);

	ex->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ex->root_fd < 0 || fstat(ex->root_fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	ex->dev = st.st_dev;
	ex->ino = st.st_ino;
	rc = get_khandle(ex->root_fd, "", AT_EMPTY_PATH, &kh, &ex->mnt_id);
	if (rc == 0 && kh.h.handle_bytes > EXPORT_KH_MAX)
		rc = -EOPNOTSUPP;
	if (rc == -EOPNOTSUPP) {
		/* Usable only with a handle table (export_use_table). */
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	ex->kernel = true;
	ex->root_kh[0] = (unsigned char)kh.h.handle_type;
	memcpy(ex->root_kh + 1, kh.h.f_handle, kh.h.handle_bytes);
	ex->root_kh_len = 1 + kh.h.handle_bytes;
out:
	if (rc < 0)
		export_close(ex);
	else
		*out = ex;
	return rc;
}

void export_close(struct export *ex)
{
	if (!ex)
		return;
	while (ex->lru.next != &ex->lru) {
		struct centry *e = ex->lru.next;

		cache_unlink_locked(ex, e);
		centry_free(e);
	}
	handletab_close(ex->ht);
	if (ex->root_fd >= 0)
		close(ex->root_fd);
	sodium_memzero(ex->key, sizeof(ex->key));
	pthread_mutex_destroy(&ex->lock);
	hashtab_release(&ex->table);
	free(ex->path);
	free(ex);
}

uint16_t export_id(const struct export *ex)
{
	return ex->id;
}

int export_fh_id(const void *fhv, size_t len, uint16_t *id)
{
	const unsigned char *fh = fhv;

	if (len < EXPORT_FH_HDR + EXPORT_MAC_LEN || len > BR_FH_MAX ||
	    fh[0] != EXPORT_FH_VERSION)
		return -ESTALE;
	*id = (uint16_t)(fh[1] << 8 | fh[2]);
	return 0;
}

int export_root_fd(const struct export *ex)
{
	return ex->root_fd;
}

const char *export_path(const struct export *ex)
{
	return ex->path;
}

bool export_is_local(const struct export *ex)
{
	/* The handle table may read its database on any handle: never in
	 * the loop thread. */
	if (ex->ht)
		return false;
	static const unsigned long local[] = {
		0xEF53,         /* ext2/3/4 */
		0x58465342,     /* XFS */
		0x9123683E,     /* btrfs */
		0x01021994,     /* tmpfs */
		0xF2F52010,     /* F2FS */
	};
	struct statfs sf;

	if (fstatfs(ex->root_fd, &sf) < 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(local); i++)
		if ((unsigned long)sf.f_type == local[i])
			return true;
	return false;
}

/* ---- making handles */

/* ---- the handle table (handletab.h) */

int export_use_table(struct export *ex, const char *db_path, const char *name,
		     char *err, size_t errlen)
{
	int rc = handletab_open(db_path, name, ex->root_fd, &ex->ht, err, errlen);

	if (rc < 0)
		return rc;
	/* Table handles are bound to the table, not to a kernel handle the
	 * filesystem may not have: a new table never verifies old handles. */
	ex->root_kh[0] = EXPORT_FH_TABLE;
	memcpy(ex->root_kh + 1, handletab_uuid(ex->ht), HANDLETAB_UUID_LEN);
	ex->root_kh_len = 1 + HANDLETAB_UUID_LEN;
	return 0;
}

bool export_kernel_handles(const struct export *ex)
{
	return ex->kernel;
}

bool export_has_table(const struct export *ex)
{
	return ex->ht != NULL;
}

/* The table's work is the server's own (its database, walks from the
 * root): done as fs root whoever the call is for. */
static int table_fh_of_fd(struct export *ex, int fd, struct export_fh *out)
{
	struct br_cred saved;
	bool pushed = cred_push_root(&saved);
	uint64_t id;
	int rc = handletab_id_of_fd(ex->ht, fd, &id);

	cred_pop(&saved, pushed);
	return rc < 0 ? rc : wrap_table(ex, id, out);
}

static int table_open(struct export *ex, const unsigned char *fh, size_t len,
		      int *fd_out, struct stat *st)
{
	struct br_cred saved;
	bool pushed;
	uint64_t id = 0;
	int rc;

	if (!ex->ht || len != EXPORT_FH_HDR + 8 + EXPORT_MAC_LEN)
		return -ESTALE;
	for (int i = 0; i < 8; i++)
		id = id << 8 | fh[EXPORT_FH_HDR + i];
	pushed = cred_push_root(&saved);
	rc = handletab_open_id(ex->ht, id, fd_out, st);
	cred_pop(&saved, pushed);
	return rc;
}

void export_renamed(struct export *ex, int olddirfd, const char *oldname,
		    int newdirfd, const char *newname)
{
	struct br_cred saved;
	bool pushed;

	if (!ex->ht)
		return;
	pushed = cred_push_root(&saved);
	handletab_renamed(ex->ht, olddirfd, oldname, newdirfd, newname);
	cred_pop(&saved, pushed);
}

void export_removed(struct export *ex, int dirfd, const char *name,
		    bool last_link)
{
	struct br_cred saved;
	bool pushed;

	if (!ex->ht)
		return;
	pushed = cred_push_root(&saved);
	handletab_removed(ex->ht, dirfd, name, last_link);
	cred_pop(&saved, pushed);
}

int export_fh_from_fd(struct export *ex, int fd, struct export_fh *out)
{
	struct khandle kh;
	int mnt_id, rc;

	if (ex->ht) {
		rc = table_fh_of_fd(ex, fd, out);
		if (rc == 0)
			cache_put(ex, out, fd);
		return rc;
	}
	if (!ex->kernel)
		return -EOPNOTSUPP;
	rc = get_khandle(fd, "", AT_EMPTY_PATH, &kh, &mnt_id);
	if (rc == 0)
		rc = wrap(ex, &kh, mnt_id, out);
	if (rc == 0)
		cache_put(ex, out, fd);
	return rc;
}

int export_fh_at(struct export *ex, int dirfd, const char *name,
		 struct export_fh *out)
{
	struct khandle kh;
	int mnt_id, rc;

	if (ex->ht) {
		int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		rc = table_fh_of_fd(ex, fd, out);
		close(fd);
		return rc;
	}
	if (!ex->kernel)
		return -EOPNOTSUPP;
	rc = get_khandle(dirfd, name, 0, &kh, &mnt_id);
	if (rc == 0)
		rc = wrap(ex, &kh, mnt_id, out);
	return rc;
}

/* ---- decoding */

/* Is the directory at fd the export root or beneath it?  Walk "..", which
 * the kernel resolves for a connected directory dentry, until the root of
 * the export (yes), the root of the filesystem or another filesystem (no). */
static int beneath(const struct export *ex, int fd)
{
	struct stat st, up_st;
	int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	int rc = -ESTALE;

	if (cur < 0)
		return -errno;
	if (fstat(cur, &st) < 0)
		goto out;
	for (int depth = 0; depth < EXPORT_WALK_MAX; depth++) {
		if (st.st_dev != ex->dev)
			break;
		if (st.st_ino == ex->ino) {
			rc = 0;
			break;
		}
		int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (up < 0) {
			rc = errno == ENOENT ? -ESTALE : -errno;
			break;
		}
		if (fstat(up, &up_st) < 0) {
			rc = -errno;
			close(up);
			break;
		}
		close(cur);
		cur = up;
		if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino)
			break;          /* "/" of the filesystem: not found */
		st = up_st;
	}
out:
	close(cur);
	return rc;
}

static int verify(const struct export *ex, const unsigned char *fh, size_t len)
{
	unsigned char m[EXPORT_MAC_LEN];

	if (len < EXPORT_FH_HDR + EXPORT_MAC_LEN || len > BR_FH_MAX ||
	    fh[0] != EXPORT_FH_VERSION)
		return -ESTALE;
	/* The id is under the MAC too: this is enough to refuse a handle of
	 * another export, but a different id is refused before any hashing. */
	if (fh[1] != (unsigned char)(ex->id >> 8) || fh[2] != (unsigned char)ex->id)
		return -ESTALE;
	mac(ex, fh, len - EXPORT_MAC_LEN, m);
	if (sodium_memcmp(m, fh + len - EXPORT_MAC_LEN, EXPORT_MAC_LEN) != 0)
		return -ESTALE;
	return 0;
}

static int open_cached(struct export *ex, const void *fhv, size_t len,
		       int *fd_out, struct stat *st, bool drop_stale)
{
	const unsigned char *fh = fhv;
	bool recheck;
	int fd, rc;

	rc = verify(ex, fh, len);
	if (rc < 0)
		return rc;
	fd = cache_get(ex, fh, len, &recheck);
	if (fd < 0)
		return -EAGAIN;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* Removed since it was cached: the handle is stale now, even though
	 * our fd keeps the inode alive.  Only export_fh_open() drops it: the
	 * last close of a removed inode frees its blocks, which is disk work. */
	if (st->st_nlink == 0) {
		close(fd);
		if (!drop_stale)
			return -EAGAIN;
		export_forget(ex, fh, len);
		return -ESTALE;
	}
	/* A directory the administrator moved out of the export (mv on the
	 * server's disk) must not stay reachable through our fd: stale, as
	 * decoding would find.  Walking ".." of a held directory on a local
	 * filesystem needs no I/O, and closing one not removed frees
	 * nothing: fit for the loop thread too. */
	if (recheck && S_ISDIR(st->st_mode)) {
		rc = beneath(ex, fd);
		if (rc < 0) {
			close(fd);
			export_forget(ex, fh, len);
			return rc;
		}
	}
	*fd_out = fd;
	return 0;
}

int export_fh_open_cached(struct export *ex, const void *fh, size_t len,
			  int *fd_out, struct stat *st)
{
	return open_cached(ex, fh, len, fd_out, st, false);
}

int export_fh_stat_cached(struct export *ex, const void *fh, size_t len,
			  struct stat *st)
{
	struct centry *e;
	int rc = verify(ex, fh, len);

	if (rc < 0)
		return rc;
	/* fstat under the lock: the entry's fd cannot be closed meanwhile,
	 * and a stat of a held inode on a local filesystem is quick. */
	pthread_mutex_lock(&ex->lock);
	e = cache_find(ex, fh, len);
	if (!e) {
		rc = -EAGAIN;
	} else if (fstat(e->fd, st) < 0) {
		rc = -errno;
	} else if (S_ISDIR(st->st_mode) && recheck_due(e, now_ns())) {
		rc = -EAGAIN;           /* open_cached() verifies it */
	} else {
		lru_unlink(e);
		lru_push(ex, e);
	}
	pthread_mutex_unlock(&ex->lock);
	if (rc == 0 && st->st_nlink == 0)
		rc = -EAGAIN;           /* removed: export_fh_open() says ESTALE */
	return rc;
}

int export_fh_open(struct export *ex, const void *fhv, size_t len, int *fd_out,
		   struct stat *st)
{
	const unsigned char *fh = fhv;
	struct khandle kh;
	struct export_fh efh;
	int fd, rc;

	rc = open_cached(ex, fh, len, fd_out, st, true);
	if (rc != -EAGAIN)
		return rc;
	if (fh[3] == EXPORT_FH_TABLE) {
		rc = table_open(ex, fh, len, &fd, st);
		if (rc < 0)
			return rc;
		goto cache;
	}
	if (!ex->kernel)
		return -ESTALE;
	kh.h.handle_type = fh[3];
	kh.h.handle_bytes = (unsigned int)(len - EXPORT_FH_HDR - EXPORT_MAC_LEN);
	memcpy(kh.h.f_handle, fh + EXPORT_FH_HDR, kh.h.handle_bytes);
	fd = open_by_handle_at(ex->root_fd, &kh.h, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		/* ENOENT/ESTALE: gone; EINVAL: not a handle of this fs. */
		if (rc == -ENOENT || rc == -EINVAL || rc == -ESTALE)
			rc = -ESTALE;
		return rc;
	}
	if (fstat(fd, st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (st->st_dev != ex->dev || st->st_nlink == 0) {
		rc = -ESTALE;
		goto fail;
	}
	if (S_ISDIR(st->st_mode)) {
		rc = beneath(ex, fd);
		if (rc < 0)
			goto fail;
	}
cache:
	efh.len = (uint32_t)len;
	memcpy(efh.data, fh, len);
	cache_put(ex, &efh, fd);
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

void export_fh_short(const void *fhv, size_t len, char *buf, size_t buflen)
{
	const unsigned char *fh = fhv;

	if (len < 4) {
		snprintf(buf, buflen, "-");
		return;
	}
	/* The MAC's first bytes identify the handle, like a short git id. */
	fh += len >= EXPORT_FH_HDR + EXPORT_MAC_LEN ? len - EXPORT_MAC_LEN : 0;
	snprintf(buf, buflen, "%02x%02x%02x%02x", fh[0], fh[1], fh[2], fh[3]);
}
