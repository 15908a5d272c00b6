/* fdcache.c - check-out/check-in cache of open fds. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdcache.h"
#include "util.h"
#include "xalloc.h"

struct fentry {
	struct fdcache_key key;
	int fd;
	int64_t last_ns;
	struct fentry *prev, *next;    /* most recently given back first */
	struct fentry *hnext;          /* hash chain */
};

struct fdcache {
	pthread_mutex_t lock;
	struct fentry lru;             /* protected by lock; sentinel */
	struct fentry **table;         /* protected by lock */
	size_t nbuckets;               /* power of two, >= max */
	unsigned int count;            /* protected by lock */
	unsigned int max;
	int64_t idle_ns;
};

/* A hash table beside the LRU list: every READ or WRITE looks up a key or
 * two, and a full cache scanned linearly cost microseconds per call. */

static size_t key_bucket(const struct fdcache *fc, const struct fdcache_key *k)
{
	uint64_t h = 1469598103934665603ull;       /* FNV-1a */

	for (uint32_t i = 0; i < k->fhlen; i++)
		h = (h ^ k->fh[i]) * 1099511628211ull;
	h = (h ^ k->cred.uid) * 1099511628211ull;
	h = (h ^ (uint32_t)k->accmode) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & (fc->nbuckets - 1);
}

struct fdcache *fdcache_new(unsigned int max, unsigned int idle_sec)
{
	struct fdcache *fc = xcalloc(1, sizeof(*fc));

	pthread_mutex_init(&fc->lock, NULL);
	fc->lru.next = fc->lru.prev = &fc->lru;
	fc->max = max ? max : 1;
	for (fc->nbuckets = 16; fc->nbuckets < fc->max; fc->nbuckets *= 2)
		;
	fc->table = xcalloc(fc->nbuckets, sizeof(*fc->table));
	fc->idle_ns = (int64_t)idle_sec * 1000000000;
	return fc;
}

/* The chain link pointing at k's entry, or at the chain's NULL end. */
static struct fentry **find(struct fdcache *fc, const struct fdcache_key *k)
{
	struct fentry **pp = &fc->table[key_bucket(fc, k)];

	while (*pp && memcmp(&(*pp)->key, k, sizeof(*k)))
		pp = &(*pp)->hnext;
	return pp;
}

static void unlink_entry(struct fdcache *fc, struct fentry *e)
{
	struct fentry **pp = &fc->table[key_bucket(fc, &e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	fc->count--;
}

void fdcache_free(struct fdcache *fc)
{
	if (!fc)
		return;
	while (fc->lru.next != &fc->lru) {
		struct fentry *e = fc->lru.next;

		unlink_entry(fc, e);
		close(e->fd);
		free(e);
	}
	pthread_mutex_destroy(&fc->lock);
	free(fc->table);
	free(fc);
}

void fdcache_key_init(struct fdcache_key *k, const void *fh, size_t fhlen,
		      const struct br_cred *cred, int accmode)
{
	memset(k, 0, sizeof(*k));
	k->fhlen = (uint32_t)BR_MIN(fhlen, sizeof(k->fh));
	memcpy(k->fh, fh, k->fhlen);
	k->cred.uid = cred->uid;
	k->cred.gid = cred->gid;
	k->cred.ngroups = BR_MIN(cred->ngroups, (uint32_t)RPC_AUTH_SYS_GROUPS);
	memcpy(k->cred.groups, cred->groups, k->cred.ngroups * sizeof(cred->groups[0]));
	k->accmode = accmode;
}

int fdcache_take(struct fdcache *fc, const struct fdcache_key *k)
{
	int fd = -1;

	struct fentry *e;

	pthread_mutex_lock(&fc->lock);
	e = *find(fc, k);
	if (e) {
		unlink_entry(fc, e);
		fd = e->fd;
	}
	pthread_mutex_unlock(&fc->lock);
	free(e);
	return fd;
}

void fdcache_give(struct fdcache *fc, const struct fdcache_key *k, int fd)
{
	struct fentry *e, *victim = NULL, **pp;

	if (fd < 0)
		return;
	pthread_mutex_lock(&fc->lock);
	pp = find(fc, k);
	if (*pp) {
		pthread_mutex_unlock(&fc->lock);
		close(fd);      /* one per key is enough */
		return;
	}
	if (fc->count >= fc->max) {
		victim = fc->lru.prev;
		unlink_entry(fc, victim);
		pp = find(fc, k);       /* the victim may have shared k's chain */
	}
	e = xcalloc(1, sizeof(*e));
	e->key = *k;
	e->fd = fd;
	e->last_ns = now_ns();
	e->hnext = NULL;
	*pp = e;
	e->next = fc->lru.next;
	e->prev = &fc->lru;
	fc->lru.next->prev = e;
	fc->lru.next = e;
	fc->count++;
	pthread_mutex_unlock(&fc->lock);
	if (victim) {
		close(victim->fd);
		free(victim);
	}
}

/* Close and free a list of unlinked entries, outside the lock: the last
 * close of a removed file frees its blocks, which is disk work. */
static void close_dead(struct fentry *dead)
{
	while (dead) {
		struct fentry *e = dead;

		dead = e->next;
		close(e->fd);
		free(e);
	}
}

void fdcache_expire(struct fdcache *fc)
{
	int64_t cutoff = now_ns() - fc->idle_ns;
	struct fentry *dead = NULL;

	pthread_mutex_lock(&fc->lock);
	/* Oldest at the tail: stop at the first one still fresh. */
	while (fc->lru.prev != &fc->lru && fc->lru.prev->last_ns < cutoff) {
		struct fentry *e = fc->lru.prev;

		unlink_entry(fc, e);
		e->next = dead;
		dead = e;
	}
	pthread_mutex_unlock(&fc->lock);
	close_dead(dead);
}

void fdcache_forget(struct fdcache *fc, const void *fh, size_t fhlen)
{
	struct fentry *dead = NULL;

	pthread_mutex_lock(&fc->lock);
	for (struct fentry *e = fc->lru.next, *n; e != &fc->lru; e = n) {
		n = e->next;
		if (e->key.fhlen == fhlen && !memcmp(e->key.fh, fh, fhlen)) {
			unlink_entry(fc, e);
			e->next = dead;
			dead = e;
		}
	}
	pthread_mutex_unlock(&fc->lock);
	close_dead(dead);
}
