/* ops.c - FUSE init, the operation table, and helpers every handler uses. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "ops.h"
#include "wb.h"

int ino_fh(struct bfs *fs, fuse_ino_t ino, struct bramble_fh *fh)
{
	if (ino == INODE_CTL_INO)
		return -EPERM;
	return inode_fh(fs->inodes, ino, fh);
}

int bfs_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	/* Transport trouble is an I/O error to applications, as on NFS;
	 * the log says what really happened. */
	case -ETIMEDOUT:
	case -ESHUTDOWN:
	case -EPROTONOSUPPORT:
	case -EBADMSG:
	case -EREMOTEIO:
	case -EPROTO:
	case -EMSGSIZE:
		return EIO;
	default:
		return rc < 0 ? -rc : EIO;
	}
}

void bfs_trace(const struct bfs *fs, const char *op, uint64_t ino, int rc,
	       int64_t t0)
{
	if (!fs->trace)
		return;
	log_info("trace %s ino=%llu rc=%d us=%lld", op, (unsigned long long)ino,
		 rc, (long long)((now_ns() - t0) / 1000));
}

void reply_err(fuse_req_t req, const char *op, fuse_ino_t ino, int rc,
	       int64_t t0)
{
	bfs_trace(req_fs(req), op, ino, rc, t0);
	if (rc == -ETIMEDOUT)
		log_warn_rl("%s: server did not answer in time: EIO", op);
	fuse_reply_err(req, bfs_errno(rc));
}

int entry_fresh(struct bfs *fs, const struct bramble_cred *cr, uint64_t gen,
		const struct bramble_fh *fh, struct stat *st)
{
	uint64_t ino;

	if (!S_ISREG(st->st_mode) || !inode_find_fh(fs->inodes, fh, &ino) ||
	    !wb_changed_since(fs->wb, ino, gen))
		return 0;
	int rc = wb_wait_ino(fs->wb, ino);

	return rc < 0 ? rc : bramble_getattr(fs->cl, cr, fh, st);
}

void make_entry(struct bfs *fs, struct fuse_entry_param *e,
		const struct bramble_fh *fh, const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->attr = *st;
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
	e->ino = inode_ref(fs->inodes, fh);
}

void reply_new_entry(fuse_req_t req, const char *op, fuse_ino_t parent,
		     const struct bramble_fh *fh, const struct stat *st,
		     int64_t t0)
{
	struct bfs *fs = req_fs(req);
	struct fuse_entry_param e;

	make_entry(fs, &e, fh, st);
	bfs_trace(fs, op, parent, 0, t0);
	/* Note the attributes before the kernel can act on the reply: an
	 * open that races in right after must find them. */
	inode_kattr_note(fs->inodes, e.ino, st);
	/* A failed reply (the caller was interrupted) never reached the
	 * kernel, so the kernel will not forget it: undo the reference, and
	 * do not trust the note. */
	if (fuse_reply_entry(req, &e) != 0) {
		inode_kattr_clear(fs->inodes, e.ino);
		inode_forget(fs->inodes, e.ino, 1);
	}
}

static void bfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct bfs *fs = userdata;
	unsigned int want = FUSE_CAP_ASYNC_READ | FUSE_CAP_READDIRPLUS |
			    FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_PARALLEL_DIROPS |
			    FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_AUTO_INVAL_DATA |
			    /* The server clears set-id bits on a write or
			     * truncate (it runs them as the caller); without
			     * this the kernel sends a chmod as the writer,
			     * which a non-owner may not make. */
			    FUSE_CAP_HANDLE_KILLPRIV;

	/* Gate on what this kernel offers (Debian 12: 6.1, CI: 6.18). */
	conn->want |= want & conn->capable;
	/* Writes must reach the server before write()/close() return. */
	conn->want &= ~(unsigned int)FUSE_CAP_WRITEBACK_CACHE;
	/* -o nolock: the kernel keeps fcntl and flock locks on this node
	 * (libfuse asks for both because the ops exist).  Not fs->locks:
	 * with -o bg it starts later. */
	if (fs->opts.nolock)
		conn->want &= ~(unsigned int)(FUSE_CAP_POSIX_LOCKS |
					      FUSE_CAP_FLOCK_LOCKS);
	/* max_data is 0 while a -o bg mount has not reached its server:
	 * writes are split to the server's size later anyway. */
	conn->max_write = fs->max_data ? BR_MIN(fs->max_data, (uint32_t)BRAMBLE_DATA_MAX)
				       : (uint32_t)BRAMBLE_DATA_MAX;
	if (conn->max_readahead < BRAMBLE_DATA_MAX)
		conn->max_readahead = BRAMBLE_DATA_MAX;  /* kernel clamps */
	/* The kernel's default of 12 background requests (readahead, async
	 * reads) would cap the calls in flight on the pipelined connection. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	log_debug("fuse init: proto %u.%u capable %#x want %#x max_write %u",
		  conn->proto_major, conn->proto_minor, conn->capable,
		  conn->want, conn->max_write);
}

const struct fuse_lowlevel_ops bfs_ops = {
	.init = bfs_init,
	.lookup = bfs_lookup,
	.forget = bfs_forget,
	.forget_multi = bfs_forget_multi,
	.getattr = bfs_getattr,
	.setattr = bfs_setattr,
	.readlink = bfs_readlink,
	.mknod = bfs_mknod,
	.mkdir = bfs_mkdir,
	.unlink = bfs_unlink,
	.rmdir = bfs_rmdir,
	.symlink = bfs_symlink,
	.rename = bfs_rename,
	.link = bfs_link,
	.open = bfs_open,
	.read = bfs_read,
	.write = bfs_write,
	.flush = bfs_flush,
	.release = bfs_release,
	.fsync = bfs_fsync,
	.opendir = bfs_opendir,
	.readdir = bfs_readdir,
	.readdirplus = bfs_readdirplus,
	.releasedir = bfs_releasedir,
	.statfs = bfs_statfs,
	.setxattr = bfs_setxattr,
	.getxattr = bfs_getxattr,
	.listxattr = bfs_listxattr,
	.removexattr = bfs_removexattr,
	.access = bfs_access,
	.create = bfs_create,
	.getlk = bfs_getlk,
	.setlk = bfs_setlk,
	.flock = bfs_flock,
	.copy_file_range = bfs_copy_file_range,
};
