/* ops_file.c - FUSE handlers for open files: open/create, read/write,
 * flush/release/fsync, copy_file_range (locks: ops_lock.c).
 *
 * Each open file carries its opener's credentials (struct bfs_file in
 * fi->fh): the kernel sends writeback, readahead and release with
 * unrelated ones, often uid 0.  Writes go behind (wb.h): write() returns
 * once the data is copied, WRITEs are in flight in the background, and
 * flush (close), fsync and release wait for them and report their errors;
 * O_SYNC/O_DSYNC files write synchronously.  fsync then asks the server
 * to COMMIT.  Close-to-open: open revalidates with the attributes OPEN
 * returns and keeps the kernel's page cache only when the file did not
 * change since this node last saw it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_ctl.h"
#include "chunkfs.h"
#include "lease.h"
#include "log.h"
#include "ops.h"
#include "wb.h"
#include "xalloc.h"

/* One close of f's inode on this node; the last one removes what an
 * unlink while open left: the silly name, or the server's orphan. */
static void file_closed(struct bfs *fs, struct bfs_file *f)
{
	struct bramble_fh dir;
	char *silly = NULL;
	int rc = 0;

	switch (inode_close(fs->inodes, f->ino, &dir, &silly)) {
	case INODE_CLOSED_SILLY:
		rc = bramble_remove(fs->cl, &f->cred, &dir, silly);
		if (rc < 0 && rc != -ENOENT)
			log_warn("cannot remove %s: %s", silly, strerror(-rc));
		free(silly);
		break;
	case INODE_CLOSED_ORPHAN:
		rc = bramble_close(fs->cl, &f->cred, &f->fh, BRAMBLE_CLOSE_LAST);
		if (rc < 0 && rc != -ESTALE)
			log_warn_rl("cannot free ino %llu, removed while open: %s (the "
				    "server frees it when this node's lease ends)",
				    (unsigned long long)f->ino, strerror(bfs_errno(rc)));
		break;
	}
}

/* Drop the server's hold on f's open file (its last use is over). */
static void file_unhold(struct bfs *fs, struct bfs_file *f)
{
	int rc;

	if (!f->hold)
		return;
	rc = bramble_close(fs->cl, &f->cred, &f->fh, f->hold);
	if (rc < 0 && rc != -ESTALE)
		log_warn_rl("CLOSE of ino %llu failed: %s (the server lets go of "
			    "it when this node's lease ends)",
			    (unsigned long long)f->ino, strerror(bfs_errno(rc)));
	f->hold = 0;
}

static struct bfs_file *file_new(fuse_req_t req, uint64_t ino,
				 const struct bramble_fh *fh, int flags)
{
	struct bfs_file *f = xcalloc(1, sizeof(*f));

	f->ino = ino;
	f->fh = *fh;
	cred_of_req(req_fs(req), req, &f->cred);
	f->sync = (flags & (O_SYNC | O_DSYNC)) != 0;
	f->writer = (flags & O_ACCMODE) != O_RDONLY;
	return f;
}

/* The BRAMBLE_OPEN_READ/WRITE bits of open(2) flags. */
static unsigned int access_flags(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		return BRAMBLE_OPEN_READ;
	case O_WRONLY:
		return BRAMBLE_OPEN_WRITE;
	default:
		return BRAMBLE_OPEN_READ | BRAMBLE_OPEN_WRITE;
	}
}

/* Whether an open with these flags asks the server to hold the file:
 * writers do, so their writes succeed whatever the mode becomes (git
 * writes objects it created 0444).  Readers rely on the server's fd cache
 * and owner override, which spares a CLOSE per read-only open. */
static bool wants_hold(struct bfs *fs, int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY &&
	       bramble_server_can(fs->cl, BRAMBLE_CAP_OPENS);
}

static unsigned int open_flags(int flags)
{
	unsigned int w = access_flags(flags);

	/* O_RDONLY | O_TRUNC truncates where the caller may write (Linux). */
	if (flags & O_TRUNC)
		w |= BRAMBLE_OPEN_TRUNC;  /* FUSE_CAP_ATOMIC_O_TRUNC */
	return w;
}

void bfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bramble_fh fh;
	struct bfs_file *f;
	struct stat st;
	unsigned int bflags;
	bool keep;
	int rc;

	if (ino == INODE_CTL_INO) {
		rc = (fi->flags & O_ACCMODE) != O_RDONLY ? -EACCES : 0;
		if (rc == 0) {
			struct buf *snap = xmalloc(sizeof(*snap));

			/* Counters as of this open; read past st_size (the
			 * fixed part's) through direct I/O. */
			buf_init(snap, 4096);
			ctl_snapshot(fs, snap);
			fi->fh = (uintptr_t)snap | BFS_CTL_FH_TAG;
			fi->direct_io = 1;
			bfs_trace(fs, "open", ino, 0, t0);
			if (fuse_reply_open(req, fi) != 0) {
				buf_release(snap);
				free(snap);
			}
		} else {
			reply_err(req, "open", ino, rc, t0);
		}
		return;
	}
	rc = ino_fh(fs, ino, &fh);
	if (rc < 0) {
		reply_err(req, "open", ino, rc, t0);
		return;
	}
	f = file_new(req, ino, &fh, fi->flags);
	bflags = open_flags(fi->flags);
	if (wants_hold(fs, fi->flags)) {
		bflags |= BRAMBLE_OPEN_HOLD;
		f->hold = access_flags(fi->flags);
	}
	/* OPEN's attributes (and O_TRUNC) must come after our own writes. */
	rc = wb_wait_ino(fs->wb, ino);
	if (rc == 0)
		rc = lease_open(fs, &f->cred, &fh, fi->flags, bflags, &st);
	if (rc < 0) {
		free(f);
		reply_err(req, "open", ino, rc, t0);
		return;
	}
	/* Pages: kept only when unchanged since this node last saw the
	 * file (close-to-open). */
	keep = inode_cto_unchanged(fs->inodes, ino, &st);
	if (!inode_kattr_same(fs->inodes, ino, &st)) {
		/* The kernel's attributes are older than the file: make it
		 * forget them, or a read would stop at the old end of file.
		 * Not when they match (the common cold open right after a
		 * LOOKUP): that would cost a GETATTR round trip per open.
		 * What it holds until it asks again is unknown here (after
		 * O_TRUNC it sets its size to 0 itself): no note, so no
		 * deferred SETATTR is answered from one (ops_meta.c). */
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
		inode_kattr_clear(fs->inodes, ino);
	}
	inode_open(fs->inodes, ino);
	chunkfs_open(fs->chunks, ino, &st, f->writer);
	record_open(fs, req, &fh);  /* learned sets (record.h) */
	wb_open_file(fs->wb, f);
	fi->fh = (uintptr_t)f;
	fi->keep_cache = keep;
	/* close() must wait for write-behind: only writers need FLUSH --
	 * and, with cluster-wide locks, every close (it drops fcntl locks). */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY && fs->opts.nolock;
	bfs_trace(fs, "open", ino, 0, t0);
	if (fuse_reply_open(req, fi) != 0) {
		wb_close_file(fs->wb, f);
		file_unhold(fs, f);
		chunkfs_release(fs->chunks, ino, f->writer);
		file_closed(fs, f);
		free(f);
	}
}

void bfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		mode_t mode, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct fuse_entry_param e;
	struct bramble_fh dir, fh;
	struct bfs_file *f;
	struct stat st;
	unsigned int flags = 0;
	int rc;

	if (parent == FUSE_ROOT_ID && !strcmp(name, BRAMBLE_CTL_NAME)) {
		reply_err(req, "create", parent, -EEXIST, t0);
		return;
	}
	rc = ino_fh(fs, parent, &dir);
	if (rc < 0) {
		reply_err(req, "create", parent, rc, t0);
		return;
	}
	if (fi->flags & O_EXCL)
		flags |= BRAMBLE_CREATE_EXCL;
	if (fi->flags & O_TRUNC)
		flags |= BRAMBLE_CREATE_TRUNC;
	f = file_new(req, 0, &dir, fi->flags);
	if (bramble_server_can(fs->cl, BRAMBLE_CAP_OPENS)) {
		/* The access it is opened with (an existing file is opened
		 * with it, as the caller); a writer's file is held. */
		if (fi->flags & O_ACCMODE)
			flags |= BRAMBLE_CREATE_WRITE;
		if ((fi->flags & O_ACCMODE) != O_WRONLY)
			flags |= BRAMBLE_CREATE_READ;
		if (wants_hold(fs, fi->flags)) {
			flags |= BRAMBLE_CREATE_HOLD;
			f->hold = access_flags(fi->flags);
		}
	}
	rc = bramble_create(fs->cl, &f->cred, &dir, name, mode, flags, &fh, &st);
	if (rc < 0) {
		free(f);
		reply_err(req, "create", parent, rc, t0);
		return;
	}
	make_entry(fs, &e, &fh, &st);
	f->ino = e.ino;
	f->fh = fh;
	inode_cto_note(fs->inodes, e.ino, &st);
	inode_open(fs->inodes, e.ino);
	chunkfs_open(fs->chunks, e.ino, &st, f->writer);
	record_create(fs, req, &dir, name, &fh);  /* learned sets */
	wb_open_file(fs->wb, f);
	fi->fh = (uintptr_t)f;
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY && fs->opts.nolock;
	bfs_trace(fs, "create", parent, 0, t0);
	inode_kattr_note(fs->inodes, e.ino, &st);  /* before the kernel acts */
	if (fuse_reply_create(req, &e, fi) != 0) {
		wb_close_file(fs->wb, f);
		file_unhold(fs, f);
		inode_kattr_clear(fs->inodes, e.ino);
		chunkfs_release(fs->chunks, e.ino, f->writer);
		file_closed(fs, f);
		inode_forget(fs->inodes, e.ino, 1);
		free(f);
	}
}

void bfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	size_t got = 0;
	ssize_t n = 0;
	bool eof = false, plain;
	char *buf;

	if (ctl_of(fi)) {
		const struct buf *snap = ctl_of(fi);
		size_t start = BR_MIN((uint64_t)off, (uint64_t)snap->len);
		size_t len = BR_MIN(size, snap->len - start);
		/* Reply from a copy this thread owns: once the kernel has the
		 * bytes, the reader may close and the release free snap while
		 * writev() is still returning -- no real use, but ASan checks
		 * the buffer after the call and reports one. */
		char *copy = xmemdup(snap->data + start, len ? len : 1);

		bfs_trace(fs, "read", ino, 0, t0);
		fuse_reply_buf(req, copy, len);
		free(copy);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		reply_err(req, "read", ino, -ENOMEM, t0);
		return;
	}
	n = wb_wait_ino(fs->wb, ino);  /* read what this node wrote */
	if (n < 0) {
		reply_err(req, "read", ino, (int)n, t0);
		free(buf);
		return;
	}
	n = chunkfs_read(fs->chunks, f, (uint64_t)off, buf, size);
	plain = n == -ENOTSUP;
	if (n >= 0) {
		got = (size_t)n;
		eof = true;
	} else if (!plain) {
		reply_err(req, "read", ino, (int)n, t0);
		free(buf);
		return;
	}
	/* One call unless the server takes less than the kernel asks. */
	while (got < size && !eof) {
		size_t want = BR_MIN(size - got, (size_t)fs->max_data);

		n = bramble_read(fs->cl, &f->cred, &f->fh, (uint64_t)off + got,
				 buf + got, want, &eof);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n < 0 && got == 0) {
		reply_err(req, "read", ino, (int)n, t0);
	} else {
		bfs_trace(fs, "read", ino, (int)got, t0);
		fuse_reply_buf(req, buf, got);
		/* After the reply, so the reader waits for none of it; by
		 * ino: a release may free f once the reply is out. */
		if (plain)
			chunkfs_read_done(fs->chunks, ino, (uint64_t)off, buf, got);
	}
	free(buf);
}

void bfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	       off_t off, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	size_t done = 0;
	ssize_t n = 0;
	struct stat st;

	if (!f) {
		reply_err(req, "write", ino, -EBADF, t0);
		return;
	}
	chunkfs_changed(fs->chunks, ino);
	if (!f->sync) {
		n = wb_write(fs->wb, f, (uint64_t)off, buf, size);
		if (n < 0) {
			reply_err(req, "write", ino, (int)n, t0);
			return;
		}
		inode_kattr_grow(fs->inodes, ino, (uint64_t)off + size);
		bfs_trace(fs, "write", ino, (int)size, t0);
		fuse_reply_write(req, size);
		return;
	}
	/* O_SYNC/O_DSYNC: stable on the server before write() returns, and
	 * after any write-behind of other opens of the file. */
	wb_wait_ino(fs->wb, ino);
	while (done < size) {
		size_t want = BR_MIN(size - done, (size_t)fs->max_data);

		n = bramble_write(fs->cl, &f->cred, &f->fh, (uint64_t)off + done,
				  buf + done, want,
				  f->sync ? BRAMBLE_WRITE_SYNC : 0, &st);
		if (n <= 0)
			break;
		done += (size_t)n;
		/* Our own change: the kernel's page cache already holds it. */
		inode_cto_note(fs->inodes, f->ino, &st);
	}
	if (n < 0 && done == 0) {
		reply_err(req, "write", ino, (int)n, t0);
		return;
	}
	inode_kattr_grow(fs->inodes, ino, (uint64_t)off + done);
	bfs_trace(fs, "write", ino, (int)done, t0);
	fuse_reply_write(req, done);
}

