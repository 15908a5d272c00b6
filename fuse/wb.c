/* wb.c - write-behind (see wb.h).
 *
 * A request's life: HELD (a sequential stream's tail, kept back on
 * wb->plugs so that the next write can join it) -> QUEUED (on the queue,
 * for the writers) -> SENDING (a writer took it) -> freed on completion.
 * From its start to its completion it is on its inode's list, which is
 * what the waits, the bounds and the overlap check look at: a held
 * request is in flight for all of them.  A write joins only its open
 * file's newest request, while HELD or QUEUED and ending where the write
 * starts; once a writer has taken a request, its bytes are fixed.
 *
 * A request keeps its bytes as the segments its writes brought, each
 * copied outside the lock, and the writer that sends it gathers them:
 * the lock is never held across a copy.
 *
 * Attribute requests (deferred SETATTRs, a barrier on their inode's
 * list) are wb_attrs.c's. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bfs.h"
#include "hashtab.h"
#include "log.h"
#include "wb.h"
#include "wb_int.h"
#include "xalloc.h"

static bool inode_is(const struct hashtab_node *n, const void *ino)
{
	return HASHTAB_ENTRY(n, struct wb_inode, hn)->ino == *(const uint64_t *)ino;
}

struct wb_inode *wb_find_inode(struct wb *wb, uint64_t ino)
{
	struct hashtab_node *n = hashtab_find(&wb->inodes, hash_u64(ino), inode_is, &ino);

	return n ? HASHTAB_ENTRY(n, struct wb_inode, hn) : NULL;
}

struct wb_inode *wb_get_inode(struct wb *wb, uint64_t ino)
{
	struct wb_inode *wi = wb_find_inode(wb, ino);

	if (!wi) {
		wi = xcalloc(1, sizeof(*wi));
		wi->ino = ino;
		hashtab_insert(&wb->inodes, &wi->hn, hash_u64(ino));
	}
	return wi;
}

void wb_put_inode(struct wb *wb, struct wb_inode *wi)
{
	if (!wi->head && !wi->files) {
		hashtab_remove(&wb->inodes, &wi->hn);
		free(wi);
	}
}

/* Has ino a request in flight (held ones included)? */
static bool busy(struct wb *wb, uint64_t ino)
{
	struct wb_inode *wi = wb_find_inode(wb, ino);

	return wi && wi->head;
}

static bool overlaps(const struct wb_inode *wi, uint64_t off, size_t len)
{
	for (const struct wb_req *r = wi ? wi->head : NULL; r; r = r->next)
		if (r->attrs || (r->off < off + len && off < r->off + r->len))
			return true;
	return false;
}

static void req_free(struct wb_req *r)
{
	struct wb_seg *s, *next;

	for (s = r->segs; s; s = next) {
		next = s->next;
		free(s);
	}
	free(r);
}

/* ---- holding back a stream's tail (plugging) */

/* When the timer lets a held request go: a lone write waits at most
 * WB_HOLD_IDLE_NS, a steady stream's tail at most WB_HOLD_MAX_NS.
 * Deferred attributes wait WB_HOLD_MAX_NS: nothing on this node waits
 * for them (every wait sends them at once), and the next SETATTR of the
 * file (cp's chmod after its utimes) may come later than IDLE on a slow
 * machine. */
static int64_t hold_deadline(const struct wb_req *r)
{
	if (r->attrs)
		return r->held_ns + WB_HOLD_MAX_NS;
	return BR_MIN(r->joined_ns + WB_HOLD_IDLE_NS, r->held_ns + WB_HOLD_MAX_NS);
}

static void enqueue(struct wb *wb, struct wb_req *r)
{
	r->state = WB_QUEUED;
	r->next_q = NULL;
	if (wb->q_tail)
		wb->q_tail->next_q = r;
	else
		wb->q_head = r;
	wb->q_tail = r;
	pthread_cond_signal(&wb->work);
}

