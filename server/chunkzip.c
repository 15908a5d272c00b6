/* chunkzip.c - compressed chunks: codec, rule and counters (chunkzip.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "chunkzip.h"
#include "log.h"
#include "xalloc.h"

struct chunkzip {
	enum chunkzip_mode mode;        /* set once */
	pthread_mutex_t mu;             /* everything below */
	struct chunkzip_stats st;
	uint64_t turned_away;           /* should_try said no (probe count) */
};

/* One compression context per worker thread: making one costs about as
 * much as compressing a small chunk. */
static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;

static void cctx_free(void *p)
{
	ZSTD_freeCCtx(p);
}

static void cctx_key_init(void)
{
	if (pthread_key_create(&cctx_key, cctx_free) != 0)
		abort();
}

static ZSTD_CCtx *thread_cctx(void)
{
	ZSTD_CCtx *c;

	pthread_once(&cctx_once, cctx_key_init);
	c = pthread_getspecific(cctx_key);
	if (!c) {
		c = ZSTD_createCCtx();
		if (!c) {               /* out of memory, as xmalloc */
			log_err("zstd: cannot make a compression context");
			abort();
		}
		pthread_setspecific(cctx_key, c);
	}
	return c;
}

int chunkzip_mode_parse(const char *s, enum chunkzip_mode *out)
{
	if (!strcmp(s, "auto"))
		*out = CHUNKZIP_AUTO;
	else if (!strcmp(s, "on"))
		*out = CHUNKZIP_ON;
	else if (!strcmp(s, "off"))
		*out = CHUNKZIP_OFF;
	else
		return -EINVAL;
	return 0;
}

struct chunkzip *chunkzip_new(enum chunkzip_mode mode)
{
	struct chunkzip *z = xcalloc(1, sizeof(*z));

	z->mode = mode;
	pthread_mutex_init(&z->mu, NULL);
	return z;
}

void chunkzip_free(struct chunkzip *z)
{
	if (!z)
		return;
	pthread_mutex_destroy(&z->mu);
	free(z);
}

bool chunkzip_enabled(const struct chunkzip *z)
{
	return z && z->mode != CHUNKZIP_OFF;
}

bool chunkzip_should_try(struct chunkzip *z, uint64_t link_bps)
{
	bool yes;

	if (!chunkzip_enabled(z))
		return false;
	if (z->mode == CHUNKZIP_ON)
		return true;
	pthread_mutex_lock(&z->mu);
	z->st.link_bps = link_bps;
	/* Chunks go out pipelined (read-ahead, several readers): while one
	 * is on the wire the next is compressed.  So compressed chunks flow
	 * at link/ratio as long as the codec keeps up with the link, and
	 * raw ones at the link's speed: compress when the codec is faster. */
	yes = link_bps == 0 || z->st.codec_bps == 0 || z->st.codec_bps > link_bps;
	if (!yes && ++z->turned_away % CHUNKZIP_PROBE_EVERY == 0)
		yes = true;     /* measure the codec again now and then */
	if (!yes)
		z->st.skipped_slow++;
	pthread_mutex_unlock(&z->mu);
	return yes;
}

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t avg8(uint64_t avg, uint64_t v)
{
	return avg ? (7 * avg + v) / 8 : v;
}

/* Count one compression of len bytes into zlen (0: it did not pay) that
 * took cpu nanoseconds of the thread's time.  The speed the rule weighs
 * is a moving average (weight 1/8) of per-chunk speeds: CPU time, not
 * wall time, which one preemption on a busy machine would swing by 10x.
 * Only compressions that paid count there: on incompressible bytes the
 * compressor gives up early, at several times its real speed, and one
 * random file would make the codec look faster than it is on data that
 * compresses. */
static void count_codec(struct chunkzip *z, size_t len, size_t zlen, int64_t cpu)
{
	bool paid = zlen > 0;
	uint64_t bps = (uint64_t)((double)len * 1e9 / (double)(cpu > 0 ? cpu : 1));

	pthread_mutex_lock(&z->mu);
	z->st.compressed++;
	if (!paid)
		z->st.incompressible++;
	z->st.codec_in_bytes += len;
	z->st.codec_ns += (uint64_t)(cpu > 0 ? cpu : 0);
	if (paid && len) {
		z->st.codec_bps = avg8(z->st.codec_bps, bps);
		z->st.saved_pm = avg8(z->st.saved_pm, 1000 - (uint64_t)zlen * 1000 / len);
	}
	pthread_mutex_unlock(&z->mu);
}

int chunkzip_compress(struct chunkzip *z, const void *raw, size_t len,
		      void **out, size_t *out_len)
{
	/* A frame this big or bigger does not pay: giving the compressor
	 * no more room makes it stop there (dstSize_tooSmall). */
	size_t cap = len / 100 * CHUNKZIP_PAYS_PCT + (len % 100) * CHUNKZIP_PAYS_PCT / 100;
	void *dst = xmalloc(cap ? cap : 1);
	int64_t c0 = cpu_ns();
	size_t n = ZSTD_compressCCtx(thread_cctx(), dst, cap, raw, len, CHUNKZIP_LEVEL);
	bool paid = !ZSTD_isError(n) && n > 0;

	if (ZSTD_isError(n) && ZSTD_getErrorCode(n) != ZSTD_error_dstSize_tooSmall)
		log_warn("zstd: cannot compress a chunk: %s", ZSTD_getErrorName(n));
	count_codec(z, len, paid ? n : 0, cpu_ns() - c0);
	if (!paid) {
		free(dst);
		return 0;
	}
	*out = dst;
	*out_len = n;
	return 1;
}

void chunkzip_count_sent(struct chunkzip *z, bool zstd, size_t wire_len,
			 size_t file_len)
{
	if (!z)
		return;
	pthread_mutex_lock(&z->mu);
	if (zstd)
		z->st.sent_zstd++;
	else
		z->st.sent_raw++;
	z->st.wire_bytes += wire_len;
	z->st.file_bytes += file_len;
	pthread_mutex_unlock(&z->mu);
}

void chunkzip_get_stats(struct chunkzip *z, struct chunkzip_stats *out)
{
	if (!z) {
		memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&z->mu);
	*out = z->st;
	pthread_mutex_unlock(&z->mu);
}
