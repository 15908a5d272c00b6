/* test_chunkidx.c - the chunk index: hashes equal to XXH3-128 of each
 * chunk computed here, new versions after changes behind its back, no
 * rehashing of an unchanged file, persistence, chunk sizes, READ_CHUNK,
 * timestamps far from now. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "chunkidx.h"

#define CS (64u << 10)                  /* the smallest chunk size */

static char top[PATH_MAX];
static char db[PATH_MAX + 16];
static char file[PATH_MAX + 16];
static struct chunkidx *ci;
static int fd = -1;

static void open_index(uint32_t chunk_size, int64_t racy_ns)
{
	struct chunkidx_opts o = { .db_path = db, .chunk_size = chunk_size,
				   .racy_ns = racy_ns };
	char err[512];

	ck_assert_int_eq(chunkidx_open(&o, &ci, err, sizeof(err)), 0);
}

/* Write len pseudo-random bytes (seeded) at off. */
static void fill(off_t off, size_t len, unsigned int seed)
{
	unsigned char *b = malloc(len);

	srand(seed);
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)rand();
	ck_assert_int_eq(pwrite(fd, b, len, off), (ssize_t)len);
	free(b);
}

static void setup(void)
{
	snprintf(top, sizeof(top), "/tmp/bramble-ci.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(db, sizeof(db), "%s/bramble.db", top);
	snprintf(file, sizeof(file), "%s/f", top);
	fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	fill(0, CS * 3 + CS / 2, 1);            /* 3.5 chunks */
	open_index(CS, 0);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	chunkidx_close(ci);
	ci = NULL;
	close(fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

/* XXH3-128 of chunk i of the file as it is now, straight from libxxhash. */
static void expect_hash(uint32_t i, uint32_t csize, unsigned char out[16])
{
	unsigned char *b = malloc(csize);
	ssize_t n = pread(fd, b, csize, (off_t)i * csize);
	XXH128_canonical_t c;

	ck_assert_int_gt(n, 0);
	XXH128_canonicalFromHash(&c, XXH3_128bits(b, (size_t)n));
	memcpy(out, c.digest, 16);
	free(b);
}

static void check_all(const struct chunkidx_map *m, uint32_t csize)
{
	unsigned char h[16];

	for (uint32_t i = 0; i < m->count; i++) {
		expect_hash(m->first + i, csize, h);
		ck_assert_mem_eq(m->hashes[i], h, 16);
	}
}

static uint64_t hashed(void)
{
	struct chunkidx_stats s;

	chunkidx_get_stats(ci, &s);
	return s.files_hashed;
}

/* Change the ctime (chmod) and wait until it really moved: timestamps
 * come from a coarse clock, so one chmod may land in the same tick. */
static void bump_ctime(void)
{
	struct stat a, b;
	mode_t mode = 0644;

	ck_assert_int_eq(fstat(fd, &a), 0);
	do {
		mode ^= 0004;
		ck_assert_int_eq(fchmod(fd, mode), 0);
		ck_assert_int_eq(fstat(fd, &b), 0);
		if (b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
		    b.st_ctim.tv_nsec == a.st_ctim.tv_nsec)
			usleep(1000);
	} while (b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
		 b.st_ctim.tv_nsec == a.st_ctim.tv_nsec);
}

START_TEST(hashes_match_xxh3)
{
	struct chunkidx_map m;

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.version, 1);
	ck_assert_uint_eq(m.size, CS * 3 + CS / 2);
	ck_assert_uint_eq(m.chunk_size, CS);
	ck_assert_uint_eq(m.nchunks, 4);
	ck_assert_uint_eq(m.count, 4);
	check_all(&m, CS);
	chunkidx_map_release(&m);

	/* A slice, then past the end. */
	ck_assert_int_eq(chunkidx_map(ci, fd, 1, 2, &m), 0);
	ck_assert_uint_eq(m.first, 1);
	ck_assert_uint_eq(m.count, 2);
	check_all(&m, CS);
	chunkidx_map_release(&m);
	ck_assert_int_eq(chunkidx_map(ci, fd, 9, 2, &m), 0);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_ptr_null(m.hashes);
	ck_assert_uint_eq(hashed(), 1);     /* slices came from the index */
}
END_TEST

START_TEST(unchanged_not_rehashed)
{
	struct chunkidx_stats s;
	struct chunkidx_map m;

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
		ck_assert_uint_eq(m.version, 1);
		chunkidx_map_release(&m);
	}
	chunkidx_get_stats(ci, &s);
	ck_assert_uint_eq(s.files_hashed, 1);
	ck_assert_uint_eq(s.bytes_hashed, CS * 3 + CS / 2);
	ck_assert_uint_eq(s.map_hits, 2);
}
END_TEST

START_TEST(same_size_new_mtime)
{
	struct chunkidx_map a, b;
	struct stat st;
	struct timespec ts[2];

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &a), 0);
	/* Change one byte of chunk 2 and move mtime one second on. */
	ck_assert_int_eq(pwrite(fd, "X", 1, CS * 2 + 5), 1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ts[1].tv_sec += 1;
	ck_assert_int_eq(futimens(fd, ts), 0);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &b), 0);
	ck_assert_uint_eq(b.version, a.version + 1);
	ck_assert_uint_eq(b.count, 4);
	check_all(&b, CS);
	ck_assert_mem_eq(a.hashes[0], b.hashes[0], 16);
	ck_assert_mem_ne(a.hashes[2], b.hashes[2], 16);
	ck_assert_uint_eq(hashed(), 2);
	chunkidx_map_release(&a);
	chunkidx_map_release(&b);
}
END_TEST

