/* envcp_file.c - copying one entry of an environment (envcp_int.h): a
 * regular file straight into its final name -- by copy_file_range when it
 * does not hold the old prefix, keeping sparse holes -- or, rewritten,
 * beside it and renamed over it; a symlink, its target rewritten; a fifo
 * or (as root) a device.  Owners (as root), special mode bits and times
 * are kept. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "envcp_int.h"
#include "util.h"
#include "xalloc.h"

/* Owner, special mode bits and times of a file just written through fd. */
static int finish_fd(struct envcp *e, const struct envcp_ent *x, int fd)
{
	const struct stat *st = &x->st;
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (e->root && (st->st_uid != geteuid() || st->st_gid != getegid()) &&
	    fchown(fd, st->st_uid, st->st_gid) < 0)
		return -errno;
	/* After chown, which clears set-id bits. */
	if ((st->st_mode & 07000) && fchmod(fd, st->st_mode & 07777) < 0)
		return -errno;
	if (futimens(fd, ts) < 0)
		return -errno;
	return 0;
}

/* Next data segment of a sparse file at or after *off: [*off, *end). */
static bool next_data(int fd, off_t size, off_t *off, off_t *end)
{
	off_t d = lseek(fd, *off, SEEK_DATA), h;

	if (d < 0 || d >= size)
		return false;
	h = lseek(fd, d, SEEK_HOLE);
	*off = d;
	*end = h < 0 || h > size ? size : h;
	return true;
}

static bool sparse(const struct stat *st)
{
	return (off_t)st->st_blocks * 512 < st->st_size;
}

static int pwrite_all(int fd, const char *data, size_t len, off_t off)
{
	while (len) {
		ssize_t k = pwrite(fd, data, len, off);

		if (k < 0 && errno != EINTR)
			return -errno;
		if (k > 0) {
			data += k;
			len -= (size_t)k;
			off += k;
		}
	}
	return 0;
}

/* Copy [off, end) of sfd to dfd at the same offsets.  Tries
 * copy_file_range first (*offloaded cleared when it is not used), then
 * writes from map (the file's bytes, if the caller has them) or
 * pread/pwrite.  0 or -errno. */
static int copy_range(struct envcp *e, int sfd, int dfd, off_t off, off_t end,
		      const char *map, bool *offloaded)
{
	char *tmp = NULL;
	int rc = 0;

	while (off < end && __atomic_load_n(&e->cfr, __ATOMIC_RELAXED)) {
		loff_t in = off, out = off;
		ssize_t n = copy_file_range(sfd, &in, dfd, &out, (size_t)(end - off), 0);

		if (n > 0) {
			off += n;
			continue;
		}
		if (n == 0)
			return 0;       /* the source shrank: copy what is there */
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS)
			__atomic_store_n(&e->cfr, 0, __ATOMIC_RELAXED);
		else if (errno != EINVAL)
			return -errno;
		break;
	}
	if (off < end)
		*offloaded = false;
	if (map && off < end)
		return pwrite_all(dfd, map + off, (size_t)(end - off), off);
	while (off < end && rc == 0) {
		size_t want = (size_t)BR_MIN(end - off, 1 << 20);
		ssize_t n;

		if (!tmp)
			tmp = xmalloc(1 << 20);
		n = pread(sfd, tmp, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		rc = pwrite_all(dfd, tmp, (size_t)n, off);
		off += n;
	}
	free(tmp);
	return rc;
}

/* Write bytes at the same offsets as sfd's data, so holes stay holes. */
static int write_data(int sfd, int dfd, const struct stat *st, const char *data,
		      size_t len)
{
	off_t off = 0, end;

	if (!sparse(st) || (off_t)len != st->st_size)
		return write_all(dfd, data, len);
	while (next_data(sfd, st->st_size, &off, &end)) {
		int rc = pwrite_all(dfd, data + off, (size_t)(end - off), off);

		if (rc < 0)
			return rc;
		off = end;
	}
	return ftruncate(dfd, st->st_size) < 0 ? -errno : 0;
}

