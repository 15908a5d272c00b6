/* bench_run.c - the measurements of `bramble bench', one layer at a time
 * (bench.h).  Each phase runs at most bn->seconds (a SIGINT ends it
 * early) and says why when it cannot run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "buf.h"
#include "diskbench.h"
#include "util.h"
#include "xalloc.h"

#define MiB (1024 * 1024)
#define RAND_BLOCK 4096

volatile sig_atomic_t bench_stop;

static void not_measured(struct bench *bn, enum bench_layer l, bool failed,
			 const char *fmt, va_list ap)
{
	vsnprintf(bn->f[l].why, sizeof(bn->f[l].why), fmt, ap);
	bn->f[l].done = false;
	bn->f[l].failed = failed;
}

void bench_skip(struct bench *bn, enum bench_layer l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	not_measured(bn, l, false, fmt, ap);
	va_end(ap);
}

void bench_fail(struct bench *bn, enum bench_layer l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	not_measured(bn, l, true, fmt, ap);
	va_end(ap);
}

/* Layer to is not measured for the reason from was not. */
static void same_as(struct bench *bn, enum bench_layer to, enum bench_layer from)
{
	if (bn->f[from].failed)
		bench_fail(bn, to, "%s", bn->f[from].why);
	else
		bench_skip(bn, to, "%s", bn->f[from].why);
}

static void fig_set(struct bench_fig *f, double rate, double secs, uint64_t bytes,
		    uint64_t ops)
{
	f->done = rate > 0;
	f->rate = rate;
	f->secs = secs;
	f->bytes = bytes;
	f->ops = ops;
	if (!f->done && !f->why[0])
		snprintf(f->why, sizeof(f->why), "nothing was measured");
}

static char *path_join(const char *dir, const char *name)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s", dir, name);
	return buf_detach(&b, NULL);
}

static double secs_since(int64_t t0)
{
	return (double)(now_ns() - t0) / 1e9;
}

static int64_t budget_ns(const struct bench *bn)
{
	return (int64_t)bn->seconds * 1000000000;
}

static bool has_cap(struct bench *bn, uint64_t cap)
{
	struct bramble_hello h;

	bramble_server_hello(bn->b, &h);
	return (h.caps & cap) != 0;
}

/* ---- round trip */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void bench_rtt(struct bench *bn)
{
	size_t max = 20000, n = 0;
	int64_t *rtt = xcalloc(max, sizeof(*rtt));
	int64_t t0 = now_ns(), limit = bn->quick ? 300000000LL : 1000000000LL;
	int rc = bramble_null(bn->b);           /* the first may pay a reconnect */

	while (rc == 0 && n < max && now_ns() - t0 < limit && !bench_stop) {
		int64_t t = now_ns();

		rc = bramble_null(bn->b);
		rtt[n++] = now_ns() - t;
	}
	if (rc < 0) {
		bench_fail(bn, BL_RTT, "NULL call: %s", strerror(-rc));
	} else if (n) {
		qsort(rtt, n, sizeof(*rtt), cmp_i64);
		fig_set(&bn->f[BL_RTT], (double)rtt[n / 2] / 1e3, secs_since(t0), 0, n);
		bn->f[BL_RTT].p99_us = (double)rtt[(n * 99) / 100] / 1e3;
		snprintf(bn->f[BL_RTT].note, sizeof(bn->f[BL_RTT].note),
			 "%zu calls, one at a time", n);
	}
	free(rtt);
}

/* ---- network: BENCH_NET from several threads at once */

struct net_thread {
	struct bench *bn;
	size_t send, reply;
	int64_t deadline;
	uint64_t bytes, calls;
	int rc;
};

static void *net_worker(void *p)
{
	struct net_thread *t = p;

	while (now_ns() < t->deadline && !bench_stop) {
		ssize_t n = bramble_bench_net(t->bn->b, &t->bn->cr, t->send, t->reply);

		if (n < 0) {
			t->rc = (int)n;
			break;
		}
		t->bytes += t->send + t->reply;
		t->calls++;
	}
	return NULL;
}