START_TEST(ctime_only)
{
	struct chunkidx_map a, b;

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &a), 0);
	bump_ctime();
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &b), 0);
	ck_assert_uint_eq(b.version, a.version + 1);
	ck_assert_mem_eq(a.hashes, b.hashes, 4 * 16);   /* same bytes */
	ck_assert_uint_eq(hashed(), 2);
	chunkidx_map_release(&a);
	chunkidx_map_release(&b);
}
END_TEST

START_TEST(truncate_and_append)
{
	struct chunkidx_map m;

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	chunkidx_map_release(&m);
	ck_assert_int_eq(ftruncate(fd, CS + 10), 0);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.version, 2);
	ck_assert_uint_eq(m.size, CS + 10);
	ck_assert_uint_eq(m.nchunks, 2);
	check_all(&m, CS);
	chunkidx_map_release(&m);

	fill(CS + 10, CS * 4, 7);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.version, 3);
	ck_assert_uint_eq(m.nchunks, 6);
	ck_assert_uint_eq(m.count, 6);
	check_all(&m, CS);
	chunkidx_map_release(&m);
	ck_assert_uint_eq(hashed(), 3);
}
END_TEST

START_TEST(survives_reopen)
{
	struct chunkidx_map a, b;
	struct chunkidx_stats s;

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &a), 0);
	ck_assert_int_eq(ftruncate(fd, CS * 2), 0);     /* version 2 */
	chunkidx_map_release(&a);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &a), 0);
	ck_assert_uint_eq(a.version, 2);
	chunkidx_close(ci);
	open_index(CS, 0);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &b), 0);
	chunkidx_get_stats(ci, &s);
	ck_assert_uint_eq(s.files_hashed, 0);
	ck_assert_uint_eq(s.map_hits, 1);
	ck_assert_uint_eq(b.version, 2);
	ck_assert_uint_eq(b.count, 2);
	ck_assert_mem_eq(a.hashes, b.hashes, 2 * 16);
	/* And a change while closed is seen after reopening. */
	chunkidx_close(ci);
	ck_assert_int_eq(pwrite(fd, "abc", 3, 10), 3);
	bump_ctime();
	open_index(CS, 0);
	chunkidx_map_release(&b);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &b), 0);
	ck_assert_uint_eq(b.version, 3);
	check_all(&b, CS);
	ck_assert_mem_ne(a.hashes[0], b.hashes[0], 16);
	chunkidx_map_release(&a);
	chunkidx_map_release(&b);
}
END_TEST

