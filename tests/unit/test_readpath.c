/* test_readpath.c - libbramble's read path without a server
 * (client/bramble_reader.h, "file maps" and "the read path"): a map kept
 * in the node cache serves only the attributes it was kept for; TREE's
 * maps count only whole and of the entry's size; a small file with no
 * kept map is a plain READ, with one it is read from the node cache with
 * no call at all; writers, changes and other attributes send reads back
 * to READ.  The node cache filled from plain READs (chunkfill.h): pieces
 * in any order, overlapping or not, make the chunk whose own hash names
 * it; small random pieces start no chunk; unaligned pieces do not count.
 * The client is NULL throughout: any call to the server would crash the
 * test. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_reader.h"
#include "chunkfill.h"
#include "xxhash128.h"

#define LEN 3000                        /* a small file: one short chunk */
#define CHUNK (64u << 10)

static struct bramble_cache *c;
static unsigned char data[LEN];
static unsigned char hash[BRAMBLE_CHUNK_HASH_LEN];
static const struct bramble_fh fh = { .len = 4, .data = "fh-1" };

static void setup(void)
{
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_RAM, .size = 4 * CHUNK };
	char err[256] = "";

	ck_assert_int_eq(bramble_cache_open(&o, &c, err, sizeof(err)), 0);
	for (size_t i = 0; i < LEN; i++)
		data[i] = (unsigned char)(i * 7 + 1);
	br_hash128(data, LEN, hash);
}

static void teardown(void)
{
	bramble_cache_close(c);
	c = NULL;
}

/* The one-chunk map of data. */
static struct bramble_filemap *data_map(void)
{
	unsigned char (*h)[BRAMBLE_CHUNK_HASH_LEN] = malloc(BRAMBLE_CHUNK_HASH_LEN);

	memcpy(h[0], hash, BRAMBLE_CHUNK_HASH_LEN);
	return bramble_filemap_new(7, LEN, CHUNK, 1, h);
}

static void stat_of(struct stat *st, off_t size, time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_size = size;
	st->st_mtim.tv_sec = mtime;
	st->st_ctim.tv_sec = mtime;
}

START_TEST(test_keep_kept)
{
	struct bramble_filemap *m = data_map(), *got;
	struct bramble_filemap_attr a, other;
	struct stat st;

	stat_of(&st, LEN, 100);
	bramble_filemap_attr_of(&a, &st);
	ck_assert_ptr_null(bramble_filemap_kept(c, &fh, &a));
	ck_assert_int_eq(bramble_filemap_keep(c, &fh, m, &a), 0);
	got = bramble_filemap_kept(c, &fh, &a);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got->size, LEN);
	ck_assert_uint_eq(got->version, 7);
	ck_assert_mem_eq(got->hashes[0], hash, BRAMBLE_CHUNK_HASH_LEN);
	bramble_filemap_put(got);
	/* another mtime, another ctime, another size: not this map's file */
	other = a;
	other.mtime_ns++;
	ck_assert_ptr_null(bramble_filemap_kept(c, &fh, &other));
	other = a;
	other.ctime_ns++;
	ck_assert_ptr_null(bramble_filemap_kept(c, &fh, &other));
	other = a;
	other.size++;
	ck_assert_ptr_null(bramble_filemap_kept(c, &fh, &other));
	/* a map is never kept for attributes of another size */
	ck_assert_int_eq(bramble_filemap_keep(c, &fh, m, &other), -ESTALE);
	ck_assert_int_eq(bramble_filemap_forget(c, &fh), 0);
	ck_assert_ptr_null(bramble_filemap_kept(c, &fh, &a));
	bramble_filemap_put(m);
}
END_TEST