/* Bytes per second with bn->threads calls in flight.  0 or -errno. */
static int net_phase(struct bench *bn, enum bench_layer l, size_t send, size_t reply)
{
	unsigned int n = bn->threads;
	struct net_thread *t = xcalloc(n, sizeof(*t));
	pthread_t *tid = xcalloc(n, sizeof(*tid));
	int64_t t0 = now_ns();
	uint64_t bytes = 0, calls = 0;
	unsigned int started = 0;
	int rc = 0;

	for (unsigned int i = 0; i < n; i++) {
		t[i] = (struct net_thread){ .bn = bn, .send = send, .reply = reply,
					    .deadline = t0 + budget_ns(bn) };
		if (pthread_create(&tid[i], NULL, net_worker, &t[i]) != 0)
			break;
		started++;
	}
	for (unsigned int i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		bytes += t[i].bytes;
		calls += t[i].calls;
		if (t[i].rc < 0)
			rc = t[i].rc;
	}
	if (rc < 0 || started == 0)
		bench_fail(bn, l, "BENCH_NET: %s", strerror(rc < 0 ? -rc : EAGAIN));
	else {
		double s = secs_since(t0);

		fig_set(&bn->f[l], (double)bytes / 1e6 / s, s, bytes, calls);
		snprintf(bn->f[l].note, sizeof(bn->f[l].note),
			 "%u calls of 1 MiB in flight", started);
	}
	free(t);
	free(tid);
	return rc;
}

void bench_net(struct bench *bn)
{
	if (!has_cap(bn, BRAMBLE_CAP_BENCH)) {
		bench_skip(bn, BL_NET_DOWN, "the server has no BENCH_NET (older brambled)");
		bench_skip(bn, BL_NET_UP, "the server has no BENCH_NET (older brambled)");
		return;
	}
	if (net_phase(bn, BL_NET_DOWN, 0, BRAMBLE_DATA_MAX) == 0)
		net_phase(bn, BL_NET_UP, BRAMBLE_DATA_MAX, 0);
	else
		same_as(bn, BL_NET_UP, BL_NET_DOWN);
}

/* ---- the server's disk: BENCH_DISK */

static void disk_figs(struct bench *bn, enum bench_layer w, enum bench_layer r,
		      uint64_t wb, uint64_t wns, uint64_t rb, uint64_t rns,
		      bool direct)
{
	const char *how = direct ? "O_DIRECT" : "fdatasync + dropped cache";

	fig_set(&bn->f[w], wns ? (double)wb * 1e3 / (double)wns : 0, (double)wns / 1e9, wb, 0);
	fig_set(&bn->f[r], rns ? (double)rb * 1e3 / (double)rns : 0, (double)rns / 1e9, rb, 0);
	snprintf(bn->f[w].note, sizeof(bn->f[w].note), "%llu MiB, %s",
		 (unsigned long long)(wb / MiB), how);
	snprintf(bn->f[r].note, sizeof(bn->f[r].note), "%llu MiB, %s",
		 (unsigned long long)(rb / MiB), how);
}

static const char *disk_why(int rc)
{
	switch (rc) {
	case -EPERM:
		if (geteuid() == 0)
			return "the server does not allow it (brambled --bench-disk=off)";
		return "only root may (run bramble bench as root, or brambled --bench-disk=any)";
	case -EACCES:
		return "the server takes it from reserved ports only: run as root";
	case -EROFS:
		return "a read-only export";
	case -EBUSY:
		return "another BENCH_DISK is running on that server";
	case -ENOSPC:
		return "not enough free space on the server";
	case -ENOSYS:
		return "the server has no BENCH_DISK (older brambled)";
	}
	return strerror(-rc);
}

void bench_server_disk(struct bench *bn)
{
	struct bramble_mount_res mr;
	struct bramble_bench_disk d;
	int rc;

	if (!has_cap(bn, BRAMBLE_CAP_BENCH))
		rc = -ENOSYS;
	else
		rc = bramble_mount(bn->b, bn->subdir ? bn->subdir : "", &mr);
	if (rc == 0)
		rc = bramble_bench_disk(bn->b, &bn->cr, &mr.root, bn->size_max,
					bn->seconds * 1000, &d);
	/* Out of reach by design: an older server, a read-only export, not
	 * allowed (only root may, or nobody; a user's port is not reserved).
	 * Anything else should have worked. */
	if (rc == -ENOSYS || rc == -EROFS || rc == -EPERM ||
	    (rc == -EACCES && geteuid() != 0)) {
		bench_skip(bn, BL_SDISK_WRITE, "%s", disk_why(rc));
		bench_skip(bn, BL_SDISK_READ, "%s", disk_why(rc));
		return;
	}
	if (rc < 0) {
		bench_fail(bn, BL_SDISK_WRITE, "%s", disk_why(rc));
		bench_fail(bn, BL_SDISK_READ, "%s", disk_why(rc));
		return;
	}
	disk_figs(bn, BL_SDISK_WRITE, BL_SDISK_READ, d.write_bytes, d.write_ns,
		  d.read_bytes, d.read_ns, d.direct);
}

/* ---- the node's cache disk: the same test, here */

