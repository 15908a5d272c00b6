/* wb.c - write-behind (see wb.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bfs.h"
#include "hashtab.h"
#include "log.h"
#include "wb.h"
#include "xalloc.h"

/* Completions remembered for wb_changed_since: enough for the writes one
 * LOOKUP or READDIRPLUS round trip can overlap; older ones answer yes. */
#define WB_RING 1024

struct wb_req {
	struct wb_req *next_q;             /* queue of unsent requests */
	struct wb_req *next, *prev;        /* the inode's list, by seq */
	struct bfs_file *f;
	uint64_t seq;                      /* order of acknowledgement */
	uint64_t off;
	size_t len;
	char *data;
};

/* An inode with writes in flight; freed when its list empties. */
struct wb_inode {
	uint64_t ino;
	struct wb_req *head, *tail;        /* ascending seq */
	struct hashtab_node hn;            /* in wb->inodes, by ino */
};

struct wb {
	struct bfs *fs;
	pthread_mutex_t lock;
	pthread_cond_t work;               /* writers wait for requests */
	pthread_cond_t done;               /* everyone else waits for completions */
	/* protected by lock: */
	struct wb_req *q_head, *q_tail;
	struct hashtab inodes;             /* of wb_inode: those with writes */
	size_t bytes, max_bytes, max_file_bytes;
	uint64_t seq;                      /* last seq handed out */
	uint64_t ndone;                    /* completed writes */
	uint64_t ring[WB_RING];            /* ino of completion k at (k-1) % RING */
	bool stop;
	/* fixed after wb_new: */
	pthread_t *threads;
	unsigned int nthreads;
};

static bool inode_is(const struct hashtab_node *n, const void *ino)
{
	return HASHTAB_ENTRY(n, struct wb_inode, hn)->ino == *(const uint64_t *)ino;
}

static struct wb_inode *find_inode(struct wb *wb, uint64_t ino)
{
	struct hashtab_node *n = hashtab_find(&wb->inodes, hash_u64(ino), inode_is, &ino);

	return n ? HASHTAB_ENTRY(n, struct wb_inode, hn) : NULL;
}

static bool overlaps(const struct wb_inode *wi, uint64_t off, size_t len)
{
	for (const struct wb_req *r = wi ? wi->head : NULL; r; r = r->next)
		if (r->off < off + len && off < r->off + r->len)
			return true;
	return false;
}

/* Send one request: the whole range, however the server splits it. */
static int send_req(struct wb *wb, struct wb_req *r)
{
	struct bfs *fs = wb->fs;
	struct bfs_file *f = r->f;
	size_t done = 0;
	struct stat st;
	bool have_st = false;

	while (done < r->len) {
		size_t want = BR_MIN(r->len - done, (size_t)fs->max_data);
		ssize_t n = bramble_write(fs->cl, &f->cred, &f->fh, r->off + done,
					  r->data + done, want, 0, &st);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;  /* a server that takes nothing, forever */
		done += (size_t)n;
		have_st = true;
	}
	/* Our own change: the kernel's page cache already holds it.  Writes
	 * complete out of order: keep the newest attributes. */
	if (have_st)
		inode_cto_note_newer(fs->inodes, f->ino, &st);
	return 0;
}

static void complete(struct wb *wb, struct wb_req *r, int rc)
{
	struct wb_inode *wi = find_inode(wb, r->f->ino);
	struct bfs_file *f = r->f;

	if (r->prev)
		r->prev->next = r->next;
	else
		wi->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		wi->tail = r->prev;
	if (!wi->head) {
		hashtab_remove(&wb->inodes, &wi->hn);
		free(wi);
	}
	wb->bytes -= r->len;
	f->wb_bytes -= r->len;
	f->wb_pending--;
	if (rc < 0 && f->wb_err == 0)
		f->wb_err = rc;
	wb->ring[wb->ndone % WB_RING] = f->ino;
	wb->ndone++;
	pthread_cond_broadcast(&wb->done);
}

static void *writer_main(void *arg)
{
	struct wb *wb = arg;

	pthread_mutex_lock(&wb->lock);
	for (;;) {
		struct wb_req *r;
		int rc;

		while (!wb->q_head && !wb->stop)
			pthread_cond_wait(&wb->work, &wb->lock);
		r = wb->q_head;
		if (!r)
			break;  /* stopping and nothing left */
		wb->q_head = r->next_q;
		if (!wb->q_head)
			wb->q_tail = NULL;
		pthread_mutex_unlock(&wb->lock);

		rc = send_req(wb, r);
		if (rc < 0)
			log_warn_rl("write-behind of %zu bytes at %llu failed: %s",
				    r->len, (unsigned long long)r->off,
				    strerror(bfs_errno(rc)));

		pthread_mutex_lock(&wb->lock);
		complete(wb, r, rc);
		pthread_mutex_unlock(&wb->lock);
		free(r->data);
		free(r);
		pthread_mutex_lock(&wb->lock);
	}
	pthread_mutex_unlock(&wb->lock);
	return NULL;
}

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
	pthread_cond_init(&wb->work, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);  /* request deadlines */
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

