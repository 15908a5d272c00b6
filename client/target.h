/* target.h - what a `bramble` command talks to: a server named as
 * HOST[:PORT], or a bramblefs mount, found through the control file
 * `.bramble` at the mount's root (read by walking up from the path). */
#ifndef BR_TARGET_H
#define BR_TARGET_H

#include <stdbool.h>

#include "bramble.h"
#include "bramble_ctl.h"

/* How long ping, info and stats wait for a server unless told (-t): a
 * dead server is reported in seconds, not after a mount's 60 s. */
#define TARGET_TIMEOUT_MS 5000

struct target {
	char *host;             /* server host, malloc'd */
	int port;
	char *mount;            /* mount root when the target is a mount, else NULL */
	char *ctl;              /* the control file's whole text, or NULL
				 * (bramble_ctl_value reads a key of it) */
};

/* Resolve spec into *t: a path inside a bramblefs mount (by
 * /proc/self/mountinfo, without touching the mount: its server may be
 * down) is that mount; another existing path is taken as a mount (its
 * .bramble file must be found, else -ENOENT with a message); a spec with
 * a '/', or one that exists but cannot be looked at, is a path that
 * failed (-errno, said); anything else is HOST[:PORT].  0 or -errno; on
 * failure *t needs no release. */
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

/* The root of the bramblefs mount path lies in, judged lexically (path
 * made absolute, "." and ".." folded; symlinks are not followed) against
 * /proc/self/mountinfo: the deepest mount above path decides, so a tmpfs
 * mounted inside a bramble mount is not it.  NULL when path is not in a
 * bramblefs mount; else the caller frees. */
char *target_mount_point(const char *path);

/* target_parse(spec) and connect to its server with timeout_ms per call
 * (connecting included: a server that accepts but does not answer is
 * given up after timeout_ms), saying why on stderr when either fails: the
 * resolver's message for a host that does not resolve, "not a bramble
 * server" for a port that answers something else (-EPROTONOSUPPORT),
 * "no answer within N s" (-ETIMEDOUT).  BRAMBLE_AUTH (sys, munge,
 * auto) and BRAMBLE_MUNGE_SOCKET choose the authentication (bramble.h).
 * On success the caller releases *b (bramble_free) and *t; on failure
 * both are left needing nothing. */
int target_open(const char *spec, unsigned int timeout_ms, struct target *t,
		struct bramble **b);

/* 0 when path is not in a bramblefs mount or the mount's server answers
 * a NULL call within timeout_ms; else -errno, said on stderr.  For the
 * commands that then work through the mount, whose calls would wait the
 * mount's own timeout (60 s, or for ever with -o hard). */
int target_reachable(const char *path, unsigned int timeout_ms);

#endif
