/* util.h - small macros and helpers every module uses. */
#ifndef BR_UTIL_H
#define BR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>  /* ssize_t */
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define BR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BR_MAX(a, b) ((a) > (b) ? (a) : (b))

#define BR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BR_NORETURN __attribute__((noreturn))
#define BR_UNUSED __attribute__((unused))

/* CLOCK_MONOTONIC in nanoseconds: for deadlines and latencies. */
static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A file timestamp (wall clock) as int64 nanoseconds since the epoch, for
 * storing and comparing for equality (has the file changed?).  Exact from
 * 1677 to 2262.  Outside, tv_sec * 1e9 in int64 would overflow --
 * undefined behaviour that any user who can write a file triggers (`touch
 * -d @10000000000 f`, or any value SETATTR carries) -- so it is computed
 * modulo 2^64 instead: two different times still give different values
 * (unless exactly 584.5 years apart), which is what the callers need, but
 * such values do not order.  The same values the old multiplication gave
 * where it wrapped, so what the chunk index and the node cache stored
 * before still matches. */
int64_t ts_to_ns(const struct timespec *ts);

/* Parse a non-negative decimal number with an optional fraction ("1.5")
 * into milliseconds.  Returns 0 or -EINVAL. */
int parse_seconds_ms(const char *s, int64_t *out_ms);

/* Parse an unsigned decimal integer within [min, max].  0 or -EINVAL/-ERANGE. */
int parse_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out);

/* Parse a byte count: a decimal integer with an optional K, M, G or T
 * suffix (powers of 1024; "KiB", "MB"-style spellings too, also powers of
 * 1024).  0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *out);

/* Write all of buf to fd, retrying on EINTR and short writes. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* Read until len bytes or EOF.  Returns bytes read or -errno. */
ssize_t read_full(int fd, void *buf, size_t len);

/* path made absolute (against the cwd) and lexically clean: no "//",
 * "." or "..", no trailing '/'; symlinks are not looked at.  Caller frees. */
char *path_abs_lexical(const char *path);

#endif