void bench_cache_disk(struct bench *bn)
{
	struct diskbench d = { 0 };
	uint64_t size = 0;
	int fd, rc;

	if (!bn->cache_dir)
		return;                 /* cmd_bench said why */
	fd = open(bn->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd < 0 ? -errno : diskbench_size(fd, bn->size_max, bn->size_max, &size, NULL);
	if (rc == 0)
		rc = diskbench_run(fd, size, budget_ns(bn), &d);
	if (fd >= 0)
		close(fd);
	/* The node cache is root's: a user may not write in it, by design. */
	if (rc == -EACCES && geteuid() != 0) {
		bench_skip(bn, BL_CDISK_WRITE, "%s: not writable by you (root's "
			   "node cache: measure it as root)", bn->cache_dir);
		same_as(bn, BL_CDISK_READ, BL_CDISK_WRITE);
		return;
	}
	if (rc < 0) {
		bench_fail(bn, BL_CDISK_WRITE, "%s: %s", bn->cache_dir, strerror(-rc));
		same_as(bn, BL_CDISK_READ, BL_CDISK_WRITE);
		return;
	}
	disk_figs(bn, BL_CDISK_WRITE, BL_CDISK_READ, d.write_bytes, d.write_ns,
		  d.read_bytes, d.read_ns, d.direct);
}

/* ---- the mount: sequential and random I/O through bramblefs */

/* Size the file from the layers below so writing it takes about
 * bn->seconds: a blind size could leave an fsync of minutes behind a
 * slow disk or link. */
static uint64_t mount_file_size(const struct bench *bn)
{
	const struct bench_fig *up = &bn->f[BL_NET_UP], *disk = &bn->f[BL_SDISK_WRITE];
	double mbps = 0;
	uint64_t size;

	if (up->done)
		mbps = up->rate;
	if (disk->done)
		mbps = mbps > 0 ? BR_MIN(mbps, disk->rate) : disk->rate;
	size = mbps > 0 ? (uint64_t)(mbps * 1e6 * bn->seconds) : bn->size_max;
	size = BR_MIN(BR_MAX(size, 4ULL * MiB), bn->size_max);
	return size - size % MiB;
}

static void fill(char *buf, size_t len, uint64_t seed)
{
	seed |= 1;              /* xorshift stays at 0 from 0 */
	for (size_t i = 0; i < len; i += 8) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		memcpy(buf + i, &seed, BR_MIN((size_t)8, len - i));
	}
}

static int seq_write(struct bench *bn, const char *path, char *buf, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int64_t t0 = now_ns();
	uint64_t done = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	while (done < size && now_ns() - t0 < budget_ns(bn) && !bench_stop) {
		fill(buf, MiB, bn->seed ^ (done + 1));
		rc = write_all(fd, buf, MiB);
		if (rc < 0)
			break;
		done += MiB;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		fig_set(&bn->f[BL_SEQ_WRITE], (double)done / 1e6 / secs_since(t0),
			secs_since(t0), done, done / MiB);
	return rc;
}

/* Read the whole file (or for bn->seconds) in 1 MiB reads; cold: drop
 * the mount's page cache for it first.  0 or -errno. */
static int seq_read(struct bench *bn, enum bench_layer l, const char *path,
		    char *buf, bool cold)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t done = 0;
	int64_t t0;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	if (cold)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	t0 = now_ns();
	while (now_ns() - t0 < budget_ns(bn) && !bench_stop) {
		n = read_full(fd, buf, MiB);
		if (n <= 0)
			break;
		done += (uint64_t)n;
	}
	close(fd);
	if (n < 0)
		return (int)n;
	fig_set(&bn->f[l], (double)done / 1e6 / secs_since(t0), secs_since(t0), done,
		(done + MiB - 1) / MiB);
	return 0;
}

/* 4 KiB preads at random aligned offsets, one at a time (the latency an
 * application reading small records sees); the same offsets cold and
 * warm. */
static int rand_read(struct bench *bn, enum bench_layer l, const char *path,
		     uint64_t size, bool cold)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t seed = 0x9e3779b97f4a7c15ULL, blocks = size / RAND_BLOCK, ops = 0;
	char buf[RAND_BLOCK];
	int64_t t0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (blocks == 0) {
		close(fd);
		return -ENODATA;
	}
	if (cold)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	t0 = now_ns();
	while (now_ns() - t0 < budget_ns(bn) && ops < 200000 && !bench_stop) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		if (pread(fd, buf, RAND_BLOCK, (off_t)((seed % blocks) * RAND_BLOCK)) < 0) {
			rc = -errno;
			break;
		}
		ops++;
	}
	close(fd);
	if (rc == 0)
		fig_set(&bn->f[l], (double)ops / secs_since(t0), secs_since(t0),
			ops * RAND_BLOCK, ops);
	return rc;
}