START_TEST(chunk_size_respected)
{
	struct chunkidx_opts bad = { .db_path = db, .chunk_size = 3 * CS };
	struct chunkidx *other;
	struct chunkidx_map m;
	char err[512];

	ck_assert_int_eq(chunkidx_open(&bad, &other, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "power of two"));
	bad.chunk_size = CS / 2;
	ck_assert_int_eq(chunkidx_open(&bad, &other, err, sizeof(err)), -EINVAL);
	bad.chunk_size = CHUNKIDX_MAX_CHUNK * 2;
	ck_assert_int_eq(chunkidx_open(&bad, &other, err, sizeof(err)), -EINVAL);

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	chunkidx_map_release(&m);
	/* Reopened with another chunk size: the file is hashed again. */
	chunkidx_close(ci);
	open_index(CS * 2, 0);
	ck_assert_uint_eq(chunkidx_chunk_size(ci), CS * 2);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.chunk_size, CS * 2);
	ck_assert_uint_eq(m.nchunks, 2);
	ck_assert_uint_eq(m.version, 2);
	check_all(&m, CS * 2);
	chunkidx_map_release(&m);
	ck_assert_uint_eq(hashed(), 1);
}
END_TEST

START_TEST(empty_file)
{
	struct chunkidx_map m;

	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.size, 0);
	ck_assert_uint_eq(m.nchunks, 0);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_ptr_null(m.hashes);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(hashed(), 1);
}
END_TEST

START_TEST(not_a_file)
{
	struct chunkidx_map m;
	int dfd = open(top, O_RDONLY | O_DIRECTORY);

	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(chunkidx_map(ci, dfd, 0, 100, &m), -EISDIR);
	close(dfd);
}
END_TEST

/* Recently changed: not trusted, hashed again, same version. */
START_TEST(racy_entry_rehashed)
{
	struct chunkidx_map m;

	chunkidx_close(ci);
	open_index(CS, 3600LL * 1000000000);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
		ck_assert_uint_eq(m.version, 1);
		chunkidx_map_release(&m);
	}
	ck_assert_uint_eq(hashed(), 2);
}
END_TEST

START_TEST(read_chunk)
{
	struct chunkidx_map m;
	unsigned char bad[16] = { 0 };
	struct chunkidx_stats s;
	void *data = NULL;
	size_t len = 0;
	char expect[CS];

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	/* The last, short chunk. */
	ck_assert_int_eq(chunkidx_read_chunk(ci, fd, 3, m.hashes[3], m.version,
					     &data, &len), 0);
	ck_assert_uint_eq(len, CS / 2);
	ck_assert_int_eq(pread(fd, expect, CS / 2, CS * 3), CS / 2);
	ck_assert_mem_eq(data, expect, CS / 2);
	free(data);
	/* Wrong hash: stale; beyond the end of the current version: EINVAL,
	 * of an older one: stale. */
	ck_assert_int_eq(chunkidx_read_chunk(ci, fd, 0, bad, m.version, &data, &len),
			 -ESTALE);
	ck_assert_int_eq(chunkidx_read_chunk(ci, fd, 4, m.hashes[0], m.version,
					     &data, &len), -EINVAL);
	ck_assert_int_eq(chunkidx_read_chunk(ci, fd, 4, m.hashes[0], m.version - 1,
					     &data, &len), -ESTALE);
	/* The file changes: the old hash of chunk 0 is stale. */
	ck_assert_int_eq(pwrite(fd, "new", 3, 0), 3);
	ck_assert_int_eq(chunkidx_read_chunk(ci, fd, 0, m.hashes[0], m.version,
					     &data, &len), -ESTALE);
	chunkidx_get_stats(ci, &s);
	ck_assert_uint_eq(s.files_hashed, 1);   /* READ_CHUNK never hashes all */
	chunkidx_map_release(&m);
}
END_TEST