void wb_hold(struct wb *wb, struct wb_req *r)
{
	r->state = WB_HELD;
	r->held_ns = r->joined_ns = now_ns();
	r->next_q = wb->plugs;
	wb->plugs = r;
	wb->held_bytes += r->len;
	wb->stats.held++;
	/* An idle writer waits without a timeout while nothing is held:
	 * wake one to arm the timer. */
	pthread_cond_signal(&wb->work);
}

/* Which held requests to let go: all of them (arg NULL), an inode's
 * (arg points to its number), an open file's (arg is it), or those past
 * their deadline (arg points to the time now). */
enum unplug_what { UNPLUG_ALL, UNPLUG_INO, UNPLUG_FILE, UNPLUG_EXPIRED };

static bool unplug_match(const struct wb_req *r, enum unplug_what what,
			 const void *arg)
{
	switch (what) {
	case UNPLUG_INO:
		return r->f->ino == *(const uint64_t *)arg;
	case UNPLUG_FILE:
		return r->f == arg;
	case UNPLUG_EXPIRED:
		return hold_deadline(r) <= *(const int64_t *)arg;
	default:
		return true;
	}
}

/* Hand the matching held requests to the writers.  Returns how many. */
static unsigned int unplug(struct wb *wb, enum unplug_what what, const void *arg)
{
	struct wb_req **pp = &wb->plugs;
	unsigned int n = 0;

	while (*pp) {
		struct wb_req *r = *pp;

		if (!unplug_match(r, what, arg)) {
			pp = &r->next_q;
			continue;
		}
		*pp = r->next_q;
		wb->held_bytes -= r->len;
		enqueue(wb, r);
		n++;
	}
	return n;
}

void wb_unplug_ino(struct wb *wb, uint64_t ino)
{
	if (wb->plugs)
		unplug(wb, UNPLUG_INO, &ino);
}

/* The file's held request (its newest: it has at most one) goes. */
void wb_unplug_file(struct wb *wb, struct bfs_file *f)
{
	if (f->wb_tail && f->wb_tail->state == WB_HELD)
		unplug(wb, UNPLUG_FILE, f);
}

/* The timer, run by idle writers: let go what is past its deadline.
 * Returns the earliest deadline of those still held, or 0 if none. */
static int64_t unplug_expired(struct wb *wb)
{
	int64_t now = now_ns(), next = 0;

	if (!wb->plugs)
		return 0;
	wb->stats.hold_timeouts += unplug(wb, UNPLUG_EXPIRED, &now);
	for (const struct wb_req *r = wb->plugs; r; r = r->next_q)
		if (next == 0 || hold_deadline(r) < next)
			next = hold_deadline(r);
	return next;
}

/* ---- the writers */

/* Send one request: the whole range, however the server splits it. */
static int send_req(struct wb *wb, struct wb_req *r)
{
	struct bfs *fs = wb->fs;
	struct bfs_file *f = r->f;
	size_t done = 0;
	struct stat st;
	bool have_st = false;
	char *data, *gathered = NULL;

	if (r->attrs)
		return wb_send_attrs(wb, r);
	data = r->segs->data;
	if (r->segs->next) {
		data = gathered = xmalloc(r->len);
		for (const struct wb_seg *s = r->segs; s; s = s->next) {
			memcpy(gathered + done, s->data, s->len);
			done += s->len;
		}
		done = 0;
	}
	while (done < r->len) {
		size_t want = BR_MIN(r->len - done, (size_t)fs->max_data);
		ssize_t n = bramble_write(fs->cl, &f->cred, &f->fh, r->off + done,
					  data + done, want, 0, &st);

		if (n <= 0) {
			free(gathered);
			return n < 0 ? (int)n : -EIO;  /* 0: takes nothing, forever */
		}
		done += (size_t)n;
		have_st = true;
	}
	free(gathered);
	/* Our own change: the kernel's page cache already holds it.  Writes
	 * complete out of order: keep the newest attributes. */
	if (have_st)
		inode_cto_note_newer(fs->inodes, f->ino, &st);
	return 0;
}

