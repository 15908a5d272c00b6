/* diskbench.c - a scratch file written, synced and read back (see
 * diskbench.h for what and why). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "diskbench.h"
#include "util.h"

#define MARGIN_MIN (64ULL << 20)
#define ALIGN 4096              /* O_DIRECT: buffer, offsets, lengths */

int diskbench_size(int dirfd, uint64_t want, uint64_t max, uint64_t *size,
		   uint64_t *free_out)
{
	struct statvfs sv;
	uint64_t total, avail, margin;

	if (fstatvfs(dirfd, &sv) < 0)
		return -errno;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	margin = BR_MAX(total / 20, MARGIN_MIN);
	if (free_out)
		*free_out = avail;
	if (avail <= margin)
		return -ENOSPC;
	want = BR_MIN(BR_MIN(want, max), avail - margin);
	want -= want % DISKBENCH_BLOCK;
	if (want == 0)
		return -ENOSPC;
	*size = want;
	return 0;
}

/* An O_TMPFILE in dirfd, else a name removed at once; O_DIRECT when the
 * filesystem takes it.  fd or -errno. */
static int scratch_open(int dirfd, struct diskbench *out)
{
	char name[64];
	int fd;

	for (int direct = 1; direct >= 0; direct--) {
		int extra = direct ? O_DIRECT : 0;

		out->direct = direct;
		out->tmpfile = true;
		fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC | extra, 0600);
		if (fd >= 0)
			return fd;
		/* EISDIR/EOPNOTSUPP: no O_TMPFILE here; EINVAL: no O_DIRECT. */
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -errno;
		out->tmpfile = false;
		snprintf(name, sizeof(name), ".bramble-bench.%ld.%lld", (long)getpid(),
			 (long long)now_ns());
		fd = openat(dirfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | extra, 0600);
		if (fd >= 0) {
			unlinkat(dirfd, name, 0);
			return fd;
		}
		if (errno != EINVAL)
			return -errno;
	}
	return -EINVAL;
}

/* One whole block at off.  0 or -errno (-EIO: a short read of the file
 * just written). */
static int block_io(int fd, bool write, char *buf, uint64_t off)
{
	size_t done = 0;

	while (done < DISKBENCH_BLOCK) {
		size_t len = DISKBENCH_BLOCK - done;
		ssize_t n = write ? pwrite(fd, buf + done, len, (off_t)(off + done))
				  : pread(fd, buf + done, len, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int write_phase(int fd, char *buf, uint64_t size, int64_t budget_ns,
		       struct diskbench *out)
{
	int64_t t0 = now_ns();
	uint64_t off;
	int rc = 0;

	for (off = 0; off < size && rc == 0; off += DISKBENCH_BLOCK) {
		memcpy(buf, &off, sizeof(off));         /* every block differs */
		rc = block_io(fd, true, buf, off);
		if (now_ns() - t0 > budget_ns)
			size = off + DISKBENCH_BLOCK;   /* out of time: stop here */
	}
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	out->write_ns = (uint64_t)(now_ns() - t0);
	out->write_bytes = rc == 0 ? size : 0;
	return rc;
}

static int read_phase(int fd, char *buf, int64_t budget_ns, struct diskbench *out)
{
	uint64_t off, done = 0;
	int64_t t0;
	int rc = 0;

	/* Clean after the fdatasync, so DONTNEED really drops them. */
	if (!out->direct)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	t0 = now_ns();
	for (off = 0; off < out->write_bytes; off += DISKBENCH_BLOCK) {
		rc = block_io(fd, false, buf, off);
		if (rc < 0)
			break;
		done += DISKBENCH_BLOCK;
		if (now_ns() - t0 > budget_ns)
			break;
	}
	out->read_ns = (uint64_t)(now_ns() - t0);
	out->read_bytes = done;
	return rc;
}

int diskbench_run(int dirfd, uint64_t size, int64_t budget_ns, struct diskbench *out)
{
	char *buf = NULL;
	int fd, rc;

	if (size == 0 || size % DISKBENCH_BLOCK)
		return -EINVAL;
	fd = scratch_open(dirfd, out);
	if (fd < 0)
		return fd;
	rc = posix_memalign((void **)&buf, ALIGN, DISKBENCH_BLOCK);
	if (rc != 0) {
		close(fd);
		return -rc;
	}
	for (size_t i = 0; i < DISKBENCH_BLOCK; i++)
		buf[i] = (char)((i * 2654435761u) >> 13);
	rc = write_phase(fd, buf, size, budget_ns, out);
	if (rc == 0)
		rc = read_phase(fd, buf, budget_ns, out);
	free(buf);
	close(fd);              /* an O_TMPFILE's blocks go with it */
	return rc;
}
