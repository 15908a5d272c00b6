/* test_cache.c - the node cache (cache/bramble_cache.h): round trips,
 * repair of corrupted/truncated/missing chunk files, the quota under 3x
 * its size of puts (index and files), pins through eviction pressure and
 * reopen, -ENOSPC when all is pinned, unpin, gc, evict, verify of planted
 * damage, two processes at once, a writer killed with SIGKILL, RAM mode. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bramble_cache.h"
#include "xxhash128.h"

#define CH (64u << 10)                  /* test chunks: 64 KiB */
#define QUOTA (32ull * CH)              /* 2 MiB: 32 chunks */

static char top[PATH_MAX];
static struct bramble_cache *c;

/* Chunk `seed': len bytes (CH unless a seed asks for another) and its hash. */
static size_t make_chunk(unsigned seed, unsigned char *buf, unsigned char hash[16])
{
	size_t len = CH - (seed % 7) * 1000;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	br_hash128(buf, len, hash);
	return len;
}

static struct bramble_cache *open_cache(int mode, uint64_t size)
{
	struct bramble_cache_opts o = { .mode = mode, .dir = top, .size = size };
	struct bramble_cache *cc = NULL;
	char err[512] = "";
	int rc = bramble_cache_open(&o, &cc, err, sizeof(err));

	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	return cc;
}

static void setup(void)
{
	snprintf(top, sizeof(top), "/tmp/bramble-cache.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	c = open_cache(BRAMBLE_CACHE_DISK, QUOTA);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	bramble_cache_close(c);
	c = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

static int put_seed(struct bramble_cache *cc, unsigned seed, const char *owner)
{
	unsigned char buf[CH], h[16];
	size_t len = make_chunk(seed, buf, h);

	return bramble_cache_put(cc, h, buf, len, owner, 0);
}

/* 1 when chunk seed comes back right, 0 when -ENOENT. */
static int got_seed(struct bramble_cache *cc, unsigned seed)
{
	unsigned char want[CH], got[CH], h[16];
	size_t len = make_chunk(seed, want, h);
	ssize_t n = bramble_cache_get(cc, h, got, sizeof(got));

	if (n == -ENOENT)
		return 0;
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_mem_eq(got, want, len);
	return 1;
}

static void chunk_file(unsigned seed, char *path, size_t size)
{
	unsigned char buf[CH], h[16];
	char hex[33];

	make_chunk(seed, buf, h);
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", h[i]);
	snprintf(path, size, "%s/chunks/%.2s/%s", top, hex, hex);
}

/* Apparent size of every chunk file, as du --apparent-size would add up. */
static uint64_t files_bytes(uint64_t *nfiles)
{
	char sub[PATH_MAX + 16], f[2 * PATH_MAX];
	uint64_t sum = 0, n = 0;

	for (int d = 0; d < 256; d++) {
		struct dirent *de;
		DIR *dir;

		snprintf(sub, sizeof(sub), "%s/chunks/%02x", top, d);
		if (!(dir = opendir(sub)))
			continue;
		while ((de = readdir(dir))) {
			struct stat st;

			if (de->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", sub, de->d_name);
			ck_assert_int_eq(stat(f, &st), 0);
			sum += (uint64_t)st.st_size;
			n++;
		}
		closedir(dir);
	}
	if (nfiles)
		*nfiles = n;
	return sum;
}

static struct bramble_cache_stats stats(struct bramble_cache *cc)
{
	struct bramble_cache_stats s;

	bramble_cache_get_stats(cc, &s);
	return s;
}

/* The index and the files agree: same bytes and count, within quota. */
static void check_consistent(struct bramble_cache *cc)
{
	struct bramble_cache_stats s = stats(cc);
	uint64_t n, bytes = files_bytes(&n);

	ck_assert_uint_le(s.used, s.quota);
	ck_assert_uint_eq(bytes, s.used);
	ck_assert_uint_eq(n, s.chunks);
}

START_TEST(test_roundtrip)
{
	unsigned char buf[CH], small[10], h[16];
	struct bramble_cache_stats s;

	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(put_seed(c, i, NULL), 0);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(got_seed(c, i), 1);
	ck_assert_int_eq(got_seed(c, 99), 0);
	make_chunk(3, buf, h);
	ck_assert(bramble_cache_has(c, h));
	ck_assert_int_eq(bramble_cache_get(c, h, small, sizeof(small)), -ENOSPC);
	ck_assert_int_eq(put_seed(c, 3, NULL), 0);           /* dedup */
	s = stats(c);
	ck_assert_int_eq(s.mode, BRAMBLE_CACHE_DISK);
	ck_assert_uint_eq(s.quota, QUOTA);
	ck_assert_uint_eq(s.chunks, 5);
	ck_assert_uint_eq(s.hits, 5);
	ck_assert_uint_eq(s.misses, 1);
	ck_assert_uint_eq(s.puts, 5);
	ck_assert_uint_eq(s.dedup_puts, 1);
	ck_assert_uint_eq(s.verify_failures, 0);
	check_consistent(c);
	/* the data survives a reopen; the quota stays what was set */
	bramble_cache_close(c);
	c = open_cache(BRAMBLE_CACHE_DISK, 0);
	ck_assert_uint_eq(stats(c).quota, QUOTA);
	ck_assert_int_eq(got_seed(c, 4), 1);
	ck_assert_int_eq(bramble_cache_put(c, h, buf, QUOTA + 1, NULL, 0), -EFBIG);
	ck_assert_int_eq(bramble_cache_put(c, h, buf, 1, "", 0), -EINVAL);
}
END_TEST

/* Damage chunk file seed with cmd ("flip", "truncate", "remove"). */
static void damage(unsigned seed, const char *how)
{
	char path[PATH_MAX + 64];
	int fd;

	chunk_file(seed, path, sizeof(path));
	if (!strcmp(how, "remove")) {
		ck_assert_int_eq(unlink(path), 0);
		return;
	}
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	if (!strcmp(how, "truncate")) {
		ck_assert_int_eq(ftruncate(fd, 1000), 0);
	} else {
		unsigned char b;

		ck_assert_int_eq(pread(fd, &b, 1, 777), 1);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, 777), 1);
	}
	close(fd);
}

START_TEST(test_repair)
{
	static const char *const how[] = { "flip", "truncate", "remove" };
	unsigned char buf[CH], h[16];

	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(put_seed(c, i, NULL), 0);
		damage(i, how[i]);
		ck_assert_int_eq(got_seed(c, i), 0);             /* never wrong bytes */
		make_chunk(i, buf, h);
		ck_assert(!bramble_cache_has(c, h));             /* the entry went */
		ck_assert_uint_eq(stats(c).verify_failures, i + 1);
		ck_assert_int_eq(put_seed(c, i, NULL), 0);       /* fetched again */
		ck_assert_int_eq(got_seed(c, i), 1);
	}
	check_consistent(c);
}
END_TEST

