/* lkrange.h - the rules of Linux file locks, on the locks of one file.
 *
 * A struct lkr_set is a plain array of the locks held on one file; the
 * functions here test and change it exactly as the Linux kernel does for
 * its own locks:
 *  - LKR_POSIX (fcntl F_SETLK and OFD locks: both have byte ranges and
 *    conflict with each other): a new lock of an owner merges with the
 *    owner's overlapping or adjacent locks of the same type, and splits
 *    or trims the owner's locks of the other type; an unlock trims and
 *    splits.  Changing a lock's type (upgrade, downgrade) is one step.
 *  - LKR_FLOCK (flock(2)): one whole-file lock per owner; a conversion
 *    drops the old lock first (Linux's flock conversions are not atomic
 *    either), so a failed upgrade leaves nothing.
 * The two kinds never conflict with each other.
 *
 * Owners are (client, owner) pairs: brambled uses the client id and the
 * owner the client sent; bramblefs (one client) uses client 0.
 * Ranges are inclusive [start, end]; end LKR_EOF means "to the end of
 * the file, whatever it becomes".
 *
 * Nothing here locks, allocates beyond the set's array (xmalloc aborts on
 * OOM), or knows about the wire: callers serialise access to a set. */
#ifndef BR_LKRANGE_H
#define BR_LKRANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LKR_POSIX 0u               /* == BR_LK_POSIX */
#define LKR_FLOCK 1u               /* == BR_LK_FLOCK */
#define LKR_READ 1u                /* == BR_LOCK_READ */
#define LKR_WRITE 2u               /* == BR_LOCK_WRITE */
#define LKR_UNLOCK 3u              /* == BR_LOCK_UNLOCK */
#define LKR_EOF UINT64_MAX

struct lkr {
	uint64_t client, owner;
	uint32_t kind;             /* LKR_POSIX / LKR_FLOCK */
	uint32_t type;             /* LKR_READ / LKR_WRITE (UNLOCK in requests) */
	uint64_t start, end;       /* inclusive; end LKR_EOF: to end of file */
	uint32_t pid;              /* holder's pid on its node (reports only) */
};

struct lkr_set {
	struct lkr *v;             /* owned */
	size_t n, cap;
};

/* [start, end] from the wire's start and length (0: to end of file).
 * -EINVAL when the range does not fit in 64 bits. */
int lkr_range(uint64_t start, uint64_t length, uint64_t *end);
/* The wire length of [start, end] (0 for LKR_EOF). */
uint64_t lkr_length(uint64_t start, uint64_t end);

/* Same owner and kind. */
bool lkr_same_owner(const struct lkr *a, const struct lkr *b);

/* A lock of another owner, of req's kind, that keeps req (READ or WRITE)
 * from being granted; NULL when it can be.  The pointer is into s. */
const struct lkr *lkr_conflict(const struct lkr_set *s, const struct lkr *req);

/* Apply req (READ, WRITE or UNLOCK) as its owner's, without testing for
 * conflicts (call lkr_conflict first).  FLOCK ignores the range. */
void lkr_apply(struct lkr_set *s, const struct lkr *req);

/* Does the owner of req hold a lock of req's kind and exactly req's type
 * on all of req's range?  (An flock conversion that changes nothing.) */
bool lkr_holds(const struct lkr_set *s, const struct lkr *req);

/* Drop the locks of client (all its owners when all_owners, else only
 * owner), of both kinds.  Returns how many were dropped. */
size_t lkr_drop(struct lkr_set *s, uint64_t client, bool all_owners,
		uint64_t owner);

void lkr_set_release(struct lkr_set *s);

#endif
