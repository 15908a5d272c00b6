/* util.c - number parsing, full reads/writes, timestamps, paths. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "xalloc.h"

int parse_uint(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return errno == ERANGE ? -ERANGE : -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int64_t ts_to_ns(const struct timespec *ts)
{
	/* Unsigned arithmetic wraps by definition; converting back is the
	 * two's complement GCC and Clang define. */
	uint64_t ns = (uint64_t)(int64_t)ts->tv_sec * UINT64_C(1000000000) +
		      (uint64_t)(int64_t)ts->tv_nsec;

	return (int64_t)ns;
}

int parse_seconds_ms(const char *s, int64_t *out_ms)
{
	char *end;
	double v;

	if (!s || !*s || (*s < '0' || *s > '9'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < 0 || v > 1e9)
		return -EINVAL;
	*out_ms = (int64_t)(v * 1000.0 + 0.5);
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		u = strchr(units, end[0] & ~0x20);
		if (!u)
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
		end++;
		/* "K", "KB", "KiB" */
		if ((end[0] == 'i' && (end[1] == 'B' || end[1] == 'b') && !end[2]) ||
		    ((end[0] == 'B' || end[0] == 'b') && !end[1]))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

char *path_abs_lexical(const char *path)
{
	char cwd[PATH_MAX] = "/";
	size_t cap, len = 0;
	char *in, *out;

	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	cap = strlen(cwd) + strlen(path) + 3;
	in = xmalloc(cap);
	out = xmalloc(cap);     /* never longer than in */
	snprintf(in, cap, "%s/%s", path[0] == '/' ? "" : cwd, path);
	for (char *s = in; *s;) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 0)
			break;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (len && out[--len] != '/')
				;       /* drop the last component */
		} else if (n != 1 || s[0] != '.') {
			out[len++] = '/';
			memcpy(out + len, s, n);
			len += n;
		}
		s += n;
	}
	if (!len)
		out[len++] = '/';
	out[len] = '\0';
	free(in);
	return out;
}
