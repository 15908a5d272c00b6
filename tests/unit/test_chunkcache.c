/* test_chunkcache.c - server/chunkcache.c: least recently used out first,
 * the bound never exceeded, one load per chunk however many threads ask
 * at once, a failed load handed to the next asker, a bound of 0 keeping
 * nothing, and many threads at once with bytes always right.  And what
 * the chunk index does for it: when it vouches for a cached chunk
 * (chunkidx_chunk_current), the chunks of small files kept while hashing,
 * and the disk reads it counts. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunkcache.h"
#include "chunkidx.h"
#include "stats.h"

/* Keys and bytes that tell each other apart: chunk n of len bytes. */
static void key_of(unsigned int n, unsigned char key[CHUNKCACHE_KEY_LEN])
{
	memset(key, 0, CHUNKCACHE_KEY_LEN);
	/* Spread over buckets as real hashes do, and keep n readable. */
	key[0] = (unsigned char)(n * 37);
	key[1] = (unsigned char)(n >> 3);
	memcpy(key + 8, &n, sizeof(n));
}

static void fill_of(unsigned int n, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(n * 131 + i);
}

static int bytes_of(unsigned int n, const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (unsigned char)(n * 131 + i))
			return 0;
	return 1;
}

/* Put chunk n (len bytes) through a load, as READ_CHUNK does on a miss. */
static void load(struct chunkcache *cc, unsigned int n, size_t len)
{
	unsigned char key[CHUNKCACHE_KEY_LEN], *buf = malloc(len);
	struct chunkcache_fill *fill;
	void *data = NULL;
	size_t got;

	key_of(n, key);
	fill_of(n, buf, len);
	ck_assert_int_eq(chunkcache_get(cc, key, &data, &got, &fill), 0);
	ck_assert_ptr_nonnull(fill);
	chunkcache_fill_done(cc, fill, buf, len);
	free(buf);
}

/* 1 and the bytes checked when chunk n is there; 0 (ticket dropped) when not. */
static int has(struct chunkcache *cc, unsigned int n)
{
	unsigned char key[CHUNKCACHE_KEY_LEN];
	struct chunkcache_fill *fill;
	void *data = NULL;
	size_t len = 0;
	int rc;

	key_of(n, key);
	rc = chunkcache_get(cc, key, &data, &len, &fill);
	if (rc == 1) {
		ck_assert(bytes_of(n, data, len));
		ck_assert_ptr_null(fill);
		free(data);
	} else if (fill) {
		chunkcache_fill_done(cc, fill, NULL, 0);
	}
	return rc;
}

/* What one entry of len bytes costs (data + bookkeeping). */
static uint64_t cost_of(size_t len)
{
	struct chunkcache *cc = chunkcache_new(1 << 20);
	struct chunkcache_stats st;

	load(cc, 1, len);
	chunkcache_get_stats(cc, &st);
	chunkcache_free(cc);
	ck_assert_uint_gt(st.used, len);
	return st.used;
}

START_TEST(lru_order)
{
	uint64_t c = cost_of(1000);
	struct chunkcache *cc = chunkcache_new(3 * c);
	struct chunkcache_stats st;

	load(cc, 1, 1000);
	load(cc, 2, 1000);
	load(cc, 3, 1000);
	ck_assert_int_eq(has(cc, 1), 1);        /* 1 is now the most recent */
	load(cc, 4, 1000);                      /* room by evicting 2 */
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.evictions, 1);
	ck_assert_uint_eq(st.entries, 3);
	ck_assert_uint_eq(st.used, 3 * c);
	ck_assert_int_eq(has(cc, 2), 0);
	ck_assert_int_eq(has(cc, 3), 1);        /* LRU first: 1 4 3 */
	ck_assert_int_eq(has(cc, 4), 1);        /* 1 3 4 */
	load(cc, 5, 1000);                      /* evicts 1 */
	ck_assert_int_eq(has(cc, 1), 0);
	ck_assert_int_eq(has(cc, 3), 1);
	ck_assert_int_eq(has(cc, 4), 1);
	ck_assert_int_eq(has(cc, 5), 1);
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.evictions, 2);
	ck_assert_uint_eq(st.hits, 6);
	ck_assert_uint_eq(st.misses, 5 + 2);    /* 5 loads, 2 absent */
	ck_assert_uint_eq(st.hit_bytes, 6 * 1000);
	chunkcache_free(cc);
}
END_TEST