/* Every mount I/O layer not measured yet fails with path: rc. */
static void mount_fail_all(struct bench *bn, const char *path, int rc)
{
	for (int l = BL_SEQ_WRITE; l <= BL_RAND_READ_WARM; l++)
		if (!bn->f[l].done)
			bench_fail(bn, (enum bench_layer)l, "%s: %s", path, strerror(-rc));
}

/* The scratch directory's handle: the mount's root (MOUNT of its subdir),
 * then LOOKUP of each component below it. */
static int scratch_fh(struct bench *bn, struct bramble_fh *fh)
{
	struct bramble_mount_res mr;
	const char *rel = bn->scratch + strlen(bn->mount);
	char name[BRAMBLE_NAME_MAX + 1];
	int rc = bramble_mount(bn->b, bn->subdir ? bn->subdir : "", &mr);

	if (rc < 0)
		return rc;
	*fh = mr.root;
	while (rc == 0 && *rel) {
		struct bramble_fh dir = *fh;
		size_t n;

		rel += strspn(rel, "/");
		n = strcspn(rel, "/");
		if (n == 0)
			break;
		if (n > BRAMBLE_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, rel, n);
		name[n] = '\0';
		rc = bramble_lookup(bn->b, &bn->cr, &dir, name, fh, NULL);
		rel += n;
	}
	return rc;
}

/* Write a file of size bytes in the scratch directory straight to the
 * server, not through the mount: neither the mount's page cache nor the
 * node cache (content-addressed: the bytes are new, bn->seed) has seen
 * it, so reading it through the mount is truly cold on this node. */
static int server_file(struct bench *bn, const char *name, uint64_t size, char *buf)
{
	struct bramble_fh dir, fh;
	int rc = scratch_fh(bn, &dir);

	if (rc == 0)
		rc = bramble_create(bn->b, &bn->cr, &dir, name, 0600, BRAMBLE_CREATE_EXCL,
				    &fh, NULL);
	for (uint64_t off = 0; rc == 0 && off < size && !bench_stop; off += MiB) {
		ssize_t n;

		/* Each file its own bytes: "r" must not hit "s"'s chunks. */
		fill(buf, MiB, bn->seed ^ ((uint64_t)(unsigned char)name[0] << 48) ^ (off + 0x51));
		n = bramble_write(bn->b, &bn->cr, &fh, off, buf, MiB, 0, NULL);
		if (n < 0)
			rc = (int)n;
		else if (n != MiB)
			rc = -EIO;
	}
	return rc;
}

/* Write through the mount instead (no timing): for a user the server
 * will not take direct calls from (a port >= 1024). */
