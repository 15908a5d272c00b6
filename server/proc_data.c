/* proc_data.c - READ, WRITE, COMMIT, OPEN, COPY_RANGE: calls on file
 * contents.  They need real fds, opened as the caller through the fd cache
 * (fdcache.h: keyed by handle, credentials and access mode). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chunkscan.h"
#include "fdcache.h"
#include "log.h"
#include "openstate.h"
#include "orphans.h"
#include "proc.h"
#include "stats.h"
#include "xalloc.h"

#define COPY_MAX ((uint64_t)64 << 20)  /* per COPY_RANGE call */
/* Largest READ the loop thread answers itself (dispatch_inline). */
#define PROC_INLINE_READ_MAX (128 * 1024)

/* An fd of the caller's for fh from the fd cache; an O_RDWR one serves
 * for reading or writing too.  Returns the fd (*st: its attributes),
 * -EAGAIN on a miss, or -ESTALE for a removed file.  No decoding is
 * needed: a key's handle bytes were verified when its entry was made. */
static int cached_fd(struct call *c, const br_fh *fh, int accmode,
		     struct fdcache_key *key, struct stat *st)
{
	struct fdcache *fc = c->svc->fc;
	int fd, rc;

	fdcache_key_init(key, fh->br_fh_val, fh->br_fh_len, &c->cred, accmode);
	fd = fdcache_take(fc, key);
	if (fd < 0 && accmode != O_RDWR) {
		struct fdcache_key k2 = *key;

		k2.accmode = O_RDWR;
		fd = fdcache_take(fc, &k2);
		if (fd >= 0)
			*key = k2;
	}
	if (fd < 0)
		return -EAGAIN;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (st->st_nlink == 0) {
		/* Removed: stale, as decoding the handle would say.  The
		 * last close frees the blocks: not in the loop thread. */
		if (c->nowait) {
			fdcache_give(fc, key, fd);
			return call_would_block(c);
		}
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* An fd of the regular file fh with accmode, as the caller: from the fd
 * cache or opened anew (not in nowait mode); refused, and the caller owns
 * the file, as its owner.  The caller gives it back with fdcache_give(*key)
 * or closes it; *st: its attributes. */
static int data_fd(struct call *c, const br_fh *fh, int accmode,
		   struct fdcache_key *key, struct stat *st)
{
	int fd;

	fd = cached_fd(c, fh, accmode, key, st);
	if (fd != -EAGAIN || c->blocked)
		return fd;
	if (c->nowait)
		return call_would_block(c);
	fdcache_key_init(key, fh->br_fh_val, fh->br_fh_len, &c->cred, accmode);
	return call_open_file(c, fh, accmode, true, st);
}

/* The file a READ, WRITE or COPY_RANGE works on: the caller's held open
 * file when there is one (openstate.h), else data_fd()'s. */
struct dfile {
	int fd;
	bool held;
	struct openstate_use use;       /* held */
	struct fdcache_key key;         /* !held */
};

static bool held_file(struct call *c, const br_fh *fh, int accmode,
		      struct openstate_use *use)
{
	struct openstate_key k;

	if (!c->has_client || !c->svc->opens)
		return false;
	openstate_key_init(&k, c->client, fh->br_fh_val, fh->br_fh_len,
			   &c->cred, accmode);
	return openstate_get(c->svc->opens, &k, use);
}

/* 0 (df->fd ready, *st its attributes) or -errno.  A held file works on
 * after it was removed, as a descriptor does. */
static int dfile_get(struct call *c, const br_fh *fh, int accmode,
		     struct dfile *df, struct stat *st)
{
	int fd;

	df->held = held_file(c, fh, accmode, &df->use);
	if (df->held) {
		df->fd = df->use.fd;
		if (fstat(df->fd, st) == 0)
			return 0;
		fd = -errno;
		openstate_put(c->svc->opens, &df->use);
		df->held = false;
		return fd;
	}
	fd = data_fd(c, fh, accmode, &df->key, st);
	df->fd = fd;
	return fd < 0 ? fd : 0;
}

static void dfile_put(struct call *c, struct dfile *df)
{
	if (df->held)
		openstate_put(c->svc->opens, &df->use);
	else if (df->fd >= 0)
		fdcache_give(c->svc->fc, &df->key, df->fd);
	df->fd = -1;
}

/* ftruncate fd to size as the caller (who loses set-id bits, as on Linux). */
static int truncate_fd(struct call *c, int fd, uint64_t size)
{
	int rc = call_as_user(c);

	if (rc == 0 && ftruncate(fd, (off_t)size) < 0)
		rc = -errno;
	call_as_root(c);
	return rc;
}

int data_truncate(struct call *c, const br_fh *fh, int pfd, const struct stat *st,
		  uint64_t size, bool through_open)
{
	struct openstate_use use;
	char path[32];
	int fd, rc;

	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if (through_open && held_file(c, fh, O_WRONLY, &use)) {
		rc = truncate_fd(c, use.fd, size);
		openstate_put(c->svc->opens, &use);
		return rc;
	}
	/* By path, so the kernel checks write permission as the caller. */
	call_fd_path(pfd, path, sizeof(path));
	rc = call_as_user(c);
	if (rc == 0 && truncate(path, (off_t)size) < 0)
		rc = -errno;
	call_as_root(c);
	if (rc != -EACCES || !through_open || st->st_uid != c->cred.uid)
		return rc;
	fd = call_open_as_owner(pfd, O_WRONLY);
	if (fd < 0)
		return fd;
	rc = truncate_fd(c, fd, size);
	close(fd);
	return rc;
}

/* pread until count or end of file.  In nowait mode from the page cache
 * only (RWF_NOWAIT): -EAGAIN when not even the first byte is there; a
 * partial read stops early (*short_read) and the client asks for the rest. */
static ssize_t read_data(struct call *c, int fd, char *data, size_t count,
			 uint64_t offset, bool *short_read)
{
	size_t got = 0;

	*short_read = false;
	while (got < count) {
		struct iovec iov = { data + got, count - got };
		ssize_t n = preadv2(fd, &iov, 1, (off_t)(offset + got),
				    c->nowait ? RWF_NOWAIT : 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && c->nowait && (errno == EAGAIN || errno == EOPNOTSUPP)) {
			if (got == 0)
				return -EAGAIN;
			*short_read = true;
			break;
		}
		if (n < 0)
			return got ? (ssize_t)got : -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int proc_read(struct call *c, void *args, void *res)
{
	br_read_args *a = args;
	br_read_res *r = res;
	struct dfile df;
	struct stat st;
	size_t count = BR_MIN(a->count, (unsigned int)BR_DATA_MAX);
	bool short_read;
	ssize_t got;
	char *data;
	int64_t t0;
	int rc;

	if (a->offset > INT64_MAX)
		return -EINVAL;
	/* A large copy would hold up every other connection's calls. */
	if (c->nowait && count > PROC_INLINE_READ_MAX)
		return call_would_block(c);
	rc = dfile_get(c, &a->fh, O_RDONLY, &df, &st);
	if (rc < 0)
		return rc;
	/* Where a scan starts or ends (chunkscan.h): not in the loop. */
	if (c->nowait && chunkscan_may_block(c->svc->scan, &st, a->offset, count)) {
		dfile_put(c, &df);
		return call_would_block(c);
	}
	data = xmalloc(count ? count : 1);
	t0 = now_ns();
	got = read_data(c, df.fd, data, count, a->offset, &short_read);
	if (got >= 0)
		stats_disk(c->svc->stats, false, (uint64_t)got, now_ns() - t0);
	if (got > 0)            /* the map built from the bytes read */
		chunkscan_feed(c->svc->scan, df.fd, &st, a->offset, data, (size_t)got);
	dfile_put(c, &df);
	if (got == -EAGAIN && c->nowait) {
		free(data);
		return call_would_block(c);
	}
	if (got < 0) {
		free(data);
		return (int)got;
	}
	r->br_read_res_u.ok.data.data_len = (u_int)got;
	r->br_read_res_u.ok.data.data_val = data;
	r->br_read_res_u.ok.eof = (!short_read && (size_t)got < count) ||
				  a->offset + (uint64_t)got >= (uint64_t)st.st_size;
	return 0;
}

int proc_write(struct call *c, void *args, void *res)
{
	br_write_args *a = args;
	br_write_res *r = res;
	struct dfile df;
	struct stat st;
	size_t len = a->data.data_len, done = 0;
	int64_t t0;
	int fd, rc;

	if (a->flags & ~(unsigned int)BR_WRITE_SYNC)
		return -EINVAL;
	if (a->offset > INT64_MAX || a->offset + len > INT64_MAX)
		return -EFBIG;
	rc = dfile_get(c, &a->fh, O_WRONLY, &df, &st);
	if (rc < 0)
		return rc;
	fd = df.fd;
	/* Write as the caller too: the kernel clears set-user-ID bits and
	 * charges quota by the fs identity. */
	rc = call_as_user(c);
	t0 = now_ns();
	while (rc == 0 && done < len) {
		ssize_t n = pwrite(fd, a->data.data_val + done, len - done,
				   (off_t)(a->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (rc == 0 && (a->flags & BR_WRITE_SYNC) && fdatasync(fd) < 0)
		rc = -errno;
	/* The sync's wait is the disk's time too. */
	stats_disk(c->svc->stats, true, done, now_ns() - t0);
	if ((rc == 0 || done > 0) && fstat(fd, &st) < 0 && rc == 0)
		rc = -errno;
	dfile_put(c, &df);
	/* A partial write reports its count with BR_OK; the client sees the
	 * error when it writes the rest.  A failed sync is an error. */
	if (rc < 0 && (done == 0 || (a->flags & BR_WRITE_SYNC)))
		return rc;
	r->br_write_res_u.ok.count = (unsigned int)done;
	call_attr(c, &r->br_write_res_u.ok.attr, &st);
	return 0;
}

/* fsync as the server: syncing discloses and changes nothing, and a file
 * its owner may only write (0200) must still be syncable. */
int proc_commit(struct call *c, void *args, void *res)
{
	br_commit_args *a = args;
	char path[32];
	struct stat st;
	int pfd, fd, rc;

	(void)res;
	if (a->flags & ~(unsigned int)BR_COMMIT_DATASYNC)
		return -EINVAL;
	rc = call_fh(c, &a->fh, &pfd, &st);
	if (rc < 0)
		return rc;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		close(pfd);
		return 0;               /* nothing to sync */
	}
	call_fd_path(pfd, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)   /* O_NOATIME on another's file */
		fd = open(path, O_RDONLY | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return -errno;
	if ((a->flags & BR_COMMIT_DATASYNC) ? fdatasync(fd) : fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* An OPEN answered from the fd cache: the permission check that opening
 * would make, made again with access(2) as the caller, since the cached
 * descriptor was opened before any chmod since.  Returns 0 (*st filled),
 * -EAGAIN on a miss, or -errno. */
static int open_cached(struct call *c, const br_open_args *a, int accmode,
		       int mask, struct stat *st)
{
	struct fdcache_key key;
	int fd, rc;

	fd = cached_fd(c, &a->fh, accmode, &key, st);
	if (fd < 0)
		return fd;
	rc = call_as_user(c);
	if (rc == 0 && faccessat(fd, "", mask, AT_EMPTY_PATH | AT_EACCESS) < 0)
		rc = -errno;
	call_as_root(c);
	fdcache_give(c->svc->fc, &key, fd);
	return rc;
}

/* OPEN of something that is not a regular file: opening a fifo would
 * block and a device may have side effects, so only check the access. */
static int open_special(struct call *c, int pfd, const struct stat *st,
			unsigned int f, int mask)
{
	int rc = 0;

	if (S_ISDIR(st->st_mode) && (f & (BR_OPEN_WRITE | BR_OPEN_TRUNC)))
		rc = -EISDIR;
	else if (S_ISLNK(st->st_mode))
		rc = -ELOOP;
	else
		rc = call_as_user(c);
	if (rc == 0 && faccessat(pfd, "", mask, AT_EMPTY_PATH | AT_EACCESS) < 0)
		rc = -errno;
	call_as_root(c);
	return rc;
}

/* Keep fd: held for the caller's client (BR_OPEN_HOLD), else in the fd
 * cache, where the READs that follow a read-only OPEN find it. */
static void keep_open(struct call *c, const br_fh *fh, int accmode, bool hold,
		      int fd)
{
	struct openstate_key ok;
	struct fdcache_key key;

	if (hold && c->has_client && c->svc->opens) {
		openstate_key_init(&ok, c->client, fh->br_fh_val, fh->br_fh_len,
				   &c->cred, accmode);
		if (openstate_hold(c->svc->opens, &ok, fd) < 0)
			log_warn_rl("open files held: table full (%u); writes after a "
				    "chmod may be refused", OPENSTATE_MAX);
		return;
	}
	fdcache_key_init(&key, fh->br_fh_val, fh->br_fh_len, &c->cred, accmode);
	fdcache_give(c->svc->fc, &key, fd);
}

/* Permission is checked here, every time: never by a descriptor opened
 * for an earlier OPEN without a check (a chmod must bite on the next
 * open), and never with the owner override (the owner of a 0477 file
 * opening it for writing gets EACCES, as on Linux). */
int proc_open(struct call *c, void *args, void *res)
{
	br_open_args *a = args;
	br_attr_res *r = res;
	unsigned int f = a->flags;
	bool hold = f & BR_OPEN_HOLD;
	struct stat st;
	int pfd, fd, rc, accmode, mask;

	if (f & ~(unsigned int)(BR_OPEN_READ | BR_OPEN_WRITE | BR_OPEN_TRUNC | BR_OPEN_HOLD))
		return -EINVAL;
	if ((f & (BR_OPEN_WRITE | BR_OPEN_TRUNC)) && c->exp->read_only)
		return -EROFS;
	accmode = (f & BR_OPEN_WRITE) ? ((f & BR_OPEN_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
	/* O_TRUNC needs write permission even with O_RDONLY (Linux). */
	mask = ((f & BR_OPEN_READ) || !(f & (BR_OPEN_WRITE | BR_OPEN_TRUNC)) ? R_OK : 0) |
	       ((f & (BR_OPEN_WRITE | BR_OPEN_TRUNC)) ? W_OK : 0);
	/* A truncating open always opens anew (O_TRUNC must happen), and a
	 * held one needs a descriptor of its own. */
	if (!(f & BR_OPEN_TRUNC) && !hold) {
		rc = open_cached(c, a, accmode, mask, &st);
		if (rc == 0)
			call_attr(c, &r->br_attr_res_u.attr, &st);
		if (rc != -EAGAIN || c->blocked)
			return rc;
	}
	rc = call_fh(c, &a->fh, &pfd, &st);
	if (rc < 0)
		return rc;
	if (!S_ISREG(st.st_mode)) {
		rc = open_special(c, pfd, &st, f, mask);
		close(pfd);
		if (rc == 0)
			call_attr(c, &r->br_attr_res_u.attr, &st);
		return rc;
	}
	if (c->nowait) {
		close(pfd);
		return call_would_block(c);
	}
	fd = call_reopen(c, pfd, accmode | ((f & BR_OPEN_TRUNC) ? O_TRUNC : 0));
	close(pfd);
	if (fd < 0)
		return fd;
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	keep_open(c, &a->fh, accmode, hold, fd);
	if (rc == 0)
		call_attr(c, &r->br_attr_res_u.attr, &st);
	return rc;
}

/* The client's last open of fh is over: an orphan it made of the file
 * goes (orphans.h).  Decoding fails for a file already gone: nothing to
 * do then. */
static void close_orphan(struct call *c, const br_fh *fh)
{
	struct stat st;
	int pfd;

	if (call_fh(c, fh, &pfd, &st) < 0)
		return;
	close(pfd);
	orphans_release(c->svc->orphans, c->client, st.st_dev, st.st_ino);
}

int proc_close(struct call *c, void *args, void *res)
{
	br_close_args *a = args;
	struct openstate_key k;
	unsigned int f = a->flags;
	int accmode;

	(void)res;
	if (f & ~(unsigned int)(BR_OPEN_READ | BR_OPEN_WRITE | BR_CLOSE_LAST))
		return -EINVAL;
	if (!c->has_client)
		return 0;
	if (f & (BR_OPEN_READ | BR_OPEN_WRITE)) {
		accmode = (f & BR_OPEN_WRITE) ? ((f & BR_OPEN_READ) ? O_RDWR : O_WRONLY) :
			  O_RDONLY;
		openstate_key_init(&k, c->client, a->fh.br_fh_val, a->fh.br_fh_len,
				   &c->cred, accmode);
		openstate_release(c->svc->opens, &k);
	}
	if (f & BR_CLOSE_LAST)
		close_orphan(c, &a->fh);
	return 0;
}

/* copy_file_range of up to len bytes at *in to *out (both advance).
 * Returns the bytes copied, short only at the end of the source or after
 * an error (*err then says which). */
static uint64_t copy_some(int sfd, loff_t *in, int dfd, loff_t *out,
			  uint64_t len, int *err)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = copy_file_range(sfd, in, dfd, out, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = -errno;
			break;
		}
		if (n == 0)
			break;          /* end of the source */
		done += (uint64_t)n;
	}
	return done;
}

/* The source's next data from off: [*data_at, *hole_at).  A hole running
 * to the end of the file gives *data_at = *hole_at = its size.  -ENXIO at
 * or past the end; any other error: the filesystem cannot tell. */
static int next_data(int sfd, off_t off, off_t *data_at, off_t *hole_at)
{
	struct stat st;
	off_t d, h;

	d = lseek(sfd, off, SEEK_DATA);
	if (d < 0 && errno == ENXIO) {
		/* No data from off on: off is past the end, or in a hole
		 * that runs to it. */
		if (fstat(sfd, &st) < 0)
			return -errno;
		if (off >= st.st_size)
			return -ENXIO;
		*data_at = *hole_at = st.st_size;
		return 0;
	}
	if (d < 0)
		return -errno;
	h = lseek(sfd, d, SEEK_HOLE);  /* the end of the file at the latest */
	if (h < 0)
		return -errno;          /* ENXIO: it shrank meanwhile */
	*data_at = d;
	*hole_at = h;
	return 0;
}

/* Copy want bytes from src_off to dst_off, keeping the source's holes
 * where that changes nothing: a hole is skipped only where it lands at or
 * past the destination's end of file (dsize, which grows as the copy
 * extends the file), since there the destination reads as zeros anyway.
 * Below that end the destination may hold data the hole's zeros must
 * overwrite, so there a hole is copied like data.  *covered: the source
 * bytes covered, holes included (the client's loop advances by it); short
 * at the end of the source.  A copy that ends in a skipped hole extends
 * the destination to dst_off + *covered.  Returns 0 or -errno (then
 * *covered says how much is done right). */
static int copy_sparse(int sfd, uint64_t src_off, int dfd, uint64_t dst_off,
		       uint64_t want, off_t dsize, uint64_t *covered)
{
	uint64_t done = 0;
	bool sparse = true;
	struct stat st;
	int rc = 0;

	while (rc == 0 && done < want) {
		loff_t in = (loff_t)(src_off + done);
		loff_t out = (loff_t)(dst_off + done);
		uint64_t len = want - done, n;
		off_t data_at = 0, hole_at = 0;     /* set when sparse */

		if (sparse) {
			rc = next_data(sfd, in, &data_at, &hole_at);
			if (rc == -ENXIO) {
				rc = 0;
				break;          /* end of the source */
			}
			if (rc < 0) {
				/* No SEEK_DATA here: copy as it comes. */
				sparse = false;
				rc = 0;
				continue;
			}
			if (data_at > in) {
				len = BR_MIN(len, (uint64_t)(data_at - in));
				if (out >= dsize) {
					done += len;    /* the hole stays one */
					continue;
				}
				len = BR_MIN(len, (uint64_t)(dsize - out));
			} else {
				len = BR_MIN(len, (uint64_t)(hole_at - in));
			}
			if (len == 0)
				break;          /* shrank under us: its end */
		}
		n = copy_some(sfd, &in, dfd, &out, len, &rc);
		done += n;
		if (out > dsize)
			dsize = out;
		if (n < len)
			break;                  /* end of the source, or rc */
	}
	/* Skipped holes at the end left the file short of the range; a
	 * fresh fstat so that a concurrent extension is never cut back. */
	if (done > 0 && (off_t)(dst_off + done) > dsize) {
		if (fstat(dfd, &st) < 0 ||
		    (st.st_size < (off_t)(dst_off + done) &&
		     ftruncate(dfd, (off_t)(dst_off + done)) < 0)) {
			if (rc == 0)
				rc = -errno;
			/* Report only what reads back right. */
			done = dsize > (off_t)dst_off ?
			       BR_MIN(done, (uint64_t)(dsize - (off_t)dst_off)) : 0;
		}
	}
	*covered = done;
	return rc;
}

int proc_copy_range(struct call *c, void *args, void *res)
{
	br_copy_args *a = args;
	br_copy_res *r = res;
	struct dfile sf = { .fd = -1 }, df = { .fd = -1 };
	struct stat sst, dst;
	uint64_t want = BR_MIN(a->count, COPY_MAX), done = 0;
	int rc;

	if (a->flags)
		return -EINVAL;
	if (a->src_offset > INT64_MAX || a->dst_offset > INT64_MAX ||
	    a->dst_offset + want > INT64_MAX)
		return -EFBIG;
	rc = dfile_get(c, &a->src, O_RDONLY, &sf, &sst);
	if (rc == 0)
		rc = dfile_get(c, &a->dst, O_WRONLY, &df, &dst);
	if (rc == 0)
		rc = call_as_user(c);
	if (rc == 0) {
		int64_t t0 = now_ns();

		rc = copy_sparse(sf.fd, a->src_offset, df.fd, a->dst_offset, want,
				 dst.st_size, &done);
		/* Counted as written (it reads as much, inside the server). */
		stats_disk(c->svc->stats, true, done, now_ns() - t0);
	}
	if ((rc == 0 || done > 0) && fstat(df.fd, &dst) < 0 && rc == 0)
		rc = -errno;
	dfile_put(c, &sf);
	dfile_put(c, &df);
	if (rc < 0 && done == 0)
		return rc;
	r->br_copy_res_u.ok.count = done;
	call_attr(c, &r->br_copy_res_u.ok.dst_attr, &dst);
	return 0;
}