/* Sizes from 1 byte to more than the bound, through loads and puts: used
 * never above the bound; a chunk larger than the bound is not kept. */
START_TEST(bound_kept)
{
	const uint64_t bound = 100000;
	struct chunkcache *cc = chunkcache_new(bound);
	struct chunkcache_stats st;
	unsigned char key[CHUNKCACHE_KEY_LEN], *buf = malloc(200000);
	unsigned int seed = 7;

	for (unsigned int n = 0; n < 3000; n++) {
		size_t len = 1 + (size_t)rand_r(&seed) % (n % 50 ? 20000 : 200000);

		if (n % 2) {
			load(cc, n, len);
		} else {
			key_of(n, key);
			fill_of(n, buf, len);
			chunkcache_put(cc, key, buf, len);
		}
		chunkcache_get_stats(cc, &st);
		ck_assert_uint_le(st.used, bound);
		if (len >= bound)
			ck_assert_int_eq(has(cc, n), 0);
	}
	ck_assert_uint_gt(st.evictions, 100);
	ck_assert_uint_gt(st.entries, 2);
	/* Everything still there is right. */
	for (unsigned int n = 0; n < 3000; n++)
		has(cc, n);
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_le(st.used, bound);
	free(buf);
	chunkcache_free(cc);
}
END_TEST

START_TEST(disabled)
{
	struct chunkcache *cc = chunkcache_new(0);
	unsigned char key[CHUNKCACHE_KEY_LEN], buf[100];
	struct chunkcache_fill *fill;
	struct chunkcache_stats st;
	void *data = NULL;
	size_t len;

	ck_assert(!chunkcache_enabled(cc));
	ck_assert(!chunkcache_enabled(NULL));
	ck_assert(!chunkcache_wants_file(cc, 10));
	key_of(1, key);
	fill_of(1, buf, sizeof(buf));
	chunkcache_put(cc, key, buf, sizeof(buf));
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(chunkcache_get(cc, key, &data, &len, &fill), 0);
		ck_assert_ptr_null(fill);       /* nothing to load into */
	}
	chunkcache_count_miss(cc);
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.misses, 4);
	ck_assert_uint_eq(st.hits, 0);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(st.bound, 0);
	chunkcache_free(cc);
	chunkcache_free(NULL);
}
END_TEST

START_TEST(policy)
{
	struct chunkcache *cc = chunkcache_new(1ull << 30);
	struct chunkcache *small = chunkcache_new(1 << 20);
	uint64_t def = chunkcache_default_bound();

	ck_assert_uint_gt(def, 0);
	ck_assert_uint_le(def, CHUNKCACHE_DEFAULT_MAX);
	ck_assert(chunkcache_wants_file(cc, 1));
	ck_assert(chunkcache_wants_file(cc, CHUNKCACHE_HASHED_FILE_MAX));
	ck_assert(!chunkcache_wants_file(cc, CHUNKCACHE_HASHED_FILE_MAX + 1));
	ck_assert(chunkcache_wants_file(small, (1 << 20) / 64));
	ck_assert(!chunkcache_wants_file(small, (1 << 20) / 64 + 1));
	ck_assert(!chunkcache_wants_file(NULL, 1));
	chunkcache_free(cc);
	chunkcache_free(small);
}
END_TEST

/* ---- threads */

struct asker {
	struct chunkcache *cc;
	unsigned int n;
	size_t len;
	int rc;                 /* chunkcache_get's */
	int ok;                 /* bytes right */
	int loaded;             /* got the ticket and loaded */
};

static void *ask(void *p)
{
	struct asker *a = p;
	unsigned char key[CHUNKCACHE_KEY_LEN];
	struct chunkcache_fill *fill;
	void *data = NULL;
	size_t len = 0;

	key_of(a->n, key);
	a->rc = chunkcache_get(a->cc, key, &data, &len, &fill);
	if (a->rc == 1) {
		a->ok = len == a->len && bytes_of(a->n, data, len);
		free(data);
	} else if (fill) {
		unsigned char *buf = malloc(a->len);

		fill_of(a->n, buf, a->len);
		chunkcache_fill_done(a->cc, fill, buf, a->len);
		free(buf);
		a->ok = a->loaded = 1;
	}
	return NULL;
}

/* A load in progress: seven more askers of the same chunk never read
 * themselves; each gets the loaded bytes.  Whether they asked before the
 * load ended (they waited) or after (a plain hit) the counts are the same:
 * 1 miss, 7 hits. */
