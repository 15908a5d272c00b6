/* ops_meta.c - FUSE handlers for names, attributes and extended
 * attributes (see ops.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/xattr.h>
#include <time.h>

#include "bramble_ctl.h"
#include "chunkfs.h"
#include "lease.h"
#include "log.h"
#include "ops.h"
#include "wb.h"

/* ---- lookup and forget */

void bfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct fuse_entry_param e;
	struct bramble_cred cr;
	struct bramble_fh dir, fh;
	struct stat st;
	uint64_t gen = wb_gen(fs->wb);
	int rc;

	if (parent == FUSE_ROOT_ID && !strcmp(name, BRAMBLE_CTL_NAME)) {
		/* Not counted in the inode table: the kernel may forget it
		 * any number of times, it stays. */
		memset(&e, 0, sizeof(e));
		e.ino = INODE_CTL_INO;
		ctl_stat(fs, &e.attr);
		e.attr_timeout = e.entry_timeout = 3600;
		bfs_trace(fs, "lookup", parent, 0, t0);
		fuse_reply_entry(req, &e);
		return;
	}
	rc = ino_fh(fs, parent, &dir);
	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = lease_lookup(fs, &cr, &dir, name, &fh, &st);  /* lease.h */
		if (rc == 0)
			rc = entry_fresh(fs, &cr, gen, &fh, &st);
	}
	if (rc == -ENOENT && (fs->opts.negative_timeout > 0 || lease_trusted(fs, &dir))) {
		/* ino 0: the kernel caches the absence -- for entry_timeout
		 * when the directory is under callback: a create there
		 * elsewhere expires the kernel's entry (lease.h). */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = BR_MAX(fs->opts.negative_timeout,
					 lease_trusted(fs, &dir) ? fs->opts.entry_timeout : 0);
		bfs_trace(fs, "lookup", parent, rc, t0);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		reply_err(req, "lookup", parent, rc, t0);
		return;
	}
	record_name(fs, &dir, name, &fh);  /* before the kernel may open it */
	reply_new_entry(req, "lookup", parent, &fh, &st, t0);
}

void bfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(req_fs(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

void bfs_forget_multi(fuse_req_t req, size_t count,
		      struct fuse_forget_data *forgets)
{
	struct bfs *fs = req_fs(req);

	for (size_t i = 0; i < count; i++)
		inode_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ---- attributes */

void bfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	struct stat st;
	int rc;

	(void)fi;
	if (ino == INODE_CTL_INO) {
		ctl_stat(fs, &st);
		bfs_trace(fs, "getattr", ino, 0, t0);
		fuse_reply_attr(req, &st, 3600);
		return;
	}
	rc = ino_fh(fs, ino, &fh);
	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		/* The size must include our writes; a wait that ran out of
		 * the call's time (intr.h) ends it, not cached attributes. */
		rc = wb_wait_ino(fs->wb, ino);
		if (rc == 0)
			rc = lease_getattr(fs, &cr, &fh, &st);  /* lease.h */
	}
	if (rc < 0) {
		reply_err(req, "getattr", ino, rc, t0);
		return;
	}
	inode_kattr_note(fs->inodes, ino, &st);
	bfs_trace(fs, "getattr", ino, 0, t0);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

/* A chmod refused to a non-owner may be the kernel clearing set-id bits
 * before the caller's write or truncate (libfuse 3.14 never passes
 * handle_killpriv on to the kernel, so the kernel does it this way).
 * When the mode asked is exactly the file's with those bits cleared, ask
 * the server to clear them as the write would (BRAMBLE_SET_KILL_SETID:
 * for whoever may write the file).  Else the EPERM stands. */
static int retry_as_kill_setid(struct bfs *fs, const struct bramble_cred *cr,
			       const struct bramble_fh *fh, mode_t want,
			       struct stat *st)
{
	struct bramble_setattr kill = { .valid = BRAMBLE_SET_KILL_SETID };
	mode_t cur, killed;
	int rc = bramble_getattr(fs->cl, cr, fh, st);

	if (rc < 0)
		return -EPERM;
	cur = st->st_mode & 07777;
	killed = cur & ~(mode_t)S_ISUID;
	if (cur & S_IXGRP)
		killed &= ~(mode_t)S_ISGID;
	if (killed == cur || want != killed)
		return -EPERM;
	return bramble_setattr(fs->cl, cr, fh, &kill, st);
}

/* May this SETATTR go behind the inode's writes (wb_setattr) and be
 * answered now, from the attributes the kernel holds (st)?  Only when
 * its outcome cannot be an error the caller must see at the call: a
 * chmod without set-id or sticky bits, or a utimes to explicit times,
 * of a regular file without those bits, by its owner -- not root, whom
 * the server may squash (then EPERM).  wb_setattr adds: the owner has
 * the file open for writing here, so the export is writable and the
 * file the owner's to write.  Errors a server may still meet (EIO) are
 * reported at the next write, fsync or close of that open file. */
static bool setattr_deferrable(struct bfs *fs, fuse_ino_t ino,
			       const struct bramble_cred *cr,
			       const struct bramble_setattr *sa, struct stat *st)
{
	const uint32_t may = BRAMBLE_SET_MODE | BRAMBLE_SET_ATIME | BRAMBLE_SET_MTIME;

	if (sa->valid == 0 || (sa->valid & ~may) || cr->uid == 0)
		return false;
	if ((sa->valid & BRAMBLE_SET_MODE) && (sa->mode & 07000))
		return false;
	if (!inode_kattr_get(fs->inodes, ino, st))
		return false;
	return S_ISREG(st->st_mode) && !(st->st_mode & 07000) && st->st_uid == cr->uid;
}

/* The attributes a deferred SETATTR leaves: what the kernel holds with
 * sa applied, changed now.  Handed out with no attribute timeout, so the
 * kernel asks again (and GETATTR waits for the SETATTR) at its next use. */
static void setattr_applied(struct stat *st, const struct bramble_setattr *sa)
{
	if (sa->valid & BRAMBLE_SET_MODE)
		st->st_mode = (st->st_mode & S_IFMT) | sa->mode;
	if (sa->valid & BRAMBLE_SET_ATIME)
		st->st_atim = sa->atime;
	if (sa->valid & BRAMBLE_SET_MTIME)
		st->st_mtim = sa->mtime;
	clock_gettime(CLOCK_REALTIME, &st->st_ctim);
}

/* Defer sa when it may be (above): true when the kernel was answered. */
static bool setattr_defer(fuse_req_t req, struct bfs *fs, fuse_ino_t ino,
			  const struct bramble_cred *cr,
			  const struct bramble_setattr *sa, int64_t t0)
{
	struct stat st;

	if (!setattr_deferrable(fs, ino, cr, sa, &st) ||
	    wb_setattr(fs->wb, ino, cr, sa) < 0)
		return false;
	setattr_applied(&st, sa);
	inode_kattr_note(fs->inodes, ino, &st);
	bfs_trace(fs, "setattr", ino, 0, t0);
	fuse_reply_attr(req, &st, 0);
	return true;
}

void bfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		 int to_set, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_setattr sa = { 0 };
	struct bramble_cred cr;
	struct bramble_fh fh;
	struct stat st;
	int rc;

	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= BRAMBLE_SET_MODE;
		sa.mode = attr->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= BRAMBLE_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= BRAMBLE_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		chunkfs_changed(fs->chunks, ino);
		sa.valid |= BRAMBLE_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME) {
		sa.valid |= BRAMBLE_SET_ATIME;
		sa.atime = attr->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		sa.valid |= BRAMBLE_SET_ATIME | BRAMBLE_SET_ATIME_NOW;
	if (to_set & FUSE_SET_ATTR_MTIME) {
		sa.valid |= BRAMBLE_SET_MTIME;
		sa.mtime = attr->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		sa.valid |= BRAMBLE_SET_MTIME | BRAMBLE_SET_MTIME_NOW;

	rc = ino_fh(fs, ino, &fh);
	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		if (setattr_defer(req, fs, ino, &cr, &sa, t0))
			return;
		/* ftruncate(2): through the open file, whose opener the server
		 * checked at open (a file created 0 can be truncated through
		 * its descriptor); as the opener, whose hold it is. */
		if ((sa.valid & BRAMBLE_SET_SIZE) && fi && file_of(fi) &&
		    file_of(fi)->hold &&
		    !(sa.valid & (BRAMBLE_SET_MODE | BRAMBLE_SET_UID | BRAMBLE_SET_GID))) {
			sa.valid |= BRAMBLE_SET_OPEN;
			cr = file_of(fi)->cred;
		}
		/* A truncate, utimes or chmod must not be overtaken by a write
		 * acknowledged before it (size, mtime, permission to write). */
		rc = wb_wait_ino(fs->wb, ino);
	}
	if (rc == 0) {
		/* Only FUSE_SET_ATTR_CTIME (or nothing we know): the server
		 * has no way to set ctime; report the attributes. */
		if (sa.valid == 0)
			rc = bramble_getattr(fs->cl, &cr, &fh, &st);
		else
			rc = bramble_setattr(fs->cl, &cr, &fh, &sa, &st);
		if (rc == -EPERM && sa.valid == BRAMBLE_SET_MODE)
			rc = retry_as_kill_setid(fs, &cr, &fh, sa.mode, &st);
	}
	if (rc < 0) {
		reply_err(req, "setattr", ino, rc, t0);
		return;
	}
	/* A truncate by this node: the kernel already fixed its page cache. */
	if (sa.valid & BRAMBLE_SET_SIZE)
		inode_cto_note(fs->inodes, ino, &st);
	inode_kattr_note(fs->inodes, ino, &st);
	bfs_trace(fs, "setattr", ino, 0, t0);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

void bfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	char target[BRAMBLE_PATH_MAX + 1];
	struct bramble_cred cr;
	struct bramble_fh fh;
	ssize_t n;

	n = ino_fh(fs, ino, &fh);
	if (n == 0) {
		cred_of_req(fs, req, &cr);
		n = bramble_readlink(fs->cl, &cr, &fh, target, sizeof(target));
	}
	if (n < 0) {
		reply_err(req, "readlink", ino, (int)n, t0);
		return;
	}
	bfs_trace(fs, "readlink", ino, 0, t0);
	fuse_reply_readlink(req, target);
}

/* ---- making names */

/* The name .bramble in the root belongs to the control file. */
static bool is_ctl_name(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && !strcmp(name, BRAMBLE_CTL_NAME);
}

void bfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh dir, fh;
	struct stat st;
	int rc = is_ctl_name(parent, name) ? -EEXIST : ino_fh(fs, parent, &dir);

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_mknod(fs->cl, &cr, &dir, name, mode, rdev, &fh, &st);
	}
	if (rc < 0) {
		reply_err(req, "mknod", parent, rc, t0);
		return;
	}
	record_name(fs, &dir, name, &fh);  /* learned sets (record.h) */
	reply_new_entry(req, "mknod", parent, &fh, &st, t0);
}

void bfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh dir, fh;
	struct stat st;
	int rc = is_ctl_name(parent, name) ? -EEXIST : ino_fh(fs, parent, &dir);

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_mkdir(fs->cl, &cr, &dir, name, mode, &fh, &st);
	}
	if (rc < 0) {
		reply_err(req, "mkdir", parent, rc, t0);
		return;
	}
	record_name(fs, &dir, name, &fh);  /* learned sets (record.h) */
	reply_new_entry(req, "mkdir", parent, &fh, &st, t0);
}

void bfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh dir, fh;
	struct stat st;
	int rc = is_ctl_name(parent, name) ? -EEXIST : ino_fh(fs, parent, &dir);

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_symlink(fs->cl, &cr, &dir, name, link, &fh, &st);
	}
	if (rc < 0)
		reply_err(req, "symlink", parent, rc, t0);
	else
		reply_new_entry(req, "symlink", parent, &fh, &st, t0);
}

void bfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	      const char *newname)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh dir, fh;
	struct stat st;
	int rc = is_ctl_name(newparent, newname) ? -EEXIST : ino_fh(fs, ino, &fh);

	if (rc == 0)
		rc = ino_fh(fs, newparent, &dir);
	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = wb_wait_ino(fs->wb, ino);  /* LINK's attributes: with our writes */
		if (rc == 0)
			rc = bramble_link(fs->cl, &cr, &fh, &dir, newname, &st);
	}
	if (rc < 0) {
		reply_err(req, "link", ino, rc, t0);
		return;
	}
	record_name(fs, &dir, newname, &fh);  /* learned sets (record.h) */
	reply_new_entry(req, "link", ino, &fh, &st, t0);
}

