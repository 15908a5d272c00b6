/* test_chunkcodec.c - compressed chunks end to end in memory: frames the
 * server's codec makes (server/chunkzip.c) decode on the client
 * (client/chunkcodec.c) to the very bytes, and nothing else ever passes
 * the client's check: a frame with flipped bytes, cut short, doubled,
 * without or with a wrong content size, of other bytes of the same
 * length, a raw chunk of the wrong length or contents, an unknown
 * encoding.  And the server's rule: incompressible data is not sent
 * compressed, a codec slower than the link is turned away (but probed now
 * and then), --compress=on/off. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "chunkcodec.h"
#include "chunkzip.h"
#include "xxhash128.h"

#define LEN (256 * 1024)

/* Bytes that compress as program text does: words from a small set. */
static unsigned char *text_bytes(size_t len, unsigned int seed)
{
	static const char *const words[] = { "static ", "int ", "return ", "rc;\n",
		"struct chunk ", "if (", ") {\n", "\t}\n", "len", " = 0;\n" };
	unsigned char *p = malloc(len);
	size_t i = 0;

	srand(seed);
	while (i < len) {
		const char *w = words[rand() % 10];

		for (size_t k = 0; w[k] && i < len; k++)
			p[i++] = (unsigned char)w[k];
	}
	return p;
}

static unsigned char *random_bytes(size_t len, unsigned int seed)
{
	unsigned char *p = malloc(len);

	srand(seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(rand() >> 7);
	return p;
}

static br_chunk_data data_of(br_chunk_enc enc, size_t len, void *bytes, size_t n)
{
	br_chunk_data d = { .enc = enc, .len = (u_int)len };

	d.data.data_len = (u_int)n;
	d.data.data_val = bytes;
	return d;
}

/* A frame of raw made by the server's codec (it must pay). */
static void *frame_of(const void *raw, size_t len, size_t *n)
{
	struct chunkzip *z = chunkzip_new(CHUNKZIP_ON);
	void *f = NULL;

	ck_assert_int_eq(chunkzip_compress(z, raw, len, &f, n), 1);
	chunkzip_free(z);
	return f;
}

START_TEST(test_roundtrip)
{
	unsigned char *raw = text_bytes(LEN, 1), hash[16];
	unsigned char *out = malloc(LEN);
	size_t n;
	void *f = frame_of(raw, LEN, &n);
	br_chunk_data d = data_of(BR_ENC_ZSTD, LEN, f, n);

	br_hash128(raw, LEN, hash);
	ck_assert_uint_lt(n, LEN / 2);
	ck_assert_uint_eq(ZSTD_getFrameContentSize(f, n), LEN);  /* says its size */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), LEN);
	ck_assert_mem_eq(out, raw, LEN);
	/* Raw, as READ_CHUNK and an incompressible chunk travel. */
	d = data_of(BR_ENC_RAW, LEN, raw, LEN);
	memset(out, 0, LEN);
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), LEN);
	ck_assert_mem_eq(out, raw, LEN);
	/* The empty chunk. */
	br_hash128("", 0, hash);
	d = data_of(BR_ENC_RAW, 0, "", 0);
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), 0);
	free(f);
	free(out);
	free(raw);
}
END_TEST

/* Flip each byte of a real frame in turn (every 7th, and all of the
 * header): -EBADMSG or -EIO, never other bytes than the chunk's. */
START_TEST(test_flipped_bytes)
{
	unsigned char *raw = text_bytes(LEN, 2), hash[16];
	unsigned char *out = malloc(LEN);
	size_t n;
	unsigned char *f = frame_of(raw, LEN, &n);
	unsigned int bad = 0, io = 0;

	br_hash128(raw, LEN, hash);
	for (size_t i = 0; i < n; i += i < 32 ? 1 : 7) {
		br_chunk_data d = data_of(BR_ENC_ZSTD, LEN, f, n);
		ssize_t rc;

		f[i] ^= 0x5a;
		rc = chunkcodec_decode(&d, hash, out, LEN);
		f[i] ^= 0x5a;
		/* (A few bits of a frame change nothing: then the bytes
		 * are the chunk's, hash and all.) */
		ck_assert_msg(rc == -EBADMSG || rc == -EIO ||
			      (rc == LEN && !memcmp(out, raw, LEN)),
			      "byte %zu of %zu flipped: %zd", i, n, rc);
		bad += rc == -EBADMSG;
		io += rc == -EIO;
	}
	/* Both kinds happen: frames that break, frames that decode wrong. */
	ck_assert_uint_gt(bad, 0);
	ck_assert_uint_gt(io, 0);
	free(f);
	free(out);
	free(raw);
}
END_TEST

/* A sound frame of other bytes of the same length: the hash says no. */
START_TEST(test_wrong_content)
{
	unsigned char *raw = text_bytes(LEN, 3), *other = text_bytes(LEN, 4);
	unsigned char *out = malloc(LEN), hash[16];
	size_t n;
	void *f = frame_of(other, LEN, &n);
	br_chunk_data d = data_of(BR_ENC_ZSTD, LEN, f, n);

	br_hash128(raw, LEN, hash);
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EIO);
	d = data_of(BR_ENC_RAW, LEN, other, LEN);
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EIO);
	free(f);
	free(out);
	free(other);
	free(raw);
}
END_TEST

