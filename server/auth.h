/* auth.h - who a call comes from: the authentication policy, and the
 * MUNGE sessions of a connection.
 *
 * Policy.  A server (or, with the exports configuration, an export)
 * requires AUTH_MODE_SYS or AUTH_MODE_MUNGE.  AUTH_SYS is believed only
 * from a reserved source port (unless --insecure) and only under
 * AUTH_MODE_SYS; a MUNGE session satisfies both modes, from any port,
 * since munged, not the client, vouches for its uid/gid.  NULL, INFO and
 * HELLO take any credential; MOUNT also AUTH_NONE.  Refusals are RFC 5531
 * AUTH_ERRORs: AUTH_TOOWEAK (AUTH_SYS where MUNGE is required, or from an
 * ordinary port), AUTH_BADCRED (a MUNGE credential that munged refuses,
 * an unknown flavor), AUTH_REJECTEDCRED (an unknown or expired session:
 * the client opens a new one).
 *
 * Sessions.  MUNGE credentials are single-use (munged refuses a replay)
 * and each costs a round trip to munged, so a client does not send one
 * per call.  It opens a session per (connection, uid/gid) with a NULL
 * call whose credential is BR_AUTH_MUNGE (body: the MUNGE credential, its
 * sealed payload rpcmsg_munge_payload(): a tag and the client id).  The
 * server decodes it on a worker (munge_decode waits on munged's socket:
 * never in the loop), checks it, looks up the uid's supplementary groups
 * (MUNGE carries none: getgrouplist(), at most RPC_AUTH_SYS_GROUPS of
 * them), and answers with an AUTH_SHORT verifier: a random handle of
 * RPC_SHORT_LEN bytes.  Later calls of that user on that connection carry
 * AUTH_SHORT with the handle.  A handle means something only on the
 * connection that opened it (a new connection starts with none), and
 * lives at most AUTH_SESSION_TTL_NS (then AUTH_REJECTEDCRED: the client
 * re-munges, which also picks up group changes).  BR_AUTH_MUNGE on any
 * procedure but NULL is refused (AUTH_BADCRED): a single-use credential
 * never rides on a call that may be re-sent or replayed from the
 * duplicate-request cache.
 *
 * Threads: struct auth_sessions belongs to its connection (loop thread
 * only); auth_grant_run() is the only function a worker calls. */
#ifndef BR_AUTH_H
#define BR_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "hashtab.h"
#include "rpcmsg.h"

struct job;

enum auth_mode {
	AUTH_MODE_SYS,          /* AUTH_SYS from reserved ports, or MUNGE */
	AUTH_MODE_MUNGE,        /* MUNGE sessions only */
};

#define AUTH_SESSIONS_MAX 256               /* per connection (LRU beyond) */
#define AUTH_SESSION_TTL_NS (600 * 1000000000LL)

/* "sys" or "munge": 0, or -EINVAL. */
int auth_mode_parse(const char *s, enum auth_mode *out);
const char *auth_mode_name(enum auth_mode m);

/* Does a call authenticated by flavor (RPC_AUTH_NONE, RPC_AUTH_SYS, or
 * BR_AUTH_MUNGE for a MUNGE session: struct job's flavor) meet required?
 * For checks that depend on where the call goes (an export's own mode):
 * the loop has already applied the server's mode. */
bool auth_flavor_ok(uint32_t flavor, enum auth_mode required);

struct auth_session;

/* The sessions of one connection.  Loop thread only. */
struct auth_sessions {
	struct hashtab table;   /* of struct auth_session, by handle */
};

void auth_sessions_init(struct auth_sessions *s);
void auth_sessions_release(struct auth_sessions *s);
/* Add a session (the loop does it when a grant comes back); beyond
 * AUTH_SESSIONS_MAX the least recently used one goes. */
void auth_session_add(struct auth_sessions *s,
		      const unsigned char handle[RPC_SHORT_LEN],
		      const struct br_cred *cred, uint64_t client_id,
		      int64_t now_ns);

/* Who a call is from, once admitted. */
struct auth_who {
	uint32_t flavor;        /* RPC_AUTH_NONE, RPC_AUTH_SYS, BR_AUTH_MUNGE */
	struct br_cred cred;    /* as claimed (AUTH_SYS) or vouched (MUNGE) */
	bool has_client_id;
	uint64_t client_id;
};

/* Loop thread: may call (decoded header) go on under required?  port_ok:
 * reserved source port or --insecure.  Returns AUTH_OK with *who filled;
 * AUTH_OK with *verify set for a MUNGE credential to check on a worker
 * (auth_grant_new, then the pool); or the auth_stat to deny with (peer
 * names the client in the rate-limited log line). */
enum auth_stat auth_admit(struct auth_sessions *s, const struct rpc_call *call,
			  enum auth_mode required, bool port_ok,
			  const char *peer, int64_t now_ns,
			  struct auth_who *who, bool *verify);

/* One MUNGE credential on its way loop -> worker -> loop, hung on a job
 * (job->grant; flat: job_free() frees it).  Made by the loop from the
 * call, filled by the worker. */
struct auth_grant {
	char cred[RPC_AUTH_BODY_MAX + 1];  /* the MUNGE credential, NUL-terminated */
	bool ok;                           /* worker: verified */
	struct br_cred who;                /* ... the vouched uid/gid and groups */
	uint64_t client_id;
	unsigned char handle[RPC_SHORT_LEN];
	char why[160];                     /* worker: why refused */
};

struct auth_grant *auth_grant_new(const struct rpc_call *call);
/* Worker: decode j->grant with munged (socket NULL: libmunge's default),
 * check it, and encode j's reply: SUCCESS with the AUTH_SHORT handle, or
 * AUTH_BADCRED. */
void auth_grant_run(const char *munge_socket, struct job *j);
/* Loop thread, the job back from the pool on a live connection: open the
 * session, or log why the credential was refused. */
void auth_grant_done(struct auth_sessions *s, struct job *j, const char *peer,
		     int64_t now_ns);

/* At startup: can munged at socket make and check a credential?  0, or
 * -EIO with the reason in err. */
int auth_munge_selftest(const char *munge_socket, char *err, size_t errlen);

#endif
