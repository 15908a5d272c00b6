/* exportpath.h - confinement of paths and names to an export: a MOUNT
 * path resolved beneath the export root (never above it, never through a
 * symlink that leaves it), and the one-component names of the directory
 * calls.  Functions return 0 or -errno (an fd where they say so). */
#ifndef BR_EXPORTPATH_H
#define BR_EXPORTPATH_H

#include "fhandle.h"

/* Resolve a MOUNT path beneath the export (openat2 RESOLVE_BENEATH; "" and
 * "/" are the root; a leading '/' is ignored).  *fd_out gets an O_PATH fd
 * of the directory.  -EACCES for a path that leaves the export, -ENOTDIR
 * for a non-directory. */
int exportpath_resolve(struct export *ex, const char *path, int *fd_out);

/* The fallback of exportpath_resolve() where openat2 is missing: a walk that
 * follows no symlink at all.  Returns an O_PATH fd or -errno.  Exposed for
 * the unit tests. */
int exportpath_resolve_walk(struct export *ex, const char *path);

/* A br_name: one component, not empty, ".", ".." nor containing '/'.
 * 0, -EINVAL, or -ENAMETOOLONG. */
int exportpath_check_name(const char *name);

#endif