START_TEST(single_flight)
{
	struct chunkcache *cc = chunkcache_new(1 << 20);
	unsigned char key[CHUNKCACHE_KEY_LEN], buf[5000];
	struct chunkcache_fill *fill;
	struct chunkcache_stats st;
	struct asker a[7];
	pthread_t t[7];
	void *data;
	size_t len;

	key_of(42, key);
	ck_assert_int_eq(chunkcache_get(cc, key, &data, &len, &fill), 0);
	ck_assert_ptr_nonnull(fill);
	for (int i = 0; i < 7; i++) {
		a[i] = (struct asker){ .cc = cc, .n = 42, .len = sizeof(buf) };
		ck_assert_int_eq(pthread_create(&t[i], NULL, ask, &a[i]), 0);
	}
	fill_of(42, buf, sizeof(buf));
	chunkcache_fill_done(cc, fill, buf, sizeof(buf));
	for (int i = 0; i < 7; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].rc, 1);
		ck_assert_int_eq(a[i].ok, 1);
	}
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.misses, 1);
	ck_assert_uint_eq(st.hits, 7);
	ck_assert_uint_eq(st.hit_bytes, 7 * sizeof(buf));
	ck_assert_uint_eq(st.entries, 1);
	chunkcache_free(cc);
}
END_TEST

/* A failed load: the next asker gets the ticket and loads. */
START_TEST(failed_load)
{
	struct chunkcache *cc = chunkcache_new(1 << 20);
	unsigned char key[CHUNKCACHE_KEY_LEN];
	struct chunkcache_fill *fill;
	struct chunkcache_stats st;
	struct asker a = { .cc = cc, .n = 9, .len = 300 };
	pthread_t t;
	void *data;
	size_t len;

	key_of(9, key);
	ck_assert_int_eq(chunkcache_get(cc, key, &data, &len, &fill), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, ask, &a), 0);
	chunkcache_fill_done(cc, fill, NULL, 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(a.loaded, 1);
	ck_assert_int_eq(has(cc, 9), 1);
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.misses, 2);
	ck_assert_uint_eq(st.hits, 1);
	chunkcache_free(cc);
}
END_TEST

#define NTHREADS 8
#define NKEYS 64
#define ROUNDS 3000

struct smoke {
	struct chunkcache *cc;
	unsigned int seed;
	uint64_t gets, bad, over;
};

static size_t len_of(unsigned int n)
{
	return 1000 + (size_t)n * 397;          /* 1000 .. ~26 KB */
}

static void *smoke_run(void *p)
{
	struct smoke *s = p;

	for (int r = 0; r < ROUNDS; r++) {
		struct asker a = { .cc = s->cc };
		struct chunkcache_stats st;

		a.n = (unsigned int)rand_r(&s->seed) % NKEYS;
		a.len = len_of(a.n);
		if (r % 5 == 0) {
			unsigned char key[CHUNKCACHE_KEY_LEN], *buf = malloc(a.len);

			key_of(a.n, key);
			fill_of(a.n, buf, a.len);
			chunkcache_put(s->cc, key, buf, a.len);
			free(buf);
			continue;
		}
		ask(&a);
		s->gets++;
		if (!a.ok)              /* a hit with wrong bytes */
			s->bad++;
		chunkcache_get_stats(s->cc, &st);
		if (st.used > st.bound)
			s->over++;
	}
	return NULL;
}

/* Eight threads, 64 chunks, room for about a third of them: every hit
 * has the right bytes, the bound holds at every look, and hits + misses
 * add up to the lookups. */
