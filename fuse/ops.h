/* ops.h - the FUSE handlers, split by concern: ops_meta.c (names,
 * attributes, directories, xattrs), ops_file.c (open files, data),
 * ops.c (init, the table, helpers shared by both).
 *
 * Every handler unpacks its request, makes libbramble calls (which carry
 * deadlines, so nothing hangs forever), and replies exactly once on every
 * path, through the reply_* helpers below, which also trace. */
#ifndef BR_FUSE_OPS_H
#define BR_FUSE_OPS_H

#include "bfs.h"
#include "record.h"
#include "util.h"

static inline struct bfs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The server handle of ino: 0, -ESTALE (unknown), -EPERM (.bramble). */
int ino_fh(struct bfs *fs, fuse_ino_t ino, struct bramble_fh *fh);

/* Reply with an error (rc < 0) or success (rc == 0) and trace it. */
void reply_err(fuse_req_t req, const char *op, fuse_ino_t ino, int rc,
	       int64_t t0);
/* Take a lookup reference on fh and reply with it (+ trace). */
void reply_new_entry(fuse_req_t req, const char *op, fuse_ino_t parent,
		     const struct bramble_fh *fh, const struct stat *st,
		     int64_t t0);
/* Attributes st of fh came from a call started when wb_gen() was gen:
 * if a write of this node to fh was in flight or completed meanwhile,
 * wait for it and read them again (the kernel must never see a size
 * older than a write it was told is done).  0, or -errno of that read. */
int entry_fresh(struct bfs *fs, const struct bramble_cred *cr, uint64_t gen,
		 const struct bramble_fh *fh, struct stat *st);
/* Fill e for fh/st with the mount's timeouts; takes a lookup reference.
 * Once the kernel has the entry, note its attributes (inode_kattr_note). */
void make_entry(struct bfs *fs, struct fuse_entry_param *e,
		const struct bramble_fh *fh, const struct stat *st);

/* ops_meta.c */
void bfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void bfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void bfs_forget_multi(fuse_req_t req, size_t count,
		      struct fuse_forget_data *forgets);
void bfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void bfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		 int to_set, struct fuse_file_info *fi);
void bfs_readlink(fuse_req_t req, fuse_ino_t ino);
void bfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, dev_t rdev);
void bfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode);
void bfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void bfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void bfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name);
void bfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags);
void bfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	      const char *newname);
void bfs_statfs(fuse_req_t req, fuse_ino_t ino);
void bfs_access(fuse_req_t req, fuse_ino_t ino, int mask);
void bfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags);
void bfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size);
void bfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void bfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ops_dir.c */
void bfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void bfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void bfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void bfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* ops_file.c */
void bfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void bfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi);
void bfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi);
void bfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	       off_t off, struct fuse_file_info *fi);
void bfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void bfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void bfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	       struct fuse_file_info *fi);
void bfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			 off_t off_out, struct fuse_file_info *fi_out,
			 size_t len, int flags);

/* ops_lock.c: cluster-wide locks */
void bfs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	       struct flock *lock);
void bfs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	       struct flock *lock, int sleep);
void bfs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	       int op);
/* Start/stop the lock copy and its renew thread (after fs->cl exists;
 * sets libbramble's reconnect hook).  Without them (-o nolock) the
 * kernel keeps locks node-local and these ops are never called. */
int locks_start(struct bfs *fs);
void locks_stop(struct bfs *fs);
/* flush: drop owner's fcntl locks on f's file; release: drop the OFD and
 * flock locks taken through f.  No round trip when nothing is held. */
void locks_flush(struct bfs *fs, const struct bfs_file *f, uint64_t owner);
void locks_release(struct bfs *fs, const struct bfs_file *f,
		   const struct fuse_file_info *fi);

#endif
