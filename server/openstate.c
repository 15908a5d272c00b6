/* openstate.c - the table of held open files (openstate.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "openstate.h"
#include "util.h"
#include "xalloc.h"

#define NBUCKETS 4096               /* power of two */

struct oentry {
	struct openstate_key key;
	int fd;
	unsigned int holds;         /* protected by os->lock */
	unsigned int users;         /* protected by os->lock */
	struct oentry *hnext;       /* protected by os->lock */
};

struct openstate {
	pthread_mutex_t lock;
	struct oentry *table[NBUCKETS];     /* protected by lock */
	/* Written under lock; read without it by openstate_get(), which
	 * then skips the lock on every READ of a server holding nothing. */
	atomic_uint count;
	unsigned int max;
};

/* The bucket of a key: the access mode is left out, so that a lookup for
 * O_WRONLY and one for O_RDWR walk one chain. */
static size_t bucket(const struct openstate_key *k)
{
	uint64_t h = 0xcbf29ce484222325ULL;         /* FNV-1a */

	for (uint32_t i = 0; i < k->fk.fhlen; i++)
		h = (h ^ k->fk.fh[i]) * 0x100000001b3ULL;
	h = (h ^ k->client) * 0x100000001b3ULL;
	h = (h ^ k->fk.cred.uid) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29)) & (NBUCKETS - 1);
}

struct openstate *openstate_new(unsigned int max)
{
	struct openstate *os = xcalloc(1, sizeof(*os));

	pthread_mutex_init(&os->lock, NULL);
	os->max = max ? max : 1;
	return os;
}

void openstate_free(struct openstate *os)
{
	if (!os)
		return;
	for (size_t b = 0; b < NBUCKETS; b++) {
		while (os->table[b]) {
			struct oentry *e = os->table[b];

			os->table[b] = e->hnext;
			close(e->fd);
			free(e);
		}
	}
	pthread_mutex_destroy(&os->lock);
	free(os);
}

void openstate_key_init(struct openstate_key *k, uint64_t client,
			const void *fh, size_t fhlen, const struct br_cred *cred,
			int accmode)
{
	memset(k, 0, sizeof(*k));
	k->client = client;
	fdcache_key_init(&k->fk, fh, fhlen, cred, accmode);
}

/* The chain link pointing at k's entry, or at the chain's NULL end. */
static struct oentry **find(struct openstate *os, const struct openstate_key *k)
{
	struct oentry **pp = &os->table[bucket(k)];

	while (*pp && memcmp(&(*pp)->key, k, sizeof(*k)))
		pp = &(*pp)->hnext;
	return pp;
}

/* Unlink e (holds and users both 0) and hand its fd back to be closed
 * outside the lock: a last close may free a removed file's blocks. */
static int drop(struct openstate *os, struct oentry *e)
{
	struct oentry **pp = &os->table[bucket(&e->key)];
	int fd = e->fd;

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	os->count--;
	free(e);
	return fd;
}

int openstate_hold(struct openstate *os, const struct openstate_key *k, int fd)
{
	struct oentry **pp, *e;
	int rc = 0;

	pthread_mutex_lock(&os->lock);
	pp = find(os, k);
	if (*pp) {
		(*pp)->holds++;
	} else if (os->count >= os->max) {
		rc = -ENFILE;
	} else {
		e = xcalloc(1, sizeof(*e));
		e->key = *k;
		e->fd = fd;
		e->holds = 1;
		*pp = e;
		os->count++;
		fd = -1;                /* the table's now */
	}
	pthread_mutex_unlock(&os->lock);
	if (fd >= 0)
		close(fd);
	return rc;
}

void openstate_release(struct openstate *os, const struct openstate_key *k)
{
	struct oentry *e;
	int fd = -1;

	pthread_mutex_lock(&os->lock);
	e = *find(os, k);
	if (e && e->holds > 0 && --e->holds == 0 && e->users == 0)
		fd = drop(os, e);
	pthread_mutex_unlock(&os->lock);
	if (fd >= 0)
		close(fd);
}

/* An entry of k's client, handle and credentials with access mode mode. */
static struct oentry *find_mode(struct openstate *os, const struct openstate_key *k,
				int mode)
{
	struct openstate_key k2 = *k;

	k2.fk.accmode = mode;
	return *find(os, &k2);
}

bool openstate_get(struct openstate *os, const struct openstate_key *k,
		   struct openstate_use *use)
{
	struct oentry *e;

	if (atomic_load(&os->count) == 0)
		return false;
	pthread_mutex_lock(&os->lock);
	e = find_mode(os, k, k->fk.accmode);
	if (!e && k->fk.accmode != O_RDWR)
		e = find_mode(os, k, O_RDWR);
	/* An entry whose holds are gone (lease ended) serves no new call. */
	if (e && e->holds == 0)
		e = NULL;
	if (e) {
		e->users++;
		use->fd = e->fd;
		use->entry = e;
	}
	pthread_mutex_unlock(&os->lock);
	return e != NULL;
}

void openstate_put(struct openstate *os, struct openstate_use *use)
{
	struct oentry *e = use->entry;
	int fd = -1;

	if (!e)
		return;
	pthread_mutex_lock(&os->lock);
	if (--e->users == 0 && e->holds == 0)
		fd = drop(os, e);
	pthread_mutex_unlock(&os->lock);
	if (fd >= 0)
		close(fd);
	use->entry = NULL;
	use->fd = -1;
}

void openstate_client_gone(struct openstate *os, uint64_t client)
{
	struct oentry *dead = NULL;

	pthread_mutex_lock(&os->lock);
	for (size_t b = 0; b < NBUCKETS; b++) {
		struct oentry **pp = &os->table[b];

		while (*pp) {
			struct oentry *e = *pp;

			if (e->key.client != client) {
				pp = &e->hnext;
				continue;
			}
			e->holds = 0;
			if (e->users) {         /* its last _put drops it */
				pp = &e->hnext;
				continue;
			}
			*pp = e->hnext;
			os->count--;
			e->hnext = dead;
			dead = e;
		}
	}
	pthread_mutex_unlock(&os->lock);
	while (dead) {
		struct oentry *e = dead;

		dead = e->hnext;
		close(e->fd);
		free(e);
	}
}

unsigned int openstate_count(struct openstate *os)
{
	return atomic_load(&os->count);
}