/* ---- removing names */

/* dir/name, a file open on this node, is being removed or replaced: the
 * server keeps it nameless for this node (REMOVE_OPEN) until its last
 * close here, as Linux keeps an open, unlinked file -- st_nlink 0, no name
 * left, its directory removable.  An older server: rename it aside to a
 * silly name in the same directory, removed at its last close, as NFS
 * clients do.  Returns 1 when the name is gone (removed or renamed), 0
 * when the file is not open here (nothing done), -errno on failure. */
static int remove_open_file(struct bfs *fs, const struct bramble_cred *cr,
			    const struct bramble_fh *dir, const char *name)
{
	struct bramble_fh fh;
	struct stat st;
	uint64_t ino, rnd;
	char silly[64];
	int rc;

	if (!inode_any_open(fs->inodes))
		return 0;  /* the common case: no extra round trip */
	rc = bramble_lookup(fs->cl, cr, dir, name, &fh, &st);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	if (!S_ISREG(st.st_mode) || !inode_fh_is_open(fs->inodes, &fh, &ino))
		return 0;
	if (bramble_server_can(fs->cl, BRAMBLE_CAP_OPENS)) {
		rc = bramble_remove_open(fs->cl, cr, dir, name);
		if (rc < 0)
			return rc;
		/* Its last close came meanwhile (the kernel sends RELEASE
		 * after close(2) returns): say so now. */
		if (!inode_set_orphan(fs->inodes, ino))
			bramble_close(fs->cl, cr, &fh, BRAMBLE_CLOSE_LAST);
		return 1;
	}
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint64_t)now_ns();
	snprintf(silly, sizeof(silly), BFS_SILLY_PREFIX "%016llx",
		 (unsigned long long)rnd);
	rc = bramble_rename(fs->cl, cr, dir, name, dir, silly,
			    BRAMBLE_RENAME_NOREPLACE);
	if (rc < 0)
		return rc;
	if (!inode_set_silly(fs->inodes, ino, dir, silly)) {
		rc = bramble_remove(fs->cl, cr, dir, silly);
		return rc < 0 && rc != -ENOENT ? rc : 1;
	}
	log_debug("%s is open here: renamed aside to %s", name, silly);
	return 1;
}

void bfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh dir;
	int rc = is_ctl_name(parent, name) ? -EPERM : ino_fh(fs, parent, &dir);

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		/* Handles survive renames, but finish what was acknowledged
		 * before the name goes (cheap: nothing in flight is usual). */
		rc = wb_wait_all(fs->wb);
		if (rc == 0)
			rc = remove_open_file(fs, &cr, &dir, name);
		if (rc == 0)
			rc = bramble_remove(fs->cl, &cr, &dir, name);
		else if (rc > 0)
			rc = 0;
	}
	reply_err(req, "unlink", parent, rc, t0);
}

void bfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh dir;
	int rc = is_ctl_name(parent, name) ? -ENOTDIR : ino_fh(fs, parent, &dir);

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_rmdir(fs->cl, &cr, &dir, name);
	}
	reply_err(req, "rmdir", parent, rc, t0);
}

void bfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh from, to;
	unsigned int wflags = 0;
	int rc = 0;

	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		rc = -EINVAL;  /* RENAME_WHITEOUT: overlayfs only */
	if (flags & RENAME_NOREPLACE)
		wflags |= BRAMBLE_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		wflags |= BRAMBLE_RENAME_EXCHANGE;
	if (rc == 0 && (is_ctl_name(parent, name) || is_ctl_name(newparent, newname)))
		rc = -EPERM;
	if (rc == 0)
		rc = ino_fh(fs, parent, &from);
	if (rc == 0)
		rc = ino_fh(fs, newparent, &to);
	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = wb_wait_all(fs->wb);  /* as unlink */
		/* Renaming over a file open here would unlink it. */
		if (rc == 0 && flags == 0)
			rc = remove_open_file(fs, &cr, &to, newname);
		if (rc >= 0)
			rc = bramble_rename(fs->cl, &cr, &from, name, &to, newname,
					    wflags);
		if (rc == 0)
			record_rename(fs, &from, name, &to, newname, flags);
	}
	reply_err(req, "rename", parent, rc, t0);
}

/* ---- whole filesystem, permissions */

void bfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	struct statvfs sv;
	int rc = ino_fh(fs, ino == INODE_CTL_INO ? FUSE_ROOT_ID : ino, &fh);

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_statfs(fs->cl, &cr, &fh, &sv);
	}
	if (rc < 0) {
		reply_err(req, "statfs", ino, rc, t0);
		return;
	}
	bfs_trace(fs, "statfs", ino, 0, t0);
	fuse_reply_statfs(req, &sv);
}

void bfs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	int rc;

	if (ino == INODE_CTL_INO) {
		rc = (mask & (W_OK | X_OK)) ? -EACCES : 0;
	} else {
		rc = ino_fh(fs, ino, &fh);
		if (rc == 0) {
			cred_of_req(fs, req, &cr);
			rc = bramble_access(fs->cl, &cr, &fh, (unsigned int)mask);
		}
	}
	reply_err(req, "access", ino, rc, t0);
}

/* ---- extended attributes: "user." only.
 *
 * Others are answered here without a round trip: the kernel asks for
 * security.capability before every write and for POSIX ACLs on every
 * ls -l, and the server would refuse them anyway. */

static bool user_xattr(const char *name)
{
	return !strncmp(name, "user.", 5);
}

void bfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	int rc = user_xattr(name) ? ino_fh(fs, ino, &fh) : -EOPNOTSUPP;

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_setxattr(fs->cl, &cr, &fh, name, value, size,
				      (unsigned int)flags);
	}
	reply_err(req, "setxattr", ino, rc, t0);
}

void bfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	char *buf = NULL;
	ssize_t n = user_xattr(name) ? ino_fh(fs, ino, &fh) : -ENODATA;

	if (n == -EPERM)
		n = -ENODATA;  /* .bramble has none */
	size = BR_MIN(size, (size_t)BRAMBLE_XATTR_SIZE_MAX);
	if (n == 0) {
		cred_of_req(fs, req, &cr);
		if (size)
			buf = malloc(size);
		n = size && !buf ? -ENOMEM :
		    bramble_getxattr(fs->cl, &cr, &fh, name, buf, size);
	}
	if (n < 0)
		reply_err(req, "getxattr", ino, (int)n, t0);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	if (n >= 0)
		bfs_trace(fs, "getxattr", ino, 0, t0);
	free(buf);
}

void bfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	char *buf = NULL;
	ssize_t n = ino == INODE_CTL_INO ? 0 : ino_fh(fs, ino, &fh);

	size = BR_MIN(size, (size_t)BRAMBLE_XATTR_SIZE_MAX);
	if (n == 0 && ino != INODE_CTL_INO) {
		cred_of_req(fs, req, &cr);
		if (size)
			buf = malloc(size);
		n = size && !buf ? -ENOMEM :
		    bramble_listxattr(fs->cl, &cr, &fh, buf, size);
	}
	if (n < 0)
		reply_err(req, "listxattr", ino, (int)n, t0);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	if (n >= 0)
		bfs_trace(fs, "listxattr", ino, 0, t0);
	free(buf);
}

void bfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_cred cr;
	struct bramble_fh fh;
	int rc = user_xattr(name) ? ino_fh(fs, ino, &fh) : -EOPNOTSUPP;

	if (rc == 0) {
		cred_of_req(fs, req, &cr);
		rc = bramble_removexattr(fs->cl, &cr, &fh, name);
	}
	reply_err(req, "removexattr", ino, rc, t0);
}
