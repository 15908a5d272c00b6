/* pool.c - worker threads, the job queue and the ev_async done-queue. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"
#include "watch.h"
#include "xalloc.h"

struct jobq {
	struct job *head, *tail;
};

struct pool {
	struct ev_loop *loop;
	pool_run_fn *run;
	pool_done_fn *done;
	void *ctx;
	pthread_t *threads;
	unsigned int nthreads;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct jobq todo;               /* protected by lock */
	bool stop;                      /* protected by lock */
	unsigned int idle;              /* protected by lock: workers waiting */

	pthread_mutex_t done_lock;
	struct jobq done_q;             /* protected by done_lock */
	ev_async done_w;                /* loop thread */
};

static void q_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *q_take_all(struct jobq *q)
{
	struct job *j = q->head;

	q->head = q->tail = NULL;
	return j;
}

static void q_free(struct jobq *q)
{
	struct job *j = q_take_all(q);

	while (j) {
		struct job *n = j->next;

		job_free(j);
		j = n;
	}
}

struct job *job_new(void)
{
	struct job *j = xcalloc(1, sizeof(*j));

	buf_init(&j->reply, 0);
	buf_init(&j->trail, 0);
	return j;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->rec);
	free(j->grant);
	buf_release(&j->reply);
	buf_release(&j->trail);
	if (j->callback)
		watch_client_unref(j->wc);
	free(j);
}

static void *worker_main(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !p->todo.head) {
			p->idle++;
			pthread_cond_wait(&p->cond, &p->lock);
			p->idle--;
		}
		if (p->stop)
			break;
		struct job *j = p->todo.head;

		p->todo.head = j->next;
		if (!p->todo.head)
			p->todo.tail = NULL;
		pthread_mutex_unlock(&p->lock);

		if (p->run(p->ctx, j))
			pool_complete(p, j);

		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void pool_complete(struct pool *p, struct job *j)
{
	pthread_mutex_lock(&p->done_lock);
	q_push(&p->done_q, j);
	pthread_mutex_unlock(&p->done_lock);
	ev_async_send(p->loop, &p->done_w);
}

static void done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct pool *p = container_of(w, struct pool, done_w);
	struct job *j;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&p->done_lock);
	j = q_take_all(&p->done_q);
	pthread_mutex_unlock(&p->done_lock);
	while (j) {             /* sends coalesce: drain all */
		struct job *n = j->next;

		j->next = NULL;
		p->done(p->ctx, j);
		j = n;
	}
}

int pool_new(struct ev_loop *loop, unsigned int n, pool_run_fn *run,
	     pool_done_fn *done, void *ctx, struct pool **out)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	sigset_t all, old;
	int rc = 0;

	p->loop = loop;
	p->run = run;
	p->done = done;
	p->ctx = ctx;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_mutex_init(&p->done_lock, NULL);
	ev_async_init(&p->done_w, done_cb);
	ev_async_start(loop, &p->done_w);
	p->threads = xcalloc(n, sizeof(*p->threads));

	/* Workers inherit this mask: signals are the loop thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; p->nthreads < n; p->nthreads++) {
		rc = -pthread_create(&p->threads[p->nthreads], NULL, worker_main, p);
		if (rc < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void pool_submit(struct pool *p, struct job *j)
{
	bool wake;

	pthread_mutex_lock(&p->lock);
	q_push(&p->todo, j);
	wake = p->idle > 0;
	pthread_mutex_unlock(&p->lock);
	/* Signal after unlocking, so the woken worker does not run straight
	 * into the held mutex (a second futex round trip on both sides); and
	 * only when a worker sleeps: a busy one takes the job when it looks
	 * for more work. */
	if (wake)
		pthread_cond_signal(&p->cond);
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	ev_async_stop(p->loop, &p->done_w);
	q_free(&p->todo);
	q_free(&p->done_q);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->done_lock);
	free(p->threads);
	free(p);
}
