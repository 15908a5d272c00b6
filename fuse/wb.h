/* wb.h - write-behind: WRITE calls sent from background threads.
 *
 * bfs_write copies the data into a wb request and replies to the kernel
 * at once; a small pool of writer threads sends the WRITEs (libbramble
 * pipelines them on the connection), so several writes of one file are
 * in flight instead of one round trip per write(2).  Byte ranges stay
 * exact, unlike the kernel's writeback cache, which writes whole pages
 * and would clobber other nodes' writes to other bytes of the same page.
 *
 * Coalescing: a write that continues its open file's newest request,
 * while no writer has taken it yet, joins it, up to the mount's max_data
 * bytes: `dd bs=4k' sends WRITEs of max_data, not of 4 KiB.  Ranges stay
 * exact: only the bytes written are sent, never a whole page.  As the
 * writers take a request at once on an idle mount, a stream's tail is
 * held back (plugged) so that the next write can join it: a request that
 * continues its file's previous write and is smaller than max_data is
 * held until it is full, the stream breaks (the open file's next write
 * starts elsewhere), anything waits for the inode's writes (every wait
 * below lets the held ones go first), or a timer: WB_HOLD_IDLE_NS after
 * its last write, WB_HOLD_MAX_NS after its first.  A lone write, or the
 * first of a stream, is never held.  wb_free sends the held ones too.
 *
 * Rules the rest of bramblefs relies on:
 *  - In flight: a write is in flight from wb_write's return until its
 *    WRITE is answered, held or not; everything below counts held writes.
 *  - Bounds: at most max_bytes in flight per mount and max_file_bytes per
 *    open file; wb_write blocks its caller while over (one write larger
 *    than the bound still goes, alone).  A write that waits for room only
 *    lets held writes go when nothing else is in flight to wait for.
 *  - Order: a write overlapping a range of the same inode still in flight
 *    waits for it (letting it go first if held), so overlapping writes
 *    land in the order they were acknowledged.  Sequential writes never
 *    overlap and never wait.  A joined write never overlaps anything in
 *    flight either: joining comes after that check.
 *  - Errors: a failed WRITE latches its -errno on the open file (first
 *    error wins); the next wb_write, wb_take_err (flush, fsync) of that
 *    file returns it once.  Joined writes share their request's error.
 *  - Freshness: any attribute handed to the kernel must include the
 *    writes this node acknowledged, or the kernel would shrink i_size.
 *    Handlers call wb_wait_ino before a GETATTR/SETATTR/OPEN/READ of an
 *    inode, and check entries (lookup, readdirplus) with
 *    wb_gen/wb_changed_since, re-reading the attributes when needed.
 *    wb_wait_ino lets the inode's held writes go, so it waits for them,
 *    not for the timer.
 *  - Lifetime: a struct bfs_file must outlive its writes: release calls
 *    wb_close_file before freeing it.
 *  - Interrupts: the writer threads wait for the server as long as any
 *    call does (for ever with -o hard).  A handler's waits for them
 *    (wb_write when over a bound, wb_wait_ino/all/file_intr) end with
 *    -EINTR once the handler thread's cancel token fires
 *    (bramble_cancelled(); intr.c then calls wb_interrupt to wake them),
 *    and with -ETIMEDOUT once the request's deadline has passed
 *    (bramble_deadline(): `timeout' bounds the whole request on a soft
 *    mount, intr.h).  wb_close_file is never interrupted: release must not
 *    free a file whose writes are still going.
 *
 * Locking: one mutex (wb->lock) protects the queue, the held requests,
 * the per-inode lists, the counters and the wb_* fields of every struct
 * bfs_file.  It is never held across a round trip, a copy of the data or
 * a call into the inode table. */
#ifndef BR_FUSE_WB_H
#define BR_FUSE_WB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bramble.h"

struct bfs;
struct bfs_file;
struct wb;

#define WB_THREADS 8
#define WB_MAX_BYTES (32u << 20)       /* in flight per mount */
#define WB_MAX_FILE_BYTES (16u << 20)  /* in flight per open file */
/* How long a stream's tail is held for the next write to join it: a
 * gap between writes longer than IDLE ends the wait, and no write waits
 * longer than MAX (a trickle of small writes goes out every MAX). */
