/* fdcache.c - check-out/check-in cache of open fds. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdcache.h"
#include "hashtab.h"
#include "util.h"
#include "xalloc.h"

struct fentry {
	struct fdcache_key key;
	int fd;
	int64_t last_ns;
	struct fentry *prev, *next;    /* most recently given back first */
	struct hashtab_node hn;        /* in the table, by key */
};

struct fdcache {
	pthread_mutex_t lock;
	struct fentry lru;             /* protected by lock; sentinel */
	/* Beside the LRU list: every READ or WRITE looks up a key or two,
	 * and a full cache scanned linearly cost microseconds per call. */
	struct hashtab table;          /* protected by lock; at most max entries */
	unsigned int max;
	int64_t idle_ns;
};

struct fdcache *fdcache_new(unsigned int max, unsigned int idle_sec)
{
	struct fdcache *fc = xcalloc(1, sizeof(*fc));

	pthread_mutex_init(&fc->lock, NULL);
	fc->lru.next = fc->lru.prev = &fc->lru;
	fc->max = max ? max : 1;
	/* As many buckets as entries allowed: the table never grows. */
	hashtab_init(&fc->table, fc->max);
	fc->idle_ns = (int64_t)idle_sec * 1000000000;
	return fc;
}

/* Keys are zeroed before they are filled (fdcache_key_init) and compared
 * whole: hashed whole too. */
static uint64_t key_hash(const struct fdcache_key *k)
{
	return hash_bytes(k, sizeof(*k));
}

static bool entry_is(const struct hashtab_node *n, const void *k)
{
	return !memcmp(&HASHTAB_ENTRY(n, struct fentry, hn)->key, k,
		       sizeof(struct fdcache_key));
}

static struct fentry *find(struct fdcache *fc, const struct fdcache_key *k)
{
	struct hashtab_node *n = hashtab_find(&fc->table, key_hash(k), entry_is, k);

	return n ? HASHTAB_ENTRY(n, struct fentry, hn) : NULL;
}

static void unlink_entry(struct fdcache *fc, struct fentry *e)
{
	hashtab_remove(&fc->table, &e->hn);
	e->prev->next = e->next;
	e->next->prev = e->prev;
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
	hashtab_release(&fc->table);
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
	e = find(fc, k);
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
	struct fentry *e, *victim = NULL;

	if (fd < 0)
		return;
	pthread_mutex_lock(&fc->lock);
	if (find(fc, k)) {
		pthread_mutex_unlock(&fc->lock);
		close(fd);      /* one per key is enough */
		return;
	}
	if (fc->table.count >= fc->max) {
		victim = fc->lru.prev;
		unlink_entry(fc, victim);
	}
	e = xcalloc(1, sizeof(*e));
	e->key = *k;
	e->fd = fd;
	e->last_ns = now_ns();
	hashtab_insert(&fc->table, &e->hn, key_hash(k));
	e->next = fc->lru.next;
	e->prev = &fc->lru;
	fc->lru.next->prev = e;
	fc->lru.next = e;
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