/* A file that needs no rewriting: straight into its final name. */
static int copy_plain(struct envcp *e, struct envcp_ent *x, int sfd, const char *map,
		      const char *dst)
{
	const struct stat *st = &x->st;
	bool offloaded = st->st_size > 0;
	int dfd, rc = 0;

	dfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		   st->st_mode & 0777);
	if (dfd < 0)
		return -errno;
	if (st->st_size > 0 && sparse(st)) {
		off_t off = 0, end;

		while (rc == 0 && next_data(sfd, st->st_size, &off, &end)) {
			rc = copy_range(e, sfd, dfd, off, end, map, &offloaded);
			off = end;
		}
		if (rc == 0 && ftruncate(dfd, st->st_size) < 0)
			rc = -errno;
	} else if (st->st_size > 0) {
		rc = copy_range(e, sfd, dfd, 0, st->st_size, map, &offloaded);
	}
	if (rc == 0)
		rc = finish_fd(e, x, dfd);
	if (close(dfd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && offloaded)
		ENVCP_ADD(e, offloaded, 1);
	return rc;
}

/* A rewritten file: written beside its final name, then renamed over it,
 * so nothing ever runs a half-written file. */
static int write_new(struct envcp *e, struct envcp_ent *x, int sfd, const char *data,
		     size_t len, const char *dst, size_t idx)
{
	struct buf tmp = BUF_INIT;
	const char *slash = strrchr(dst, '/');
	int dfd, rc;

	buf_add(&tmp, dst, (size_t)(slash - dst));
	buf_addf(&tmp, "/.envcp-%zu.tmp", idx);
	dfd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		   x->st.st_mode & 0777);
	if (dfd < 0) {
		rc = -errno;
		buf_release(&tmp);
		return rc;
	}
	rc = write_data(sfd, dfd, &x->st, data, len);
	if (rc == 0)
		rc = finish_fd(e, x, dfd);
	if (close(dfd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp.data, dst) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp.data);
	buf_release(&tmp);
	return rc;
}

/* The file's bytes, writable in private (a binary is rewritten in place
 * without touching the source).  mmap, or read when the filesystem has no
 * mmap.  0 or -errno; *out freed with unmap(). */
static int map_file(int fd, size_t len, char **out, bool *mapped)
{
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ssize_t n;

	if (m != MAP_FAILED) {
		*out = m;
		*mapped = true;
		return 0;
	}
	m = xmalloc(len);
	n = pread(fd, m, len, 0);
	if (n != (ssize_t)len) {
		free(m);
		return n < 0 ? -errno : -EIO;
	}
	*out = m;
	*mapped = false;
	return 0;
}

static void unmap(char *m, size_t len, bool mapped)
{
	if (mapped)
		munmap(m, len);
	else
		free(m);
}

