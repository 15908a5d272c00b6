/* proc_meta.c - INFO, MOUNT, GETATTR, SETATTR, LOOKUP, ACCESS, READLINK,
 * STATFS: calls about one object's metadata. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "exportpath.h"
#include "log.h"
#include "orphans.h"
#include "proc.h"
#include "xalloc.h"

int proc_info(struct call *c, void *args, void *res)
{
	br_info *r = res;
	struct service *svc = c->svc;
	struct buf exports = BUF_INIT;
	bool ro;

	(void)args;
	r->server_version = xstrdup("brambled " BR_SOFTWARE_VERSION);
	/* Several exports: "NAME=PATH; ..." (those this client may use). */
	exports_describe(svc->exports, c->peer, &exports, &ro);
	r->export_path = xstrdup(exports.data);
	buf_release(&exports);
	r->proto_vers = BR_PROG_VERS;
	r->start_time = svc->start_time;
	r->uptime = (now_ns() - svc->start_ns) / 1000000000;
	r->max_data = BR_DATA_MAX;
	r->read_only = ro;
	return 0;
}

/* MOUNT resolves as the server (like a mountd): a handle grants nothing by
 * itself, every later call is checked as its caller.  The path names the
 * export (exports_find_mount()); dispatch drops c->exp's reference. */
int proc_mount(struct call *c, void *args, void *res)
{
	br_mount_args *a = args;
	br_mount_res *r = res;
	const char *path = a->path ? a->path : "", *sub;
	struct export_fh fh;
	struct stat st;
	int fd, rc;

	rc = exports_find_mount(c->svc->exports, path, &c->exp, &sub);
	if (rc < 0) {
		log_warn_rl("MOUNT '%s': no such export", path);
		return rc;
	}
	if (!exports_entry_allows(c->exp, c->peer)) {
		log_warn_rl("MOUNT '%s' refused: the client is not in export '%s''s "
			    "allow list", path, c->exp->name);
		return -EACCES;
	}
	rc = exportpath_resolve(c->exp->ex, sub, &fd);
	if (rc < 0)
		return rc;
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0)
		rc = export_fh_from_fd(c->exp->ex, fd, &fh);
	close(fd);
	if (rc < 0)
		return rc;
	call_fh_set(&r->br_mount_res_u.ok.fh, &fh);
	call_attr(c, &r->br_mount_res_u.ok.attr, &st);
	r->br_mount_res_u.ok.max_data = BR_DATA_MAX;
	r->br_mount_res_u.ok.read_only = c->exp->read_only;
	return 0;
}

int proc_getattr(struct call *c, void *args, void *res)
{
	br_fh_args *a = args;
	br_attr_res *r = res;
	struct stat st;
	int fd, rc;

	/* A hot handle: no fd to duplicate and close. */
	rc = export_fh_stat_cached(c->exp->ex, a->fh.br_fh_val, a->fh.br_fh_len, &st);
	if (rc == -EAGAIN) {
		rc = call_fh(c, &a->fh, &fd, &st);
		if (rc == 0)
			close(fd);
	}
	if (rc < 0)
		return rc;
	call_attr(c, &r->br_attr_res_u.attr, &st);
	return 0;
}

