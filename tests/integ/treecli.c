/* treecli.c - libbramble's TREE calls against a real brambled (48-tree.sh).
 *
 *   treecli PORT UID GID FLAGS MAX_ENTRIES MAX_DEPTH [check-maps]
 *
 * Walks the export's root as UID/GID (AUTH_SYS).  MAX_ENTRIES and
 * MAX_DEPTH 0 use bramble_tree_walk(); otherwise bramble_tree() is called
 * in a loop with those bounds, passing each reply's cookie back.  FLAGS:
 * BRAMBLE_TREE_* (1 chunk maps, 2 hash as needed).  Every entry goes to
 * stdout as one line of tab-separated fields, with \\, \n and \t escaped
 * in the names:
 *
 *   status mode(octal) size nlink ino fh(hex) map target path
 *
 * map is "-" (none), "E<errno>" or "v<version>/<chunks>".  With
 * check-maps, every map is compared with bramble_chunkmap() of the same
 * handle (version, size, chunk size, every hash).  Whatever the mode, the
 * paths must come in strictly increasing walk order (no repeat, no step
 * back).  The last line on stderr: "calls=N entries=M maps=K".  Exits 1
 * with a message when something is wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bramble.h"

struct ctx {
	struct bramble *b;
	struct bramble_cred cr;
	bool check_maps;
	char last[BRAMBLE_PATH_MAX + 1];
	unsigned long entries, maps;
	int failed;
};

static void put_escaped(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", stdout);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\t')
			fputs("\\t", stdout);
		else
			putchar(*s);
	}
}

/* The walk's order: component by component, bytewise ('/' lowest). */
static int path_cmp(const char *x, const char *y)
{
	for (;; x++, y++) {
		unsigned char cx = *x == '/' ? 0 : (unsigned char)*x;
		unsigned char cy = *y == '/' ? 0 : (unsigned char)*y;

		if (!*x || !*y)
			return (*x != 0) - (*y != 0);
		if (cx != cy)
			return cx < cy ? -1 : 1;
	}
}

static void fail(struct ctx *c, const char *path, const char *what)
{
	fprintf(stderr, "treecli: FAIL: %s: %s\n", path, what);
	c->failed = 1;
}

/* The entry's map against CHUNKMAP of the same handle. */
static void check_map(struct ctx *c, const struct bramble_tree_entry *e)
{
	static unsigned char h[BRAMBLE_CHUNKS_MAX][BRAMBLE_CHUNK_HASH_LEN];
	struct bramble_chunkmap m;
	int rc = bramble_chunkmap(c->b, &c->cr, e->fh, 0, 0, h, &m);

	if (rc < 0) {
		fail(c, e->path, strerror(-rc));
		return;
	}
	if (m.version != e->map.version || m.size != e->map.size ||
	    m.chunk_size != e->map.chunk_size || m.count != e->map.count || !m.eof)
		fail(c, e->path, "map differs from CHUNKMAP's (version, size, chunk size or count)");
	else if (m.count && memcmp(h, e->hashes, (size_t)m.count * BRAMBLE_CHUNK_HASH_LEN))
		fail(c, e->path, "hashes differ from CHUNKMAP's");
}

static int on_entry(void *arg, const struct bramble_tree_entry *e)
{
	struct ctx *c = arg;

	if (c->entries && path_cmp(c->last, e->path) >= 0)
		fail(c, e->path, "out of order (or repeated) after the previous entry");
	snprintf(c->last, sizeof(c->last), "%s", e->path);
	c->entries++;
	printf("%d\t%o\t%llu\t%lu\t%llu\t", e->status, (unsigned int)e->attr->st_mode,
	       (unsigned long long)e->attr->st_size, (unsigned long)e->attr->st_nlink,
	       (unsigned long long)e->attr->st_ino);
	for (uint32_t i = 0; i < e->fh->len; i++)
		printf("%02x", e->fh->data[i]);
	if (!e->fh->len)
		putchar('-');
	if (!e->has_map)
		printf("\t-\t");
	else if (e->map_status < 0)
		printf("\tE%d\t", -e->map_status);
	else
		printf("\tv%llu/%u\t", (unsigned long long)e->map.version, e->map.count);
	put_escaped(e->target);
	putchar('\t');
	put_escaped(e->path);
	putchar('\n');
	if (e->has_map && e->map_status == 0) {
		c->maps++;
		if (c->check_maps)
			check_map(c, e);
	}
	return 0;
}

static int walk_paged(struct ctx *c, const struct bramble_fh *root,
		      uint32_t flags, uint32_t max_entries, uint32_t max_depth)
{
	char cookie[BRAMBLE_PATH_MAX + 1] = "";
	struct bramble_tree_args a = {
		.cookie = cookie, .flags = flags,
		.max_entries = max_entries, .max_depth = max_depth,
	};
	bool eof = false;
	int rc = 0;

	while (!eof && rc == 0)
		rc = bramble_tree(c->b, &c->cr, root, &a, on_entry, c, cookie, &eof);
	return rc;
}

int main(int argc, char **argv)
{
	struct bramble_proc_stats ps[BRAMBLE_NPROCS];
	struct bramble_mount_res mr;
	struct bramble_opts o;
	struct ctx c;
	uint32_t flags, max_entries, max_depth;
	unsigned long calls = 0;
	int rc;

	if (argc < 7 || argc > 8) {
		fprintf(stderr, "usage: treecli PORT UID GID FLAGS MAX_ENTRIES "
			"MAX_DEPTH [check-maps]\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.cr.uid = (uint32_t)atoi(argv[2]);
	c.cr.gid = (uint32_t)atoi(argv[3]);
	flags = (uint32_t)strtoul(argv[4], NULL, 0);
	max_entries = (uint32_t)atoi(argv[5]);
	max_depth = (uint32_t)atoi(argv[6]);
	c.check_maps = argc == 8 && !strcmp(argv[7], "check-maps");
	bramble_opts_init(&o);
	o.host = "127.0.0.1";
	o.port = atoi(argv[1]);
	rc = bramble_new(&o, &c.b);
	if (rc < 0) {
		fprintf(stderr, "treecli: connect: %s\n", strerror(-rc));
		return 1;
	}
	rc = bramble_mount(c.b, "", &mr);
	if (rc == 0 && max_entries == 0 && max_depth == 0)
		rc = bramble_tree_walk(c.b, &c.cr, &mr.root, flags, on_entry, &c);
	else if (rc == 0)
		rc = walk_paged(&c, &mr.root, flags, max_entries, max_depth);
	if (rc != 0) {
		fprintf(stderr, "treecli: walk: %s\n", rc < 0 ? strerror(-rc) : "stopped");
		c.failed = 1;
	}
	bramble_stats(c.b, ps, BRAMBLE_NPROCS, NULL);
	for (size_t i = 0; i < BRAMBLE_NPROCS; i++)
		if (ps[i].name && !strcmp(ps[i].name, "TREE"))
			calls = (unsigned long)ps[i].calls;
	fflush(stdout);
	fprintf(stderr, "calls=%lu entries=%lu maps=%lu\n", calls, c.entries, c.maps);
	bramble_free(c.b);
	return c.failed;
}
