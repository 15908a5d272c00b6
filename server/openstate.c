/* openstate.c - the table of held open files (openstate.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashtab.h"
#include "openstate.h"
#include "util.h"
#include "xalloc.h"

struct oentry {
	struct openstate_key key;
	int fd;
	unsigned int holds;         /* protected by os->lock */
	unsigned int users;         /* protected by os->lock */
	struct hashtab_node hn;     /* protected by os->lock */
	struct oentry *dead_next;   /* openstate_client_gone's list to close */
};

struct openstate {
	pthread_mutex_t lock;
	struct hashtab table;               /* protected by lock */
	/* table.count, kept beside it for openstate_get() to read without
	 * the lock: it skips the lock on every READ of a server holding
	 * nothing. */
	atomic_uint count;
	unsigned int max;
};

struct openstate *openstate_new(unsigned int max)
{
	struct openstate *os = xcalloc(1, sizeof(*os));

	pthread_mutex_init(&os->lock, NULL);
	os->max = max ? max : 1;
	hashtab_init(&os->table, 0);
	return os;
}

/* Frees an entry without unlinking it: the whole table goes next. */
static int close_entry(struct hashtab_node *n, void *unused)
{
	struct oentry *e = HASHTAB_ENTRY(n, struct oentry, hn);

	close(e->fd);
	free(e);
	return 0;
}

void openstate_free(struct openstate *os)
{
	if (!os)
		return;
	hashtab_foreach(&os->table, close_entry, NULL);
	hashtab_release(&os->table);
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

/* Keys are zeroed before they are filled (openstate_key_init) and
 * compared whole: hashed whole too. */
static uint64_t key_hash(const struct openstate_key *k)
{
	return hash_bytes(k, sizeof(*k));
}

static bool entry_is(const struct hashtab_node *n, const void *k)
{
	return !memcmp(&HASHTAB_ENTRY(n, struct oentry, hn)->key, k,
		       sizeof(struct openstate_key));
}

static struct oentry *find(struct openstate *os, const struct openstate_key *k)
{
	struct hashtab_node *n = hashtab_find(&os->table, key_hash(k), entry_is, k);

	return n ? HASHTAB_ENTRY(n, struct oentry, hn) : NULL;
}

static void unlink_entry(struct openstate *os, struct oentry *e)
{
	hashtab_remove(&os->table, &e->hn);
	os->count--;
}

/* Unlink e (holds and users both 0) and hand its fd back to be closed
 * outside the lock: a last close may free a removed file's blocks. */
static int drop(struct openstate *os, struct oentry *e)
{
	int fd = e->fd;

	unlink_entry(os, e);
	free(e);
	return fd;
}

int openstate_hold(struct openstate *os, const struct openstate_key *k, int fd)
{
	struct oentry *e;
	int rc = 0;

	pthread_mutex_lock(&os->lock);
	e = find(os, k);
	if (e) {
		e->holds++;
	} else if (os->count >= os->max) {
		rc = -ENFILE;
	} else {
		e = xcalloc(1, sizeof(*e));
		e->key = *k;
		e->fd = fd;
		e->holds = 1;
		hashtab_insert(&os->table, &e->hn, key_hash(k));
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
	e = find(os, k);
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
	return find(os, &k2);
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

struct client_gone {
	struct openstate *os;
	uint64_t client;
	struct oentry *dead;        /* unlinked, to close outside the lock */
};

/* The client's entry loses its holds, and goes unless a call uses it
 * (then its last _put drops it). */
static int unhold(struct hashtab_node *n, void *arg)
{
	struct oentry *e = HASHTAB_ENTRY(n, struct oentry, hn);
	struct client_gone *g = arg;

	if (e->key.client != g->client)
		return 0;
	e->holds = 0;
	if (e->users)
		return 0;
	unlink_entry(g->os, e);
	e->dead_next = g->dead;
	g->dead = e;
	return 0;
}

void openstate_client_gone(struct openstate *os, uint64_t client)
{
	struct client_gone g = { os, client, NULL };

	pthread_mutex_lock(&os->lock);
	hashtab_foreach(&os->table, unhold, &g);
	pthread_mutex_unlock(&os->lock);
	while (g.dead) {
		struct oentry *e = g.dead;

		g.dead = e->dead_next;
		close(e->fd);
		free(e);
	}
}

unsigned int openstate_count(struct openstate *os)
{
	return atomic_load(&os->count);
}