static void log_failure(const struct wb_req *r, int rc)
{
	log_warn_rl("write-behind of %s failed: %s", r->attrs ? "a setattr" : "a write",
		    strerror(bfs_errno(rc)));
}

static void complete(struct wb *wb, struct wb_req *r, int rc)
{
	struct wb_inode *wi = wb_find_inode(wb, r->f->ino);
	struct bfs_file *f = r->f;

	if (r->prev)
		r->prev->next = r->next;
	else
		wi->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		wi->tail = r->prev;
	wb_put_inode(wb, wi);
	wb->bytes -= r->len;
	f->wb_bytes -= r->len;
	f->wb_pending--;
	if (rc < 0 && f->wb_err == 0)
		f->wb_err = rc;
	wb->ring[wb->ndone % WB_RING] = f->ino;
	wb->ndone++;
	pthread_cond_broadcast(&wb->done);
}

/* Wait on wb->work (lock held) until deadline (CLOCK_MONOTONIC ns; 0:
 * no deadline). */
static void wait_work(struct wb *wb, int64_t deadline)
{
	struct timespec ts;

	if (deadline == 0) {
		pthread_cond_wait(&wb->work, &wb->lock);
		return;
	}
	ts.tv_sec = deadline / 1000000000;
	ts.tv_nsec = deadline % 1000000000;
	pthread_cond_timedwait(&wb->work, &wb->lock, &ts);
}

/* The next request to send (lock held), taken off the queue; NULL once
 * stopping with nothing left.  Idle writers run the hold timer. */
static struct wb_req *take(struct wb *wb)
{
	struct wb_req *r;

	for (;;) {
		int64_t next = unplug_expired(wb);

		if (wb->q_head)
			break;
		if (wb->stop && !wb->plugs)
			return NULL;
		if (wb->stop)
			unplug(wb, UNPLUG_ALL, NULL);  /* wb_free drains all */
		else
			wait_work(wb, next);
	}
	r = wb->q_head;
	wb->q_head = r->next_q;
	if (!wb->q_head)
		wb->q_tail = NULL;
	r->state = WB_SENDING;
	if (r->f->wb_tail == r)
		r->f->wb_tail = NULL;  /* no more joining it */
	if (!r->attrs)
		wb->stats.requests++;
	/* This writer may have been the one timing the held: pass it on. */
	if (wb->plugs)
		pthread_cond_signal(&wb->work);
	return r;
}

