/* envcp_int.h - what the files of the copy engine share: envcp.c (the
 * walk, the workers' queue, hard links, the marker, directories last) and
 * envcp_file.c (copying one entry: a regular file, rewritten or not, a
 * symlink, a special file).  Not for the command: envcp.h is its API. */
#ifndef BR_ENVCP_INT_H
#define BR_ENVCP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "envcp.h"
#include "envcp_rw.h"
#include "util.h"

/* One entry of SRC, listed by the walk. */
struct envcp_ent {
	char *rel;              /* path below the root */
	struct stat st;
	ssize_t link_to;        /* an extra name of ents[link_to], or -1 */
	bool listed;            /* the marker says it holds the prefix */
	bool holds;             /* DST's copy holds the new prefix (for the marker) */
	bool failed;
	bool unsafe;
	char *msg;              /* issue, malloc'd */
};

/* One copy: the walk lists entries, workers take them in order. */
struct envcp {
	const struct envcp_opts *o;
	struct envcp_result *res;
	struct envcp_prefixes p;
	struct envcp_marker mk;
	bool trust;             /* mk is for old_prefix: unlisted files need no read */
	bool root;              /* euid 0: owners are kept */
	pthread_mutex_t lock;
	pthread_cond_t more;    /* an entry was listed, or the walk ended */
	struct envcp_ent **ents; /* protected by lock (the entries themselves
				  * belong to the one worker that took them) */
	size_t n, cap;          /* protected by lock */
	size_t next;            /* next entry for a worker; protected by lock */
	bool walked;            /* the walk is over; protected by lock */
	struct inode_map {      /* hard-linked files seen: walk thread only */
		dev_t dev;
		ino_t ino;
		size_t idx;
	} *inodes;
	size_t ninodes, inodes_cap;
	int cfr;                /* copy_file_range usable (atomic; 0 after EXDEV...) */
};

/* Count v into the result's counter field: workers add at once, and
 * --progress reads them while they do. */
#define ENVCP_ADD(e, field, v) \
	__atomic_fetch_add(&(e)->res->st.field, (v), __ATOMIC_RELAXED)

/* Mark x as failed (or, when unsafe, as copied unchanged) with a message;
 * only the first message of an entry is kept. */
void envcp_ent_issue(struct envcp_ent *x, bool unsafe, const char *fmt, ...)
	BR_PRINTF(3, 4);

/* Copy the entry x (a regular file, symlink or special file; the
 * idx-th listed) from src to dst, counting it in e->res.  0, or -errno
 * for the caller to report; a file copied unchanged because the prefix
 * cannot be rewritten in it is 0, with its issue set. */
int envcp_ent_copy(struct envcp *e, struct envcp_ent *x, size_t idx, const char *src,
		   const char *dst);

#endif
