/* ops_dir.c - FUSE directory handlers: opendir, readdir(plus), releasedir.
 *
 * Offsets.  The kernel resumes a listing at the offset of the last entry
 * it took.  Server cookies are opaque 64-bit values that could collide
 * with any numbers we pick for "." and "..", so the offsets the kernel
 * sees are positions in this open directory: 1 = after ".", 2 = after
 * "..", 3 + i = after the i-th server entry, whose cookie the handle
 * remembers.  Position 0 restarts the listing (rewinddir). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_ctl.h"
#include "lease.h"
#include "ops.h"
#include "wb.h"
#include "xalloc.h"

#define POS_FIRST 3
/* Bytes of a fuse_direntplus / fuse_dirent record besides the name. */
#define DIRENTPLUS_BASE 152
#define DIRENT_BASE 24

struct bfs_dir {
	pthread_mutex_t lock;      /* the kernel serialises, but be safe */
	struct bramble_fh fh;
	struct bramble_cred cred;  /* the opener's */
	uint64_t *cookies;         /* cookie of entry i; protected by lock */
	size_t n, cap;
	/* The server said end-of-directory after entry n-1 and every entry
	 * went to the kernel: the call that resumes there is answered with
	 * nothing, without a round trip (protected by lock). */
	bool eof;
};

void bfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_dir *d;
	struct bramble_fh fh;
	int rc = ino_fh(fs, ino, &fh);

	if (rc < 0) {
		reply_err(req, "opendir", ino, rc == -EPERM ? -ENOTDIR : rc, t0);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->fh = fh;
	cred_of_req(fs, req, &d->cred);
	fi->fh = (uintptr_t)d;
	/* Under callbacks the kernel keeps the listing it read: reused by
	 * the next opendir while the directory stays trusted (no callback
	 * since, within the lease), else dropped (no FOPEN_KEEP_CACHE). */
	if (lease_enabled(fs->leases)) {
		fi->cache_readdir = 1;
		fi->keep_cache = lease_trusted(fs, &fh);
	}
	bfs_trace(fs, "opendir", ino, 0, t0);
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_destroy(&d->lock);
		free(d->cookies);
		free(d);
	}
}

void bfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs_dir *d = (struct bfs_dir *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		pthread_mutex_destroy(&d->lock);
		free(d->cookies);
		free(d);
	}
	fuse_reply_err(req, 0);
}

struct fill {
	fuse_req_t req;
	struct bfs *fs;
	struct bfs_dir *d;
	bool plus;
	bool root;
	char *buf;
	size_t size, used;
	size_t idx;                /* server entries emitted before this one */
	uint64_t last;             /* cookie after the last entry consumed */
	size_t seen;               /* entries consumed by this batch */
	uint64_t gen;              /* wb_gen() before this batch's call */
	struct lease_tok lt;       /* lease_begin() before it (lease.h) */
	bool full;
};

static void remember(struct bfs_dir *d, size_t idx, uint64_t cookie)
{
	if (idx >= d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->cookies = xrealloc(d->cookies, d->cap * sizeof(*d->cookies));
	}
	d->cookies[idx] = cookie;
	d->n = idx + 1;  /* anything after is from an older listing */
	d->eof = false;
}

