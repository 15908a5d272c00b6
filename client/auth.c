/* auth.c - MUNGE sessions of a struct bramble (see auth.h). */
#include <errno.h>
#include <munge.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth.h"
#include "bramble.h"
#include "log.h"
#include "proto.h"
#include "xalloc.h"

/* A session is opened at most this often again after a refusal per
 * user, so a wrong key does not cost munged a credential per call. */
#define AUTH_RETRY_NS (1000 * 1000000LL)

struct auth_entry {
	struct hashtab_node hn;         /* in a->table, by uid and gid */
	uint32_t uid, gid;
	/* protected by a->lock: */
	bool valid;                     /* handle holds for conn generation gen */
	bool opening;                   /* a thread is opening a session */
	uint64_t gen;
	unsigned char handle[RPC_SHORT_LEN];
	uint64_t attempts;              /* openings finished */
	int last_rc;                    /* ... the last one's result */
	int64_t failed_ns;              /* when it last failed */
};

void auth_init(struct auth *a, int mode, const char *socket, uint64_t client_id)
{
	memset(a, 0, sizeof(*a));
	a->mode = mode;
	atomic_init(&a->munge, mode == BRAMBLE_AUTH_MUNGE);
	a->socket = socket && *socket ? xstrdup(socket) : NULL;
	a->client_id = client_id;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->opened, NULL);
	hashtab_init(&a->table, 0);
}

/* Frees an entry without unlinking it: the whole table goes next. */
static int free_entry(struct hashtab_node *n, void *unused)
{
	free(HASHTAB_ENTRY(n, struct auth_entry, hn));
	return 0;
}

void auth_release(struct auth *a)
{
	hashtab_foreach(&a->table, free_entry, NULL);
	hashtab_release(&a->table);
	free(a->socket);
	pthread_cond_destroy(&a->opened);
	pthread_mutex_destroy(&a->lock);
}

bool auth_server_wants_munge(struct auth *a)
{
	if (a->mode == BRAMBLE_AUTH_AUTO &&
	    !atomic_exchange(&a->munge, true))
		log_info("the server asks for MUNGE authentication: using it");
	return auth_munge_on(a);
}

/* ---- making a credential as another user */

#ifdef SYS_setresuid32
/* 32-bit ARM and x86: the plain numbers take 16-bit ids. */
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#endif

/* Switch the effective uid/gid of the calling thread only: -1 keeps one.
 * Not glibc's setresuid()/setresgid(): those change every thread of the
 * process (the setxid broadcast), which would run the whole mount as
 * that user for a moment. */
static int thread_setegid(gid_t gid)
{
	return syscall(SYS_SETRESGID, (gid_t)-1, gid, (gid_t)-1) < 0 ? -errno : 0;
}

static int thread_seteuid(uid_t uid)
{
	return syscall(SYS_SETRESUID, (uid_t)-1, uid, (uid_t)-1) < 0 ? -errno : 0;
}

/* munged vouches for whoever connects to its socket: it reads the peer's
 * credentials (SO_PEERCRED: the effective uid/gid), which Linux records
 * from the connecting *thread*.  bramblefs runs as root for every user, so
 * to get a credential for uid/gid this thread alone takes them as its
 * effective ids for the length of munge_encode(), then becomes root again.
 *
 * Only the effective ids change: the real and saved uid stay 0, so the
 * thread keeps its permitted capabilities and is allowed back to euid 0,
 * while the kernel clears its effective capabilities for as long as the
 * euid is not 0 -- nothing in between runs privileged.  Order: the gid
 * first going (setting it needs CAP_SETGID, gone once the euid is not 0),
 * the uid first coming back.  Failing to come back would leave a thread of
 * a root daemon serving others as the wrong user: that cannot happen with
 * real/saved uid 0, and if it does anyway the process aborts rather than
 * go on. */
static munge_err_t encode_as(munge_ctx_t ctx, uid_t uid, gid_t gid,
			     const void *payload, int len, char **cred, int *rc)
{
	uid_t old_uid = geteuid();   /* the thread's own (raw syscalls) */
	gid_t old_gid = getegid();
	munge_err_t e;

	*rc = 0;
	if (old_uid == uid && old_gid == gid)
		return munge_encode(cred, ctx, payload, len);
	if (old_uid != 0) {
		*rc = -EPERM;           /* only root may speak for others */
		return EMUNGE_SNAFU;
	}
	*rc = thread_setegid(gid);
	if (*rc == 0) {
		*rc = thread_seteuid(uid);
		if (*rc < 0 && thread_setegid(old_gid) < 0)
			abort();
	}
	if (*rc < 0)
		return EMUNGE_SNAFU;
	e = munge_encode(cred, ctx, payload, len);
	if (thread_seteuid(old_uid) < 0 || thread_setegid(old_gid) < 0) {
		log_err("cannot switch this thread back to uid %u gid %u",
			(unsigned int)old_uid, (unsigned int)old_gid);
		abort();
	}
	return e;
}

