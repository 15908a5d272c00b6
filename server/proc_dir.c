/* proc_dir.c - calls that change or list a directory: CREATE, MKDIR,
 * SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK, READDIRPLUS.
 *
 * Every name is validated (exportpath_check_name) before any syscall, every
 * directory comes from a verified handle, and every syscall takes a
 * directory fd plus one component, so nothing can leave the export. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exportpath.h"
#include "fdcache.h"
#include "log.h"
#include "openstate.h"
#include "orphans.h"
#include "proc.h"
#include "xalloc.h"

/* Decode dir and check name; *dfd owned by the caller on success.  The
 * orphan directory's name cannot be made (EPERM). */
static int dir_and_name(struct call *c, const br_fh *dir, const char *name,
			int *dfd)
{
	int rc = exportpath_check_name(name);

	if (rc == 0 && orphans_reserved(name))
		rc = -EPERM;
	if (rc == 0)
		rc = call_dir(c, dir, dfd);
	return rc;
}

/* The access mode CREATE's flags ask for; -1: none said (a client before
 * revision 5). */
static int create_accmode(unsigned int flags)
{
	switch (flags & (BR_CREATE_READ | BR_CREATE_WRITE)) {
	case BR_CREATE_READ:
		return O_RDONLY;
	case BR_CREATE_WRITE:
		return O_WRONLY;
	case BR_CREATE_READ | BR_CREATE_WRITE:
		return O_RDWR;
	default:
		return -1;
	}
}

/* Open the existing regular file name as the caller (already the fs
 * identity), as open(O_CREAT) without O_EXCL does: with the access asked,
 * truncating with BR_CREATE_TRUNC.  A client that says no access gets an
 * O_PATH fd (the file is only looked up; its OPEN checks later). */