static void *writer_main(void *arg)
{
	struct wb *wb = arg;
	struct wb_req *r;

	pthread_mutex_lock(&wb->lock);
	while ((r = take(wb))) {
		int rc;

		/* An attribute request goes after the inode's older writes,
		 * all taken already (the queue is in order). */
		while (r->attrs && wb_find_inode(wb, r->f->ino)->head != r)
			pthread_cond_wait(&wb->done, &wb->lock);
		pthread_mutex_unlock(&wb->lock);
		rc = send_req(wb, r);
		if (rc < 0)
			log_failure(r, rc);
		pthread_mutex_lock(&wb->lock);
		complete(wb, r, rc);
		pthread_mutex_unlock(&wb->lock);
		req_free(r);
		pthread_mutex_lock(&wb->lock);
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

/* ---- lifecycle */

int wb_new(struct bfs *fs, unsigned int nthreads, size_t max_bytes,
	   size_t max_file_bytes, struct wb **out)
{
	struct wb *wb = xcalloc(1, sizeof(*wb));
	pthread_condattr_t ca;
	int rc = 0;

	wb->fs = fs;
	wb->max_bytes = max_bytes;
	wb->max_file_bytes = max_file_bytes;
	pthread_mutex_init(&wb->lock, NULL);
	hashtab_init(&wb->inodes, 0);
	pthread_condattr_init(&ca);
	/* request deadlines and the hold timer are CLOCK_MONOTONIC */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wb->work, &ca);
	pthread_cond_init(&wb->done, &ca);
	pthread_condattr_destroy(&ca);
	wb->threads = xcalloc(nthreads, sizeof(*wb->threads));
	for (; wb->nthreads < nthreads; wb->nthreads++) {
		rc = -pthread_create(&wb->threads[wb->nthreads], NULL,
				     writer_main, wb);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		wb_free(wb);
	else
		*out = wb;
	return rc;
}

static int free_inode(struct hashtab_node *n, void *inodes)
{
	hashtab_remove(inodes, n);
	free(HASHTAB_ENTRY(n, struct wb_inode, hn));
	return 0;
}

void wb_free(struct wb *wb)
{
	if (!wb)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->stop = true;  /* writers drain the queue and the held first */
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
	for (unsigned int i = 0; i < wb->nthreads; i++)
		pthread_join(wb->threads[i], NULL);
	free(wb->threads);
	/* The writers drained every request; files the kernel never
	 * released (a lazy unmount) may still be listed. */
	hashtab_foreach(&wb->inodes, free_inode, &wb->inodes);
	hashtab_release(&wb->inodes);
	pthread_cond_destroy(&wb->done);
	pthread_cond_destroy(&wb->work);
	pthread_mutex_destroy(&wb->lock);
	free(wb);
}

/* ---- writing */

/* A handler's wait for some write to finish (wb->lock held): 0 once
 * woken, -EINTR when its request was interrupted, -ETIMEDOUT when the
 * request's deadline (bramble_deadline(), intr.c) has passed. */
static int wait_done(struct wb *wb)
{
	int64_t deadline = bramble_deadline();
	struct timespec ts;

	if (bramble_cancelled())
		return -EINTR;
	if (deadline == 0) {
		pthread_cond_wait(&wb->done, &wb->lock);
		return 0;
	}
	if (now_ns() >= deadline)
		return -ETIMEDOUT;
	ts.tv_sec = deadline / 1000000000;
	ts.tv_nsec = deadline % 1000000000;
	pthread_cond_timedwait(&wb->done, &wb->lock, &ts);
	return 0;
}

/* Before wb_write waits for room: if all it waits for is held, let it
 * go, or the wait would last until the timer.  While other writes are
 * going, the held ones keep gathering: a stream faster than the server
 * still sends full requests. */
static void unplug_for_room(struct wb *wb, struct bfs_file *f)
{
	const struct wb_req *t = f->wb_tail;

	if (t && t->state == WB_HELD && f->wb_bytes == t->len)
		wb_unplug_file(wb, f);
	if (wb->bytes == wb->held_bytes)
		unplug(wb, UNPLUG_ALL, NULL);
}

/* Wait (lock held) until off..off+len of f may be queued: nothing of
 * the inode in flight overlaps it, and it fits the bounds.  0, f's
 * latched error (cleared), -EINTR or -ETIMEDOUT. */
static int wait_room(struct wb *wb, struct bfs_file *f, uint64_t off, size_t len)
{
	for (;;) {
		int rc = f->wb_err;

		if (rc < 0) {
			f->wb_err = 0;  /* reported now */
			return rc;
		}
		if (bramble_cancelled())
			return -EINTR;
		if (overlaps(wb_find_inode(wb, f->ino), off, len)) {
			wb_unplug_ino(wb, f->ino);  /* overwriting what is held */
		} else if ((wb->bytes == 0 || wb->bytes + len <= wb->max_bytes) &&
			   (f->wb_bytes == 0 || f->wb_bytes + len <= wb->max_file_bytes)) {
			return 0;
		} else {
			unplug_for_room(wb, f);
		}
		rc = wait_done(wb);
		if (rc < 0)
			return rc;
	}
}

/* Append s to r, f's newest request (HELD or QUEUED). */
static void join(struct wb *wb, struct wb_req *r, struct wb_seg *s)
{
	r->segs_tail->next = s;
	r->segs_tail = s;
	r->len += s->len;
	wb->stats.merged++;
	if (r->state != WB_HELD)
		return;
	wb->held_bytes += s->len;
	r->joined_ns = now_ns();
	if (r->len >= wb->fs->max_data)
		wb_unplug_file(wb, r->f);  /* full */
}

/* A new request of f for s (NULL: an attribute request), last on its
 * inode's list. */
struct wb_req *wb_req_new(struct wb *wb, struct bfs_file *f, uint64_t off,
			      struct wb_seg *s)
{
	struct wb_inode *wi = wb_get_inode(wb, f->ino);
	struct wb_req *r = xcalloc(1, sizeof(*r));

	r->f = f;
	r->off = off;
	r->len = s ? s->len : 0;
	r->segs = r->segs_tail = s;
	r->seq = ++wb->seq;
	r->prev = wi->tail;
	if (wi->tail)
		wi->tail->next = r;
	else
		wi->head = r;
	wi->tail = r;
	f->wb_pending++;
	return r;
}

/* Queue s at off for f (lock held, room made): join f's newest request
 * when s continues it and fits in one WRITE, else start a new one --
 * held when it continues f's previous write (a stream, likely to go on),
 * queued at once otherwise (a lone or random write is not delayed). */
static void add(struct wb *wb, struct bfs_file *f, uint64_t off, struct wb_seg *s)
{
	struct wb_req *t = f->wb_tail, *r;
	size_t max = wb->fs->max_data;  /* 0 before a -o bg mount connects */
	bool stream = off > 0 && off == f->wb_end;

	f->wb_end = off + s->len;
	wb->bytes += s->len;
	f->wb_bytes += s->len;
	wb->stats.writes++;
	if (t && !t->attrs && t->off + t->len == off && t->len + s->len <= max) {
		join(wb, t, s);
		return;
	}
	wb_unplug_file(wb, f);  /* the stream broke, or its tail is full */
	r = wb_req_new(wb, f, off, s);
	f->wb_tail = r;
	if (stream && s->len < max)
		wb_hold(wb, r);
	else
		enqueue(wb, r);
}

int wb_write(struct wb *wb, struct bfs_file *f, uint64_t off,
	     const void *buf, size_t len)
{
	/* Copy before taking the lock: the copy is the slow part. */
	struct wb_seg *s = xmalloc(sizeof(*s) + len);
	int rc;

	s->next = NULL;
	s->len = len;
	memcpy(s->data, buf, len);
	pthread_mutex_lock(&wb->lock);
	rc = wait_room(wb, f, off, len);
	if (rc == 0)
		add(wb, f, off, s);
	pthread_mutex_unlock(&wb->lock);
	if (rc < 0)
		free(s);
	return rc;
}

/* ---- waiting */

/* ino's newest request if it is a held attribute request of f (NULL:
 * of any file), else NULL. */
static struct wb_req *held_attrs(struct wb *wb, uint64_t ino, const struct bfs_file *f)
{
	struct wb_inode *wi = wb_find_inode(wb, ino);
	struct wb_req *r = wi ? wi->tail : NULL;

	if (!r || !r->attrs || r->state != WB_HELD || (f && r->f != f))
		return NULL;
	return r;
}

/* Take r, held, off wb->plugs as a writer would take it off the queue. */
static void take_held(struct wb *wb, struct wb_req *r)
{
	struct wb_req **pp = &wb->plugs;

	while (*pp != r)
		pp = &(*pp)->next_q;
	*pp = r->next_q;
	wb->held_bytes -= r->len;
	r->state = WB_SENDING;
	if (r->f->wb_tail == r)
		r->f->wb_tail = NULL;
}

/* A thread about to wait for ino's requests sends the held attribute
 * request (of f, or any) itself, once every older request of the inode
 * is done: the SETATTR then costs its round trip only, not also a switch
 * to a writer thread and back.  Should the timer let it go meanwhile, a
 * writer sends it as usual.  0, or -EINTR / -ETIMEDOUT from the wait
 * (the request stays held).  Lock held; dropped across the call. */
static int send_held_attrs(struct wb *wb, uint64_t ino, const struct bfs_file *f)
{
	struct wb_req *r;
	int rc;

	while ((r = held_attrs(wb, ino, f)) && wb_find_inode(wb, ino)->head != r) {
		rc = wait_done(wb);
		if (rc < 0)
			return rc;
	}
	if (!r)
		return 0;
	take_held(wb, r);
	pthread_mutex_unlock(&wb->lock);
	rc = wb_send_attrs(wb, r);
	if (rc < 0)
		log_failure(r, rc);
	pthread_mutex_lock(&wb->lock);
	complete(wb, r, rc);
	req_free(r);
	return 0;
}

int wb_wait_ino(struct wb *wb, uint64_t ino)
{
	struct wb_inode *wi;
	uint64_t target;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	target = wb->seq;
	rc = send_held_attrs(wb, ino, NULL);
	wb_unplug_ino(wb, ino);  /* or wait for the timer */
	/* The list is in seq order: its head is the oldest still going.
	 * Later writes do not hold us up (no starvation by a busy writer). */
	while (rc == 0 && (wi = wb_find_inode(wb, ino)) && wi->head &&
	       wi->head->seq <= target)
		rc = wait_done(wb);
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

/* Stops the walk at an inode whose oldest write is not after target. */
static int is_older(struct hashtab_node *n, void *target)
{
	const struct wb_req *head = HASHTAB_ENTRY(n, struct wb_inode, hn)->head;

	return head && head->seq <= *(const uint64_t *)target;
}

static bool any_older(struct wb *wb, uint64_t target)
{
	return hashtab_foreach(&wb->inodes, is_older, &target);
}

int wb_wait_all(struct wb *wb)
{
	uint64_t target;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	target = wb->seq;
	if (wb->bytes > 0 || wb->q_head || wb->plugs) {
		unplug(wb, UNPLUG_ALL, NULL);
		while (any_older(wb, target)) {
			rc = wait_done(wb);
			if (rc < 0)
				break;
		}
	}
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

int wb_wait_file_intr(struct wb *wb, struct bfs_file *f)
{
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	rc = send_held_attrs(wb, f->ino, f);
	while (rc == 0 && f->wb_pending > 0) {
		/* In the loop: a write racing with close may hold again. */
		wb_unplug_file(wb, f);
		rc = wait_done(wb);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

void wb_interrupt(struct wb *wb)
{
	pthread_mutex_lock(&wb->lock);
	pthread_cond_broadcast(&wb->done);
	pthread_mutex_unlock(&wb->lock);
}

int wb_take_err(struct wb *wb, struct bfs_file *f)
{
	int rc;

	pthread_mutex_lock(&wb->lock);
	rc = f->wb_err;
	f->wb_err = 0;
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

/* ---- freshness and counters */

uint64_t wb_gen(struct wb *wb)
{
	uint64_t g;

	pthread_mutex_lock(&wb->lock);
	g = wb->ndone;
	pthread_mutex_unlock(&wb->lock);
	return g;
}

bool wb_changed_since(struct wb *wb, uint64_t ino, uint64_t gen)
{
	bool changed = false;

	pthread_mutex_lock(&wb->lock);
	if (busy(wb, ino)) {
		changed = true;  /* held requests too: they are on the list */
	} else if (wb->ndone - gen > WB_RING) {
		changed = true;  /* forgotten: assume the worst */
	} else {
		for (uint64_t k = gen; k < wb->ndone && !changed; k++)
			changed = wb->ring[k % WB_RING] == ino;
	}
	pthread_mutex_unlock(&wb->lock);
	return changed;
}

void wb_get_stats(struct wb *wb, struct wb_stats *out)
{
	pthread_mutex_lock(&wb->lock);
	*out = wb->stats;
	pthread_mutex_unlock(&wb->lock);
}