START_TEST(test_from_tree)
{
	struct stat st;
	struct bramble_tree_entry e = {
		.path = "f", .fh = &fh, .attr = &st, .has_map = true,
		.map = { .version = 3, .size = LEN, .chunk_size = CHUNK,
			 .count = 1, .eof = true },
		.hashes = (const unsigned char (*)[BRAMBLE_CHUNK_HASH_LEN])hash,
	};
	struct bramble_filemap *m;

	stat_of(&st, LEN, 100);
	m = bramble_filemap_from_tree(&e);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->nchunks, 1);
	ck_assert_mem_eq(m->hashes[0], hash, BRAMBLE_CHUNK_HASH_LEN);
	bramble_filemap_put(m);
	e.map.eof = false;          /* a part of a map */
	ck_assert_ptr_null(bramble_filemap_from_tree(&e));
	e.map.eof = true;
	st.st_size = LEN + 1;       /* changed between map and attributes */
	ck_assert_ptr_null(bramble_filemap_from_tree(&e));
	st.st_size = LEN;
	e.map_status = -ENODATA;
	ck_assert_ptr_null(bramble_filemap_from_tree(&e));
}
END_TEST

START_TEST(test_small_file)
{
	struct bramble_cred cr = { 0 };
	struct bramble_readpath *rp;
	struct bramble_filemap *m = data_map();
	struct bramble_filemap_attr a;
	struct stat st, later;
	char buf[LEN];

	stat_of(&st, LEN, 100);
	stat_of(&later, LEN, 200);
	ck_assert_int_eq(bramble_readpath_new(c, &rp), 0);
	/* not open: READ */
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), -ENOTSUP);
	/* small, no kept map: READ, and the node cache is not asked again
	 * this open (the map kept below is not seen until the next open) */
	bramble_readpath_open(rp, 1, &st, false);
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), -ENOTSUP);
	bramble_filemap_attr_of(&a, &st);
	ck_assert_int_eq(bramble_filemap_keep(c, &fh, m, &a), 0);
	ck_assert_int_eq(bramble_cache_put(c, hash, data, LEN, NULL, 0), 0);
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), -ENOTSUP);
	bramble_readpath_release(rp, 1, false);
	/* staged: read from the node cache, no call */
	bramble_readpath_open(rp, 1, &st, false);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), LEN);
	ck_assert_mem_eq(buf, data, LEN);
	/* open for writing here: READ */
	bramble_readpath_open(rp, 1, &st, true);
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), -ENOTSUP);
	bramble_readpath_release(rp, 1, true);
	bramble_readpath_release(rp, 1, false);
	/* changed here: READ until the next open */
	bramble_readpath_open(rp, 1, &st, false);
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 100, buf, 10), 10);
	bramble_readpath_changed(rp, 1);
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), -ENOTSUP);
	bramble_readpath_release(rp, 1, false);
	/* another node changed it (other attributes): the kept map is not its */
	bramble_readpath_open(rp, 1, &later, false);
	ck_assert_int_eq(bramble_readpath_read(rp, NULL, &cr, &fh, 1, 0, buf, LEN), -ENOTSUP);
	bramble_readpath_release(rp, 1, false);
	bramble_readpath_free(rp);
	bramble_filemap_put(m);
}
END_TEST

/* ---- the node cache filled from plain READs */

#define FCHUNK (256u << 10)
#define FSIZE (2 * FCHUNK + 100)        /* three chunks, the last short */
#define PIECE (64u << 10)               /* a read-ahead's READ */

static void fill_setup(void)
{
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_RAM, .size = 4 * FSIZE };
	char err[256] = "";

	ck_assert_int_eq(bramble_cache_open(&o, &c, err, sizeof(err)), 0);
}

static unsigned char *file_bytes(void)
{
	unsigned char *f = malloc(FSIZE);

	for (size_t i = 0; i < FSIZE; i++)
		f[i] = (unsigned char)(i * 13 + i / 7);
	return f;
}

static bool cached_chunk(const unsigned char *f, uint32_t idx)
{
	unsigned char h[BRAMBLE_CHUNK_HASH_LEN];
	size_t off = (size_t)idx * FCHUNK;
	size_t len = FSIZE - off < FCHUNK ? FSIZE - off : FCHUNK;

	br_hash128(f + off, len, h);
	return bramble_cache_has(c, h);
}

