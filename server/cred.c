/* cred.c - switch a worker thread's fs identity. */
#include <errno.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cred.h"
#include "log.h"

/* 32-bit ARM (and i386) keep the 16-bit-gid setgroups under the old
 * number; the 32-bit one is setgroups32, which glibc itself uses there. */
#ifdef SYS_setgroups32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETGROUPS SYS_setgroups
#endif

/* What this thread currently runs as.  Threads start as the process: root,
 * with whatever groups the process has, which we do not know (have_groups). */
static __thread struct {
	uint32_t fsuid, fsgid;
	bool have_groups;
	uint32_t ngroups;
	uint32_t groups[RPC_AUTH_SYS_GROUPS];
} cur;

void cred_squash(struct br_cred *c)
{
	if (c->uid == 0) {
		c->uid = CRED_NOBODY;
		c->gid = CRED_NOBODY;
		c->ngroups = 0;
		return;
	}
	if (c->gid == 0)
		c->gid = CRED_NOBODY;
	for (uint32_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == 0)
			c->groups[i] = CRED_NOBODY;
}

/* setfsuid() reports no error: it returns the previous value either way.
 * Call it again with the same value to learn what is now in effect. */
static int set_fsuid(uint32_t uid)
{
	setfsuid((uid_t)uid);
	if ((uint32_t)setfsuid((uid_t)uid) != uid)
		return -EPERM;
	cur.fsuid = uid;
	return 0;
}

static int set_fsgid(uint32_t gid)
{
	setfsgid((gid_t)gid);
	if ((uint32_t)setfsgid((gid_t)gid) != gid)
		return -EPERM;
	cur.fsgid = gid;
	return 0;
}

static int set_groups(const struct br_cred *c)
{
	gid_t list[RPC_AUTH_SYS_GROUPS];

	if (cur.have_groups && cur.ngroups == c->ngroups &&
	    !memcmp(cur.groups, c->groups, c->ngroups * sizeof(c->groups[0])))
		return 0;
	for (uint32_t i = 0; i < c->ngroups; i++)
		list[i] = (gid_t)c->groups[i];
	/* Not setgroups(): glibc applies that to every thread. */
	if (syscall(SYS_SETGROUPS, (size_t)c->ngroups, list) < 0) {
		cur.have_groups = false;
		return -errno;
	}
	cur.have_groups = true;
	cur.ngroups = c->ngroups;
	memcpy(cur.groups, c->groups, c->ngroups * sizeof(c->groups[0]));
	return 0;
}

int cred_as(const struct br_cred *c)
{
	int rc;

	/* Groups and gid first: both need CAP_SETGID, which stays with us
	 * whatever the fsuid, but doing the uid last keeps the order obvious. */
	rc = set_groups(c);
	if (rc == 0 && cur.fsgid != c->gid)
		rc = set_fsgid(c->gid);
	if (rc == 0 && cur.fsuid != c->uid)
		rc = set_fsuid(c->uid);
	if (rc < 0) {
		log_err("cannot switch to uid %u gid %u: %s", c->uid, c->gid,
			strerror(-rc));
		cred_root();
		return -EPERM;
	}
	return 0;
}

bool cred_push_root(struct br_cred *saved)
{
	if (cur.fsuid == 0 && cur.fsgid == 0)
		return false;
	saved->uid = cur.fsuid;
	saved->gid = cur.fsgid;
	saved->ngroups = cur.have_groups ? cur.ngroups : 0;
	memcpy(saved->groups, cur.groups, saved->ngroups * sizeof(saved->groups[0]));
	cred_root();
	return true;
}

void cred_pop(const struct br_cred *saved, bool pushed)
{
	if (pushed)
		cred_as(saved);
}

int cred_root(void)
{
	int rc = 0;

	if (cur.fsuid != 0)
		rc = set_fsuid(0);
	if (rc == 0 && cur.fsgid != 0)
		rc = set_fsgid(0);
	if (rc < 0)
		log_err("cannot switch back to fsuid 0: %s", strerror(-rc));
	return rc;
}