/* Add one entry at position off; false when the buffer is full. */
static bool add_entry(struct fill *f, const char *name, const struct stat *st,
		      const struct bramble_fh *fh, off_t off)
{
	size_t rem = f->size - f->used;
	size_t n;

	if (!f->plus) {
		struct stat s = { .st_ino = st->st_ino, .st_mode = st->st_mode };

		n = fuse_add_direntry(f->req, f->buf + f->used, rem, name, &s, off);
	} else {
		struct fuse_entry_param e;

		if (fh) {
			make_entry(f->fs, &e, fh, st);
		} else {
			/* "." and "..": no lookup count, as passthrough_ll. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = st->st_ino;
			e.attr.st_mode = st->st_mode;
		}
		n = fuse_add_direntry_plus(f->req, f->buf + f->used, rem, name,
					   &e, off);
		if (n > rem && fh)
			inode_forget(f->fs->inodes, e.ino, 1);
		else if (fh)
			inode_kattr_note(f->fs->inodes, e.ino, st);
	}
	if (n > rem) {
		f->full = true;
		return false;
	}
	f->used += n;
	return true;
}

static int fill_one(void *ctx, const struct bramble_dirent *de)
{
	struct fill *f = ctx;
	struct bramble_fh fh = *de->fh;
	struct stat st = *de->attr;

	/* The control file owns this name in the root, and is never listed;
	 * "." and ".." come from us. */
	if ((f->root && !strcmp(de->name, BRAMBLE_CTL_NAME)) ||
	    !strcmp(de->name, ".") || !strcmp(de->name, ".."))
		goto consumed;
	if (f->plus && fh.len == 0) {
		/* No handle (a mount point on the server): look it up. */
		if (bramble_lookup(f->fs->cl, &f->d->cred, &f->d->fh, de->name,
				   &fh, &st) < 0)
			goto consumed;  /* vanished meanwhile */
	}
	/* Could not read fresh attributes: stop here, the next call resumes
	 * at this entry (and reports the error if it persists). */
	if (f->plus && entry_fresh(f->fs, &f->d->cred, f->gen, &fh, &st) < 0)
		return -EIO;
	if (f->plus)  /* the kernel gets the name: learned sets (record.h) */
		record_name(f->fs, &f->d->fh, de->name, &fh);
	if (f->plus)
		lease_note_dirent(f->fs, &f->lt, &f->d->fh, de->name, &fh, &st);
	if (!add_entry(f, de->name, &st, f->plus ? &fh : NULL,
		       (off_t)(POS_FIRST + f->idx)))
		return 1;
	remember(f->d, f->idx, de->cookie);
	f->idx++;
consumed:
	f->last = de->cookie;
	f->seen++;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct bfs *fs = req_fs(req);
	const char *op = plus ? "readdirplus" : "readdir";
	int64_t t0 = now_ns();
	struct bfs_dir *d = (struct bfs_dir *)(uintptr_t)fi->fh;
	struct fill f = { .req = req, .fs = fs, .d = d, .plus = plus,
			  .root = ino == FUSE_ROOT_ID, .size = size };
	uint64_t cookie = 0;
	bool eof = false;
	int rc = 0;

	f.buf = malloc(size ? size : 1);
	if (!f.buf) {
		reply_err(req, op, ino, -ENOMEM, t0);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (off < POS_FIRST) {
		/* "." and ".." come from us: the server never sends them.
		 * readdir(3) hides entries with d_ino 0, so give them a
		 * number; which one matters to nobody. */
		struct stat st = { .st_ino = ino, .st_mode = S_IFDIR };

		if (off == 0 && !add_entry(&f, ".", &st, NULL, 1))
			goto done;
		if (off <= 1 && !add_entry(&f, "..", &st, NULL, 2))
			goto done;
		if (off == 0)
			d->eof = false;  /* rewinddir: list afresh */
		f.idx = 0;
		cookie = 0;
	} else if ((size_t)(off - POS_FIRST) < d->n) {
		f.idx = (size_t)(off - POS_FIRST) + 1;
		cookie = d->cookies[off - POS_FIRST];
	} else {
		goto done;  /* an offset this handle never gave out: the end */
	}
	if (d->eof && f.idx == d->n)
		goto done;
	while (!f.full && !eof) {
		size_t per = plus ? DIRENTPLUS_BASE + 32 : DIRENT_BASE + 16;
		unsigned int want = (unsigned int)((f.size - f.used) / per + 1);

		f.seen = 0;
		f.gen = wb_gen(fs->wb);
		f.lt = lease_begin(fs);
		rc = bramble_readdirplus(fs->cl, &d->cred, &d->fh, cookie, want,
					 0, fill_one, &f, &eof);
		if (rc < 0)
			break;
		if (f.seen == 0 && !f.full && !eof) {
			rc = -EIO;  /* a server that sends nothing, forever */
			break;
		}
		cookie = f.last;
	}
	if (rc == 0 && eof && !f.full) {
		d->n = f.idx;  /* remember() left it there, or an empty dir */
		d->eof = true;
	}
	/* An error after some entries: deliver those; the next call will
	 * report it. */
	if (rc < 0 && f.used == 0) {
		pthread_mutex_unlock(&d->lock);
		free(f.buf);
		reply_err(req, op, ino, rc, t0);
		return;
	}
done:
	pthread_mutex_unlock(&d->lock);
	bfs_trace(fs, op, ino, 0, t0);
	fuse_reply_buf(req, f.buf, f.used);
	free(f.buf);
}

void bfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void bfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}
