/* auth.c - authentication policy and MUNGE sessions (see auth.h). */
#include <errno.h>
#include <grp.h>
#include <munge.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "drc.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "xalloc.h"

struct auth_session {
	struct hashtab_node hn;             /* in auth_sessions.table, by handle */
	unsigned char handle[RPC_SHORT_LEN];
	struct br_cred cred;                /* vouched uid/gid, looked-up groups */
	uint64_t client_id;
	int64_t created_ns, used_ns;
};

int auth_mode_parse(const char *s, enum auth_mode *out)
{
	if (s && !strcmp(s, "sys"))
		*out = AUTH_MODE_SYS;
	else if (s && !strcmp(s, "munge"))
		*out = AUTH_MODE_MUNGE;
	else
		return -EINVAL;
	return 0;
}

const char *auth_mode_name(enum auth_mode m)
{
	return m == AUTH_MODE_MUNGE ? "munge" : "sys";
}

bool auth_flavor_ok(uint32_t flavor, enum auth_mode required)
{
	if (flavor == BR_AUTH_MUNGE)
		return true;
	return required == AUTH_MODE_SYS && flavor == RPC_AUTH_SYS;
}

/* ---- the session table of one connection */

void auth_sessions_init(struct auth_sessions *s)
{
	hashtab_init(&s->table, 0);
}

static void drop_session(struct auth_sessions *s, struct auth_session *x)
{
	hashtab_remove(&s->table, &x->hn);
	free(x);
}

static int drop_each(struct hashtab_node *n, void *s)
{
	drop_session(s, HASHTAB_ENTRY(n, struct auth_session, hn));
	return 0;
}

void auth_sessions_release(struct auth_sessions *s)
{
	hashtab_foreach(&s->table, drop_each, s);
	hashtab_release(&s->table);
}

static bool session_is(const struct hashtab_node *n, const void *handle)
{
	return !memcmp(HASHTAB_ENTRY(n, struct auth_session, hn)->handle,
		       handle, RPC_SHORT_LEN);
}

static int note_older(struct hashtab_node *n, void *oldest)
{
	struct auth_session *x = HASHTAB_ENTRY(n, struct auth_session, hn);
	struct auth_session **o = oldest;

	if (!*o || x->used_ns < (*o)->used_ns)
		*o = x;
	return 0;
}

/* Drop the least recently used session (a full table: AUTH_SESSIONS_MAX
 * users on one connection is rare, so a scan is fine). */
static void evict_lru(struct auth_sessions *s)
{
	struct auth_session *victim = NULL;

	hashtab_foreach(&s->table, note_older, &victim);
	if (victim)
		drop_session(s, victim);
}

void auth_session_add(struct auth_sessions *s,
		      const unsigned char handle[RPC_SHORT_LEN],
		      const struct br_cred *cred, uint64_t client_id,
		      int64_t now_ns)
{
	struct auth_session *x = xcalloc(1, sizeof(*x));

	if (s->table.count >= AUTH_SESSIONS_MAX)
		evict_lru(s);
	memcpy(x->handle, handle, RPC_SHORT_LEN);
	x->cred = *cred;
	x->client_id = client_id;
	x->created_ns = x->used_ns = now_ns;
	hashtab_insert(&s->table, &x->hn, hash_bytes(handle, RPC_SHORT_LEN));
}

/* The live session with this handle, or NULL (an expired one is dropped:
 * the client re-munges, and picks up group changes that way). */
static struct auth_session *find_session(struct auth_sessions *s,
					 const unsigned char *handle,
					 int64_t now_ns)
{
	struct hashtab_node *n = hashtab_find(&s->table,
					      hash_bytes(handle, RPC_SHORT_LEN),
					      session_is, handle);
	struct auth_session *x;

	if (!n)
		return NULL;
	x = HASHTAB_ENTRY(n, struct auth_session, hn);
	if (now_ns - x->created_ns > AUTH_SESSION_TTL_NS) {
		drop_session(s, x);
		return NULL;
	}
	x->used_ns = now_ns;
	return x;
}

/* ---- the policy, in the loop */

/* NULL, INFO, MOUNT and HELLO accept AUTH_NONE. */
static bool none_ok(uint32_t proc)
{
	return proc == BRPROC_NULL || proc == BRPROC_INFO ||
	       proc == BRPROC_MOUNT || proc == BRPROC_HELLO;
}

