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

#endif
