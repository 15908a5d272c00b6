/* watch.h - who caches what: callbacks to clients (BR_CAP_CALLBACKS).
 *
 * A connection whose HELLO asked for BR_CAP_CALLBACKS has a watch set:
 * the objects (by handle: fhandle.h makes the same object always yield
 * the same bytes) whose attributes or directory entries it was given.
 * When a call changes an object, every connection watching it gets one
 * CB_CHANGED record (bramble_prot.x, "Callbacks") and stops watching it.
 * dispatch.c calls watch_before() and watch_after() around every
 * procedure; the tables of what each procedure reads and changes are in
 * watch.c, so the handlers themselves know nothing of this.
 *
 * Races between a fetch and a change, and why the client stays right:
 *  - objects a call reads by handle (GETATTR, OPEN, the directory of a
 *    LOOKUP or READDIRPLUS) are watched BEFORE the call runs, so a change
 *    either happened before the call read them or is called back, with
 *    the entry names for a directory;
 *  - objects a call discovers (a LOOKUP's result, READDIRPLUS entries)
 *    can only be watched after it ran.  Every change is numbered (seq)
 *    and noted in a small table hashed by handle (collisions only err on
 *    the safe side); an object changed since the call began is followed,
 *    after the reply, by a CB_CHANGED with BR_CB_RACE;
 *  - a callback may reach the client before the reply of a call that
 *    raced with it: the client ignores such a result (bramble.h).
 * Order on the wire (what close-to-open needs): the records for OTHER
 * connections are handed to the sender before watch_after() returns, so
 * before the changing call's reply is queued; conn.c writes each at once.
 * The changing call's own connection gets its notice (BR_CB_SELF) the
 * same way, before its reply, so its client stops trusting what it
 * changed before the call returns.  Only BR_CB_RACE and BR_CB_DROPPED
 * notices about what the call itself fetched go after the reply, in
 * *trail, which conn.c writes right after it.
 *
 * With BR_CAP_CB_ATTRS (asked in HELLO with BR_CAP_CALLBACKS) a
 * connection's own changes do not end its watch: each object it changed
 * while watching it stays watched, THEN its attributes are taken (the
 * attr hook: an fstat), THEN its BR_CB_SELF notice with them is handed
 * to the sender, under the lock, before the reply.  Any other change
 * numbered after this call's finds the object watched and is handed over
 * after the notice (the sender keeps order); one numbered in between
 * (seen in the table of recent changes) or a watch lost meanwhile voids
 * the attributes.  A notice without attributes ends the watch.  Records
 * to such a connection are all BR_CB_VERS_ATTRS.
 *
 * Bounds: a connection watches at most max_per_client objects; past it
 * the oldest is dropped and the client told (BR_CB_DROPPED, in *trail).
 *
 * Not seen: changes made on the exported disk behind brambled's back.
 * Clients bound their trust with a lease time (fuse/lease.h).
 *
 * Threads: everything is thread-safe (one mutex); watch_before/after run
 * on workers and, for inline calls, on the loop thread (they never block
 * on I/O but for the attr hook, which only changing calls reach, and
 * those never run inline).  The sender is called with no lock held, but
 * for the SELF notices with attributes (then with the mutex: it must not
 * call back into watch).  The attr hook is called with no lock held.  A
 * watch_client is
 * reference counted: its connection holds one, every callback record in
 * flight to it another; `conn' is the loop thread's business. */
#ifndef BR_WATCH_H
#define BR_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"

struct conn;
struct watch;
struct watch_client;

#define WATCH_MAX_PER_CLIENT 65536

/* Deliver one callback record (mark included) to wc's connection, in
 * order with everything already queued on the loop's done-list; takes the
 * record's memory (rec is left empty) and a reference to wc (the
 * receiver drops it with watch_client_unref()).  Any thread. */
typedef void watch_send_fn(void *ctx, struct watch_client *wc, struct buf *rec);
/* The attributes of the object fh names, as of now: 0, or -errno (-ESTALE
 * for an object gone).  Called by a worker right after its call, with
 * the server's identity (fsuid 0). */
typedef int watch_attr_fn(void *ctx, const br_fh *fh, br_attr *out);

struct watch_stats {
	uint64_t callbacks;     /* records sent (self and race included) */
	uint64_t objects;       /* objects named in them */
	uint64_t dropped;       /* watches dropped for lack of room */
	uint64_t watched;       /* (connection, object) pairs now */
	uint64_t clients;       /* connections with callbacks on */
};

/* max_per_client 0: WATCH_MAX_PER_CLIENT.  Free with watch_free(), after
 * every connection and the pool are gone. */
struct watch *watch_new(unsigned int max_per_client);
void watch_free(struct watch *w);
/* Set once, before connections come (conn_set_start). */
void watch_set_sender(struct watch *w, watch_send_fn *send, void *ctx);
/* Set once, before connections come.  Without it SELF notices carry no
 * attributes (and end the watch, as without BR_CAP_CB_ATTRS). */
void watch_set_attr(struct watch *w, watch_attr_fn *fn, void *ctx);
void watch_get_stats(struct watch *w, struct watch_stats *out);

/* Loop thread: a new connection's set (callbacks off until HELLO asks). */
struct watch_client *watch_client_new(struct watch *w, struct conn *conn);
/* Loop thread: the connection is closing: forget all it watches and send
 * it nothing more.  Its jobs may still run: the connection drops its
 * reference with watch_client_unref() when it is freed. */
void watch_client_close(struct watch_client *wc);
void watch_client_ref(struct watch_client *wc);
void watch_client_unref(struct watch_client *wc);
/* Loop thread: the live connection, NULL once closed. */
struct conn *watch_client_conn(const struct watch_client *wc);

/* Where a call begins (before it touches the disk). */
uint64_t watch_seq(struct watch *w);
/* Before proc runs with its decoded args, for connection wc (NULL: a
 * call without a connection). */
void watch_before(struct watch *w, struct watch_client *wc, uint32_t proc,
		  const void *args);
/* The (directory, name) pairs whose objects proc is about to unlink or
 * replace (REMOVE, RMDIR, RENAME: at most 2), so that the caller can find
 * their handles BEFORE it runs (after, the names are gone) and pass them
 * to watch_after() as victims: a file that lost a link changed too (its
 * nlink, its ctime).  0 when nothing is watched at all (no work). */
unsigned int watch_names_of(struct watch *w, uint32_t proc, const void *args,
			    const br_fh **dirs, const char **names);
/* After it ran: rc its result (0 or -errno), res its decoded result,
 * seq0 what watch_seq() said before it ran, victims what
 * watch_names_of() named.  Sends the callbacks for what it changed to
 * every connection watching it, the caller's own included (BR_CB_SELF,
 * with attributes for a BR_CAP_CB_ATTRS connection: it calls the attr
 * hook), before the reply; appends to trail the records for wc that must
 * follow the reply (BR_CB_RACE, BR_CB_DROPPED). */
void watch_after(struct watch *w, struct watch_client *wc, uint32_t proc,
		 const void *args, const void *res, int rc, uint64_t seq0,
		 const br_fh *victims, unsigned int nvictims, struct buf *trail);

#endif