static int copy_reg(struct envcp *e, struct envcp_ent *x, size_t idx, const char *src,
		    const char *dst)
{
	const struct envcp_prefixes *p = &e->p;
	size_t len = (size_t)x->st.st_size;
	bool mapped = false, trusted;
	char *map = NULL;
	ssize_t at, nb;
	int sfd, rc;

	sfd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (sfd < 0)
		return -errno;
	ENVCP_ADD(e, files, 1);
	ENVCP_ADD(e, bytes, len);
	trusted = e->trust && !x->listed &&
		  (x->st.st_ctim.tv_sec < e->mk.mtime.tv_sec ||
		   (x->st.st_ctim.tv_sec == e->mk.mtime.tv_sec &&
		    x->st.st_ctim.tv_nsec <= e->mk.mtime.tv_nsec));
	if (len == 0 || envcp_is_pyc(x->rel) || trusted) {
		if (len && envcp_is_pyc(x->rel))
			ENVCP_ADD(e, pyc, 1);
		else if (len)
			ENVCP_ADD(e, trusted, 1);
		rc = copy_plain(e, x, sfd, NULL, dst);
		goto out;
	}
	rc = map_file(sfd, len, &map, &mapped);
	if (rc < 0)
		goto out;
	ENVCP_ADD(e, scanned, 1);
	at = envcp_find(map, len, 0, p->old, p->oldlen);
	if (at < 0) {
		x->holds = envcp_find(map, len, 0, p->new, p->newlen) >= 0;
		rc = copy_plain(e, x, sfd, map, dst);
	} else if (envcp_is_text(map, len)) {
		struct buf out = BUF_INIT;
		unsigned int what;

		envcp_rewrite_text(map, len, p, x->rel, &out, &what);
		rc = write_new(e, x, sfd, out.data, out.len, dst, idx);
		buf_release(&out);
		ENVCP_ADD(e, text, 1);
		ENVCP_ADD(e, shebangs, (what & ENVCP_RW_SHEBANG) != 0);
		ENVCP_ADD(e, long_shebangs, (what & ENVCP_RW_LONG_SHEBANG) != 0);
		ENVCP_ADD(e, prompts, (what & ENVCP_RW_PROMPT) != 0);
		x->holds = true;
	} else if ((nb = envcp_rewrite_binary(map, len, p)) == -ENOSPC) {
		/* map is untouched: the copy is the original, byte for byte. */
		rc = copy_plain(e, x, sfd, map, dst);
		envcp_ent_issue(x, true, "binary file holds the old prefix at offset %zd; "
				"the new prefix is %zu bytes longer and cannot replace "
				"it in place: copied unchanged, it still refers to %s",
				at, p->newlen - p->oldlen, p->old);
		ENVCP_ADD(e, unsafe, 1);
	} else {
		rc = write_new(e, x, sfd, map, len, dst, idx);
		ENVCP_ADD(e, binary, 1);
		x->holds = nb > 0;
	}
out:
	if (map)
		unmap(map, len, mapped);
	close(sfd);
	return rc;
}

static int copy_link(struct envcp *e, struct envcp_ent *x, const char *src,
		     const char *dst)
{
	struct timespec ts[2] = { x->st.st_atim, x->st.st_mtim };
	size_t cap = (size_t)x->st.st_size + 2;
	char *t = NULL, *nt;
	ssize_t n;
	int rc = 0;

	for (;;) {
		t = xrealloc(t, cap);
		n = readlink(src, t, cap);
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if ((size_t)n < cap)
			break;
		cap *= 2;
	}
	t[n] = '\0';
	ENVCP_ADD(e, symlinks, 1);
	nt = envcp_rewrite_link(t, &e->p);
	if (nt) {
		free(t);
		t = nt;
		ENVCP_ADD(e, links_rewritten, 1);
	}
	if (symlink(t, dst) < 0 ||
	    (e->root && lchown(dst, x->st.st_uid, x->st.st_gid) < 0) ||
	    utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
out:
	free(t);
	return rc;
}

static int copy_special(struct envcp *e, struct envcp_ent *x, const char *dst)
{
	struct timespec ts[2] = { x->st.st_atim, x->st.st_mtim };
	mode_t m = x->st.st_mode;

	if (S_ISSOCK(m))
		return 0;       /* a live daemon's socket: nothing to copy */
	if (!S_ISFIFO(m) && !e->root) {
		envcp_ent_issue(x, false, "device file not copied (needs root)");
		return 0;
	}
	ENVCP_ADD(e, special, 1);
	if (mknod(dst, m & (S_IFMT | 0777), x->st.st_rdev) < 0 ||
	    (e->root && lchown(dst, x->st.st_uid, x->st.st_gid) < 0) ||
	    ((m & 07000) && chmod(dst, m & 07777) < 0) ||
	    utimensat(AT_FDCWD, dst, ts, 0) < 0)
		return -errno;
	return 0;
}

int envcp_ent_copy(struct envcp *e, struct envcp_ent *x, size_t idx, const char *src,
		   const char *dst)
{
	mode_t m = x->st.st_mode;

	if (S_ISREG(m))
		return copy_reg(e, x, idx, src, dst);
	if (S_ISLNK(m))
		return copy_link(e, x, src, dst);
	return copy_special(e, x, dst);
}