void wb_free(struct wb *wb)
{
	if (!wb)
		return;
	pthread_mutex_lock(&wb->lock);
	wb->stop = true;  /* writers drain the queue first */
	pthread_cond_broadcast(&wb->work);
	pthread_mutex_unlock(&wb->lock);
	for (unsigned int i = 0; i < wb->nthreads; i++)
		pthread_join(wb->threads[i], NULL);
	free(wb->threads);
	hashtab_release(&wb->inodes);      /* empty: the writers drained it */
	pthread_cond_destroy(&wb->done);
	pthread_cond_destroy(&wb->work);
	pthread_mutex_destroy(&wb->lock);
	free(wb);
}

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

int wb_write(struct wb *wb, struct bfs_file *f, uint64_t off,
	     const void *buf, size_t len)
{
	struct wb_req *r;
	struct wb_inode *wi;
	int rc;

	/* Copy before taking the lock: the copy is the slow part. */
	r = xcalloc(1, sizeof(*r));
	r->data = xmalloc(len ? len : 1);
	memcpy(r->data, buf, len);
	r->f = f;
	r->off = off;
	r->len = len;

	pthread_mutex_lock(&wb->lock);
	for (;;) {
		rc = f->wb_err;
		if (rc < 0) {
			f->wb_err = 0;  /* reported now */
			break;
		}
		if (bramble_cancelled()) {
			rc = -EINTR;
			break;
		}
		wi = find_inode(wb, f->ino);
		if (!overlaps(wi, off, len) &&
		    (wb->bytes == 0 || wb->bytes + len <= wb->max_bytes) &&
		    (f->wb_bytes == 0 || f->wb_bytes + len <= wb->max_file_bytes))
			break;
		rc = wait_done(wb);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		pthread_mutex_unlock(&wb->lock);
		free(r->data);
		free(r);
		return rc;
	}
	if (!wi) {
		wi = xcalloc(1, sizeof(*wi));
		wi->ino = f->ino;
		hashtab_insert(&wb->inodes, &wi->hn, hash_u64(wi->ino));
	}
	r->seq = ++wb->seq;
	r->prev = wi->tail;
	if (wi->tail)
		wi->tail->next = r;
	else
		wi->head = r;
	wi->tail = r;
	wb->bytes += len;
	f->wb_bytes += len;
	f->wb_pending++;
	if (wb->q_tail)
		wb->q_tail->next_q = r;
	else
		wb->q_head = r;
	wb->q_tail = r;
	pthread_cond_signal(&wb->work);
	pthread_mutex_unlock(&wb->lock);
	return 0;
}

int wb_wait_ino(struct wb *wb, uint64_t ino)
{
	struct wb_inode *wi;
	uint64_t target;
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	target = wb->seq;
	/* The list is in seq order: its head is the oldest still going.
	 * Later writes do not hold us up (no starvation by a busy writer). */
	while ((wi = find_inode(wb, ino)) && wi->head->seq <= target) {
		rc = wait_done(wb);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

/* Stops the walk at an inode whose oldest write is not after target. */
static int is_older(struct hashtab_node *n, void *target)
{
	return HASHTAB_ENTRY(n, struct wb_inode, hn)->head->seq <=
	       *(const uint64_t *)target;
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
	if (wb->bytes > 0 || wb->q_head) {
		while (any_older(wb, target)) {
			rc = wait_done(wb);
			if (rc < 0)
				break;
		}
	}
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

void wb_wait_file(struct wb *wb, struct bfs_file *f)
{
	pthread_mutex_lock(&wb->lock);
	while (f->wb_pending > 0)
		pthread_cond_wait(&wb->done, &wb->lock);
	pthread_mutex_unlock(&wb->lock);
}

int wb_wait_file_intr(struct wb *wb, struct bfs_file *f)
{
	int rc = 0;

	pthread_mutex_lock(&wb->lock);
	while (f->wb_pending > 0) {
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
	if (find_inode(wb, ino)) {
		changed = true;
	} else if (wb->ndone - gen > WB_RING) {
		changed = true;  /* forgotten: assume the worst */
	} else {
		for (uint64_t k = gen; k < wb->ndone && !changed; k++)
			changed = wb->ring[k % WB_RING] == ino;
	}
	pthread_mutex_unlock(&wb->lock);
	return changed;
}