/* NULL, INFO, HELLO, STATS and BENCH_NET are answered whatever the
 * client's source port. */
static bool any_port(uint32_t proc)
{
	return proc == BRPROC_NULL || proc == BRPROC_INFO || proc == BRPROC_HELLO ||
	       proc == BRPROC_STATS || proc == BRPROC_BENCH_NET;
}

static enum auth_stat admit_sys(const struct rpc_call *call,
				enum auth_mode required, bool port_ok,
				const char *peer, struct auth_who *who)
{
	/* NULL, INFO and HELLO do nothing as anybody: any port, any mode. */
	if (!any_port(call->proc)) {
		if (required == AUTH_MODE_MUNGE) {
			log_warn_rl("%s from %s with AUTH_SYS refused: this server "
				    "requires MUNGE (--auth=munge)",
				    br_proc_name(call->proc), peer);
			return AUTH_TOOWEAK;
		}
		if (!port_ok) {
			/* Anyone can bind a port >= 1024 and claim any uid. */
			log_warn_rl("%s from unprivileged port %s refused (see --insecure)",
				    br_proc_name(call->proc), peer);
			return AUTH_TOOWEAK;
		}
	}
	who->flavor = RPC_AUTH_SYS;
	who->cred = call->cred;
	who->has_client_id = drc_client_id(call->machname, &who->client_id);
	return AUTH_OK;
}

enum auth_stat auth_admit(struct auth_sessions *s, const struct rpc_call *call,
			  enum auth_mode required, bool port_ok,
			  const char *peer, int64_t now_ns,
			  struct auth_who *who, bool *verify)
{
	struct auth_session *x;

	memset(who, 0, sizeof(*who));
	*verify = false;
	switch (call->flavor) {
	case RPC_AUTH_SYS:
		return admit_sys(call, required, port_ok, peer, who);
	case RPC_AUTH_SHORT:
		if (call->cred_len != RPC_SHORT_LEN)
			return AUTH_BADCRED;
		x = find_session(s, (const unsigned char *)call->cred_body, now_ns);
		if (!x)
			return AUTH_REJECTEDCRED;   /* the client opens a new one */
		who->flavor = BR_AUTH_MUNGE;
		who->cred = x->cred;
		who->has_client_id = true;
		who->client_id = x->client_id;
		return AUTH_OK;
	case BR_AUTH_MUNGE:
		if (call->proc != BRPROC_NULL) {
			log_warn_rl("%s from %s carries a MUNGE credential: sessions "
				    "are opened with NULL", br_proc_name(call->proc), peer);
			return AUTH_BADCRED;
		}
		if (call->cred_len == 0 || memchr(call->cred_body, 0, call->cred_len))
			return AUTH_BADCRED;
		*verify = true;
		return AUTH_OK;
	case RPC_AUTH_NONE:
		/* Under MUNGE the source port proves nothing either way. */
		if (!none_ok(call->proc) ||
		    !(port_ok || required == AUTH_MODE_MUNGE ||
		      any_port(call->proc)))
			return AUTH_TOOWEAK;
		who->flavor = RPC_AUTH_NONE;
		return AUTH_OK;
	default:
		return AUTH_BADCRED;
	}
}

/* ---- verifying a MUNGE credential */

struct auth_grant *auth_grant_new(const struct rpc_call *call)
{
	struct auth_grant *g = xcalloc(1, sizeof(*g));

	/* auth_admit() checked: 0 < cred_len <= RPC_AUTH_BODY_MAX, no NUL. */
	memcpy(g->cred, call->cred_body, call->cred_len);
	g->cred[call->cred_len] = '\0';
	return g;
}

/* The uid's supplementary groups, which MUNGE does not carry: as the
 * server's passwd/group databases say (a uid unknown here gets its
 * primary group only).  At most RPC_AUTH_SYS_GROUPS are kept. */