START_TEST(test_quota)
{
	uint64_t evicted_before = 0;

	for (unsigned i = 0; i < 3 * 32 + 10; i++) {
		struct bramble_cache_stats s;

		ck_assert_int_eq(put_seed(c, i, NULL), 0);
		s = stats(c);
		ck_assert_uint_le(s.used, QUOTA);
		ck_assert_uint_le(files_bytes(NULL), QUOTA);
		/* gradual: one put frees its size plus the 1/64 headroom, and a
		 * chunk of slack, never a large part of the cache */
		ck_assert_uint_le(s.bytes_evicted - evicted_before, CH + QUOTA / 64 + CH);
		evicted_before = s.bytes_evicted;
	}
	ck_assert_uint_gt(stats(c).evictions, 32);
	/* least recently used went first: the newest are all there */
	for (unsigned i = 3 * 32 + 10 - 20; i < 3 * 32 + 10; i++)
		ck_assert_int_eq(got_seed(c, i), 1);
	ck_assert_int_eq(got_seed(c, 0), 0);
	check_consistent(c);
}
END_TEST

START_TEST(test_pins)
{
	unsigned char buf[CH], h[16];
	uint64_t pinned = 0;

	for (unsigned i = 0; i < 8; i++)
		ck_assert_int_eq(put_seed(c, 1000 + i, "job:1"), 0);
	make_chunk(2000, buf, h);
	ck_assert_int_eq(put_seed(c, 2000, NULL), 0);
	ck_assert_int_eq(bramble_cache_pin(c, h, "user:alice", 0), 0);
	make_chunk(2001, buf, h);
	ck_assert_int_eq(bramble_cache_pin(c, h, "user:alice", 0), -ENOENT);
	for (unsigned i = 0; i < 3 * 32; i++)                /* pressure */
		ck_assert_int_eq(put_seed(c, i, NULL), 0);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_int_eq(got_seed(c, 1000 + i), 1);
	ck_assert_int_eq(got_seed(c, 2000), 1);
	bramble_cache_close(c);
	c = open_cache(BRAMBLE_CACHE_DISK, QUOTA);
	for (unsigned i = 0; i < 3 * 32; i++)
		ck_assert_int_eq(put_seed(c, 5000 + i, NULL), 0);
	for (unsigned i = 0; i < 8; i++) {
		ck_assert_int_eq(got_seed(c, 1000 + i), 1);
		pinned += make_chunk(1000 + i, buf, h);
	}
	ck_assert_int_eq(got_seed(c, 2000), 1);
	ck_assert_uint_eq(stats(c).pinned_chunks, 9);
	ck_assert_uint_eq(stats(c).pinned_bytes, pinned + make_chunk(2000, buf, h));
	check_consistent(c);
}
END_TEST

