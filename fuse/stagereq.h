/* stagereq.h - staging for the node's ordinary users: the mount's stage
 * socket (the client side is tools/stage/stage_req.c).
 *
 * The node cache is root's, and bramblefs (root) owns it.  A user's
 * `bramble stage` cannot write it; it connects to the Unix socket this
 * mount's .bramble names (stage_socket=/run/bramble/bramblefs.PID.sock,
 * mode 0666 in a root-owned 0755 directory) and asks.  The caller's uid
 * and gid come from the socket (SO_PEERCRED): the kernel's word, which
 * the caller cannot forge.  bramblefs then runs `bramble stage --user UID
 * --owner user:NAME[:ID] --user-max LIMIT --paths0` (root, with the user's
 * credentials for every server call, so only what the user may read is
 * staged), the user's stdout and stderr as its own: progress, summary and
 * "not staged" lines reach the user's terminal directly.
 *
 * Protocol (one request per connection):
 *   client: "BRSTAGE1", the payload's length (4 bytes, big-endian) --
 *           sent with SCM_RIGHTS carrying its stdout and stderr -- then
 *           the payload: NUL-terminated "key=value" or "key" fields:
 *             op=stage|release   id=ID (pin owner user:NAME:ID)
 *             owner=OWNER (release: user:NAME or user:NAME:ID only)
 *             json  quiet  threads=N  expires=SECONDS
 *             path=ABSOLUTE-PATH (stage; repeated, as the user resolved
 *             them: globs, manifests and learned sets already read)
 *   server: "BRSTAGE1" and the exit status (4 bytes, big-endian), once
 *           the staging has ended.  The client closing its end stops the
 *           staging (SIGTERM).
 * Limits: payload <= 16 MiB; 32 connections at once, 2 per user (one
 * staging, one waiting: a user's requests run one at a time, so the
 * per-user limit is checked against what their previous one pinned). */
#ifndef BR_FUSE_STAGEREQ_H
#define BR_FUSE_STAGEREQ_H

struct bfs;
struct stagereq;

/* Open the socket and its thread into fs->stagereq; none (NULL, 0
 * returned) when bramblefs is not root, the mount has no disk cache, or
 * -o stage_user_max=0.  -errno (logged) when it could not be opened: the
 * mount works on without it. */
int stagereq_start(struct bfs *fs);
/* The socket's path (for .bramble). */
const char *stagereq_path(const struct stagereq *sr);
/* Close the socket, stop the stagings still running (SIGTERM), wait for
 * them and free sr.  NULL is fine. */
void stagereq_stop(struct stagereq *sr);

#endif
