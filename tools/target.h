/* target.h - what a `bramble` command talks to: a server named as
 * HOST[:PORT], or a bramblefs mount, found through the control file
 * `.bramble` at the mount's root (read by walking up from the path). */
#ifndef BR_TARGET_H
#define BR_TARGET_H

#include <stdbool.h>

#include "bramble.h"

struct target {
	char *host;             /* server host, malloc'd */
	int port;
	char *mount;            /* mount root when the target is a mount, else NULL */
	char *ctl;              /* the control file's whole text, or NULL */
};

/* Resolve spec into *t: an existing path is taken as a mount (its
 * .bramble file must be found, else -ENOENT with a message); anything
 * else as HOST[:PORT].  0 or -errno; on failure *t needs no release. */
int target_parse(const char *spec, struct target *t);
void target_release(struct target *t);
/* The mount an existing path is in, quietly: -ENOENT (no .bramble found
 * above it, or the path does not exist), -EPROTO (.bramble names no
 * server), or 0 with t->mount, t->ctl, t->host, t->port set. */
int target_mount(const char *path, struct target *t);
/* The same for a mount root known already (e.g. from /proc/self/mounts):
 * reads only root/.bramble, which bramblefs answers itself -- no call
 * that waits for the server, even when it is down. */
int target_mount_root(const char *root, struct target *t);

/* Read dir/.bramble (as it is now: its counters change) into ctl; the
 * control file is answered by lookup even though readdir never lists it.
 * 0 or -errno. */
struct buf;
int target_read_ctl(const char *dir, struct buf *ctl);

/* Value of `key' in the control file (NULL if absent or not a mount);
 * points into t->ctl up to the end of line: copy it before use. */
char *target_ctl_get(const struct target *t, const char *key);

/* target_parse(spec) and connect to its server with timeout_ms per call,
 * saying why on stderr when either fails.  BRAMBLE_AUTH (sys, munge,
 * auto) and BRAMBLE_MUNGE_SOCKET choose the authentication (bramble.h).  On success the caller releases
 * *b (bramble_free) and *t; on failure both are left needing nothing. */
int target_open(const char *spec, unsigned int timeout_ms, struct target *t,
		struct bramble **b);

#endif
