/* cred.c - caller credentials for AUTH_SYS, with a small cache of
 * supplementary groups.
 *
 * fuse_req_getgroups() reads /proc/PID/task/TID/status: too slow to do on
 * every call of a metadata storm, and a process's groups rarely change,
 * so the list is cached per pid for about a second. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bfs.h"
#include "util.h"
#include "xalloc.h"

#define CRED_SLOTS 64
#define CRED_TTL_NS 1000000000LL

struct cred_slot {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int64_t when;
	uint32_t ngroups;
	uint32_t groups[BRAMBLE_NGROUPS];
};

struct cred_cache {
	pthread_mutex_t lock;
	struct cred_slot slot[CRED_SLOTS];  /* protected by lock */
};

int cred_cache_new(struct cred_cache **out)
{
	struct cred_cache *cc = xcalloc(1, sizeof(*cc));

	pthread_mutex_init(&cc->lock, NULL);
	*out = cc;
	return 0;
}

void cred_cache_free(struct cred_cache *cc)
{
	if (!cc)
		return;
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

void cred_of_req(struct bfs *fs, fuse_req_t req, struct bramble_cred *out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cred_cache *cc = fs->creds;
	struct cred_slot *s = &cc->slot[(unsigned int)ctx->pid % CRED_SLOTS];
	int64_t now = now_ns();
	gid_t list[64];
	int n;

	memset(out, 0, sizeof(*out));
	out->uid = ctx->uid;
	out->gid = ctx->gid;
	pthread_mutex_lock(&cc->lock);
	if (s->pid == ctx->pid && s->uid == ctx->uid && s->gid == ctx->gid &&
	    now - s->when < CRED_TTL_NS) {
		out->ngroups = s->ngroups;
		memcpy(out->groups, s->groups, sizeof(out->groups));
		pthread_mutex_unlock(&cc->lock);
		return;
	}
	pthread_mutex_unlock(&cc->lock);

	n = fuse_req_getgroups(req, (int)ARRAY_SIZE(list), list);
	if (n < 0)
		n = 0;  /* kernel thread or gone: primary group only */
	n = BR_MIN(n, (int)ARRAY_SIZE(list));
	for (int i = 0; i < n && out->ngroups < BRAMBLE_NGROUPS; i++)
		out->groups[out->ngroups++] = list[i];

	pthread_mutex_lock(&cc->lock);
	s->pid = ctx->pid;
	s->uid = ctx->uid;
	s->gid = ctx->gid;
	s->when = now;
	s->ngroups = out->ngroups;
	memcpy(s->groups, out->groups, sizeof(s->groups));
	pthread_mutex_unlock(&cc->lock);
}