START_TEST(threads_smoke)
{
	struct chunkcache *cc = chunkcache_new(300000);
	struct smoke s[NTHREADS];
	struct chunkcache_stats st;
	pthread_t t[NTHREADS];
	uint64_t gets = 0;

	for (int i = 0; i < NTHREADS; i++) {
		s[i] = (struct smoke){ .cc = cc, .seed = (unsigned int)i + 1 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, smoke_run, &s[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_uint_eq(s[i].bad, 0);
		ck_assert_uint_eq(s[i].over, 0);
		gets += s[i].gets;
	}
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.hits + st.misses, gets);
	ck_assert_uint_gt(st.hits, 0);
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_le(st.used, st.bound);
	chunkcache_free(cc);
}
END_TEST

/* ---- with the chunk index */

#define CS (64u << 10)                  /* the smallest chunk size */

static char top[PATH_MAX];

/* A file of len bytes (pattern n) in a fresh directory; its fd. */
static int make_file(const char *name, size_t len, unsigned int n)
{
	char path[PATH_MAX + 32];
	unsigned char *b = malloc(len);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", top, name);
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	fill_of(n, b, len);
	/* The pattern repeats every 256 bytes: make each chunk after the
	 * first differ from the others. */
	for (size_t off = CS; off + sizeof(off) <= len; off += CS)
		memcpy(b + off, &off, sizeof(off));
	ck_assert_int_eq(pwrite(fd, b, len, 0), (ssize_t)len);
	free(b);
	return fd;
}

static struct chunkidx *open_index(struct chunkcache *cc, struct stats *st,
				   int64_t racy_ns)
{
	char db[PATH_MAX + 16], err[512];
	struct chunkidx_opts o = { .db_path = db, .chunk_size = CS, .racy_ns = racy_ns,
				   .cache = cc, .stats = st };
	struct chunkidx *ci;

	snprintf(db, sizeof(db), "%s/bramble.db", top);
	ck_assert_int_eq(chunkidx_open(&o, &ci, err, sizeof(err)), 0);
	return ci;
}

static void idx_setup(void)
{
	snprintf(top, sizeof(top), "/tmp/bramble-cc.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
}

static void idx_teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	ck_assert_int_eq(system(cmd), 0);
}

/* The index vouches for exactly the current version's own chunk hashes. */
START_TEST(index_vouches)
{
	struct chunkidx *ci = open_index(NULL, NULL, 0);
	int fd = make_file("f", CS * 3 + CS / 2, 1);
	struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
	struct chunkidx_map m;
	uint64_t v;

	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_eq(m.count, 4);
	v = m.version;
	for (uint32_t i = 0; i < 4; i++)
		ck_assert_int_eq(chunkidx_chunk_current(ci, fd, i, m.hashes[i], v), 1);
	ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 0, m.hashes[0], v + 1), 0);
	ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 1, m.hashes[0], v), 0);
	ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 4, m.hashes[0], v), 0);
	/* Changed behind its back (another mtime, so the clock's tick does
	 * not matter): not current until mapped again. */
	ck_assert_int_eq(pwrite(fd, "x", 1, 0), 1);
	ck_assert_int_eq(futimens(fd, ts), 0);
	ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 1, m.hashes[1], v), 0);
	chunkidx_map_release(&m);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_uint_gt(m.version, v);
	ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 1, m.hashes[1], m.version), 1);
	chunkidx_map_release(&m);
	chunkidx_close(ci);

	/* An entry hashed within racy_ns of its file's change: no vouching. */
	ci = open_index(NULL, NULL, 1000000000000LL);
	ck_assert_int_eq(chunkidx_map(ci, fd, 0, 100, &m), 0);
	ck_assert_int_eq(chunkidx_chunk_current(ci, fd, 1, m.hashes[1], m.version), 0);
	chunkidx_map_release(&m);
	chunkidx_close(ci);
	close(fd);
}
END_TEST

/* Hashing a small file keeps its chunk (the bytes exact); a big one's
 * chunks are not kept.  Every byte read is counted as a disk read. */
START_TEST(index_feeds_cache)
{
	struct chunkcache *cc = chunkcache_new(1 << 20);  /* small: 16 KiB */
	struct stats *st = stats_new();
	struct chunkidx *ci = open_index(cc, st, 0);
	int small = make_file("small", 10000, 2), big = make_file("big", CS * 2, 3);
	struct chunkcache_stats cs;
	struct stats_totals t;
	struct chunkidx_map m;
	void *data;
	size_t len;

	ck_assert_int_eq(chunkidx_map(ci, small, 0, 100, &m), 0);
	chunkcache_get_stats(cc, &cs);
	ck_assert_uint_eq(cs.entries, 1);
	ck_assert_uint_eq(cs.inserts, 1);
	ck_assert_int_eq(chunkidx_chunk_current(ci, small, 0, m.hashes[0], m.version), 1);
	{
		struct chunkcache_fill *fill;

		ck_assert_int_eq(chunkcache_get(cc, m.hashes[0], &data, &len, &fill), 1);
		ck_assert_uint_eq(len, 10000);
		ck_assert(bytes_of(2, data, len));
		free(data);
	}
	chunkidx_map_release(&m);
	ck_assert_int_eq(chunkidx_map(ci, big, 0, 100, &m), 0);
	chunkcache_get_stats(cc, &cs);
	ck_assert_uint_eq(cs.entries, 1);
	stats_read_totals(st, &t);
	ck_assert_uint_eq(t.disk_read_bytes, 10000 + CS * 2);
	ck_assert_int_eq(chunkidx_read_chunk(ci, big, 1, m.hashes[1], m.version,
					     &data, &len), 0);
	ck_assert_uint_eq(len, CS);
	free(data);
	stats_read_totals(st, &t);
	ck_assert_uint_eq(t.disk_read_bytes, 10000 + CS * 3);
	chunkidx_map_release(&m);
	chunkidx_close(ci);
	stats_free(st);
	chunkcache_free(cc);
	close(small);
	close(big);
}
END_TEST