static void lookup_groups(uid_t uid, gid_t gid, struct br_cred *c)
{
	struct passwd pw, *pwp = NULL;
	char sbuf[16384];
	gid_t small[64], *list = small;
	int n = (int)ARRAY_SIZE(small);

	c->uid = uid;
	c->gid = gid;
	c->ngroups = 0;
	if (getpwuid_r(uid, &pw, sbuf, sizeof(sbuf), &pwp) != 0 || !pwp)
		return;
	if (getgrouplist(pw.pw_name, gid, list, &n) < 0) {
		if (n <= (int)ARRAY_SIZE(small) || n > 65536)
			return;
		list = xcalloc((size_t)n, sizeof(*list));
		if (getgrouplist(pw.pw_name, gid, list, &n) < 0)
			n = 0;
	}
	if (n > RPC_AUTH_SYS_GROUPS)
		log_debug("uid %u is in %d groups: the first %d are used", uid, n,
			  RPC_AUTH_SYS_GROUPS);
	for (int i = 0; i < n && c->ngroups < RPC_AUTH_SYS_GROUPS; i++)
		c->groups[c->ngroups++] = list[i];
	if (list != small)
		free(list);
}

static munge_ctx_t munge_ctx(const char *socket)
{
	munge_ctx_t ctx = munge_ctx_create();

	if (!ctx)
		abort();        /* out of memory, as xmalloc */
	if (socket && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, socket) != EMUNGE_SUCCESS)
		log_warn_rl("cannot set munged's socket '%s'", socket);
	return ctx;
}

/* Decode and check g->cred: munged verifies the seal, the expiry and
 * replays; the payload must be bramble's. */
static bool verify(const char *socket, struct auth_grant *g)
{
	munge_ctx_t ctx = munge_ctx(socket);
	void *payload = NULL;
	int plen = 0;
	uid_t uid;
	gid_t gid;
	munge_err_t e = munge_decode(g->cred, ctx, &payload, &plen, &uid, &gid);
	bool ok = false;

	if (e != EMUNGE_SUCCESS) {
		const char *m = munge_ctx_strerror(ctx);

		snprintf(g->why, sizeof(g->why), "%s (munge error %d)",
			 m ? m : munge_strerror(e), (int)e);
	} else if (rpcmsg_munge_payload_parse(payload, (size_t)BR_MAX(plen, 0),
					      &g->client_id) < 0) {
		snprintf(g->why, sizeof(g->why),
			 "valid MUNGE credential of uid %u, but not made for bramble",
			 (unsigned int)uid);
	} else {
		lookup_groups(uid, gid, &g->who);
		ok = true;
	}
	free(payload);
	munge_ctx_destroy(ctx);
	return ok;
}

void auth_grant_run(const char *munge_socket, struct job *j)
{
	struct auth_grant *g = j->grant;

	free(j->rec);                   /* the credential was copied */
	j->rec = NULL;
	j->args = NULL;
	if (verify(munge_socket, g) &&
	    getrandom(g->handle, sizeof(g->handle), 0) == (ssize_t)sizeof(g->handle)) {
		g->ok = true;
		rpcmsg_reply_success_verf(&j->reply, j->xid, RPC_AUTH_SHORT,
					  g->handle, RPC_SHORT_LEN, NULL, NULL);
		return;
	}
	if (!g->why[0])
		snprintf(g->why, sizeof(g->why), "no random bytes for a session");
	rpcmsg_reply_denied(&j->reply, j->xid, AUTH_ERROR, AUTH_BADCRED);
}

void auth_grant_done(struct auth_sessions *s, struct job *j, const char *peer,
		     int64_t now_ns)
{
	struct auth_grant *g = j->grant;

	if (!g->ok) {
		log_warn_rl("MUNGE credential from %s refused: %s", peer, g->why);
		return;
	}
	auth_session_add(s, g->handle, &g->who, g->client_id, now_ns);
	log_debug("MUNGE session for uid %u gid %u (%u groups) from %s",
		  g->who.uid, g->who.gid, g->who.ngroups, peer);
}

int auth_munge_selftest(const char *munge_socket, char *err, size_t errlen)
{
	munge_ctx_t ctx = munge_ctx(munge_socket);
	char *cred = NULL;
	uid_t uid;
	gid_t gid;
	munge_err_t e = munge_encode(&cred, ctx, NULL, 0);

	if (e == EMUNGE_SUCCESS)
		e = munge_decode(cred, ctx, NULL, NULL, &uid, &gid);
	if (e != EMUNGE_SUCCESS)
		snprintf(err, errlen, "munged (socket %s): %s",
			 munge_socket ? munge_socket : "libmunge's default",
			 munge_ctx_strerror(ctx) ? munge_ctx_strerror(ctx)
						 : munge_strerror(e));
	free(cred);
	munge_ctx_destroy(ctx);
	return e == EMUNGE_SUCCESS ? 0 : -EIO;
}