/* Each of the file's 3 chunks was stored, once; frees fl and f. */
static void expect_all_stored(struct chunkfill *fl, unsigned char *f,
			      unsigned int stored)
{
	ck_assert_uint_eq(stored, 3);
	for (uint32_t i = 0; i < 3; i++)
		ck_assert(cached_chunk(f, i));
	chunkfill_free(fl);
	free(f);
}

/* bytes [off, off + len) of f, as a READ returned them */
static unsigned int add(struct chunkfill *fl, uint64_t id, const unsigned char *f,
			size_t off, size_t len)
{
	return chunkfill_add(fl, id, FSIZE, FCHUNK, off, f + off, len);
}

START_TEST(test_fill_any_order)
{
	struct chunkfill *fl = chunkfill_new(c);
	unsigned char *f = file_bytes();
	unsigned int stored = 0;
	size_t n = (FSIZE + PIECE - 1) / PIECE;

	/* Backwards, and each piece again with the next one (overlapping
	 * what came before): each chunk is stored once, when its last
	 * page arrives, and only then. */
	for (size_t i = n; i-- > 0;) {
		size_t off = i * PIECE, len = FSIZE - off < PIECE ? FSIZE - off : PIECE;

		stored += add(fl, 1, f, off, len);
		ck_assert(cached_chunk(f, (uint32_t)(off / FCHUNK)) ==
			  (off % FCHUNK == 0));
		if (off + 2 * PIECE <= FSIZE)
			stored += add(fl, 1, f, off, 2 * PIECE);
	}
	expect_all_stored(fl, f, stored);
}
END_TEST

START_TEST(test_fill_straddling)
{
	struct chunkfill *fl = chunkfill_new(c);
	unsigned char *f = file_bytes();
	const size_t cut = FCHUNK - 4096;   /* READs a page short of aligned */
	unsigned int stored = 0;

	/* A sequential reader's READs of a chunk's size that straddle two
	 * chunks, handled last first: each leaves the last page of one
	 * chunk before the rest of it came, and every chunk is stored. */
	stored += add(fl, 4, f, cut + FCHUNK, FSIZE - cut - FCHUNK);
	stored += add(fl, 4, f, cut, FCHUNK);
	stored += add(fl, 4, f, 0, cut);
	expect_all_stored(fl, f, stored);
}
END_TEST

START_TEST(test_fill_small_and_unaligned)
{
	struct chunkfill *fl = chunkfill_new(c);
	unsigned char *f = file_bytes();

	/* 4 KiB reads inside a chunk (neither its first nor its last page)
	 * start nothing, even of every such page ... */
	for (size_t off = 4096; off + 4096 < FCHUNK; off += 4096)
		ck_assert_uint_eq(add(fl, 2, f, off, 4096), 0);
	ck_assert_uint_eq(add(fl, 2, f, 0, 4096), 0);
	ck_assert(!cached_chunk(f, 0));
	/* ... nor do unaligned pieces count; */
	ck_assert_uint_eq(add(fl, 2, f, 100, FCHUNK), 0);
	ck_assert(!cached_chunk(f, 0));
	/* a chunk read from its first byte on is stored, whatever the size
	 * of the reads. */
	for (size_t off = 4096; off < FCHUNK; off += 4096)
		add(fl, 2, f, off, 4096);
	ck_assert(cached_chunk(f, 0));
	/* A forgotten file's gathered pages are gone. */
	add(fl, 3, f, FCHUNK, FCHUNK / 2);
	chunkfill_forget(fl, 3);
	ck_assert_uint_eq(add(fl, 3, f, FCHUNK + FCHUNK / 2, FCHUNK / 2), 0);
	ck_assert(!cached_chunk(f, 1));
	chunkfill_free(fl);
	free(f);
}
END_TEST

static Suite *readpath_suite(void)
{
	Suite *s = suite_create("readpath");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keep_kept);
	tcase_add_test(tc, test_from_tree);
	tcase_add_test(tc, test_small_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("fill");
	tcase_add_checked_fixture(tc, fill_setup, teardown);
	tcase_add_test(tc, test_fill_any_order);
	tcase_add_test(tc, test_fill_straddling);
	tcase_add_test(tc, test_fill_small_and_unaligned);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(readpath_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