static int open_existing(int dfd, const char *name, unsigned int flags, int accmode)
{
	int fd, extra = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

	if (accmode >= 0)
		fd = openat(dfd, name, accmode | extra |
			    ((flags & BR_CREATE_TRUNC) ? O_TRUNC : 0));
	else if (flags & BR_CREATE_TRUNC)
		fd = openat(dfd, name, O_WRONLY | O_TRUNC | extra);
	else
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Keep a new or opened file's fd: held for the caller's client when asked
 * (openstate.h), so that WRITEs succeed whatever its mode -- git creates
 * objects 0444 and writes them through the creating descriptor.  Else, in
 * the fd cache, only where an open(O_RDWR) by the caller would pass
 * anyway: the caller owns the file and its owner bits allow rw -- a 0444
 * file must not become writable through the cache.  The fd is consumed. */
static void keep_created(struct call *c, const br_create_args *a, const br_fh *fh,
			 const struct stat *st, bool created, int accmode, int fd)
{
	struct openstate_key ok;
	struct fdcache_key key;

	if ((a->flags & BR_CREATE_HOLD) && accmode >= 0 && c->has_client &&
	    c->svc->opens && !S_ISDIR(st->st_mode)) {
		openstate_key_init(&ok, c->client, fh->br_fh_val, fh->br_fh_len,
				   &c->cred, accmode);
		if (openstate_hold(c->svc->opens, &ok, fd) < 0)
			log_warn_rl("open files held: table full (%u)", OPENSTATE_MAX);
		return;
	}
	if (created && st->st_uid == c->cred.uid && (st->st_mode & 0600) == 0600) {
		fdcache_key_init(&key, fh->br_fh_val, fh->br_fh_len, &c->cred, O_RDWR);
		fdcache_give(c->svc->fc, &key, fd);
		return;
	}
	close(fd);
}

int proc_create(struct call *c, void *args, void *res)
{
	br_create_args *a = args;
	br_entry_res *r = res;
	br_entry *e = &r->br_entry_res_u.ok;
	const unsigned int known = BR_CREATE_EXCL | BR_CREATE_TRUNC | BR_CREATE_HOLD |
				   BR_CREATE_READ | BR_CREATE_WRITE;
	int accmode = create_accmode(a->flags);
	struct stat st;
	bool created;
	int dfd, fd, rc;

	if (a->flags & ~known)
		return -EINVAL;
	rc = dir_and_name(c, &a->dir, a->name, &dfd);
	if (rc < 0)
		return rc;
	rc = call_as_user(c);
	if (rc < 0)
		goto out;
	/* O_RDWR: the kernel checks no access when it creates the file, and
	 * the fd serves the WRITEs that follow (below).  O_NOFOLLOW: never
	 * create through a symlink. */
	fd = openat(dfd, a->name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC,
		    a->mode & 07777);
	created = fd >= 0;
	if (fd < 0)
		fd = -errno;
	if (fd == -EEXIST && !(a->flags & BR_CREATE_EXCL))
		fd = open_existing(dfd, a->name, a->flags, accmode);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	/* An existing name that is no regular file: what open(O_CREAT |
	 * O_NOFOLLOW) would say.  Never create through a symlink. */
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else if (S_ISLNK(st.st_mode))
		rc = -ELOOP;
	if (rc == 0)
		rc = call_entry(c, dfd, a->name, e);
	/* Only when the name still leads to this very file. */
	if (rc == 0 && e->attr.ino == (uint64_t)st.st_ino && S_ISREG(st.st_mode))
		keep_created(c, a, &e->fh, &st, created, accmode, fd);
	else
		close(fd);
out:
	close(dfd);
	return rc;
}

int proc_mkdir(struct call *c, void *args, void *res)
{
	br_mkdir_args *a = args;
	br_entry_res *r = res;
	int dfd, rc;

	rc = dir_and_name(c, &a->dir, a->name, &dfd);
	if (rc < 0)
		return rc;
	rc = call_as_user(c);
	if (rc == 0 && mkdirat(dfd, a->name, a->mode & 07777) < 0)
		rc = -errno;
	if (rc == 0)
		rc = call_entry(c, dfd, a->name, &r->br_entry_res_u.ok);
	close(dfd);
	return rc;
}

/* The target is stored as given, absolute or not, and never followed here. */
int proc_symlink(struct call *c, void *args, void *res)
{
	br_symlink_args *a = args;
	br_entry_res *r = res;
	int dfd, rc;

	if (!a->target || !*a->target)
		return -ENOENT;         /* what symlink(2) says about "" */
	rc = dir_and_name(c, &a->dir, a->name, &dfd);
	if (rc < 0)
		return rc;
	rc = call_as_user(c);
	if (rc == 0 && symlinkat(a->target, dfd, a->name) < 0)
		rc = -errno;
	if (rc == 0)
		rc = call_entry(c, dfd, a->name, &r->br_entry_res_u.ok);
	close(dfd);
	return rc;
}

int proc_mknod(struct call *c, void *args, void *res)
{
	br_mknod_args *a = args;
	br_entry_res *r = res;
	mode_t type = a->mode & S_IFMT;
	int dfd, rc;

	switch (type) {
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFREG:
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (!c->root)
			return -EPERM;
		break;
	default:
		return -EINVAL;
	}
	rc = dir_and_name(c, &a->dir, a->name, &dfd);
	if (rc < 0)
		return rc;
	rc = call_as_user(c);
	if (rc == 0 && mknodat(dfd, a->name, type | (a->mode & 07777),
			       (dev_t)a->rdev) < 0)
		rc = -errno;
	if (rc == 0)
		rc = call_entry(c, dfd, a->name, &r->br_entry_res_u.ok);
	close(dfd);
	return rc;
}

/* The handle of dirfd/name as LOOKUP would make it, taken before a
 * REMOVE, RMDIR or replacing RENAME (afterwards the name is gone): false
 * where there is none (no such name, a mount point). */
static bool victim_fh(struct call *c, int dirfd, const char *name,
		      struct export_fh *fh)
{
	return export_fh_at(c->exp->ex, dirfd, name, fh) == 0;
}

/* After a removal: close what the fd cache and the handle cache hold of
 * the object.  Both keep its inode, and so its blocks, alive (for up to
 * the fd cache's expiry, or until the handle is evicted), and a full
 * filesystem would stay full after rm.  The last close frees the blocks:
 * this runs on a worker (these calls are never inline).  With a hard
 * link left, this costs only a reopen on the next use. */
static void drop_cached(struct call *c, const struct export_fh *fh)
{
	fdcache_forget(c->svc->fc, fh->data, fh->len);
	export_forget(c->exp->ex, fh->data, fh->len);
}

static int unlink_common(struct call *c, br_dirop_args *a, int flags)
{
	struct export_fh fh;
	struct stat st;
	bool have_fh, last;
	int dfd, rc;

	if (orphans_reserved(a->name))
		return -ENOENT;
	rc = dir_and_name(c, &a->dir, a->name, &dfd);
	if (rc < 0)
		return rc;
	have_fh = victim_fh(c, dfd, a->name, &fh);
	/* Another link left: the handle table keeps the object's row. */
	last = !export_has_table(c->exp->ex) ||
	       !(fstatat(dfd, a->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		 !S_ISDIR(st.st_mode) && st.st_nlink > 1);
	rc = call_as_user(c);
	if (rc == 0 && unlinkat(dfd, a->name, flags) < 0)
		rc = -errno;
	if (rc == 0)
		export_removed(c->exp->ex, dfd, a->name, last);
	if (rc == 0 && have_fh)
		drop_cached(c, &fh);
	close(dfd);
	return rc;
}

int proc_remove(struct call *c, void *args, void *res)
{
	(void)res;
	return unlink_common(c, args, 0);
}

static int become_user(void *arg)
{
	return call_as_user(arg);
}

static void become_root(void *arg)
{
	call_as_root(arg);
}

/* REMOVE of a file the calling client has open: the last link of a
 * regular file moves to the orphan directory (orphans.h); anything else
 * is removed as REMOVE removes it. */
int proc_remove_open(struct call *c, void *args, void *res)
{
	br_dirop_args *a = args;
	struct export_fh fh;
	struct stat st;
	bool have_fh;
	int dfd, rc;

	if (!c->has_client || !c->svc->orphans || orphans_reserved(a->name))
		return proc_remove(c, args, res);
	rc = dir_and_name(c, &a->dir, a->name, &dfd);
	if (rc < 0)
		return rc;
	if (fstatat(dfd, a->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_nlink > 1) {
		close(dfd);
		return proc_remove(c, args, res);
	}
	have_fh = victim_fh(c, dfd, a->name, &fh);
	rc = orphans_remove(c->svc->orphans, c->exp->path, dfd, a->name, &st,
			    c->client, become_user, become_root, c);
	/* The object lives on: its handle row stays (not the last link). */
	if (rc == 0)
		export_removed(c->exp->ex, dfd, a->name, false);
	if (rc == 0 && have_fh)
		fdcache_forget(c->svc->fc, fh.data, fh.len);
	close(dfd);
	return rc;
}

int proc_rmdir(struct call *c, void *args, void *res)
{
	(void)res;
	return unlink_common(c, args, AT_REMOVEDIR);
}

int proc_rename(struct call *c, void *args, void *res)
{
	br_rename_args *a = args;
	struct export_fh fh;
	bool have_fh = false;
	int fdfd = -1, tdfd = -1, rc;

	(void)res;
	if (a->flags & ~(unsigned int)(BR_RENAME_NOREPLACE | BR_RENAME_EXCHANGE))
		return -EINVAL;
	rc = exportpath_check_name(a->from_name);
	if (rc == 0)
		rc = exportpath_check_name(a->to_name);
	if (rc == 0 && orphans_reserved(a->from_name))
		rc = -ENOENT;
	if (rc == 0 && orphans_reserved(a->to_name))
		rc = -EPERM;
	if (rc == 0)
		rc = call_dir(c, &a->from_dir, &fdfd);
	if (rc == 0)
		rc = call_dir(c, &a->to_dir, &tdfd);
	/* A target that exists is replaced, unless it must not be or is
	 * only swapped. */
	if (rc == 0 && !(a->flags & (BR_RENAME_NOREPLACE | BR_RENAME_EXCHANGE)))
		have_fh = victim_fh(c, tdfd, a->to_name, &fh);
	if (rc == 0)
		rc = call_as_user(c);
	/* The .x's flags are renameat2's own values. */
	if (rc == 0 && renameat2(fdfd, a->from_name, tdfd, a->to_name, a->flags) < 0)
		rc = -errno;
	if (rc == 0 && (a->flags & BR_RENAME_EXCHANGE)) {
		/* Swapped: move each row through a name no entry can have. */
		export_renamed(c->exp->ex, tdfd, a->to_name, fdfd, "/swap");
		export_renamed(c->exp->ex, fdfd, a->from_name, tdfd, a->to_name);
		export_renamed(c->exp->ex, fdfd, "/swap", fdfd, a->from_name);
	} else if (rc == 0) {
		export_renamed(c->exp->ex, fdfd, a->from_name, tdfd, a->to_name);
	}
	if (rc == 0 && have_fh)
		drop_cached(c, &fh);
	call_close_quiet(fdfd);
	call_close_quiet(tdfd);
	return rc;
}

int proc_link(struct call *c, void *args, void *res)
{
	br_link_args *a = args;
	br_entry_res *r = res;
	char path[32];
	struct stat st;
	int fd = -1, dfd = -1, rc;

	rc = exportpath_check_name(a->name);
	if (rc == 0 && orphans_reserved(a->name))
		rc = -EPERM;
	if (rc == 0)
		rc = call_fh(c, &a->fh, &fd, &st);
	if (rc == 0 && S_ISDIR(st.st_mode))
		rc = -EPERM;
	if (rc == 0)
		rc = call_dir(c, &a->dir, &dfd);
	if (rc == 0)
		rc = call_as_user(c);
	/* linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
	 * magic link with AT_SYMLINK_FOLLOW does not, and links a symlink
	 * itself rather than its target. */
	if (rc == 0) {
		call_fd_path(fd, path, sizeof(path));
		if (linkat(AT_FDCWD, path, dfd, a->name, AT_SYMLINK_FOLLOW) < 0)
			rc = -errno;
	}
	if (rc == 0)
		rc = call_entry(c, dfd, a->name, &r->br_entry_res_u.ok);
	call_close_quiet(fd);
	call_close_quiet(dfd);
	return rc;
}

/* ---- READDIRPLUS */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define RDP_BUF 32768
/* Room kept for the reply header and the array/eof words. */
#define RDP_OVERHEAD 256

static size_t xdr_pad(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static size_t entry_bytes(size_t namelen, size_t fhlen)
{
	/* name, cookie, fh, attr (8+4*4+8*3+4+3*12), plus the "more" word
	 * XDR puts before each array element when it is a list; an array of
	 * structs needs none, but count it: max_bytes is a soft cap. */
	return 4 + xdr_pad(namelen) + 8 + 4 + xdr_pad(fhlen) + 88 + 4;
}

int proc_readdirplus(struct call *c, void *args, void *res)
{
	br_readdir_args *a = args;
	br_readdir_res *r = res;
	br_readdir_ok *ok = &r->br_readdir_res_u.ok;
	char path[32];
	char *buf = NULL;
	br_dirent *ents = NULL;
	unsigned int n = 0, max;
	size_t bytes = RDP_OVERHEAD, max_bytes;
	bool eof = false;
	int pfd, dfd = -1, rc;

	max = a->max_entries ? BR_MIN(a->max_entries, (unsigned int)BR_DIRENT_MAX) : 1;
	max_bytes = BR_MIN((size_t)a->max_bytes, (size_t)BR_RECORD_MAX - 1024);
	if (a->cookie > INT64_MAX)
		return -EINVAL;
	rc = call_dir(c, &a->dir, &pfd);
	if (rc < 0)
		return rc;
	call_fd_path(pfd, path, sizeof(path));
	rc = call_as_user(c);
	if (rc == 0) {
		/* Reopened as the caller: the kernel checks read permission. */
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			rc = -errno;
	}
	close(pfd);
	if (rc == 0 && lseek(dfd, (off_t)a->cookie, SEEK_SET) < 0)
		rc = -errno;
	if (rc < 0)
		goto out;

	buf = xmalloc(RDP_BUF);
	ents = xcalloc(max, sizeof(*ents));
	while (n < max && !eof) {
		long got = syscall(SYS_getdents64, dfd, buf, RDP_BUF);
		bool full = false;

		if (got < 0) {
			rc = -errno;
			break;
		}
		if (got == 0) {
			eof = true;
			break;
		}
		for (long off = 0; off < got; ) {
			struct linux_dirent64 *d = (void *)(buf + off);
			br_dirent *e = &ents[n];
			struct export_fh fh;
			struct stat st;
			size_t need;

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
			    orphans_reserved(d->d_name))
				continue;
			if (n >= max) {
				full = true;
				break;
			}
			if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;       /* removed meanwhile */
				rc = -errno;
				full = true;
				break;
			}
			/* Another filesystem mounted here: empty fh, as the
			 * .x says; the client looks it up by name. */
			if (export_fh_at(c->exp->ex, dfd, d->d_name, &fh) < 0)
				fh.len = 0;
			need = entry_bytes(strlen(d->d_name), fh.len);
			if (n > 0 && bytes + need > max_bytes) {
				full = true;
				break;
			}
			bytes += need;
			e->name = xstrdup(d->d_name);
			e->cookie = (uint64_t)d->d_off;
			if (fh.len)
				call_fh_set(&e->fh, &fh);
			call_attr(c, &e->attr, &st);
			n++;
		}
		if (full)
			break;
	}
	if (rc < 0) {
		for (unsigned int i = 0; i < n; i++)
			xdr_free((xdrproc_t)xdr_br_dirent, (char *)&ents[i]);
		free(ents);
		goto out;
	}
	ok->entries.entries_len = n;
	ok->entries.entries_val = ents;
	ok->eof = eof;
out:
	free(buf);
	call_close_quiet(dfd);
	return rc;
}

