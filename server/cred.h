/* cred.h - per-thread filesystem credentials of a worker.
 *
 * A worker performs each call as the caller: fsuid, fsgid and the
 * supplementary groups of the calling thread only.  setfsuid/setfsgid are
 * per thread by nature; the groups are set with the raw setgroups system
 * call, because glibc's setgroups() changes every thread of the process.
 *
 * A non-zero fsuid drops CAP_DAC_READ_SEARCH and friends, so handle
 * decoding (open_by_handle_at) and SQLite run as fsuid 0 (cred_root());
 * workers switch to the caller (cred_as()) only around the user's own
 * syscalls.  The current identity of each thread is cached, so switching
 * to what is already in effect costs nothing.
 *
 * Functions return 0 or -errno; on failure the thread is left as root or
 * the call must not proceed (-EPERM). */
#ifndef BR_CRED_H
#define BR_CRED_H

#include <stdbool.h>
#include <stdint.h>

#include "rpcmsg.h"

#define CRED_NOBODY 65534

/* Apply root squash to an AUTH_SYS credential: uid 0 becomes nobody with
 * group nobody and no supplementary groups; gid 0 and group 0 in the list
 * become nobody too (as knfsd's root_squash does). */
void cred_squash(struct br_cred *c);
/* Switch this thread's fs identity to c. */
int cred_as(const struct br_cred *c);
/* Switch this thread back to fsuid/fsgid 0 (groups are left: root needs none). */
int cred_root(void);
/* Be root for a moment in the middle of a call, for work the server does
 * on its own behalf (the handle table's database and path walks), then
 * come back: cred_pop(&saved, cred_push_root(&saved)) pairs.  Returns
 * whether there was anything to come back to. */
bool cred_push_root(struct br_cred *saved);
void cred_pop(const struct br_cred *saved, bool pushed);

#endif