static int count_pins(void *ctx, const struct bramble_cache_pininfo *p)
{
	char *out = ctx;

	sprintf(out + strlen(out), "%s=%llu/%llu/%lld;", p->owner,
		(unsigned long long)p->chunks, (unsigned long long)p->bytes,
		(long long)p->expires);
	return 0;
}

START_TEST(test_enospc)
{
	struct bramble_cache_stats before, after;
	unsigned i;
	int rc = 0;

	for (i = 0; i < 100 && (rc = put_seed(c, i, "all")) == 0; i++)
		;
	ck_assert_int_eq(rc, -ENOSPC);
	before = stats(c);
	ck_assert_int_eq(put_seed(c, 500, NULL), -ENOSPC);
	after = stats(c);
	ck_assert_uint_eq(after.used, before.used);
	ck_assert_uint_eq(after.chunks, before.chunks);
	ck_assert_int_eq(got_seed(c, 500), 0);
	ck_assert_uint_le(after.used, QUOTA);
	check_consistent(c);
	/* unpinned, they can go; pins whose expiry passed go by themselves */
	ck_assert_int_eq(bramble_cache_unpin(c, "all", NULL, NULL), 0);
	ck_assert_int_eq(put_seed(c, 500, NULL), 0);
	ck_assert_int_eq(bramble_cache_evict(c, 0, NULL), 0);
	for (i = 0; i < 100; i++) {
		unsigned char buf[CH], h[16];
		size_t len = make_chunk(600 + i, buf, h);

		if (bramble_cache_put(c, h, buf, len, "gone", time(NULL) - 1) < 0)
			break;
	}
	ck_assert_uint_eq(i, 100);
	ck_assert_uint_le(stats(c).used, QUOTA);
}
END_TEST

