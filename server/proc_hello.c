/* proc_hello.c - HELLO: agree on a protocol revision and tell the client
 * what this server can do. */
#include <errno.h>
#include <stdio.h>

#include "lock.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "xalloc.h"

/* The revisions of BRAMBLE_V1 this server speaks. */
#define HELLO_MIN_REVISION 1u

/* Unlike the other handlers, HELLO fills its result on refusal too: the
 * client needs the server's range and the reason to say what went wrong.
 * The result is a struct (not a union), so every string must be set. */
int proc_hello(struct call *c, void *args, void *res)
{
	br_hello_args *a = args;
	br_hello_res *r = res;
	struct service *svc = c->svc;
	uint32_t lo = BR_MAX(a->min_revision, HELLO_MIN_REVISION);
	uint32_t hi = BR_MIN(a->max_revision, (uint32_t)BR_REVISION);
	uint64_t missing = a->need & ~svc->caps;
	char why[160] = "";

	r->min_revision = HELLO_MIN_REVISION;
	r->max_revision = BR_REVISION;
	r->caps = svc->caps;
	r->instance = svc->instance;
	r->grace_left = svc->locks ? lockmgr_grace_left(svc->locks) : 0;
	r->server = xstrdup("brambled " BR_SOFTWARE_VERSION);
	if (lo > hi)
		snprintf(why, sizeof(why),
			 "no common protocol revision: client speaks %u..%u, "
			 "server %u..%u", a->min_revision, a->max_revision,
			 HELLO_MIN_REVISION, (unsigned int)BR_REVISION);
	else if (missing)
		snprintf(why, sizeof(why),
			 "server lacks capabilities the client needs (0x%llx)",
			 (unsigned long long)missing);
	r->message = xstrdup(why);
	if (*why) {
		log_info("HELLO from \"%s\" refused: %s",
			 a->client ? a->client : "", why);
		r->revision = 0;
		return -EPROTO;
	}
	r->revision = hi;
	return 0;
}
