/* chunkcli.c - libbramble's bramble_chunkmap() and bramble_read_chunk()
 * against a real brambled (43-chunks.sh).
 *
 *   chunkcli PORT NAME LOCAL [read]
 *
 * Maps the file NAME in the export's root a few hashes per call (so the
 * paging is used), reads every chunk by its hash and compares it with the
 * bytes of LOCAL (the same file, read directly), then asks for chunk 0
 * with a wrong hash (-ESTALE expected) and beyond the end (-EINVAL).
 * With `read' it stops after the chunks (a plain reader: 47-hotcache.sh
 * counts its calls).  Prints "chunks N version V" and exits 0, or names
 * what failed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bramble.h"

#define PAGE 3                  /* hashes per CHUNKMAP */

static int failed;

static void expect(int cond, const char *what, long rc)
{
	if (!cond) {
		fprintf(stderr, "chunkcli: FAIL: %s (%ld: %s)\n", what, rc,
			rc < 0 ? strerror((int)-rc) : "");
		failed = 1;
	}
}

static int map_all(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, unsigned char (**hashes)[16],
		   struct bramble_chunkmap *m)
{
	unsigned char page[PAGE][16];
	uint32_t n = 0;
	int rc;

	*hashes = NULL;
	do {
		rc = bramble_chunkmap(b, cr, fh, n, PAGE, page, m);
		if (rc < 0)
			return rc;
		*hashes = realloc(*hashes, (size_t)(n + m->count + 1) * 16);
		memcpy((*hashes)[n], page, (size_t)m->count * 16);
		n += m->count;
	} while (!m->eof && m->count);
	m->count = n;
	return 0;
}

int main(int argc, char **argv)
{
	struct bramble_cred cr = { 0, 0, 0, { 0 } };
	struct bramble_opts o;
	struct bramble_mount_res mr;
	struct bramble_chunkmap m;
	struct bramble_fh fh;
	struct bramble *b;
	unsigned char (*h)[16], bad[16] = { 0 };
	char *got, *want;
	int rc, fd;

	if ((argc != 4 && argc != 5) || (argc == 5 && strcmp(argv[4], "read"))) {
		fprintf(stderr, "usage: chunkcli PORT NAME LOCAL [read]\n");
		return 2;
	}
	bramble_opts_init(&o);
	o.host = "127.0.0.1";
	o.port = atoi(argv[1]);
	rc = bramble_new(&o, &b);
	if (rc < 0) {
		fprintf(stderr, "chunkcli: connect: %s\n", strerror(-rc));
		return 1;
	}
	if ((rc = bramble_mount(b, "", &mr)) < 0 ||
	    (rc = bramble_lookup(b, &cr, &mr.root, argv[2], &fh, NULL)) < 0 ||
	    (rc = map_all(b, &cr, &fh, &h, &m)) < 0) {
		fprintf(stderr, "chunkcli: %s: %s\n", argv[2], strerror(-rc));
		return 1;
	}
	fd = open(argv[3], O_RDONLY);
	expect(fd >= 0, "open LOCAL", -errno);
	got = malloc(m.chunk_size);
	want = malloc(m.chunk_size);
	expect(m.count == (m.size + m.chunk_size - 1) / m.chunk_size, "hash count", m.count);
	for (uint32_t i = 0; i < m.count; i++) {
		ssize_t n = bramble_read_chunk(b, &cr, &fh, i, h[i], m.version,
					       got, m.chunk_size);
		ssize_t l = pread(fd, want, m.chunk_size, (off_t)i * m.chunk_size);

		expect(n >= 0 && n == l && !memcmp(got, want, (size_t)n),
		       "READ_CHUNK bytes equal the file's", (long)n);
	}
	if (argc == 5)
		goto out;
	rc = (int)bramble_read_chunk(b, &cr, &fh, 0, bad, m.version, got, m.chunk_size);
	expect(rc == -ESTALE, "wrong hash -> ESTALE", rc);
	rc = (int)bramble_read_chunk(b, &cr, &fh, m.count, h[0], m.version, got,
				     m.chunk_size);
	expect(rc == -EINVAL, "beyond the end -> EINVAL", rc);
	rc = (int)bramble_read_chunk(b, &cr, &fh, 0, h[0], m.version, got, 10);
	expect(m.size <= 10 || rc == -ERANGE, "small buffer -> ERANGE", rc);
out:
	printf("chunks %u version %llu\n", m.count, (unsigned long long)m.version);
	free(h);
	free(got);
	free(want);
	close(fd);
	bramble_free(b);
	return failed;
}
