/* drc.h - the duplicate-request cache: a non-idempotent call sent again
 * (same client, same XID) gets the reply of its first execution, even
 * from a server restarted in between (kill -9 included).
 *
 * libbramble re-sends the calls in flight after a reconnect, with the
 * same XID.  A MKDIR whose reply was lost with the old connection would
 * otherwise run twice and answer EEXIST to a call that succeeded; a
 * REMOVE would answer ENOENT.  So workers look such calls up here first
 * (drc_begin) and store their reply afterwards (drc_done).
 *
 * Key: the client id libbramble puts in the AUTH_SYS machinename (the TCP
 * source port changes with each connection, so the id must travel in the
 * call), the XID, the procedure and a checksum of the arguments (a reused
 * XID with other arguments is another call).  Calls without a client id
 * are never cached.  The peer's IP address is deliberately NOT part of
 * the key: a node that reconnects from another address (a second NIC, a
 * bond failing over, a renewed DHCP lease, a NAT that rebinds) must still
 * find its reply, and several nodes behind one NAT share an address
 * anyway; the random 64-bit id is what tells clients apart.  (Claiming
 * another client's id gains nothing AUTH_SYS does not already give.)
 *
 * Bounds: at most `max' entries; an entry older than `ttl' is dropped,
 * and when the cache is full the oldest finished entry makes room.  Only
 * calls in flight at a disconnect are ever re-sent, and they are the
 * newest, so the bound needs to cover those, not a long history.
 * Replies of the cached procedures are small (a status, a handle, an
 * attr): at most DRC_REPLY_MAX bytes each.
 *
 * Persistence (drc_persist): each reply is also appended to the `drc'
 * table of bramble.db (drcstore.h) before drc_done returns, hence before
 * the reply can be sent; a restarted server loads the newest `max' rows.
 * A crash between doing the call and storing its reply would still leave
 * a re-sent call to run again (and answer EEXIST to a create it did), so
 * drc_begin first stores an intent row (the key, no reply): a restarted
 * server that finds an intent without a reply answers the re-sent call
 * DRC_UNCERTAIN, and dispatch then takes EEXIST from a create or ENOENT
 * from a remove or rename as the sign the first run did the work.
 * Their age counts from the restart: a client can re-send only to a
 * running server, however long it was down.  The table is pruned every
 * DRC_PRUNE_EVERY stores, in one statement.
 *
 * Thread-safe: one mutex guards the whole cache; the store has its own,
 * and no store call is made with the cache's mutex held (except the load
 * in drc_persist, before any worker runs). */
#ifndef BR_DRC_H
#define BR_DRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "drckey.h"

#define DRC_MAX 16384                  /* about 5 MiB at most */
#define DRC_TTL_NS (120 * INT64_C(1000000000))
#define DRC_CLIENT_ID_LEN 16           /* hex digits in the machinename */
#define DRC_PRUNE_EVERY 1024           /* stores between two prunes */

struct drc;
struct drc_entry;

/* A cache of at most max entries, each kept ttl_ns.  Free: drc_free(). */
struct drc *drc_new(unsigned int max, int64_t ttl_ns);
void drc_free(struct drc *d);

/* Make d persistent through the database at db_path (bramble.db), and
 * load what a previous run stored there as finished entries stamped
 * now_ns.  Call once, before the workers start.  Returns the number of
 * entries loaded (finished and uncertain), or -errno with a message in
 * err (>= 256 bytes). */
int drc_persist(struct drc *d, const char *db_path, int64_t now_ns,
		char *err, size_t errlen);

/* The client id in an AUTH_SYS machinename: exactly DRC_CLIENT_ID_LEN
 * hex digits (what libbramble sends).  Anything else (a host name, "")
 * is no id: false. */
bool drc_client_id(const char *machname, uint64_t *id);
/* A checksum of a call's argument bytes. */
uint64_t drc_sum(const void *p, size_t len);

enum drc_result {
	DRC_NEW,        /* run the call, then drc_done(*e) */
	DRC_HIT,        /* the first execution's reply was appended to reply */
	DRC_UNCERTAIN,  /* a previous run began this call and died before its
			 * reply was stored: run it, then drc_done(*e), but
			 * its work may be done already (see above) */
};

/* Look k up at time now_ns (CLOCK_MONOTONIC).  If the same call is still
 * running on another worker, wait for it to finish.  DRC_HIT: its reply
 * record (same bytes, same XID) has been appended to reply.  DRC_NEW:
 * the caller runs the call and must pass *e to drc_done(), even on
 * failure; *e is NULL when no entry could be made (every slot is busy):
 * then the call runs uncached. */
enum drc_result drc_begin(struct drc *d, const struct drc_key *k,
			  int64_t now_ns, struct buf *reply,
			  struct drc_entry **e);
/* Store the reply record of e's call (copied; len <= DRC_REPLY_MAX) --
 * in the database too when persistent, before returning -- and wake its
 * duplicates.  e NULL does nothing.  A failed database write is logged
 * (rate-limited) and the entry stays in memory only. */
void drc_done(struct drc *d, struct drc_entry *e, const void *reply,
	      size_t len);

/* Entries held (for the tests). */
unsigned int drc_count(struct drc *d);

#endif