int auth_munge_encode(const char *socket, uint32_t uid, uint32_t gid,
		      const void *payload, int len, char **cred_out,
		      char *err, size_t errlen)
{
	munge_ctx_t ctx = munge_ctx_create();
	char *cred = NULL;
	munge_err_t e;
	int rc;

	if (!ctx)
		abort();                /* out of memory, as xmalloc */
	if (socket && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, socket) != EMUNGE_SUCCESS) {
		snprintf(err, errlen, "cannot use munged's socket '%s'", socket);
		munge_ctx_destroy(ctx);
		return -EIO;
	}
	e = encode_as(ctx, (uid_t)uid, (gid_t)gid, payload, len, &cred, &rc);
	if (rc < 0) {
		snprintf(err, errlen, "cannot act as uid %u gid %u: %s", uid, gid,
			 strerror(-rc));
	} else if (e != EMUNGE_SUCCESS) {
		snprintf(err, errlen, "munged%s%s: %s", socket ? " at " : "",
			 socket ? socket : "", munge_ctx_strerror(ctx) ?
			 munge_ctx_strerror(ctx) : munge_strerror(e));
		rc = -EIO;
	}
	munge_ctx_destroy(ctx);
	if (rc < 0) {
		free(cred);
		return rc;
	}
	*cred_out = cred;
	return 0;
}

/* ---- opening a session: NULL with BR_AUTH_MUNGE */

/* One NULL call carrying cred.  0 with the handle and the generation the
 * answer came on, or -errno (*auth_st: the server's refusal). */
static int send_munge_null(struct conn *c, const char *cred, int64_t deadline_ns,
			   unsigned char handle[RPC_SHORT_LEN], uint64_t *gen,
			   uint32_t *auth_st)
{
	struct rpc_auth au = { .flavor = BR_AUTH_MUNGE, .body = cred,
			       .body_len = (uint32_t)strlen(cred) };
	struct conn_req req;
	struct rpc_reply rep;
	bool xid_ok;
	int rc;

	memset(&req, 0, sizeof(req));
	buf_init(&req.call, 0);
	buf_init(&req.reply, 0);
	req.xid = conn_next_xid(c);
	req.deadline_ns = deadline_ns;
	*auth_st = AUTH_OK;
	rc = rpcmsg_encode_call_auth(&req.call, req.xid, BR_PROGRAM, BR_VERSION,
				     BRPROC_NULL, &au, NULL, NULL);
	if (rc == 0)
		rc = conn_call(c, &req);
	buf_release(&req.call);
	if (rc == 0) {
		rc = rpcmsg_decode_reply(req.reply.data, req.reply.len, &rep, &xid_ok);
		if (rc == -EACCES)
			*auth_st = rep.auth_stat;
		else if (rc == 0 && (rep.verf_flavor != RPC_AUTH_SHORT ||
				     rep.verf_len != RPC_SHORT_LEN))
			rc = -EPROTO;   /* a server that does not know MUNGE */
		if (rc == 0) {
			memcpy(handle, rep.verf_body, RPC_SHORT_LEN);
			*gen = req.sent_gen;
		}
	}
	buf_release(&req.reply);
	return rc;
}

static int open_session(struct auth *a, struct conn *c, uint32_t uid,
			uint32_t gid, int64_t deadline_ns,
			unsigned char handle[RPC_SHORT_LEN], uint64_t *gen)
{
	unsigned char payload[RPC_MUNGE_PAYLOAD_LEN];
	char err[256];
	uint32_t st;
	int rc;

	rpcmsg_munge_payload(a->client_id, payload);
	for (int attempt = 0; ; attempt++) {
		uint64_t gen0 = conn_generation(c);
		char *cred = NULL;

		rc = auth_munge_encode(a->socket, uid, gid, payload, (int)sizeof(payload),
				       &cred, err, sizeof(err));
		if (rc < 0) {
			log_warn_rl("no MUNGE credential for uid %u: %s", uid, err);
			return -EACCES;
		}
		rc = send_munge_null(c, cred, deadline_ns, handle, gen, &st);
		free(cred);
		/* A credential re-sent on a new connection is a replay to
		 * munged: make a fresh one, once. */
		if (rc == -EACCES && attempt == 0 && conn_generation(c) != gen0)
			continue;
		break;
	}
	if (rc == -EACCES)
		log_warn_rl("server refused the MUNGE credential of uid %u (%s): "
			    "does munged on this node share the server's key? "
			    "(the server's log says why)", uid,
			    st == AUTH_BADCRED ? "AUTH_BADCRED" : "denied");
	else if (rc == -EPROTO)
		log_warn_rl("server did not open a MUNGE session: it does not "
			    "support MUNGE authentication");
	return rc == -EPROTO ? -EACCES : rc;
}

