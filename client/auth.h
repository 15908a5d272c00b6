/* auth.h - MUNGE authentication on the client side (internal to client/).
 *
 * With MUNGE, a call's uid/gid are vouched for by munged instead of merely
 * claimed (AUTH_SYS).  The protocol is in server/auth.h: per connection
 * and per (uid, gid), one NULL call carrying a fresh MUNGE credential
 * opens a session, whose AUTH_SHORT handle every later call of that user
 * carries.  This module keeps those handles, one per (uid, gid), each
 * tagged with the connection generation it was opened on (conn.h): after
 * a reconnect the old handle is not even tried, a new session is opened.
 * A handle the server no longer knows (AUTH_REJECTEDCRED: it restarted,
 * the session expired) is dropped and the call re-sent with a new one.
 *
 * Modes: BRAMBLE_AUTH_SYS never uses MUNGE; BRAMBLE_AUTH_MUNGE always;
 * BRAMBLE_AUTH_AUTO (the default) uses AUTH_SYS until the server asks for
 * more -- its HELLO announces BR_CAP_MUNGE, or it answers AUTH_TOOWEAK --
 * and MUNGE from then on.
 *
 * Locking: a->lock protects the session table; it is never held across a
 * round trip or munge_encode().  One thread opens the session of a user
 * while other threads of the same user wait for it (a->opened), so a burst
 * of calls costs one MUNGE credential, not one each. */
#ifndef BR_CLIENT_AUTH_H
#define BR_CLIENT_AUTH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "hashtab.h"
#include "rpcmsg.h"

#define AUTH_ENTRIES_MAX 4096      /* (uid, gid) pairs remembered */

struct auth_entry;

struct auth {
	int mode;                   /* BRAMBLE_AUTH_*, as asked */
	atomic_bool munge;          /* calls with credentials use MUNGE */
	char *socket;               /* munged's; NULL: libmunge's default */
	uint64_t client_id;         /* sealed into every MUNGE credential */
	pthread_mutex_t lock;
	pthread_cond_t opened;      /* an opening finished (lock) */
	struct hashtab table;       /* of auth_entry by uid, gid; protected by lock */
};

/* socket is copied (NULL: libmunge's default). */
void auth_init(struct auth *a, int mode, const char *socket, uint64_t client_id);
void auth_release(struct auth *a);

static inline bool auth_munge_on(struct auth *a)
{
	return atomic_load_explicit(&a->munge, memory_order_relaxed);
}

/* The server asks for MUNGE (HELLO capability, or AUTH_TOOWEAK): in auto
 * mode, switch to it.  true when MUNGE is (now) in use. */
bool auth_server_wants_munge(struct auth *a);

/* The session handle of (uid, gid) on c's current connection, opening a
 * session first when there is none (a MUNGE credential made as uid/gid,
 * sent with a NULL call).  Waits at most until deadline_ns.  0, or
 * -EACCES (munged or the server refused: logged), -ETIMEDOUT, -ESHUTDOWN. */
int auth_session(struct auth *a, struct conn *c, uint32_t uid, uint32_t gid,
		 int64_t deadline_ns, unsigned char handle[RPC_SHORT_LEN]);
/* The server rejected handle (AUTH_REJECTEDCRED): forget it, unless
 * another thread already replaced it. */
void auth_session_drop(struct auth *a, uint32_t uid, uint32_t gid,
		       const unsigned char handle[RPC_SHORT_LEN]);

/* A MUNGE credential made by munged (socket NULL: the default) for
 * uid/gid, sealing payload.  The calling thread alone takes uid/gid for
 * the length of the request (see auth.c).  On success *cred_out is
 * malloc'd (free() it).  0, -EPERM (not root and not that user), -EIO
 * (munged refused or is unreachable: the reason is in err). */
int auth_munge_encode(const char *socket, uint32_t uid, uint32_t gid,
		      const void *payload, int len, char **cred_out,
		      char *err, size_t errlen);

#endif