#define WB_HOLD_IDLE_NS (2 * 1000 * 1000)
#define WB_HOLD_MAX_NS (50 * 1000 * 1000)

/* What write-behind did (the control file's wb.* lines). */
struct wb_stats {
	uint64_t writes;         /* writes queued (wb_write returned 0) */
	uint64_t merged;         /* of them, joined to an earlier request */
	uint64_t requests;       /* taken by writers: a WRITE each (more if
	                          * the server takes less); writes - merged
	                          * once all are sent */
	uint64_t held;           /* requests held back for the next write */
	uint64_t hold_timeouts;  /* held ones the timer let go */
	uint64_t attrs;          /* SETATTRs deferred (wb_setattr) */
	uint64_t attrs_merged;   /* of them, merged into a deferred one */
};

/* Start nthreads writers that send through fs->cl.  fs is borrowed until
 * wb_free.  Returns 0 or -errno; *out untouched on failure. */
int wb_new(struct bfs *fs, unsigned int nthreads, size_t max_bytes,
	   size_t max_file_bytes, struct wb **out);
/* Wait for every write, stop the threads.  Accepts NULL. */
void wb_free(struct wb *wb);

/* Queue a copy of buf[0..len) for f at off.  Returns 0 (queued), the
 * error latched on f by an earlier write (then nothing is queued and the
 * error is cleared), or -EINTR / -ETIMEDOUT (interrupted, or out of time,
 * while waiting for room; nothing queued). */
int wb_write(struct wb *wb, struct bfs_file *f, uint64_t off,
	     const void *buf, size_t len);

/* f is open for writing (a no-op for other opens, and O_SYNC ones):
 * deferred SETATTRs of its inode by its user may go with it.  Call it
 * before the kernel has the open file; wb_close_file before freeing f
 * (release): it waits for f's writes, never interrupted, and forgets f. */
void wb_open_file(struct wb *wb, struct bfs_file *f);
void wb_close_file(struct wb *wb, struct bfs_file *f);

/* Defer sa, a SETATTR of ino made by cr, to go after every write of the
 * inode queued before it and before any queued after it.  It goes with
 * a file cr's user has open for writing here (wb_open_file): held (the
 * next deferred SETATTR of that file by the same caller merges into it
 * until a writer takes it; any wait on the inode or the file sends it,
 * or the timer, WB_HOLD_MAX_NS), counted in
 * flight like a write, its failure latched on the file like a write's
 * (so reported at the next write, fsync or close).  Only for a change
 * whose outcome cannot be an error the caller must see at the call: the
 * caller (ops_meta.c) decides; MODE, ATIME and MTIME with explicit times
 * only.  Returns 0 (deferred) or -EAGAIN (make the call: no such open
 * file, or an error latched on it). */
int wb_setattr(struct wb *wb, uint64_t ino, const struct bramble_cred *cr,
	       const struct bramble_setattr *sa);

/* Wait until every write of ino queued before this call is done (held
 * ones go at once).  0, or -EINTR / -ETIMEDOUT when interrupted or out of
 * time first. */
int wb_wait_ino(struct wb *wb, uint64_t ino);
/* Wait until every write of the mount queued before this call is done.
 * 0, -EINTR or -ETIMEDOUT. */
int wb_wait_all(struct wb *wb);
/* The same for flush (close): 0, -EINTR or -ETIMEDOUT. */
int wb_wait_file_intr(struct wb *wb, struct bfs_file *f);
/* Wake every wait above so it can notice its thread was interrupted. */
void wb_interrupt(struct wb *wb);
/* f's latched error (cleared), or 0. */
int wb_take_err(struct wb *wb, struct bfs_file *f);

/* Count of completed writes; take it before a call that returns
 * attributes, then ask wb_changed_since whether they may be stale. */
uint64_t wb_gen(struct wb *wb);
/* Did ino have a write in flight now, or one completed after gen?  Errs
 * on the side of yes when the record of completions has moved on. */
bool wb_changed_since(struct wb *wb, uint64_t ino, uint64_t gen);

/* A copy of the counters. */
void wb_get_stats(struct wb *wb, struct wb_stats *out);

#endif