/* Compressed forms (chunkcache_set_zstd): handed out to whoever wants
 * them, raw to whoever does not; counted in the bound and freed with
 * the entry; "incompressible" remembered; only the first answer kept. */
START_TEST(zstd_forms)
{
	uint64_t c = cost_of(1000);
	struct chunkcache *cc = chunkcache_new(3 * c);
	unsigned char key[CHUNKCACHE_KEY_LEN], key2[CHUNKCACHE_KEY_LEN];
	struct chunkcache_fill *fill;
	struct chunkcache_copy cp;
	struct chunkcache_stats st;

	load(cc, 1, 1000);
	load(cc, 2, 1000);
	key_of(1, key);
	key_of(2, key2);
	ck_assert_int_eq(chunkcache_get2(cc, key, true, &cp, &fill), 1);
	ck_assert(!cp.zstd && cp.z == CHUNKCACHE_Z_UNTRIED && cp.size == 1000);
	free(cp.data);
	chunkcache_set_zstd(cc, key, "frame", 5);
	chunkcache_set_zstd(cc, key, "other!", 6);      /* second answer: ignored */
	chunkcache_set_zstd(cc, key2, NULL, 0);         /* incompressible */
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.used, 2 * c + 5);
	ck_assert_uint_eq(st.zstd_entries, 1);
	ck_assert_uint_eq(st.zstd_bytes, 5);
	ck_assert_int_eq(chunkcache_get2(cc, key, true, &cp, &fill), 1);
	ck_assert(cp.zstd && cp.size == 5 && cp.len == 1000);
	ck_assert_mem_eq(cp.data, "frame", 5);
	free(cp.data);
	ck_assert_int_eq(chunkcache_get2(cc, key, false, &cp, &fill), 1);
	ck_assert(!cp.zstd && cp.size == 1000 && bytes_of(1, cp.data, 1000));
	free(cp.data);
	ck_assert_int_eq(chunkcache_get2(cc, key2, true, &cp, &fill), 1);
	ck_assert(!cp.zstd && cp.z == CHUNKCACHE_Z_NONE);
	free(cp.data);
	chunkcache_set_zstd(cc, key2, "x", 1);         /* NONE stays NONE */
	load(cc, 3, 1000);                              /* evicts the LRU: 1 */
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_eq(st.zstd_entries, 0);         /* went with it */
	ck_assert_uint_eq(st.zstd_bytes, 0);
	ck_assert_uint_eq(st.used, 2 * c);
	/* Full: room for a form is made from others, never the entry. */
	load(cc, 4, 1000);
	key_of(4, key);
	chunkcache_set_zstd(cc, key, "xx", 2);
	chunkcache_get_stats(cc, &st);
	ck_assert_uint_le(st.used, st.bound);
	ck_assert_uint_eq(st.zstd_entries, 1);
	ck_assert_int_eq(chunkcache_get2(cc, key, true, &cp, &fill), 1);
	ck_assert(cp.zstd && cp.size == 2);
	free(cp.data);
	chunkcache_free(cc);
}
END_TEST

static Suite *chunkcache_suite(void)
{
	Suite *s = suite_create("chunkcache");
	TCase *tc = tcase_create("core");
	TCase *ti = tcase_create("index");

	tcase_add_unchecked_fixture(ti, idx_setup, idx_teardown);
	tcase_add_test(ti, index_vouches);
	tcase_add_test(ti, index_feeds_cache);
	suite_add_tcase(s, ti);

	tcase_add_test(tc, lru_order);
	tcase_add_test(tc, bound_kept);
	tcase_add_test(tc, disabled);
	tcase_add_test(tc, policy);
	tcase_add_test(tc, single_flight);
	tcase_add_test(tc, failed_load);
	tcase_add_test(tc, threads_smoke);
	tcase_add_test(tc, zstd_forms);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chunkcache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
