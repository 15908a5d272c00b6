/* exportpath.c - paths and names beneath an export root (exportpath.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exportpath.h"
#include "xalloc.h"

/* Where openat2 is missing (kernels before 5.6, valgrind): walk one
 * component at a time, keeping the chain of directories so ".." pops back
 * and can never climb above the root.  Symlinks are not followed at all
 * (O_NOFOLLOW): stricter than RESOLVE_BENEATH, never looser. */
int exportpath_resolve_walk(struct export *ex, const char *path)
{
	int stack[BR_PATH_MAX / 2 + 2];
	int depth = 0, rc = 0;
	char *copy = xstrdup(path), *rest = copy, *comp;

	stack[0] = fcntl(export_root_fd(ex), F_DUPFD_CLOEXEC, 0);
	if (stack[0] < 0) {
		free(copy);
		return -errno;
	}
	while ((comp = strsep(&rest, "/"))) {
		if (!*comp || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (depth == 0) {
				rc = -EACCES;
				break;
			}
			close(stack[depth--]);
			continue;
		}
		int fd = openat(stack[depth], comp,
				O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0) {
			struct stat st;

			rc = -errno;
			/* A symlink (ENOTDIR with O_DIRECTORY): refused. */
			if (rc == -ENOTDIR &&
			    fstatat(stack[depth], comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				rc = -EACCES;
			break;
		}
		stack[++depth] = fd;
	}
	free(copy);
	for (int i = 0; i < depth; i++)
		close(stack[i]);
	if (rc < 0) {
		close(stack[depth]);
		return rc;
	}
	return stack[depth];
}

int exportpath_resolve(struct export *ex, const char *path, int *fd_out)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st;
	long fd;

	while (*path == '/')
		path++;
	if (strlen(path) > BR_PATH_MAX)
		return -ENAMETOOLONG;
	fd = syscall(SYS_openat2, export_root_fd(ex), *path ? path : ".", &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = exportpath_resolve_walk(ex, path);
	else if (fd < 0)
		fd = -errno;
	if (fd < 0) {
		/* EXDEV: the path tried to leave the export. */
		return fd == -EXDEV ? -EACCES : (int)fd;
	}
	if (fstat((int)fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		close((int)fd);
		return -ENOTDIR;
	}
	*fd_out = (int)fd;
	return 0;
}

int exportpath_check_name(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, BR_NAME_MAX + 1);
	if (len == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (len > BR_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len))
		return -EINVAL;
	return 0;
}