/* ---- the table (a->lock held) */

static uint64_t user_key(uint32_t uid, uint32_t gid)
{
	return (uint64_t)uid << 32 | gid;
}

static bool entry_is(const struct hashtab_node *n, const void *key)
{
	const struct auth_entry *e = HASHTAB_ENTRY(n, struct auth_entry, hn);

	return user_key(e->uid, e->gid) == *(const uint64_t *)key;
}

/* Idle entries go; busy ones are kept: a thread is opening them. */
static int forget_idle(struct hashtab_node *n, void *table)
{
	struct auth_entry *e = HASHTAB_ENTRY(n, struct auth_entry, hn);

	if (!e->opening) {
		hashtab_remove(table, n);
		free(e);
	}
	return 0;
}

static struct auth_entry *entry_get(struct auth *a, uint32_t uid, uint32_t gid)
{
	uint64_t key = user_key(uid, gid), h = hash_u64(key);
	struct hashtab_node *n = hashtab_find(&a->table, h, entry_is, &key);
	struct auth_entry *e;

	if (n)
		return HASHTAB_ENTRY(n, struct auth_entry, hn);
	if (a->table.count >= AUTH_ENTRIES_MAX)     /* so many users on one node */
		hashtab_foreach(&a->table, forget_idle, &a->table);
	e = xcalloc(1, sizeof(*e));
	e->uid = uid;
	e->gid = gid;
	hashtab_insert(&a->table, &e->hn, h);
	return e;
}

static void wait_opened(struct auth *a, int64_t deadline_ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* a->opened uses the realtime clock: convert the deadline. */
	int64_t left = deadline_ns - now_ns();
	/* A hard mount's deadline is INT64_MAX (conn.h): cap one wait so the
	 * sum below cannot overflow; the caller loops. */
	if (left > 60 * INT64_C(1000000000))
		left = 60 * INT64_C(1000000000);
	int64_t abs_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + left;

	ts.tv_sec = abs_ns / 1000000000;
	ts.tv_nsec = abs_ns % 1000000000;
	pthread_cond_timedwait(&a->opened, &a->lock, &ts);
}

int auth_session(struct auth *a, struct conn *c, uint32_t uid, uint32_t gid,
		 int64_t deadline_ns, unsigned char handle[RPC_SHORT_LEN])
{
	struct auth_entry *e;
	uint64_t gen = 0;
	int rc;

	pthread_mutex_lock(&a->lock);
	e = entry_get(a, uid, gid);
	for (;;) {
		if (e->valid && e->gen == conn_generation(c)) {
			memcpy(handle, e->handle, RPC_SHORT_LEN);
			pthread_mutex_unlock(&a->lock);
			return 0;
		}
		if (!e->opening) {
			if (e->last_rc < 0 && now_ns() - e->failed_ns < AUTH_RETRY_NS) {
				rc = e->last_rc;
				pthread_mutex_unlock(&a->lock);
				return rc;
			}
			break;
		}
		if (now_ns() >= deadline_ns) {
			pthread_mutex_unlock(&a->lock);
			return -ETIMEDOUT;
		}
		wait_opened(a, deadline_ns);
		e = entry_get(a, uid, gid);  /* (it may have been evicted) */
	}
	e->opening = true;
	pthread_mutex_unlock(&a->lock);

	rc = open_session(a, c, uid, gid, deadline_ns, handle, &gen);

	pthread_mutex_lock(&a->lock);
	e->opening = false;
	e->attempts++;
	e->last_rc = rc == -EACCES ? rc : 0;  /* time-outs are not remembered */
	if (rc == -EACCES)
		e->failed_ns = now_ns();
	if (rc == 0) {
		e->valid = true;
		e->gen = gen;
		memcpy(e->handle, handle, RPC_SHORT_LEN);
	}
	pthread_cond_broadcast(&a->opened);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void auth_session_drop(struct auth *a, uint32_t uid, uint32_t gid,
		       const unsigned char handle[RPC_SHORT_LEN])
{
	pthread_mutex_lock(&a->lock);
	struct auth_entry *e = entry_get(a, uid, gid);

	if (e->valid && !memcmp(e->handle, handle, RPC_SHORT_LEN))
		e->valid = false;
	pthread_mutex_unlock(&a->lock);
}
