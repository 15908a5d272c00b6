/* wb_attrs.c - deferred SETATTRs (wb.h, wb_setattr) and the open files
 * they go with (wb_open_file, wb_close_file).
 *
 * An attribute request carries a SETATTR instead of bytes.  It is a
 * barrier on its inode's list: its writer sends it only once every older
 * request of the inode is done (so a utimes lands after the writes it
 * follows), and a later write counts it as overlapping (so it lands after
 * the utimes).  Held like a stream's tail, it is the open file's newest
 * request until a writer takes it, and that file's next deferred SETATTR
 * merges into it. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "wb_int.h"

/* Send an attribute request.  The kernel was answered with attributes
 * made here (ops_meta.c) and refreshes them once they expire; the pages
 * it holds are still the file's. */
int wb_send_attrs(struct wb *wb, struct wb_req *r)
{
	struct stat st;
	int rc = bramble_setattr(wb->fs->cl, &r->cred, &r->f->fh, &r->sa, &st);

	if (rc == 0)
		inode_cto_note_newer(wb->fs->inodes, r->f->ino, &st);
	return rc;
}

static bool cred_same(const struct bramble_cred *a, const struct bramble_cred *b)
{
	return a->uid == b->uid && a->gid == b->gid && a->ngroups == b->ngroups &&
	       !memcmp(a->groups, b->groups, a->ngroups * sizeof(a->groups[0]));
}

/* Later values win: what sa sets replaces what r already set. */
static void merge_attrs(struct bramble_setattr *into, const struct bramble_setattr *sa)
{
	into->valid |= sa->valid;
	if (sa->valid & BRAMBLE_SET_MODE)
		into->mode = sa->mode;
	if (sa->valid & BRAMBLE_SET_ATIME)
		into->atime = sa->atime;
	if (sa->valid & BRAMBLE_SET_MTIME)
		into->mtime = sa->mtime;
}

void wb_open_file(struct wb *wb, struct bfs_file *f)
{
	struct wb_inode *wi;

	if (!f->writer || f->sync)
		return;
	pthread_mutex_lock(&wb->lock);
	wi = wb_get_inode(wb, f->ino);
	f->wb_next_open = wi->files;
	wi->files = f;
	pthread_mutex_unlock(&wb->lock);
}

void wb_close_file(struct wb *wb, struct bfs_file *f)
{
	struct wb_inode *wi;

	pthread_mutex_lock(&wb->lock);
	wb_unplug_file(wb, f);
	while (f->wb_pending > 0)
		pthread_cond_wait(&wb->done, &wb->lock);
	wi = wb_find_inode(wb, f->ino);
	for (struct bfs_file **pp = wi ? &wi->files : NULL; pp && *pp; pp = &(*pp)->wb_next_open) {
		if (*pp == f) {
			*pp = f->wb_next_open;
			wb_put_inode(wb, wi);
			break;
		}
	}
	pthread_mutex_unlock(&wb->lock);
}

/* The open file of wi a deferred SETATTR by uid goes with: one the same
 * user opened for writing. */
static struct bfs_file *attrs_file(struct wb_inode *wi, uint32_t uid)
{
	struct bfs_file *f = wi ? wi->files : NULL;

	while (f && f->cred.uid != uid)
		f = f->wb_next_open;
	return f;
}

int wb_setattr(struct wb *wb, uint64_t ino, const struct bramble_cred *cr,
	       const struct bramble_setattr *sa)
{
	struct wb_inode *wi;
	struct bfs_file *f;
	struct wb_req *r;
	int rc = -EAGAIN;

	pthread_mutex_lock(&wb->lock);
	wi = wb_find_inode(wb, ino);
	f = attrs_file(wi, cr->uid);
	/* A failed write's error stays for fsync and close to report. */
	if (!f || f->wb_err < 0)
		goto out;
	rc = 0;
	r = wi->tail;
	/* Not taken by a writer yet: still ours to change. */
	if (r && r->attrs && r->state != WB_SENDING && r->f == f &&
	    cred_same(&r->cred, cr)) {
		merge_attrs(&r->sa, sa);
		r->joined_ns = now_ns();
		wb->stats.attrs_merged++;
		goto out;
	}
	/* The inode's held requests first: they are older. */
	wb_unplug_ino(wb, f->ino);
	r = wb_req_new(wb, f, 0, NULL);
	r->attrs = true;
	r->cred = *cr;
	r->sa = *sa;
	f->wb_tail = r;
	wb_hold(wb, r);
	wb->stats.attrs++;
out:
	pthread_mutex_unlock(&wb->lock);
	return rc;
}