static int set_times(int fd, const br_setattr_args *a)
{
	struct timespec ts[2];

	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	ts[0].tv_sec = ts[1].tv_sec = 0;
	if (a->valid & BR_SET_ATIME) {
		if (a->valid & BR_SET_ATIME_NOW) {
			ts[0].tv_nsec = UTIME_NOW;
		} else {
			if (a->atime.nsec >= 1000000000)
				return -EINVAL;
			ts[0].tv_sec = (time_t)a->atime.sec;
			ts[0].tv_nsec = a->atime.nsec;
		}
	}
	if (a->valid & BR_SET_MTIME) {
		if (a->valid & BR_SET_MTIME_NOW) {
			ts[1].tv_nsec = UTIME_NOW;
		} else {
			if (a->mtime.nsec >= 1000000000)
				return -EINVAL;
			ts[1].tv_sec = (time_t)a->mtime.sec;
			ts[1].tv_nsec = a->mtime.nsec;
		}
	}
	/* AT_EMPTY_PATH works on O_PATH fds, symlinks included. */
	if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* BR_SET_KILL_SETID: clear the bits a write by the caller would clear,
 * if the caller may write the file at all (access(2) as the caller; it
 * is the fs identity here), then as the server, since the caller need not
 * own the file. */
static int kill_setid(struct call *c, int fd, const char *path,
		      const struct stat *st)
{
	mode_t mode = st->st_mode & 07777;

	if (faccessat(fd, "", W_OK, AT_EMPTY_PATH | AT_EACCESS) < 0)
		return -errno;
	mode &= ~(mode_t)S_ISUID;
	if (mode & S_IXGRP)
		mode &= ~(mode_t)S_ISGID;
	if (mode == (st->st_mode & 07777))
		return 0;
	call_as_root(c);
	if (fchmodat(AT_FDCWD, path, mode, 0) < 0) {
		int rc = -errno;

		call_as_user(c);
		return rc;
	}
	return call_as_user(c);
}

/* In the order the .x gives: size, mode, owner, times.  A failure part way
 * leaves the earlier changes in place (as NFS servers do). */
int proc_setattr(struct call *c, void *args, void *res)
{
	br_setattr_args *a = args;
	br_attr_res *r = res;
	const unsigned int known = BR_SET_MODE | BR_SET_UID | BR_SET_GID |
		BR_SET_SIZE | BR_SET_ATIME | BR_SET_MTIME | BR_SET_ATIME_NOW |
		BR_SET_MTIME_NOW | BR_SET_OPEN | BR_SET_KILL_SETID;
	unsigned int valid = a->valid;
	char path[32];
	struct stat st;
	int fd, rc;

	if (valid & ~known)
		return -EINVAL;
	if ((valid & BR_SET_SIZE) && a->size > INT64_MAX)
		return -EFBIG;
	rc = call_fh(c, &a->fh, &fd, &st);
	if (rc < 0)
		return rc;
	call_fd_path(fd, path, sizeof(path));
	if (valid & BR_SET_SIZE) {
		rc = data_truncate(c, &a->fh, fd, &st, a->size, valid & BR_SET_OPEN);
		/* ftruncate(2) set mtime and ctime itself: an ftruncate's
		 * "times: now" need no permission of their own. */
		if ((valid & BR_SET_OPEN) && !(valid & BR_SET_ATIME) &&
		    (valid & BR_SET_MTIME_NOW))
			valid &= ~(unsigned int)(BR_SET_MTIME | BR_SET_MTIME_NOW);
	}
	if (rc == 0)
		rc = call_as_user(c);
	if (rc == 0 && (valid & BR_SET_KILL_SETID) && !(valid & BR_SET_MODE))
		rc = kill_setid(c, fd, path, &st);
	if (rc == 0 && (valid & BR_SET_MODE)) {
		/* The magic link resolves to the object itself (a symlink is
		 * not followed again: chmod of one gives EOPNOTSUPP). */
		if (fchmodat(AT_FDCWD, path, a->mode & 07777, 0) < 0)
			rc = -errno;
	}
	if (rc == 0 && (valid & (BR_SET_UID | BR_SET_GID))) {
		uid_t uid = (a->valid & BR_SET_UID) ? (uid_t)a->uid : (uid_t)-1;
		gid_t gid = (a->valid & BR_SET_GID) ? (gid_t)a->gid : (gid_t)-1;

		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
	}
	if (rc == 0 && (valid & (BR_SET_ATIME | BR_SET_MTIME)))
		rc = set_times(fd, a);
	if (rc == 0 && fstat(fd, &st) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0)
		call_attr(c, &r->br_attr_res_u.attr, &st);
	return rc;
}

int proc_lookup(struct call *c, void *args, void *res)
{
	br_dirop_args *a = args;
	br_entry_res *r = res;
	int dfd, rc;

	rc = exportpath_check_name(a->name);
	if (rc < 0)
		return rc;
	if (orphans_reserved(a->name))
		return -ENOENT;         /* never found (orphans.h) */
	rc = call_dir(c, &a->dir, &dfd);
	if (rc < 0)
		return rc;
	rc = call_entry(c, dfd, a->name, &r->br_entry_res_u.ok);
	close(dfd);
	return rc;
}

int proc_access(struct call *c, void *args, void *res)
{
	br_access_args *a = args;
	struct stat st;
	int fd, rc;

	(void)res;
	if (a->mask & ~7u)
		return -EINVAL;
	rc = call_fh(c, &a->fh, &fd, &st);
	if (rc < 0)
		return rc;
	rc = call_as_user(c);
	/* AT_EACCESS: check the effective (here: fs) identity, not the real
	 * uid, which is still root. */
	if (rc == 0 && faccessat(fd, "", (int)a->mask, AT_EMPTY_PATH | AT_EACCESS) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int proc_readlink(struct call *c, void *args, void *res)
{
	br_fh_args *a = args;
	br_readlink_res *r = res;
	struct stat st;
	char *buf;
	ssize_t n;
	int fd, rc;

	rc = call_fh(c, &a->fh, &fd, &st);
	if (rc < 0)
		return rc;
	if (!S_ISLNK(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	buf = xmalloc(BR_PATH_MAX + 2);
	n = readlinkat(fd, "", buf, BR_PATH_MAX + 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc == 0 && n > BR_PATH_MAX)
		rc = -ENAMETOOLONG;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	r->br_readlink_res_u.target = buf;
	return 0;
}

int proc_statfs(struct call *c, void *args, void *res)
{
	br_fh_args *a = args;
	br_statfs_res *r = res;
	br_statfs_ok *o = &r->br_statfs_res_u.ok;
	struct statvfs sv;
	struct stat st;
	int fd, rc;

	rc = call_fh(c, &a->fh, &fd, &st);
	if (rc < 0)
		return rc;
	rc = fstatvfs(fd, &sv) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return rc;
	o->bsize = (unsigned int)sv.f_bsize;
	o->frsize = (unsigned int)sv.f_frsize;
	o->blocks = sv.f_blocks;
	o->bfree = sv.f_bfree;
	o->bavail = sv.f_bavail;
	o->files = sv.f_files;
	o->ffree = sv.f_ffree;
	o->favail = sv.f_favail;
	o->namemax = (unsigned int)sv.f_namemax;
	return 0;
}