START_TEST(test_unpin)
{
	unsigned char buf[CH], h[16];
	char out[256] = "";
	uint64_t n = 0;
	size_t len = make_chunk(1, buf, h);

	for (unsigned i = 0; i < 4; i++)
		ck_assert_int_eq(put_seed(c, i, "a"), 0);
	ck_assert_int_eq(put_seed(c, 1, "b"), 0);            /* dedup + pin */
	ck_assert_int_eq(bramble_cache_list_pins(c, count_pins, out), 0);
	ck_assert_ptr_nonnull(strstr(out, "a=4/"));
	ck_assert_ptr_nonnull(strstr(out, "b=1/"));
	ck_assert_int_eq(bramble_cache_unpin(c, "a", NULL, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(stats(c).pinned_chunks, 1);
	ck_assert_uint_eq(stats(c).pinned_bytes, len);
	ck_assert_int_eq(bramble_cache_unpin(c, "b", h, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(bramble_cache_unpin(c, "b", h, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(stats(c).pinned_chunks, 0);
	ck_assert_int_eq(bramble_cache_evict(c, 0, NULL), 0);
	ck_assert_uint_eq(stats(c).chunks, 0);
	check_consistent(c);
}
END_TEST

START_TEST(test_gc)
{
	unsigned char buf[CH], h[16];
	int64_t now = time(NULL);
	char out[256] = "";
	uint64_t n = 0;

	make_chunk(1, buf, h);
	ck_assert_int_eq(put_seed(c, 0, "old"), 0);
	ck_assert_int_eq(bramble_cache_put(c, h, buf, make_chunk(1, buf, h), "old", now - 10), 0);
	ck_assert_int_eq(bramble_cache_pin(c, h, "new", now + 1000), 0);
	ck_assert_int_eq(bramble_cache_list_pins(c, count_pins, out), 0);
	ck_assert_ptr_nonnull(strstr(out, "old=2/"));       /* one pin never expires */
	ck_assert_ptr_nonnull(strstr(out, "/0;"));
	ck_assert_int_eq(bramble_cache_gc(c, now, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(bramble_cache_gc(c, now, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(stats(c).pinned_chunks, 2);
	ck_assert_int_eq(bramble_cache_gc(c, now + 2000, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(stats(c).pinned_chunks, 1);
}
END_TEST

START_TEST(test_evict)
{
	uint64_t freed = 0, used;

	for (unsigned i = 0; i < 20; i++)
		ck_assert_int_eq(put_seed(c, i, i < 3 ? "keep" : NULL), 0);
	used = stats(c).used;
	ck_assert_int_eq(bramble_cache_evict(c, used / 2, &freed), 0);
	ck_assert_uint_le(stats(c).used, used / 2);
	ck_assert_uint_eq(stats(c).used, used - freed);
	ck_assert_int_eq(bramble_cache_evict(c, 0, &freed), 0);
	ck_assert_uint_eq(stats(c).chunks, 3);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(got_seed(c, i), 1);
	ck_assert_uint_eq(stats(c).evictions, 17);
	check_consistent(c);
}
END_TEST

/* A pid that is surely dead: a child that has been reaped. */
static pid_t dead_pid(void)
{
	pid_t p = fork();

	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(p, NULL, 0), p);
	return p;
}

static void write_file(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char b[100] = "junk";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

START_TEST(test_verify)
{
	struct bramble_cache_verify r;
	char path[PATH_MAX + 64], orphan[PATH_MAX + 64];

	for (unsigned i = 0; i < 10; i++)
		ck_assert_int_eq(put_seed(c, i, NULL), 0);
	damage(2, "flip");
	damage(5, "truncate");
	damage(7, "remove");
	/* a chunk file no row names, a dead put's temporary, and an evicted
	 * file of a dead process whose row is gone */
	chunk_file(77, orphan, sizeof(orphan));
	orphan[strlen(orphan) - 33] = '\0';
	mkdir(orphan, 0700);
	chunk_file(77, orphan, sizeof(orphan));
	write_file(orphan, 50);
	snprintf(path, sizeof(path), "%s/tmp/%d.3", top, (int)dead_pid());
	write_file(path, 60);
	ck_assert_int_eq(bramble_cache_verify(c, &r), 0);
	ck_assert_uint_eq(r.checked, 10);
	ck_assert_uint_eq(r.bad, 3);
	ck_assert_uint_eq(r.orphans, 2);
	ck_assert_int_eq(access(orphan, F_OK), -1);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_uint_eq(stats(c).chunks, 7);
	ck_assert_int_eq(got_seed(c, 2), 0);
	ck_assert_int_eq(got_seed(c, 3), 1);
	ck_assert_int_eq(bramble_cache_verify(c, &r), 0);
	ck_assert_uint_eq(r.checked, 7);
	ck_assert_uint_eq(r.bad + r.orphans, 0);
	check_consistent(c);
}
END_TEST

/* A child's workload: put, get back and check the quota; exit 0 if fine. */
static void child_work(unsigned base, unsigned n)
{
	struct bramble_cache *cc;
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_DISK, .dir = top, .size = QUOTA };
	char err[256];
	int bad = 0;

	if (bramble_cache_open(&o, &cc, err, sizeof(err)) < 0)
		_exit(10);
	for (unsigned i = 0; i < n && !bad; i++) {
		/* half the seeds are shared between the children: dedup races */
		unsigned seed = i % 2 ? base + i : i;
		unsigned char buf[CH], got[CH], h[16];
		size_t len = make_chunk(seed, buf, h);
		struct bramble_cache_stats s;
		ssize_t r;

		if (bramble_cache_put(cc, h, buf, len, NULL, 0) < 0)
			bad = 11;
		r = bramble_cache_get(cc, h, got, sizeof(got));
		/* another process may evict it in between; never wrong bytes */
		if (r != -ENOENT && (r != (ssize_t)len || memcmp(got, buf, len)))
			bad = 12;
		bramble_cache_get_stats(cc, &s);
		if (s.used > QUOTA || s.verify_failures)
			bad = 13;
	}
	bramble_cache_close(cc);
	_exit(bad);
}

START_TEST(test_two_processes)
{
	struct bramble_cache_verify r;
	pid_t p[2];
	int st;

	bramble_cache_close(c);              /* the children open their own */
	c = NULL;
	for (int i = 0; i < 2; i++) {
		p[i] = fork();
		ck_assert_int_ge(p[i], 0);
		if (p[i] == 0)
			child_work(10000 * (i + 1), 150);
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(p[i], &st, 0), p[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %#x", i, st);
	}
	c = open_cache(BRAMBLE_CACHE_DISK, QUOTA);
	ck_assert_int_eq(bramble_cache_verify(c, &r), 0);
	ck_assert_uint_eq(r.bad, 0);
	ck_assert_uint_eq(r.orphans, 0);
	ck_assert_uint_gt(r.checked, 20);
	check_consistent(c);
}
END_TEST

/* Puts (every fifth pinned) until killed; a byte down the pipe per put. */
static void child_puts(int wfd, unsigned base)
{
	struct bramble_cache *cc;
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_DISK, .dir = top, .size = QUOTA };
	char err[256];

	if (bramble_cache_open(&o, &cc, err, sizeof(err)) < 0)
		_exit(10);
	for (unsigned i = 0;; i++) {
		if (put_seed(cc, base + i, i % 5 ? NULL : "victim") < 0)
			bramble_cache_unpin(cc, "victim", NULL, NULL);
		if (write(wfd, "x", 1) != 1)
			_exit(11);
	}
}

START_TEST(test_sigkill)
{
	struct bramble_cache_verify r;

	bramble_cache_close(c);
	c = NULL;
	/* kill after a different number of puts each round: wherever the
	 * child is, the cache must open and verify clean */
	for (unsigned round = 0; round < 4; round++) {
		int fds[2], st;
		pid_t p;
		char b[64];
		unsigned got = 0;

		ck_assert_int_eq(pipe(fds), 0);
		p = fork();
		ck_assert_int_ge(p, 0);
		if (p == 0) {
			close(fds[0]);
			child_puts(fds[1], 100000 * (round + 1));
		}
		close(fds[1]);
		while (got < 30 + 17 * round) {
			ssize_t n = read(fds[0], b, sizeof(b));

			ck_assert_int_gt(n, 0);
			got += (unsigned)n;
		}
		kill(p, SIGKILL);
		ck_assert_int_eq(waitpid(p, &st, 0), p);
		ck_assert(WIFSIGNALED(st));
		close(fds[0]);
		c = open_cache(BRAMBLE_CACHE_DISK, QUOTA);
		ck_assert_int_eq(bramble_cache_verify(c, &r), 0);
		ck_assert_uint_eq(r.bad, 0);                  /* no row without its file */
		ck_assert_int_eq(bramble_cache_verify(c, &r), 0);
		ck_assert_uint_eq(r.bad + r.orphans, 0);
		check_consistent(c);
		ck_assert_int_eq(put_seed(c, 7, NULL), 0);
		ck_assert_int_eq(got_seed(c, 7), 1);
		bramble_cache_close(c);
		c = NULL;
	}
	c = open_cache(BRAMBLE_CACHE_DISK, QUOTA);
}
END_TEST

/* Threads of one process on one cache: puts, gets, evictions and a verify
 * at once, over chunks they share. */
static void *thread_work(void *arg)
{
	struct bramble_cache *cc = arg;
	unsigned self = (unsigned)(uintptr_t)pthread_self();
	long bad = 0;

	for (unsigned i = 0; i < 150 && !bad; i++) {
		unsigned seed = (i * 7 + self) % 60;
		unsigned char buf[CH], got[CH], h[16];
		size_t len = make_chunk(seed, buf, h);
		ssize_t r;

		if (bramble_cache_put(cc, h, buf, len, NULL, 0) < 0)
			bad = 1;
		r = bramble_cache_get(cc, h, got, sizeof(got));
		if (r != -ENOENT && (r != (ssize_t)len || memcmp(got, buf, len)))
			bad = 2;
		if (i % 50 == 49 && bramble_cache_evict(cc, QUOTA / 2, NULL) < 0)
			bad = 3;
	}
	return (void *)bad;
}

static void run_threads(struct bramble_cache *cc)
{
	struct bramble_cache_verify r;
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_work, cc), 0);
	ck_assert_int_eq(bramble_cache_verify(cc, &r), 0);
	ck_assert_uint_eq(r.bad, 0);
	for (int i = 0; i < 4; i++) {
		void *ret;

		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
	ck_assert_uint_le(stats(cc).used, QUOTA);
	ck_assert_uint_eq(stats(cc).verify_failures, 0);
}

START_TEST(test_threads)
{
	struct bramble_cache *r = open_cache(BRAMBLE_CACHE_RAM, QUOTA);
	struct bramble_cache_verify v;

	run_threads(c);
	check_consistent(c);
	ck_assert_int_eq(bramble_cache_verify(c, &v), 0);
	ck_assert_uint_eq(v.bad + v.orphans, 0);
	run_threads(r);
	bramble_cache_close(r);
}
END_TEST

static int count_entries(void *ctx, const struct bramble_cache_entry *e)
{
	(*(unsigned *)ctx)++;
	ck_assert_uint_gt(e->len, 0);
	return 0;
}

START_TEST(test_ram)
{
	struct bramble_cache *r = open_cache(BRAMBLE_CACHE_RAM, QUOTA);
	struct bramble_cache_stats s;
	struct bramble_cache_verify v;
	unsigned n = 0;

	ck_assert_int_eq(bramble_cache_mode(r), BRAMBLE_CACHE_RAM);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_int_eq(put_seed(r, i, "job:7"), 0);
	for (unsigned i = 10; i < 10 + 3 * 32; i++) {
		ck_assert_int_eq(put_seed(r, i, NULL), 0);
		ck_assert_uint_le(stats(r).used, QUOTA);
	}
	for (unsigned i = 0; i < 4; i++)
		ck_assert_int_eq(got_seed(r, i), 1);
	ck_assert_int_eq(got_seed(r, 10), 0);
	ck_assert_int_eq(got_seed(r, 10 + 3 * 32 - 1), 1);
	ck_assert_int_eq(put_seed(r, 3, NULL), 0);
	s = stats(r);
	ck_assert_uint_eq(s.pinned_chunks, 4);
	ck_assert_uint_eq(s.dedup_puts, 1);
	ck_assert_uint_gt(s.evictions, 32);
	ck_assert_int_eq(bramble_cache_list(r, count_entries, &n), 0);
	ck_assert_uint_eq(n, s.chunks);
	ck_assert_int_eq(bramble_cache_verify(r, &v), 0);
	ck_assert_uint_eq(v.checked, s.chunks);
	ck_assert_uint_eq(v.bad, 0);
	ck_assert_int_eq(bramble_cache_evict(r, 0, NULL), 0);
	ck_assert_uint_eq(stats(r).chunks, 4);
	for (unsigned i = 100; i < 200 && put_seed(r, i, "x") == 0; i++)
		;
	ck_assert_int_eq(put_seed(r, 999, NULL), -ENOSPC);
	ck_assert_uint_le(stats(r).used, QUOTA);
	ck_assert_int_eq(bramble_cache_unpin(r, "x", NULL, NULL), 0);
	ck_assert_int_eq(put_seed(r, 999, NULL), 0);
	bramble_cache_close(r);
}
END_TEST

/* A broken index: the cache starts empty, its old files removed. */
START_TEST(test_bad_index)
{
	static const char junk[] = "this is no database, but it is long enough to be "
				   "read as the header of one: 100 bytes and more.....";
	char path[PATH_MAX + 16];
	uint64_t n;
	int fd;

	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(put_seed(c, i, "p"), 0);
	bramble_cache_close(c);
	snprintf(path, sizeof(path), "%s/index.db", top);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	snprintf(path, sizeof(path), "%s/index.db-wal", top);
	unlink(path);
	c = open_cache(BRAMBLE_CACHE_DISK, QUOTA);
	ck_assert_uint_eq(stats(c).chunks, 0);
	ck_assert_uint_eq(files_bytes(&n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(put_seed(c, 1, NULL), 0);
	ck_assert_int_eq(got_seed(c, 1), 1);
	check_consistent(c);
}
END_TEST

START_TEST(test_bad_opts)
{
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_OFF };
	struct bramble_cache *x = NULL;
	char err[256];

	ck_assert_int_eq(bramble_cache_open(&o, &x, err, sizeof(err)), -EINVAL);
	o.mode = BRAMBLE_CACHE_DISK;
	o.dir = "/proc/no/such/dir";
	ck_assert_int_lt(bramble_cache_open(&o, &x, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/proc/no/such/dir"));
	ck_assert_ptr_null(x);
}
END_TEST

/* ---- file maps */

/* A map of n chunks of 1 MiB for a file of size bytes; hashes from seed. */
static struct bramble_cache_map test_map(unsigned seed, uint32_t n, uint64_t size)
{
	struct bramble_cache_map m = { .size = size, .mtime_ns = 1000000007LL * seed,
				       .ctime_ns = 17LL * seed, .version = seed,
				       .chunk_size = 1u << 20, .nchunks = n };

	m.hashes = calloc(n ? n : 1, BRAMBLE_HASH_LEN);
	for (uint32_t i = 0; i < n; i++)
		memset(m.hashes[i], (int)(seed + i), BRAMBLE_HASH_LEN);
	return m;
}

static void check_map(struct bramble_cache *cc, const char *fh, unsigned seed, uint32_t n,
		      uint64_t size)
{
	struct bramble_cache_map want = test_map(seed, n, size), got;

	ck_assert_int_eq(bramble_cache_map_get(cc, fh, strlen(fh), &got), 0);
	ck_assert_uint_eq(got.size, want.size);
	ck_assert_int_eq(got.mtime_ns, want.mtime_ns);
	ck_assert_int_eq(got.ctime_ns, want.ctime_ns);
	ck_assert_uint_eq(got.version, want.version);
	ck_assert_uint_eq(got.chunk_size, want.chunk_size);
	ck_assert_uint_eq(got.nchunks, n);
	if (n)
		ck_assert_mem_eq(got.hashes, want.hashes, (size_t)n * BRAMBLE_HASH_LEN);
	bramble_cache_map_release(&got);
	bramble_cache_map_release(&want);
}

static void maps_roundtrip(struct bramble_cache *cc)
{
	struct bramble_cache_map m = test_map(3, 3, 3u << 20), bad = test_map(4, 2, 5u << 20), got;
	uint64_t n = 99;

	ck_assert_int_eq(bramble_cache_map_get(cc, "fh-a", 4, &got), -ENOENT);
	ck_assert_int_eq(bramble_cache_map_put(cc, "fh-a", 4, &m), 0);
	check_map(cc, "fh-a", 3, 3, 3u << 20);
	/* replaced, not added */
	bramble_cache_map_release(&m);
	m = test_map(5, 1, 10);
	ck_assert_int_eq(bramble_cache_map_put(cc, "fh-a", 4, &m), 0);
	check_map(cc, "fh-a", 5, 1, 10);
	ck_assert_int_eq(bramble_cache_map_count(cc, &n), 0);
	ck_assert_uint_eq(n, 1);
	/* an empty file has an empty map */
	bramble_cache_map_release(&m);
	m = test_map(6, 0, 0);
	ck_assert_int_eq(bramble_cache_map_put(cc, "fh-empty", 8, &m), 0);
	check_map(cc, "fh-empty", 6, 0, 0);
	/* chunks that do not cover the size, an empty handle: refused */
	ck_assert_int_eq(bramble_cache_map_put(cc, "fh-b", 4, &bad), -EINVAL);
	ck_assert_int_eq(bramble_cache_map_put(cc, "", 0, &m), -EINVAL);
	ck_assert_int_eq(bramble_cache_map_drop(cc, "fh-a", 4), 0);
	ck_assert_int_eq(bramble_cache_map_get(cc, "fh-a", 4, &got), -ENOENT);
	ck_assert_int_eq(bramble_cache_map_drop(cc, "fh-a", 4), 0);
	ck_assert_int_eq(bramble_cache_map_count(cc, &n), 0);
	ck_assert_uint_eq(n, 1);
	bramble_cache_map_release(&m);
	bramble_cache_map_release(&bad);
}

START_TEST(test_maps)
{
	struct bramble_cache *r = open_cache(BRAMBLE_CACHE_RAM, QUOTA), *c2;

	maps_roundtrip(c);
	maps_roundtrip(r);
	bramble_cache_close(r);
	/* disk: another open (another process's view) sees them */
	{
		struct bramble_cache_map m = test_map(9, 2, (1u << 20) + 1);

		ck_assert_int_eq(bramble_cache_map_put(c, "fh-z", 4, &m), 0);
		bramble_cache_map_release(&m);
	}
	c2 = open_cache(BRAMBLE_CACHE_DISK, 0);
	check_map(c2, "fh-z", 9, 2, (1u << 20) + 1);
	check_map(c2, "fh-empty", 6, 0, 0);
	bramble_cache_close(c2);
}
END_TEST

/* The bound drops the least recently used maps, in both modes. */
static void maps_bound(struct bramble_cache *cc)
{
	char fh[32];
	uint64_t n = 0;

	for (unsigned i = 0; i < 40; i++) {
		struct bramble_cache_map m = test_map(i, 1, 100);

		snprintf(fh, sizeof(fh), "fh-%u", i);
		ck_assert_int_eq(bramble_cache_map_put(cc, fh, strlen(fh), &m), 0);
		bramble_cache_map_release(&m);
		usleep(1000);  /* distinct last-use times (ms) */
	}
	ck_assert_int_eq(bramble_cache_map_count(cc, &n), 0);
	ck_assert_uint_eq(n, 10);
	check_map(cc, "fh-39", 39, 1, 100);
	check_map(cc, "fh-30", 30, 1, 100);
	{
		struct bramble_cache_map got;

		ck_assert_int_eq(bramble_cache_map_get(cc, "fh-29", 5, &got), -ENOENT);
	}
}

START_TEST(test_maps_bound)
{
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_RAM, .size = QUOTA,
					.maps_max = 10 };
	struct bramble_cache *cc = NULL;
	char err[256];

	ck_assert_int_eq(bramble_cache_open(&o, &cc, err, sizeof(err)), 0);
	maps_bound(cc);
	bramble_cache_close(cc);
	o.mode = BRAMBLE_CACHE_DISK;
	o.dir = top;
	ck_assert_int_eq(bramble_cache_open(&o, &cc, err, sizeof(err)), 0);
	maps_bound(cc);
	bramble_cache_close(cc);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc;

#define CASE(name) \
	do { \
		tc = tcase_create(#name); \
		tcase_add_checked_fixture(tc, setup, teardown); \
		tcase_set_timeout(tc, 120); \
		tcase_add_test(tc, test_##name); \
		suite_add_tcase(s, tc); \
	} while (0)
	CASE(roundtrip);
	CASE(repair);
	CASE(quota);
	CASE(pins);
	CASE(enospc);
	CASE(unpin);
	CASE(gc);
	CASE(evict);
	CASE(verify);
	CASE(two_processes);
	CASE(sigkill);
	CASE(threads);
	CASE(ram);
	CASE(maps);
	CASE(maps_bound);
	CASE(bad_index);
	CASE(bad_opts);
#undef CASE
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
