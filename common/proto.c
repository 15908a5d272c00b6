/* proto.c - wire status <-> errno, procedure names, attribute copying. */
#include <errno.h>
#include <string.h>

#include "proto.h"
#include "util.h"

/* Every status the protocol defines, with its host errno.  The wire values
 * are fixed by bramble_prot.x; the errno values are whatever this host's
 * libc says, so the table is the whole conversion. */
static const struct {
	br_stat st;
	int err;
} stat_map[] = {
	{ BR_EPERM, EPERM },	     { BR_ENOENT, ENOENT },
	{ BR_EIO, EIO },	     { BR_ENXIO, ENXIO },
	{ BR_E2BIG, E2BIG },	     { BR_EBADF, EBADF },
	{ BR_EAGAIN, EAGAIN },	     { BR_ENOMEM, ENOMEM },
	{ BR_EACCES, EACCES },	     { BR_EBUSY, EBUSY },
	{ BR_EEXIST, EEXIST },	     { BR_EXDEV, EXDEV },
	{ BR_ENODEV, ENODEV },	     { BR_ENOTDIR, ENOTDIR },
	{ BR_EISDIR, EISDIR },	     { BR_EINVAL, EINVAL },
	{ BR_ENFILE, ENFILE },	     { BR_EMFILE, EMFILE },
	{ BR_ETXTBSY, ETXTBSY },     { BR_EFBIG, EFBIG },
	{ BR_ENOSPC, ENOSPC },	     { BR_ESPIPE, ESPIPE },
	{ BR_EROFS, EROFS },	     { BR_EMLINK, EMLINK },
	{ BR_ERANGE, ERANGE },	     { BR_ENAMETOOLONG, ENAMETOOLONG },
	{ BR_ENOSYS, ENOSYS },	     { BR_ENOTEMPTY, ENOTEMPTY },
	{ BR_ELOOP, ELOOP },	     { BR_ENODATA, ENODATA },
	{ BR_EOVERFLOW, EOVERFLOW }, { BR_EOPNOTSUPP, EOPNOTSUPP },
	{ BR_ETIMEDOUT, ETIMEDOUT }, { BR_ESTALE, ESTALE },
	{ BR_EDQUOT, EDQUOT },	     { BR_EINTR, EINTR },
	{ BR_ENOLCK, ENOLCK },	     { BR_EPROTO, EPROTO },
	{ BR_EGRACE, BR_ERRNO_GRACE },
};

br_stat br_stat_from_errno(int err)
{
	if (err == 0)
		return BR_OK;
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ARRAY_SIZE(stat_map); i++)
		if (stat_map[i].err == err)
			return stat_map[i].st;
	return BR_EIO;
}

int br_stat_to_errno(br_stat st)
{
	if (st == BR_OK)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(stat_map); i++)
		if (stat_map[i].st == st)
			return -stat_map[i].err;
	return -EIO;
}

static const char *const proc_names[BR_NPROCS] = {
	[BRPROC_NULL] = "NULL",
	[BRPROC_INFO] = "INFO",
	[BRPROC_MOUNT] = "MOUNT",
	[BRPROC_GETATTR] = "GETATTR",
	[BRPROC_SETATTR] = "SETATTR",
	[BRPROC_LOOKUP] = "LOOKUP",
	[BRPROC_ACCESS] = "ACCESS",
	[BRPROC_READLINK] = "READLINK",
	[BRPROC_READ] = "READ",
	[BRPROC_WRITE] = "WRITE",
	[BRPROC_CREATE] = "CREATE",
	[BRPROC_MKDIR] = "MKDIR",
	[BRPROC_SYMLINK] = "SYMLINK",
	[BRPROC_MKNOD] = "MKNOD",
	[BRPROC_REMOVE] = "REMOVE",
	[BRPROC_RMDIR] = "RMDIR",
	[BRPROC_RENAME] = "RENAME",
	[BRPROC_LINK] = "LINK",
	[BRPROC_READDIRPLUS] = "READDIRPLUS",
	[BRPROC_STATFS] = "STATFS",
	[BRPROC_COMMIT] = "COMMIT",
	[BRPROC_OPEN] = "OPEN",
	[BRPROC_GETXATTR] = "GETXATTR",
	[BRPROC_SETXATTR] = "SETXATTR",
	[BRPROC_LISTXATTR] = "LISTXATTR",
	[BRPROC_REMOVEXATTR] = "REMOVEXATTR",
	[BRPROC_COPY_RANGE] = "COPY_RANGE",
	[BRPROC_HELLO] = "HELLO",
	[BRPROC_LOCK] = "LOCK",
	[BRPROC_TESTLOCK] = "TESTLOCK",
	[BRPROC_CHUNKMAP] = "CHUNKMAP",
	[BRPROC_READ_CHUNK] = "READ_CHUNK",
	[BRPROC_STATS] = "STATS",
	[BRPROC_TREE] = "TREE",
	[BRPROC_BENCH_NET] = "BENCH_NET",
	[BRPROC_BENCH_DISK] = "BENCH_DISK",
	[BRPROC_CLOSE] = "CLOSE",
	[BRPROC_REMOVE_OPEN] = "REMOVE_OPEN",
	[BRPROC_CHUNKMAP_KNOWN] = "CHUNKMAP_KNOWN",
	[BRPROC_READ_CHUNK2] = "READ_CHUNK2",
	[BRPROC_PEER_REGISTER] = "PEER_REGISTER",
};

const char *br_proc_name(uint32_t proc)
{
	if (proc < BR_NPROCS && proc_names[proc])
		return proc_names[proc];
	return "?";
}

void br_attr_from_stat(br_attr *a, const struct stat *st)
{
	a->ino = st->st_ino;
	a->mode = st->st_mode;
	a->nlink = (unsigned int)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->rdev = st->st_rdev;
	a->blksize = (unsigned int)st->st_blksize;
	a->atime.sec = st->st_atim.tv_sec;
	a->atime.nsec = (unsigned int)st->st_atim.tv_nsec;
	a->mtime.sec = st->st_mtim.tv_sec;
	a->mtime.nsec = (unsigned int)st->st_mtim.tv_nsec;
	a->ctime.sec = st->st_ctim.tv_sec;
	a->ctime.nsec = (unsigned int)st->st_ctim.tv_nsec;
}

void br_attr_to_stat(const br_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_rdev = (dev_t)a->rdev;
	st->st_blksize = (blksize_t)a->blksize;
	st->st_atim.tv_sec = (time_t)a->atime.sec;
	st->st_atim.tv_nsec = a->atime.nsec;
	st->st_mtim.tv_sec = (time_t)a->mtime.sec;
	st->st_mtim.tv_nsec = a->mtime.nsec;
	st->st_ctim.tv_sec = (time_t)a->ctime.sec;
	st->st_ctim.tv_nsec = a->ctime.nsec;
}
