/* proc_xattr.c - GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR.
 *
 * Only the "user." namespace crosses the wire: trusted.* and security.*
 * belong to the server's host, and system.* (ACLs) would let a client
 * bypass the permission model.  The calls go through /proc/self/fd/N of
 * the O_PATH fd (the f*xattr calls refuse O_PATH fds; the magic link
 * resolves to the object itself, a symlink is not followed again). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "proc.h"
#include "xalloc.h"

#define USER_PREFIX "user."

static int check_xname(const char *name)
{
	if (!name || strncmp(name, USER_PREFIX, strlen(USER_PREFIX)) != 0)
		return -EOPNOTSUPP;
	if (strlen(name) == strlen(USER_PREFIX))
		return -EINVAL;
	return 0;
}

/* Decode fh, become the caller, and give the path to use. */
static int xattr_target(struct call *c, const br_fh *fh, int *fd, char *path,
			size_t len)
{
	struct stat st;
	int rc = call_fh(c, fh, fd, &st);

	if (rc < 0)
		return rc;
	call_fd_path(*fd, path, len);
	rc = call_as_user(c);
	if (rc < 0)
		close(*fd);
	return rc;
}

int proc_getxattr(struct call *c, void *args, void *res)
{
	br_getxattr_args *a = args;
	br_xattr_res *r = res;
	size_t size = BR_MIN(a->size, (unsigned int)BR_XATTR_SIZE_MAX);
	char path[32];
	char *buf = NULL;
	ssize_t n;
	int fd, rc;

	rc = check_xname(a->name);
	if (rc == 0)
		rc = xattr_target(c, &a->fh, &fd, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (size)
		buf = xmalloc(size);
	n = getxattr(path, a->name, buf, size);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	r->br_xattr_res_u.ok.size = (unsigned int)n;
	r->br_xattr_res_u.ok.value.value_len = size ? (u_int)n : 0;
	r->br_xattr_res_u.ok.value.value_val = buf;
	return 0;
}

int proc_setxattr(struct call *c, void *args, void *res)
{
	br_setxattr_args *a = args;
	char path[32];
	int fd, rc;

	(void)res;
	if (a->flags & ~(unsigned int)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	rc = check_xname(a->name);
	if (rc == 0)
		rc = xattr_target(c, &a->fh, &fd, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (setxattr(path, a->name, a->value.value_val, a->value.value_len,
		     (int)a->flags) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int proc_listxattr(struct call *c, void *args, void *res)
{
	br_listxattr_args *a = args;
	br_xattr_res *r = res;
	char path[32];
	char *all, *out;
	size_t olen = 0;
	ssize_t n;
	int fd, rc;

	rc = xattr_target(c, &a->fh, &fd, path, sizeof(path));
	if (rc < 0)
		return rc;
	/* The kernel's whole list is at most XATTR_LIST_MAX (64 KiB) too. */
	all = xmalloc(BR_XATTR_SIZE_MAX);
	n = listxattr(path, all, BR_XATTR_SIZE_MAX);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		free(all);
		return rc == -ERANGE ? -E2BIG : rc;
	}
	/* Keep the user.* names, in place. */
	out = all;
	for (ssize_t i = 0; i < n; ) {
		size_t l = strnlen(all + i, (size_t)(n - i));

		if (!strncmp(all + i, USER_PREFIX, strlen(USER_PREFIX))) {
			memmove(out + olen, all + i, l);
			olen += l;
			out[olen++] = '\0';
		}
		i += (ssize_t)l + 1;
	}
	if (a->size && a->size < olen) {
		free(all);
		return -ERANGE;
	}
	r->br_xattr_res_u.ok.size = (unsigned int)olen;
	if (a->size) {
		r->br_xattr_res_u.ok.value.value_len = (u_int)olen;
		r->br_xattr_res_u.ok.value.value_val = all;
	} else {
		free(all);
	}
	return 0;
}

int proc_removexattr(struct call *c, void *args, void *res)
{
	br_removexattr_args *a = args;
	char path[32];
	int fd, rc;

	(void)res;
	rc = check_xname(a->name);
	if (rc == 0)
		rc = xattr_target(c, &a->fh, &fd, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (removexattr(path, a->name) < 0)
		rc = -errno;
	close(fd);
	return rc;
}
