/* cacheverify.c - the disk mode's checks (see cachedisk.c for the rules
 * that keep files and index rows in agreement): verify reads and hashes
 * every chunk a row names, then removes chunk files no row names; and the
 * leftovers in DIR/tmp of processes that died between their steps are
 * removed or, for an eviction that never committed, put back.  Anything
 * removed is looked at again under the index's write lock first, since
 * files only appear or go under it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_int.h"
#include "cachedb.h"
#include "log.h"
#include "xalloc.h"

/* Rows checked per index read by verify. */
#define VERIFY_PAGE 256

/* Remove (under the lock) the chunk files named in rel[] whose rows are
 * still missing: files no row names are never trusted, only wasted. */
static int drop_orphans(struct bramble_cache *c, char **rel, size_t n, uint64_t *count)
{
	unsigned char hash[BRAMBLE_HASH_LEN];
	char want[RELPATH_MAX];
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = cachedb_begin(c->db);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *base = strrchr(rel[i], '/') + 1;

		if (cache_unhex(base, hash) == 0 && cachedb_lookup(c->db, hash, NULL, NULL) == 0) {
			cachedisk_chunk_path(hash, want);
			if (!strcmp(want, rel[i]))
				continue;       /* put since the scan */
		}
		if (unlinkat(c->dirfd, rel[i], 0) == 0) {
			log_info("node cache: removed '%s/%s' (no index entry)", c->dir, rel[i]);
			(*count)++;
		}
	}
	if (rc == 0)
		rc = cachedb_commit(c->db);
	cachedb_rollback(c->db);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Collect chunks/ab/<name> files that the index does not name. */
static int scan_orphans(struct bramble_cache *c, char ***rel, size_t *n)
{
	unsigned char hash[BRAMBLE_HASH_LEN];
	size_t cap = 0;
	char sub[16];

	for (int d = 0; d < 256; d++) {
		struct dirent *de;
		DIR *dir;
		int fd;

		snprintf(sub, sizeof(sub), "chunks/%02x", d);
		fd = openat(c->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || !(dir = fdopendir(fd))) {
			int rc = -errno;

			if (fd >= 0)
				close(fd);
			return rc;
		}
		while ((de = readdir(dir))) {
			bool known;

			if (de->d_name[0] == '.')
				continue;
			pthread_mutex_lock(&c->mu);
			known = cache_unhex(de->d_name, hash) == 0 && hash[0] == d &&
				cachedb_lookup(c->db, hash, NULL, NULL) == 0;
			pthread_mutex_unlock(&c->mu);
			if (known)
				continue;
			if (*n == cap) {
				cap = cap ? 2 * cap : 16;
				*rel = xrealloc(*rel, cap * sizeof(**rel));
			}
			(*rel)[*n] = xmalloc(strlen(sub) + strlen(de->d_name) + 2);
			sprintf((*rel)[(*n)++], "%s/%s", sub, de->d_name);
		}
		closedir(dir);
	}
	return 0;
}

/* DIR/tmp files of processes that are gone: a put's unfinished file goes;
 * an eviction's <pid>.e<hash> goes back into place if its row survived
 * (the process died before COMMIT), else goes too.  Under the write lock,
 * so no live process is between its steps. */
int cachedisk_clean_tmp(struct bramble_cache *c, uint64_t *count)
{
	unsigned char hash[BRAMBLE_HASH_LEN];
	char rel[RELPATH_MAX], to[RELPATH_MAX];
	struct dirent *de;
	DIR *dir;
	int fd, rc;

	fd = openat(c->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	pthread_mutex_lock(&c->mu);
	rc = cachedb_begin(c->db);
	while (rc == 0 && (de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] == '.' || pid <= 0 || *end != '.' || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;               /* not ours to judge, or alive */
		snprintf(rel, sizeof(rel), "tmp/%.40s", de->d_name);
		if (end[1] == 'e' && cache_unhex(end + 2, hash) == 0 &&
		    cachedb_lookup(c->db, hash, NULL, NULL) == 0) {
			cachedisk_chunk_path(hash, to);
			if (renameat(c->dirfd, rel, c->dirfd, to) == 0)
				continue;
		}
		if (unlinkat(c->dirfd, rel, 0) == 0)
			(*count)++;
	}
	if (rc == 0)
		rc = cachedb_commit(c->db);
	cachedb_rollback(c->db);
	pthread_mutex_unlock(&c->mu);
	closedir(dir);
	return rc;
}

/* Read and hash every row's file, a page of rows at a time. */
static int verify_rows(struct bramble_cache *c, struct bramble_cache_verify *r)
{
	struct cachedb_victim *page = xmalloc(VERIFY_PAGE * sizeof(*page));
	unsigned char last[BRAMBLE_HASH_LEN];
	void *buf = xmalloc(1);             /* a chunk may be empty */
	size_t n = 0, cap = 0;
	int rc;

	do {
		pthread_mutex_lock(&c->mu);
		rc = cachedb_page(c->db, r->checked ? last : NULL, page, VERIFY_PAGE, &n);
		pthread_mutex_unlock(&c->mu);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			char why[128];
			bool removed;

			if (page[i].len > cap) {
				cap = page[i].len;
				buf = xrealloc(buf, cap);
			}
			r->checked++;
			r->bytes += page[i].len;
			memcpy(last, page[i].hash, BRAMBLE_HASH_LEN);
			if (cachedisk_read_verify(c, page[i].hash, buf, page[i].len, why, sizeof(why)) < 0 &&
			    cachedisk_recheck(c, page[i].hash, buf, cap, &removed) == -ENOENT && removed) {
				r->bad++;
				cache_count_failure(c);
			}
		}
	} while (rc == 0 && n == VERIFY_PAGE);
	free(buf);
	free(page);
	return rc;
}

int cachedisk_verify(struct bramble_cache *c, struct bramble_cache_verify *r)
{
	char **rel = NULL;
	size_t n = 0;
	int rc = verify_rows(c, r);

	if (rc == 0)
		rc = scan_orphans(c, &rel, &n);
	if (rc == 0 && n)
		rc = drop_orphans(c, rel, n, &r->orphans);
	if (rc == 0)
		rc = cachedisk_clean_tmp(c, &r->orphans);
	for (size_t i = 0; i < n; i++)
		free(rel[i]);
	free(rel);
	return rc;
}
