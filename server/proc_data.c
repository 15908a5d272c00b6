/* proc_data.c - READ, WRITE, COMMIT, OPEN, COPY_RANGE: calls on file
 * contents.  They need real fds, opened as the caller through the fd cache
 * (fdcache.h: keyed by handle, credentials and access mode). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdcache.h"
#include "proc.h"
#include "xalloc.h"

#define COPY_MAX ((uint64_t)64 << 20)  /* per COPY_RANGE call */

/* An fd of the regular file at pfd (O_PATH) with accmode, as the caller:
 * from the cache, or opened through /proc/self/fd.  For READ an O_RDWR fd
 * of the same caller serves too.  The caller gives it back with
 * fdcache_give(*key) or closes it. */
static int open_as_user(struct call *c, const br_fh *fh, int pfd, int accmode,
			int extra, struct fdcache_key *key)
{
	struct fdcache *fc = c->svc->fc;
	char path[32];
	int fd, rc;

	fdcache_key_init(key, fh->br_fh_val, fh->br_fh_len, &c->cred, accmode);
	if (!extra) {
		fd = fdcache_take(fc, key);
		if (fd >= 0)
			return fd;
		if (accmode != O_RDWR) {
			struct fdcache_key k2 = *key;

			k2.accmode = O_RDWR;
			fd = fdcache_take(fc, &k2);
			if (fd >= 0) {
				*key = k2;
				return fd;
			}
		}
	}
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

int proc_read(struct call *c, void *args, void *res)
{
	br_read_args *a = args;
	br_read_res *r = res;
	struct fdcache_key key;
	struct stat st;
	size_t count = BR_MIN(a->count, (unsigned int)BR_DATA_MAX), got = 0;
	char *data;
	int pfd, fd, rc;

	if (a->offset > INT64_MAX)
		return -EINVAL;
	rc = regular(c, &a->fh, &pfd, &st);
	if (rc < 0)
		return rc;
	fd = open_as_user(c, &a->fh, pfd, O_RDONLY, 0, &key);
	close(pfd);
	if (fd < 0)
		return fd;
	data = xmalloc(count ? count : 1);
	while (got < count) {
		ssize_t n = pread(fd, data + got, count - got, (off_t)(a->offset + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	fdcache_give(c->svc->fc, &key, fd);
	if (rc < 0 && got == 0) {
		free(data);
		return rc;
	}
	r->br_read_res_u.ok.data.data_len = (u_int)got;
	r->br_read_res_u.ok.data.data_val = data;
	r->br_read_res_u.ok.eof = got < count || a->offset + got >= (uint64_t)st.st_size;
	return 0;
}

int proc_write(struct call *c, void *args, void *res)
{
	br_write_args *a = args;
	br_write_res *r = res;
	struct fdcache_key key;
	struct stat st;
	size_t len = a->data.data_len, done = 0;
	int pfd, fd, rc;

	if (a->flags & ~(unsigned int)BR_WRITE_SYNC)
		return -EINVAL;
	if (a->offset > INT64_MAX || a->offset + len > INT64_MAX)
		return -EFBIG;
	rc = regular(c, &a->fh, &pfd, &st);
	if (rc < 0)
		return rc;
	fd = open_as_user(c, &a->fh, pfd, O_WRONLY, 0, &key);
	close(pfd);
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
	accmode = (f & BR_OPEN_WRITE) ? ((f & BR_OPEN_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
	/* A truncating open always opens anew (O_TRUNC must happen). */
	fd = open_as_user(c, &a->fh, pfd, accmode, (f & BR_OPEN_TRUNC) ? O_TRUNC : 0, &key);
	close(pfd);
	if (fd < 0)
		return fd;
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
	int spfd = -1, dpfd = -1, sfd = -1, dfd = -1, rc;

	if (a->flags)
		return -EINVAL;
	if (a->src_offset > INT64_MAX || a->dst_offset > INT64_MAX ||
	    a->dst_offset + want > INT64_MAX)
		return -EFBIG;
	rc = regular(c, &a->src, &spfd, &sst);
	if (rc == 0)
		rc = regular(c, &a->dst, &dpfd, &dst);
	if (rc == 0) {
		sfd = open_as_user(c, &a->src, spfd, O_RDONLY, 0, &skey);
		if (sfd < 0)
			rc = sfd;
	}
	if (rc == 0) {
		dfd = open_as_user(c, &a->dst, dpfd, O_WRONLY, 0, &dkey);
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
	close_quiet(spfd);
	close_quiet(dpfd);
	if (rc < 0 && done == 0)
		return rc;
	r->br_copy_res_u.ok.count = done;
	br_attr_from_stat(&r->br_copy_res_u.ok.dst_attr, &dst);
	return 0;
}
