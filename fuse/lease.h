/* lease.h - what bramblefs may answer without asking the server.
 *
 * With callbacks (bramble.h "callbacks", server/watch.h) the server tells
 * this mount when an object it fetched changes.  Until then, and for at
 * most `-o lease=SEC' seconds, bramblefs trusts what it got:
 *  - GETATTR is answered from the attributes last received;
 *  - LOOKUP of a name in a trusted directory is answered from the entry
 *    last received, positive or negative, for a caller that already
 *    looked a name up there (search permission is the server's call);
 *  - a read-only OPEN of a trusted regular file skips the OPEN call when
 *    the same user (uid, gid, groups) already opened it read-only with
 *    success while it stayed trusted: the server's permission decision
 *    (ACLs included) still holds, since a permission change bumps ctime
 *    and so is called back.  Writing or truncating opens always go to
 *    the server.
 * Trust starts only from a result fetched on a connection with callbacks
 * on, when no callback arrived while the call was out (its epoch, see
 * bramble_callback_epoch()).  It ends with a callback naming the object
 * (the kernel is then told to drop its copy: attributes, pages, and to
 * look the entries named up again -- expired, not unhashed, so a process
 * inside a directory keeps its cwd; not for this mount's own changes,
 * which its kernel made and knows), when the connection breaks (the
 * server forgot what it
 * watched: everything is dropped here; the kernel keeps what it has for
 * its attr/entry timeouts, as without callbacks), or after the lease.
 * This mount's own change (BRAMBLE_CB_SELF) that comes with the
 * attributes after it (BRAMBLE_CAP_CB_ATTRS: the server still watches
 * the object) does not end trust: the object is trusted anew with them,
 * as a fresh result (what was noted of it before -- entries, permission
 * memos -- no longer counts).  So the kernel's GETATTR of a directory
 * after each create or remove in it is answered here.
 *
 * Changes made directly on the server's disk, not through brambled, are
 * never called back: this mount sees them only after the lease time.
 * lease=0 turns all of this off (every operation asks the server).
 *
 * Thread-safe: one mutex around the tables, never held while calling
 * out.  The kernel is told on a thread of this module (lease_start):
 * FUSE's notify calls may block on a kernel lock a FUSE request holds,
 * and the callback hook runs on the thread that reads the connection,
 * which the requests' own calls need. */
#ifndef BR_FUSE_LEASE_H
#define BR_FUSE_LEASE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "bramble.h"

struct bfs;
struct buf;
struct lease_table;

struct lease_counters {
	uint64_t getattr_saved;    /* GETATTRs answered here */
	uint64_t lookup_saved;     /* LOOKUPs answered here */
	uint64_t open_saved;       /* OPENs answered here */
	uint64_t objects_called;   /* objects named in callbacks */
	uint64_t forgets;          /* connection broken: all dropped */
	uint64_t kernel_notes;     /* invalidations passed to the kernel */
	uint64_t notes_queued;     /* ... still to pass (or being passed) */
};

/* seconds: the lease (0: off).  Called before connecting. */
struct lease_table *lease_new(struct bfs *fs, double seconds);
/* Start the kernel-notifying thread (after fuse_daemonize()). 0/-errno. */
int lease_start(struct lease_table *t);
/* Stop that thread (before the FUSE session goes); accepts NULL. */
void lease_stop(struct lease_table *t);
void lease_free(struct lease_table *t);
/* Is it on at all (lease > 0)?  Then ask for BRAMBLE_CAP_CALLBACKS. */
bool lease_enabled(const struct lease_table *t);
/* bramble_callback_fn: ctx is the struct bfs. */
void lease_on_callback(void *ctx, const struct bramble_cb_event *ev);

/* The operations, each answering locally when it may and otherwise
 * making the call (same contract as bramble_getattr/_lookup/_open) and
 * noting what it got. */
int lease_getattr(struct bfs *fs, const struct bramble_cred *cr,
		  const struct bramble_fh *fh, struct stat *st);
int lease_lookup(struct bfs *fs, const struct bramble_cred *cr,
		 const struct bramble_fh *dir, const char *name,
		 struct bramble_fh *fh, struct stat *st);
/* For results that come through other calls (READDIRPLUS entries): take
 * a token before the call, note each result with it afterwards. */
struct lease_tok {
	bool on;
	uint64_t epoch;
};
struct lease_tok lease_begin(struct bfs *fs);
/* An entry of dir as READDIRPLUS gave it (the server watches both). */
void lease_note_dirent(struct bfs *fs, const struct lease_tok *tok,
		       const struct bramble_fh *dir, const char *name,
		       const struct bramble_fh *fh, const struct stat *st);
/* flags: open(2)'s; bflags: BRAMBLE_OPEN_* for the call. */
int lease_open(struct bfs *fs, const struct bramble_cred *cr,
	       const struct bramble_fh *fh, int flags, unsigned int bflags,
	       struct stat *st);

/* Is what this mount holds of fh trusted now (no callback since, within
 * the lease)?  Then the kernel may keep it too: a directory's listing
 * (opendir keeps its cache), a missing name in it (a negative entry).
 * A callback invalidates both in the kernel. */
bool lease_trusted(struct bfs *fs, const struct bramble_fh *fh);

void lease_get_counters(struct lease_table *t, struct lease_counters *out);
/* The counters as .bramble lines (ctl.c):
 *   lease.on                 1 when callbacks are on for the connection
 *   lease.getattr_saved / .lookup_saved / .open_saved   round trips saved
 *   lease.kernel_notes       invalidations passed to the kernel
 *   lease.notes_queued       ... still to pass
 *   lease.objects_called / .forgets   callback events handled
 *   cb.received / .objects / .forgets   libbramble's callback events */
void lease_ctl(struct bfs *fs, struct buf *out);

#endif
