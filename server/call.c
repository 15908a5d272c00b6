/* call.c - the helpers of the procedure handlers (call.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "call.h"
#include "cred.h"
#include "orphans.h"
#include "xalloc.h"

int call_would_block(struct call *c)
{
	c->blocked = true;
	return -EAGAIN;
}

/* ---- handles */

int call_fh(struct call *c, const br_fh *fh, int *fd, struct stat *st)
{
	int rc;

	/* dispatch made sure every handle of the call claims c->exp; the
	 * MAC check in fhandle.c proves it. */
	if (!c->nowait)
		return export_fh_open(c->exp->ex, fh->br_fh_val, fh->br_fh_len, fd, st);
	rc = export_fh_open_cached(c->exp->ex, fh->br_fh_val, fh->br_fh_len, fd, st);
	return rc == -EAGAIN ? call_would_block(c) : rc;
}

int call_dir(struct call *c, const br_fh *fh, int *fd)
{
	struct stat st;
	int rc = call_fh(c, fh, fd, &st);

	if (rc == 0 && !S_ISDIR(st.st_mode)) {
		close(*fd);
		rc = -ENOTDIR;
	}
	return rc;
}

int call_regular(struct call *c, const br_fh *fh, int *fd, struct stat *st)
{
	int rc = call_fh(c, fh, fd, st);

	if (rc == 0 && !S_ISREG(st->st_mode)) {
		close(*fd);
		rc = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	return rc;
}

void call_fh_set(br_fh *dst, const struct export_fh *src)
{
	dst->br_fh_len = src->len;
	dst->br_fh_val = xmemdup(src->data, src->len);
}

/* ---- identity */

int call_as_user(struct call *c)
{
	return cred_as(&c->cred);
}

void call_as_root(struct call *c)
{
	(void)c;
	cred_root();
}

/* ---- opening files as the caller */

void call_fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

int call_reopen(struct call *c, int pfd, int flags)
{
	char path[32];
	int fd, rc;

	rc = call_as_user(c);
	if (rc < 0)
		return rc;
	call_fd_path(pfd, path, sizeof(path));
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	rc = fd < 0 ? -errno : fd;
	call_as_root(c);
	return rc;
}

int call_open_as_owner(int pfd, int accmode)
{
	char path[32];
	int fd;

	call_fd_path(pfd, path, sizeof(path));
	fd = open(path, accmode | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int call_open_file(struct call *c, const br_fh *fh, int accmode, bool owner_ok,
		   struct stat *st)
{
	int pfd, fd;

	fd = call_regular(c, fh, &pfd, st);
	if (fd < 0)
		return fd;
	fd = call_reopen(c, pfd, accmode);
	if (fd == -EACCES && owner_ok && st->st_uid == c->cred.uid)
		fd = call_open_as_owner(pfd, accmode);
	close(pfd);
	return fd;
}

/* ---- results */

static void attr_fill(const struct service *svc, br_attr *out,
		      const struct stat *st)
{
	br_attr_from_stat(out, st);
	if (S_ISREG(st->st_mode) && st->st_nlink > 0 &&
	    orphans_is(svc->orphans, st->st_dev, st->st_ino))
		out->nlink--;
}

void call_attr(struct call *c, br_attr *out, const struct stat *st)
{
	attr_fill(c->svc, out, st);
}

int call_attr_of(void *ctx, const br_fh *fh, br_attr *out)
{
	struct service *svc = ctx;
	struct exports_entry *e;
	struct stat st;
	uint16_t id;
	int fd, rc;

	if (export_fh_id(fh->br_fh_val, fh->br_fh_len, &id) < 0)
		return -ESTALE;
	e = exports_get_id(svc->exports, id);
	if (!e)
		return -ESTALE;
	rc = e->ex ? export_fh_stat_cached(e->ex, fh->br_fh_val, fh->br_fh_len, &st)
		   : -ESTALE;
	if (rc == -EAGAIN) {            /* not cached, or removed */
		rc = export_fh_open(e->ex, fh->br_fh_val, fh->br_fh_len, &fd, &st);
		if (rc == 0)
			close(fd);
	}
	if (rc == 0)
		attr_fill(svc, out, &st);
	exports_unref(e);
	return rc;
}

/* openat(dirfd, name, O_PATH | O_NOFOLLOW), or in nowait mode the same
 * through the dentry cache only: RESOLVE_CACHED fails with EAGAIN where a
 * lookup would need I/O (or EINVAL before Linux 5.12).  A cached negative
 * dentry answers ENOENT without I/O. */
static int lookup_at(struct call *c, int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_CACHED | RESOLVE_BENEATH,
	};
	long fd;

	if (!c->nowait) {
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		return fd < 0 ? -errno : (int)fd;
	}
	fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == EAGAIN || errno == EINVAL || errno == ENOSYS)
		return call_would_block(c);
	return -errno;
}

int call_entry(struct call *c, int dirfd, const char *name, br_entry *out)
{
	struct export_fh fh;
	struct stat st;
	int fd, rc;

	/* As the caller: the kernel checks search permission on dirfd. */
	rc = call_as_user(c);
	if (rc < 0)
		return rc;
	fd = lookup_at(c, dirfd, name);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = export_fh_from_fd(c->exp->ex, fd, &fh);
	close(fd);
	if (rc < 0)
		return rc;
	call_fh_set(&out->fh, &fh);
	call_attr(c, &out->attr, &st);
	return 0;
}

void call_close_quiet(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
}
