/* proc_data.c - READ, WRITE, COMMIT, OPEN, COPY_RANGE: calls on file
 * contents.  They need real fds, opened as the caller through the fd cache
 * (fdcache.h: keyed by handle, credentials and access mode). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdcache.h"
#include "proc.h"
#include "xalloc.h"

#define COPY_MAX ((uint64_t)64 << 20)  /* per COPY_RANGE call */
/* Largest READ the loop thread answers itself (dispatch_inline). */
#define PROC_INLINE_READ_MAX (128 * 1024)

/* An fd of the regular file at pfd (O_PATH) with accmode | extra, opened
 * as the caller through /proc/self/fd (key says for whom). */
static int open_as_user(struct call *c, int pfd, int accmode, int extra)
{
	char path[32];
	int fd, rc;

	rc = call_as_user(c);
	if (rc < 0)
		return rc;
	fd_path(pfd, path, sizeof(path));
	fd = open(path, accmode | extra | O_CLOEXEC | O_NOCTTY);
	rc = fd < 0 ? -errno : fd;
	call_as_root(c);
	return rc;
}

/* Decode fh and check it is a regular file. */
static int regular(struct call *c, const br_fh *fh, int *pfd, struct stat *st)
{
	int rc = call_fh(c, fh, pfd, st);

	if (rc == 0 && !S_ISREG(st->st_mode)) {
		close(*pfd);
		rc = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	return rc;
}

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
 * cache or opened anew (not in nowait mode).  The caller gives it back
 * with fdcache_give(*key) or closes it; *st: its attributes. */
static int data_fd(struct call *c, const br_fh *fh, int accmode,
		   struct fdcache_key *key, struct stat *st)
{
	int pfd, fd;

	fd = cached_fd(c, fh, accmode, key, st);
	if (fd != -EAGAIN || c->blocked)
		return fd;
	if (c->nowait)
		return call_would_block(c);
	fd = regular(c, fh, &pfd, st);
	if (fd < 0)
		return fd;
	fdcache_key_init(key, fh->br_fh_val, fh->br_fh_len, &c->cred, accmode);
	fd = open_as_user(c, pfd, accmode, 0);
	close(pfd);
	return fd;
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
	struct fdcache_key key;
	struct stat st;
	size_t count = BR_MIN(a->count, (unsigned int)BR_DATA_MAX);
	bool short_read;
	ssize_t got;
	char *data;
	int fd;

	if (a->offset > INT64_MAX)
		return -EINVAL;
	/* A large copy would hold up every other connection's calls. */
	if (c->nowait && count > PROC_INLINE_READ_MAX)
		return call_would_block(c);
	fd = data_fd(c, &a->fh, O_RDONLY, &key, &st);
	if (fd < 0)
		return fd;
	data = xmalloc(count ? count : 1);
	got = read_data(c, fd, data, count, a->offset, &short_read);
	fdcache_give(c->svc->fc, &key, fd);
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
	struct fdcache_key key;
	struct stat st;
	size_t len = a->data.data_len, done = 0;
	int fd, rc;

	if (a->flags & ~(unsigned int)BR_WRITE_SYNC)
		return -EINVAL;
	if (a->offset > INT64_MAX || a->offset + len > INT64_MAX)
		return -EFBIG;
	fd = data_fd(c, &a->fh, O_WRONLY, &key, &st);
	if (fd < 0)
		return fd;
	/* Write as the caller too: the kernel clears set-user-ID bits and
	 * charges quota by the fs identity. */
	rc = call_as_user(c);
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
	if ((rc == 0 || done > 0) && fstat(fd, &st) < 0 && rc == 0)
		rc = -errno;
	fdcache_give(c->svc->fc, &key, fd);
	/* A partial write reports its count with BR_OK; the client sees the
	 * error when it writes the rest.  A failed sync is an error. */
	if (rc < 0 && (done == 0 || (a->flags & BR_WRITE_SYNC)))
		return rc;
	r->br_write_res_u.ok.count = (unsigned int)done;
	br_attr_from_stat(&r->br_write_res_u.ok.attr, &st);
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
	fd_path(pfd, path, sizeof(path));
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

int proc_open(struct call *c, void *args, void *res)
{
	br_open_args *a = args;
	br_attr_res *r = res;
	unsigned int f = a->flags;
	struct fdcache_key key;
	struct stat st;
	int pfd, fd, rc, accmode;

	if (f & ~(unsigned int)(BR_OPEN_READ | BR_OPEN_WRITE | BR_OPEN_TRUNC))
		return -EINVAL;
	if ((f & BR_OPEN_TRUNC) && !(f & BR_OPEN_WRITE))
		return -EINVAL;
	if ((f & (BR_OPEN_WRITE | BR_OPEN_TRUNC)) && c->svc->read_only)
		return -EROFS;
	accmode = (f & BR_OPEN_WRITE) ? ((f & BR_OPEN_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
	/* A truncating open always opens anew (O_TRUNC must happen). */
	if (!(f & BR_OPEN_TRUNC)) {
		fd = cached_fd(c, &a->fh, accmode, &key, &st);
		if (fd >= 0) {
			fdcache_give(c->svc->fc, &key, fd);
			br_attr_from_stat(&r->br_attr_res_u.attr, &st);
			return 0;
		}
		if (fd != -EAGAIN || c->blocked)
			return fd;
	}
	rc = call_fh(c, &a->fh, &pfd, &st);
	if (rc < 0)
		return rc;
	if (!S_ISREG(st.st_mode)) {
		/* Opening a fifo would block and a device may have side
		 * effects: only check the access. */
		int mask = ((f & BR_OPEN_READ) ? R_OK : 0) | ((f & BR_OPEN_WRITE) ? W_OK : 0);

		if (S_ISDIR(st.st_mode) && (f & BR_OPEN_WRITE))
			rc = -EISDIR;
		else if (S_ISLNK(st.st_mode))
			rc = -ELOOP;
		else
			rc = call_as_user(c);
		if (rc == 0 && faccessat(pfd, "", mask, AT_EMPTY_PATH | AT_EACCESS) < 0)
			rc = -errno;
		call_as_root(c);
		close(pfd);
		if (rc == 0)
			br_attr_from_stat(&r->br_attr_res_u.attr, &st);
		return rc;
	}
	if (c->nowait) {
		close(pfd);
		return call_would_block(c);
	}
	fd = open_as_user(c, pfd, accmode, (f & BR_OPEN_TRUNC) ? O_TRUNC : 0);
	close(pfd);
	if (fd < 0)
		return fd;
	fdcache_key_init(&key, a->fh.br_fh_val, a->fh.br_fh_len, &c->cred, accmode);
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	/* Keep it: the READs or WRITEs that follow an OPEN use it. */
	fdcache_give(c->svc->fc, &key, fd);
	if (rc == 0)
		br_attr_from_stat(&r->br_attr_res_u.attr, &st);
	return rc;
}

int proc_copy_range(struct call *c, void *args, void *res)
{
	br_copy_args *a = args;
	br_copy_res *r = res;
	struct fdcache_key skey, dkey;
	struct stat sst, dst;
	uint64_t want = BR_MIN(a->count, COPY_MAX), done = 0;
	int sfd = -1, dfd = -1, rc;

	if (a->flags)
		return -EINVAL;
	if (a->src_offset > INT64_MAX || a->dst_offset > INT64_MAX ||
	    a->dst_offset + want > INT64_MAX)
		return -EFBIG;
	sfd = data_fd(c, &a->src, O_RDONLY, &skey, &sst);
	rc = sfd < 0 ? sfd : 0;
	if (rc == 0) {
		dfd = data_fd(c, &a->dst, O_WRONLY, &dkey, &dst);
		if (dfd < 0)
			rc = dfd;
	}
	if (rc == 0)
		rc = call_as_user(c);
	while (rc == 0 && done < want) {
		loff_t in = (loff_t)(a->src_offset + done);
		loff_t out = (loff_t)(a->dst_offset + done);
		ssize_t n = copy_file_range(sfd, &in, dfd, &out, want - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;          /* end of the source */
		done += (uint64_t)n;
	}
	if ((rc == 0 || done > 0) && fstat(dfd, &dst) < 0 && rc == 0)
		rc = -errno;
	if (sfd >= 0)
		fdcache_give(c->svc->fc, &skey, sfd);
	if (dfd >= 0)
		fdcache_give(c->svc->fc, &dkey, dfd);
	if (rc < 0 && done == 0)
		return rc;
	r->br_copy_res_u.ok.count = done;
	br_attr_from_stat(&r->br_copy_res_u.ok.dst_attr, &dst);
	return 0;
}