/* Bytes changed while size and timestamps stayed (simulated by damaging
 * the stored hash): READ_CHUNK notices and the next map hashes again. */
START_TEST(read_chunk_drops_stale_entry)
{
	unsigned char fake[16] = { 1, 2, 3 };
	struct chunkidx_map m;
	struct chunkidx_stats s;
	sqlite3 *h;
	void *data = NULL;
	size_t len;

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "UPDATE chunk_hashes SET hash = "
				      "x'01020300000000000000000000000000' WHERE idx = 1",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	ck_assert_int_eq(chunkidx_read_chunk(ci, fd, 1, fake, m.version, &data, &len),
			 -ESTALE);
	chunkidx_get_stats(ci, &s);
	ck_assert_uint_eq(s.stale_dropped, 1);
	chunkidx_map_release(&m);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.version, 2);
	check_all(&m, CS);
	ck_assert_uint_eq(hashed(), 2);
	chunkidx_map_release(&m);
}
END_TEST

/* Timestamps past 2262 or before 1970, which any user can set (touch -d
 * @10000000000): no overflow (a sanitizer build reports one), the same
 * hashes, and once settled a file with an mtime far in the future is
 * served from the index (its last change is its ctime, not that mtime). */
START_TEST(far_timestamps)
{
	/* (as int64_t: a 32-bit time_t, Debian armhf, holds only some) */
	static const int64_t secs[] = {
		10000000000, -100, -10000000000, INT64_MAX / 2, INT64_MIN / 2,
		9223372036, 20000000000,
	};
	int64_t later = INT64_C(30000000000);
	struct chunkidx_map first, m;
	struct timespec ts[2];
	uint64_t n;

	chunkidx_close(ci);
	open_index(CS, 1000000);                /* racy: 1 ms */
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &first), 0);
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		ts[0] = (struct timespec){ .tv_sec = (time_t)secs[i], .tv_nsec = 999999999 };
		if (ts[0].tv_sec != secs[i])
			continue;
		ts[1] = ts[0];
		ck_assert_int_eq(futimens(fd, ts), 0);
		usleep(5000);                   /* settled */
		ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
		ck_assert_uint_eq(m.count, 4);
		ck_assert_mem_eq(m.hashes, first.hashes, 4 * 16);
		chunkidx_map_release(&m);
		n = hashed();
		ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
		ck_assert_uint_eq(hashed(), n);  /* from the index */
		ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 1, m.hashes[1],
							m.version), 1);
		chunkidx_map_release(&m);
	}
	/* Same size, new bytes, mtime from one far time to another. */
	ck_assert_int_eq(pwrite(fd, "X", 1, CS + 1), 1);
	ts[1].tv_sec = (time_t)later == later ? (time_t)later : INT32_MAX - 1;
	ck_assert_int_eq(futimens(fd, ts), 0);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_gt(m.version, first.version);
	ck_assert_mem_ne(m.hashes[1], first.hashes[1], 16);
	check_all(&m, CS);
	chunkidx_map_release(&m);
	chunkidx_map_release(&first);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chunkidx");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hashes_match_xxh3);
	tcase_add_test(tc, unchanged_not_rehashed);
	tcase_add_test(tc, same_size_new_mtime);
	tcase_add_test(tc, ctime_only);
	tcase_add_test(tc, truncate_and_append);
	tcase_add_test(tc, survives_reopen);
	tcase_add_test(tc, chunk_size_respected);
	tcase_add_test(tc, empty_file);
	tcase_add_test(tc, not_a_file);
	tcase_add_test(tc, racy_entry_rehashed);
	tcase_add_test(tc, read_chunk);
	tcase_add_test(tc, read_chunk_drops_stale_entry);
	tcase_add_test(tc, far_timestamps);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