/* Frames that are not exactly one frame of exactly len bytes. */
START_TEST(test_malformed)
{
	unsigned char *raw = text_bytes(LEN, 5), hash[16];
	unsigned char *out = malloc(LEN);
	size_t n, m;
	unsigned char *f = frame_of(raw, LEN, &n), *two = malloc(2 * n), *nosize;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	br_chunk_data d;

	br_hash128(raw, LEN, hash);
	d = data_of(BR_ENC_ZSTD, LEN, f, n - 1);                 /* cut short */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	d = data_of(BR_ENC_ZSTD, LEN, f, 3);                     /* a stub */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	memcpy(two, f, n);
	memcpy(two + n, f, n);
	d = data_of(BR_ENC_ZSTD, LEN, two, 2 * n);               /* two frames */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	d = data_of(BR_ENC_ZSTD, LEN - 1, f, n);                 /* len disagrees */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	/* A frame that does not say its size. */
	nosize = malloc(ZSTD_compressBound(LEN));
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	ZSTD_CCtx_setPledgedSrcSize(c, ZSTD_CONTENTSIZE_UNKNOWN);
	{
		ZSTD_outBuffer ob = { nosize, ZSTD_compressBound(LEN), 0 };
		ZSTD_inBuffer ib = { raw, LEN, 0 };

		ck_assert(!ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end)));
		m = ob.pos;
	}
	ck_assert_uint_eq(ZSTD_getFrameContentSize(nosize, m), ZSTD_CONTENTSIZE_UNKNOWN);
	d = data_of(BR_ENC_ZSTD, LEN, nosize, m);
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	d = data_of(BR_ENC_RAW, LEN, raw, LEN - 1);              /* raw, short */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	d = data_of((br_chunk_enc)7, LEN, f, n);                 /* unknown enc */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN), -EBADMSG);
	d = data_of(BR_ENC_ZSTD, LEN, f, n);                     /* no room */
	ck_assert_int_eq(chunkcodec_decode(&d, hash, out, LEN - 1), -ERANGE);
	ZSTD_freeCCtx(c);
	free(nosize);
	free(two);
	free(f);
	free(out);
	free(raw);
}
END_TEST

START_TEST(test_incompressible)
{
	unsigned char *raw = random_bytes(LEN, 6);
	struct chunkzip *z = chunkzip_new(CHUNKZIP_AUTO);
	struct chunkzip_stats st;
	void *f = NULL;
	size_t n = 0;

	ck_assert_int_eq(chunkzip_compress(z, raw, LEN, &f, &n), 0);
	ck_assert_ptr_null(f);
	chunkzip_get_stats(z, &st);
	ck_assert_uint_eq(st.compressed, 1);
	ck_assert_uint_eq(st.incompressible, 1);
	ck_assert_uint_eq(st.codec_in_bytes, LEN);
	ck_assert_uint_eq(st.codec_bps, 0);     /* only compressions that paid */
	chunkzip_free(z);
	free(raw);
}
END_TEST

START_TEST(test_rule)
{
	unsigned char *raw = text_bytes(LEN, 7);
	struct chunkzip *z = chunkzip_new(CHUNKZIP_AUTO), *on, *off;
	struct chunkzip_stats st;
	enum chunkzip_mode m;
	unsigned int yes = 0;
	void *f;
	size_t n;

	/* Nothing measured yet: compress (and so measure). */
	ck_assert(chunkzip_should_try(z, 1000));
	ck_assert_int_eq(chunkzip_compress(z, raw, LEN, &f, &n), 1);
	free(f);
	chunkzip_get_stats(z, &st);
	ck_assert_uint_gt(st.codec_bps, 0);
	ck_assert_uint_gt(st.saved_pm, 500);                   /* text: > half */
	ck_assert_uint_lt(st.saved_pm, 1000);
	ck_assert(chunkzip_should_try(z, 0));                  /* link unknown */
	ck_assert(chunkzip_should_try(z, st.codec_bps / 2));   /* slower link */
	ck_assert(!chunkzip_should_try(z, st.codec_bps * 2));  /* faster link */
	/* A link ten times the codec: turned away, but probed 1 in 64. */
	for (int i = 0; i < 127; i++)
		yes += chunkzip_should_try(z, st.codec_bps * 10);
	ck_assert_uint_eq(yes, 128 / CHUNKZIP_PROBE_EVERY);    /* 128 turned away */
	chunkzip_get_stats(z, &st);
	ck_assert_uint_eq(st.skipped_slow, 128 - 128 / CHUNKZIP_PROBE_EVERY);
	on = chunkzip_new(CHUNKZIP_ON);
	off = chunkzip_new(CHUNKZIP_OFF);
	ck_assert(chunkzip_should_try(on, UINT64_MAX));
	ck_assert(!chunkzip_should_try(off, 1));
	ck_assert(!chunkzip_enabled(off) && chunkzip_enabled(on) && !chunkzip_enabled(NULL));
	ck_assert_int_eq(chunkzip_mode_parse("on", &m), 0);
	ck_assert_int_eq(m, CHUNKZIP_ON);
	ck_assert_int_eq(chunkzip_mode_parse("yes", &m), -EINVAL);
	chunkzip_count_sent(z, true, 100, 1000);
	chunkzip_count_sent(z, false, 1000, 1000);
	chunkzip_get_stats(z, &st);
	ck_assert_uint_eq(st.wire_bytes, 1100);
	ck_assert_uint_eq(st.file_bytes, 2000);
	ck_assert_uint_eq(st.sent_zstd, 1);
	ck_assert_uint_eq(st.sent_raw, 1);
	chunkzip_free(off);
	chunkzip_free(on);
	chunkzip_free(z);
	free(raw);
}
END_TEST

static Suite *chunkcodec_suite(void)
{
	Suite *s = suite_create("chunkcodec");
	struct { const char *name; const TTest *t; } cases[] = {
		{ "roundtrip", test_roundtrip }, { "flipped", test_flipped_bytes },
		{ "wrong_content", test_wrong_content }, { "malformed", test_malformed },
		{ "incompressible", test_incompressible }, { "rule", test_rule },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].t);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chunkcodec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
