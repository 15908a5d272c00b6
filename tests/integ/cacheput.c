/* cacheput.c - fill a node cache directory from local files, as a mount
 * would from the server (46-cache-tool.sh, and a quick put/get rate).
 *
 *   cacheput DIR SIZE CHUNK [-o OWNER] [-e EXPIRES] FILE...
 *   cacheput DIR SIZE CHUNK -r FILE...
 *
 * Cuts each FILE into CHUNK-byte chunks, hashes them (XXH3-128) and puts
 * them into the disk cache in DIR with quota SIZE (0: the stored one),
 * pinned for OWNER until EXPIRES (unix seconds, 0 = never) with -o.
 * Prints "HASH LENGTH FILE INDEX" per chunk.  With -r it gets every chunk
 * back instead and compares it with the file (exit 1 on a difference, 3
 * when a chunk is not cached).  Last line on stderr: the MB/s of the puts
 * or gets (timing of the cache calls alone, hashing excluded). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bramble_cache.h"
#include "util.h"
#include "xxhash128.h"

static int one_file(struct bramble_cache *c, const char *path, size_t chunk, bool get,
		    const char *owner, int64_t expires, unsigned char *buf,
		    unsigned char *back, uint64_t *bytes, int64_t *ns)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "cacheput: %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (unsigned idx = 0; rc == 0 && (n = read_full(fd, buf, chunk)) > 0; idx++) {
		unsigned char h[BRAMBLE_HASH_LEN];
		int64_t t0;
		ssize_t r;

		br_hash128(buf, (size_t)n, h);
		t0 = now_ns();
		if (get) {
			r = bramble_cache_get(c, h, back, chunk);
			if (r == -ENOENT)
				rc = 3;
			else if (r != n || memcmp(back, buf, (size_t)n))
				rc = 1;
		} else {
			r = bramble_cache_put(c, h, buf, (size_t)n, owner, expires);
			rc = r < 0 ? 1 : 0;
		}
		*ns += now_ns() - t0;
		*bytes += (uint64_t)n;
		for (int i = 0; i < BRAMBLE_HASH_LEN; i++)
			printf("%02x", h[i]);
		printf(" %zd %s %u\n", n, path, idx);
		if (rc)
			fprintf(stderr, "cacheput: %s chunk %u: %s\n", path, idx,
				r < 0 ? strerror((int)-r) : "wrong bytes");
	}
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct bramble_cache_opts o = { .mode = BRAMBLE_CACHE_DISK };
	const char *owner = NULL;
	unsigned long long size, chunk, exp = 0;
	struct bramble_cache *c;
	unsigned char *buf, *back;
	uint64_t bytes = 0;
	int64_t ns = 0;
	bool get = false;
	char err[512];
	int i = 4, rc = 0;

	if (argc < 5 || parse_uint(argv[2], 0, 1ull << 50, &size) < 0 ||
	    parse_uint(argv[3], 1, 64 << 20, &chunk) < 0) {
		fprintf(stderr, "usage: cacheput DIR SIZE CHUNK [-r | -o OWNER [-e EXPIRES]] FILE...\n");
		return 2;
	}
	for (; i < argc - 1 && argv[i][0] == '-'; i += argv[i][1] == 'r' ? 1 : 2) {
		if (!strcmp(argv[i], "-r"))
			get = true;
		else if (!strcmp(argv[i], "-o"))
			owner = argv[i + 1];
		else if (!strcmp(argv[i], "-e") && parse_uint(argv[i + 1], 0, 1ull << 40, &exp) == 0)
			;
		else
			return 2;
	}
	o.dir = argv[1];
	o.size = size;
	if (bramble_cache_open(&o, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "cacheput: %s\n", err);
		return 1;
	}
	buf = malloc(chunk);
	back = malloc(chunk);
	for (; i < argc && rc == 0; i++)
		rc = one_file(c, argv[i], chunk, get, owner, (int64_t)exp, buf, back, &bytes, &ns);
	fprintf(stderr, "cacheput: %s %llu bytes in %.3f s: %.0f MB/s\n", get ? "got" : "put",
		(unsigned long long)bytes, (double)ns / 1e9,
		ns ? (double)bytes / 1e6 / ((double)ns / 1e9) : 0);
	free(buf);
	free(back);
	bramble_cache_close(c);
	return rc;
}