static int mount_file(struct bench *bn, const char *path, uint64_t size, char *buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (uint64_t off = 0; rc == 0 && off < size && !bench_stop; off += MiB) {
		fill(buf, MiB, bn->seed ^ ((uint64_t)path[strlen(path) - 1] << 48) ^ (off + 0x51));
		rc = write_all(fd, buf, MiB);
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* The files the read tests read: straight to the server when it lets
 * us, else through the mount (then "cold" may be warm in the node cache:
 * the notes say so). */
static int read_files(struct bench *bn, const char *spath, const char *rpath,
		      uint64_t size, char *buf)
{
	int rc = server_file(bn, "s", size, buf);

	if (rc == 0)
		return server_file(bn, "r", size, buf);
	if (rc != -EACCES && rc != -EPERM)
		return rc;
	unlink(spath);
	snprintf(bn->f[BL_SEQ_READ_COLD].note, sizeof(bn->f[0].note),
		 "written through the mount: may be in the node cache");
	snprintf(bn->f[BL_RAND_READ_COLD].note, sizeof(bn->f[0].note), "%s",
		 bn->f[BL_SEQ_READ_COLD].note);
	rc = mount_file(bn, spath, size, buf);
	return rc < 0 ? rc : mount_file(bn, rpath, size, buf);
}

void bench_mount_io(struct bench *bn)
{
	char *wpath = NULL, *spath = NULL, *rpath = NULL, *buf;
	uint64_t size;
	int rc;

	if (!bn->scratch) {
		/* cmd_bench said why (or a server was given, not a mount). */
		if (!bn->mount)
			bench_skip(bn, BL_SEQ_WRITE, "a server was given, not a mount");
		for (int l = BL_SEQ_READ_COLD; l <= BL_RAND_READ_WARM; l++)
			same_as(bn, (enum bench_layer)l, BL_SEQ_WRITE);
		return;
	}
	wpath = path_join(bn->scratch, "w");
	spath = path_join(bn->scratch, "s");
	rpath = path_join(bn->scratch, "r");
	buf = xmalloc(MiB);
	size = mount_file_size(bn);
	rc = seq_write(bn, wpath, buf, size);
	unlink(wpath);
	/* The read tests get files of their own, each as big as the write
	 * managed in its time (so a read takes about as long). */
	if (rc == 0)
		size = BR_MAX(bn->f[BL_SEQ_WRITE].bytes, (uint64_t)MiB);
	if (rc == 0)
		rc = read_files(bn, spath, rpath, size, buf);
	if (rc == 0)
		rc = seq_read(bn, BL_SEQ_READ_COLD, spath, buf, true);
	if (rc == 0)
		rc = seq_read(bn, BL_SEQ_READ_WARM, spath, buf, false);
	if (rc == 0)
		rc = rand_read(bn, BL_RAND_READ_COLD, rpath, size, true);
	if (rc == 0)
		rc = rand_read(bn, BL_RAND_READ_WARM, rpath, size, false);
	if (rc < 0)
		mount_fail_all(bn, bn->scratch, rc);
	unlink(spath);
	unlink(rpath);
	free(wpath);
	free(spath);
	free(rpath);
	free(buf);
}

/* ---- metadata: create, stat, readdir, unlink of many empty files */

static int meta_files(struct bench *bn, const char *dir, unsigned int *made)
{
	char name[32];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t t0 = now_ns();
	unsigned int i;
	int rc = 0;

	if (dfd < 0)
		return -errno;
	for (i = 0; i < bn->meta_files && now_ns() - t0 < budget_ns(bn) && !bench_stop; i++) {
		int fd;

		snprintf(name, sizeof(name), "f%05u", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		close(fd);
	}
	*made = i;
	fig_set(&bn->f[BL_META_CREATE], i / secs_since(t0), secs_since(t0), 0, i);
	t0 = now_ns();
	for (unsigned int k = 0; k < *made && rc == 0; k++) {
		struct stat st;

		snprintf(name, sizeof(name), "f%05u", k);
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
	}
	if (rc == 0)
		fig_set(&bn->f[BL_META_STAT], *made / secs_since(t0), secs_since(t0), 0, *made);
	close(dfd);
	return rc;
}

/* One pass of readdir over the directory (opened afresh: a new
 * READDIRPLUS, not the kernel's cached listing).  Entries/s. */
static int meta_readdir(struct bench *bn, const char *dir)
{
	int64_t t0 = now_ns();
	DIR *d = opendir(dir);
	uint64_t n = 0;

	if (!d)
		return -errno;
	errno = 0;
	while (readdir(d))
		n++;
	if (errno) {
		int rc = -errno;

		closedir(d);
		return rc;
	}
	closedir(d);
	fig_set(&bn->f[BL_META_READDIR], n / secs_since(t0), secs_since(t0), 0, n);
	return 0;
}

static int meta_unlink(struct bench *bn, const char *dir, unsigned int made)
{
	char name[32];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t t0 = now_ns();
	int rc = 0;

	if (dfd < 0)
		return -errno;
	for (unsigned int i = 0; i < made; i++) {
		snprintf(name, sizeof(name), "f%05u", i);
		if (unlinkat(dfd, name, 0) < 0 && rc == 0)
			rc = -errno;    /* go on: remove the rest anyway */
	}
	if (rc == 0)
		fig_set(&bn->f[BL_META_UNLINK], made / secs_since(t0), secs_since(t0), 0, made);
	close(dfd);
	return rc;
}

void bench_meta(struct bench *bn)
{
	unsigned int made = 0;
	char *dir;
	int rc;

	if (!bn->scratch) {
		for (int l = BL_META_CREATE; l <= BL_META_UNLINK; l++)
			same_as(bn, (enum bench_layer)l, BL_SEQ_WRITE);
		return;
	}
	dir = path_join(bn->scratch, "meta");
	rc = mkdir(dir, 0755) < 0 ? -errno : 0;
	if (rc == 0)
		rc = meta_files(bn, dir, &made);
	if (rc == 0)
		rc = meta_readdir(bn, dir);
	{
		int urc = meta_unlink(bn, dir, made);

		if (rc == 0)
			rc = urc;
	}
	rmdir(dir);
	if (rc < 0)
		for (int l = BL_META_CREATE; l <= BL_META_UNLINK; l++)
			if (!bn->f[l].done)
				bench_fail(bn, (enum bench_layer)l, "%s: %s", dir, strerror(-rc));
	free(dir);
}