/* close(): the server has the data before it returns, and a write that
 * failed behind the application's back is reported here. */
void bfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	int rc = 0;

	if (f) {
		/* Interruptible: a hard mount's close() must die on SIGKILL;
		 * release still waits for the writes. */
		rc = wb_wait_file_intr(fs->wb, f);
		if (rc == 0)
			rc = wb_take_err(fs->wb, f);
		locks_flush(fs, f, fi->lock_owner);
	}
	reply_err(req, "flush", ino, rc, t0);
}

void bfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	int rc = 0;

	if (ctl_of(fi)) {
		buf_release(ctl_of(fi));
		free(ctl_of(fi));
		reply_err(req, "release", ino, 0, t0);
		return;
	}
	if (f) {
		/* Usually done by flush already; mmap writeback may follow. */
		wb_close_file(fs->wb, f);
		rc = wb_take_err(fs->wb, f);
		if (rc < 0)
			log_warn_rl("write to ino %llu failed after its last close: %s",
				    (unsigned long long)f->ino,
				    strerror(bfs_errno(rc)));
		locks_release(fs, f, fi);
		chunkfs_release(fs->chunks, f->ino, f->writer);
		file_unhold(fs, f);
		file_closed(fs, f);
	}
	free(f);
	reply_err(req, "release", ino, 0, t0);
}

void bfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	       struct fuse_file_info *fi)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *f = file_of(fi);
	int rc = 0, wrc;

	if (f) {
		/* Every write of the file, from any open of it, then COMMIT. */
		rc = wb_wait_ino(fs->wb, ino);  /* -EINTR: interrupted */
		wrc = rc < 0 ? 0 : wb_take_err(fs->wb, f);
		if (rc == 0)
			rc = bramble_commit(fs->cl, &f->cred, &f->fh,
					    datasync ? BRAMBLE_COMMIT_DATASYNC : 0);
		if (wrc < 0)
			rc = wrc;
	}
	reply_err(req, "fsync", ino, rc, t0);
}

void bfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			 off_t off_out, struct fuse_file_info *fi_out,
			 size_t len, int flags)
{
	struct bfs *fs = req_fs(req);
	int64_t t0 = now_ns();
	struct bfs_file *in = file_of(fi_in), *out = file_of(fi_out);
	struct stat st;
	ssize_t n;

	(void)ino_in;
	if (!in || !out || flags != 0) {
		/* .bramble, or flags nobody defines yet: let the kernel
		 * fall back to read + write. */
		reply_err(req, "copy_file_range", ino_out,
			  flags ? -EINVAL : -EOPNOTSUPP, t0);
		return;
	}
	/* The server copies what it has: our writes first. */
	n = wb_wait_ino(fs->wb, in->ino);
	if (n == 0)
		n = wb_wait_ino(fs->wb, out->ino);
	if (n == 0)
		n = bramble_copy_range(fs->cl, &out->cred, &in->fh, (uint64_t)off_in,
				       &out->fh, (uint64_t)off_out, len, &st);
	if (n < 0) {
		reply_err(req, "copy_file_range", ino_out, (int)n, t0);
		return;
	}
	/* The kernel drops its pages of the copied range itself. */
	chunkfs_changed(fs->chunks, out->ino);
	inode_cto_note(fs->inodes, out->ino, &st);
	/* The kernel grows its i_size to the copy's end itself. */
	inode_kattr_grow(fs->inodes, out->ino, (uint64_t)off_out + (uint64_t)n);
	bfs_trace(fs, "copy_file_range", ino_out, 0, t0);
	fuse_reply_write(req, (size_t)n);
}
