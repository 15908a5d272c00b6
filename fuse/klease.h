/* klease.h - what the kernel holds on the strength of callbacks, and
 * telling the kernel to drop it.
 *
 * The kernel keeps names (dentries, negative ones too) and attributes for
 * the timeouts each reply gives it.  Where this mount trusts what it hands
 * out (lease.h: the server watches it and calls back any change), it may
 * give the kernel the rest of its lease instead of -o entry_timeout /
 * attr_timeout, so that a tree walked again (a second rsync, find, ls -l,
 * a warm build) asks bramblefs nothing at all.  Such long timeouts are
 * taken back through FUSE's notify calls:
 *  - a watch that ended -- a callback about the object (the server then
 *    stops watching it, so even the names it did not name may change
 *    unseen), a drop (the server's set was full), this mount's own change
 *    without attributes after it: its attributes and every name of it the
 *    kernel holds for long (klease_take_back);
 *  - the connection broke (the server forgot what it watched): everything
 *    held for long (klease_take_back_all).
 * So this table remembers each (directory, name) and each object whose
 * attributes the kernel was given for long, until that time has passed.
 * A full table gives no more long timeouts (klease_hold says no).
 *
 * Kernel notes go through one thread of this module (klease_start): the
 * notify calls may block on a kernel lock a FUSE request holds (a lookup
 * or create holds its directory's), and callbacks arrive on the thread
 * that reads the connection, which the requests' own calls need.  That
 * wait is also what orders a note after a reply racing with it in the
 * same directory; a note may also be delayed (klease_note_later), for the
 * one kernel path that takes no lock (a dentry's revalidation).
 *
 * Thread-safe: one mutex, taken after lease.c's (never the other way),
 * never held while calling the kernel.  Objects are named by handle; the
 * inode number is looked up when the kernel is told (the kernel cannot
 * hold anything of an inode it forgot). */
#ifndef BR_FUSE_KLEASE_H
#define BR_FUSE_KLEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "bramble.h"

struct bfs;
struct klease;

struct klease_counters {
	uint64_t kernel_notes;     /* invalidations passed to the kernel */
	uint64_t notes_queued;     /* ... still to pass (or being passed) */
	uint64_t held;             /* names and attributes held for long now */
	uint64_t taken_back;       /* long ones taken back without a callback
	                            * naming them (drops, races, breaks) */
};

/* max: names and attributes tracked at most.  Free: klease_free. */
struct klease *klease_new(struct bfs *fs, size_t max);
/* Start the kernel-notifying thread (after fuse_daemonize()). 0/-errno. */
int klease_start(struct klease *k);
/* Stop it (before the FUSE session goes); accepts NULL. */
void klease_stop(struct klease *k);
void klease_free(struct klease *k);

/* Tell the kernel to drop what it holds of fh: attributes (and pages too
 * with data), or with name the entry name of directory fh (expired, not
 * unhashed: a process in that directory keeps its cwd).  Queued. */
void klease_note(struct klease *k, const struct bramble_fh *fh, bool data,
		 const char *name);
/* Same, passed on no sooner than a few milliseconds from now. */
void klease_note_later(struct klease *k, const struct bramble_fh *fh,
		       const char *name);

/* The kernel is being given dir/name (name NULL: dir's own attributes)
 * until until_ns (CLOCK_MONOTONIC).  false when the table is full: give
 * the short timeout. */
bool klease_hold(struct klease *k, const struct bramble_fh *fh,
		 const char *name, int64_t until_ns);
/* The kernel moved from/from_name to to/to_name itself (a rename through
 * this mount), with the entry's timeout.  keep: to/to_name stays right
 * under callbacks (the destination is watched); else the kernel is told
 * to expire it. */
void klease_moved(struct klease *k, const struct bramble_fh *from,
		  const char *from_name, const struct bramble_fh *to,
		  const char *to_name, bool keep);
/* Take back what the kernel holds for long of fh: its attributes and
 * every name in it. */
void klease_take_back(struct klease *k, const struct bramble_fh *fh);
/* ... of everything. */
void klease_take_back_all(struct klease *k);

void klease_get_counters(struct klease *k, struct klease_counters *out);

#endif
