/* mountinfo.h - the mounts this process sees (/proc/self/mountinfo).
 *
 * Three places need them without touching any mount (a stat of a mount
 * whose server is gone would wait): bramblefs refusing to mount over a
 * bramble mount, bramble's commands recognising a path inside a mount,
 * and staging resolving paths mount by mount.  The kernel lists a mount
 * after the ones it covers, so of several on one directory the last one
 * listed is on top. */
#ifndef BR_MOUNTINFO_H
#define BR_MOUNTINFO_H

#include <stddef.h>

struct mountinfo {
	char *dir;                  /* mount point, unescaped */
	char *type;                 /* "fuse.bramblefs", "ext4", ... */
	char *source;               /* "host:/sub", "/dev/sda1", ... unescaped */
	unsigned int major, minor;  /* its st_dev */
};

/* Every mount, in the kernel's order: *out (free: mountinfo_free), *n.
 * 0 or -errno (then *out is NULL and *n 0). */
int mountinfo_read(struct mountinfo **out, size_t *n);
void mountinfo_free(struct mountinfo *v, size_t n);

#endif
