/* fdcache.h - open files kept for READ/WRITE/COPY_RANGE.
 *
 * Reading or writing needs a real fd, opened as the caller so the kernel
 * checks the caller's permissions.  Opening one per call would cost a
 * permission walk and an open/close each time, so fds are cached -- keyed
 * by handle AND credentials AND access mode: an fd opened for uid 1000 is
 * never used for uid 1001, or a read fd for a write.
 *
 * Usage is check-out / check-in: fdcache_take() removes a matching fd from
 * the cache (the caller now owns it), fdcache_give() puts it back (or
 * closes it when an equal entry came back first or the cache is full).
 * So no fd is ever shared by two threads and eviction never closes an fd
 * in use.  Entries idle longer than the expiry are closed by
 * fdcache_expire(), which the loop calls from a timer; this bounds how long
 * a permission change takes to bite (as with knfsd's file cache) and how
 * long a file removed behind our back (on the export itself) stays
 * allocated.  REMOVE and a replacing RENAME through brambled drop the
 * removed file's entries at once (fdcache_forget).  Thread-safe. */
#ifndef BR_FDCACHE_H
#define BR_FDCACHE_H

#include <stdint.h>

#include "proto.h"
#include "rpcmsg.h"

struct fdcache_key {
	unsigned char fh[BR_FH_MAX];
	uint32_t fhlen;
	struct br_cred cred;
	int accmode;                /* O_RDONLY, O_WRONLY or O_RDWR */
};

struct fdcache;

/* max entries, idle expiry in seconds.  Never fails (xmalloc). */
struct fdcache *fdcache_new(unsigned int max, unsigned int idle_sec);
void fdcache_free(struct fdcache *fc);
/* Fill a key (zeroing padding so keys compare as bytes). */
void fdcache_key_init(struct fdcache_key *k, const void *fh, size_t fhlen,
		      const struct br_cred *cred, int accmode);
/* An fd for k, now owned by the caller, or -1. */
int fdcache_take(struct fdcache *fc, const struct fdcache_key *k);
/* Give fd (owned by the caller until now) to the cache. */
void fdcache_give(struct fdcache *fc, const struct fdcache_key *k, int fd);
/* Close entries idle for longer than the expiry. */
void fdcache_expire(struct fdcache *fc);
/* Close every entry of this handle (after it went stale or was removed;
 * the last close of a removed file frees its blocks: not on the loop). */
void fdcache_forget(struct fdcache *fc, const void *fh, size_t fhlen);

#endif
