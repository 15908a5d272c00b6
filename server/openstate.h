/* openstate.h - files clients hold open (OPEN's BR_OPEN_HOLD, CLOSE).
 *
 * On Linux, permission is checked when a file is opened; writes through
 * the descriptor then succeed whatever the file's mode becomes.  git
 * creates its objects 0444 and writes them through the creating
 * descriptor; cp and tar do the same with read-only files.  The server
 * can keep that promise only by keeping the file it opened: a WRITE that
 * reopened the file as the caller would be refused.
 *
 * So a client that opens a file for writing asks the server to hold the
 * open file (BR_OPEN_HOLD, BR_CREATE_HOLD), and later WRITE, READ,
 * COPY_RANGE and SETATTR(BR_SET_OPEN) calls of the same client and
 * credentials use it.  An entry is keyed by (client id, handle,
 * credentials, access mode) and counts its holds: two opens of one file
 * by one user on one node share an entry, and the CLOSE of the last one
 * closes it.  No id travels in READ or WRITE, so those calls keep their
 * arguments (the .x promises that).
 *
 * The table lives in memory only.  A restarted server has none; a call
 * that finds no entry opens the file as the caller (proc_data.c), with the
 * owner override as the fallback, which is what knfsd does for NFSv3.
 * Entries of a client whose lease ran out (lock.h) are dropped.
 *
 * Threads: workers and the loop thread (openstate_get in nowait mode
 * never blocks) call in; one mutex guards the table.  A descriptor in use
 * by a call is never closed under it: entries count their users, and the
 * last of holds and users closes it. */
#ifndef BR_OPENSTATE_H
#define BR_OPENSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "fdcache.h"

#define OPENSTATE_MAX 65536         /* entries: more are not held */

/* The fd cache's key (handle, credentials, access mode) and the client. */
struct openstate_key {
	uint64_t client;
	struct fdcache_key fk;
};

/* An entry in use: returned by openstate_get, given back with _put. */
struct openstate_use {
	int fd;
	void *entry;                /* private */
};

struct openstate;

/* Never fails (xmalloc). */
struct openstate *openstate_new(unsigned int max);
/* Closes every held file.  Accepts NULL. */
void openstate_free(struct openstate *os);

/* Fill a key (zeroing padding so keys compare as bytes). */
void openstate_key_init(struct openstate_key *k, uint64_t client,
			const void *fh, size_t fhlen, const struct br_cred *cred,
			int accmode);

/* Take one hold on k with fd, which the table now owns: it is closed when
 * k already has an entry (the hold then counts on that one's descriptor)
 * or when the table is full.  Returns 0, or -ENFILE (full: not held). */
int openstate_hold(struct openstate *os, const struct openstate_key *k, int fd);
/* Drop one hold on k; the last one closes the file unless a call uses it
 * (then that call's _put does).  No entry: nothing happens. */
void openstate_release(struct openstate *os, const struct openstate_key *k);

/* A held file of k's client, handle and credentials that allows k's access
 * mode (O_RDONLY and O_WRONLY are served by O_RDWR entries too).  true and
 * *use filled, or false.  Give it back with openstate_put. */
bool openstate_get(struct openstate *os, const struct openstate_key *k,
		   struct openstate_use *use);
void openstate_put(struct openstate *os, struct openstate_use *use);

/* Drop every hold of client (its lease ran out). */
void openstate_client_gone(struct openstate *os, uint64_t client);

/* Entries in the table (stats, tests). */
unsigned int openstate_count(struct openstate *os);

#endif
