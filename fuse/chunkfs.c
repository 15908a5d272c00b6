/* chunkfs.c - bramblefs's side of the read path (see chunkfs.h): the
 * node cache -o cache= asks for, and the calls into client/'s read path
 * (bramble_reader.h), which decides everything else. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bfs.h"
#include "bramble_peers.h"
#include "chunkfs.h"
#include "log.h"
#include "xalloc.h"

struct chunkfs {
	struct bfs *fs;
	struct bramble_cache *cache;
	struct bramble_readpath *rp;
	unsigned int peer_port;         /* bramble_peers_start()'s; 0: off */
};

/* ---- setting up */

static int cache_opts(const struct bfs *fs, struct bramble_cache_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->mode = fs->opts.cache_mode;
	co->dir = fs->opts.cache_dir;
	co->size = fs->opts.cache_size;
	return co->mode == BRAMBLE_CACHE_OFF ? -ENOENT : 0;
}

int chunkfs_check(const struct bfs *fs, char *err, size_t errlen)
{
	struct bramble_cache_opts co;
	struct bramble_cache *c;
	int rc;

	if (cache_opts(fs, &co) < 0)
		return 0;
	rc = bramble_cache_open(&co, &c, err, errlen);
	if (rc == 0)
		bramble_cache_close(c);
	return rc;
}

int chunkfs_new(struct bfs *fs, struct chunkfs **out, char *err, size_t errlen)
{
	struct bramble_cache_opts co;
	struct chunkfs *cf;
	int rc;

	*out = NULL;
	if (cache_opts(fs, &co) < 0)
		return 0;
	cf = xcalloc(1, sizeof(*cf));
	cf->fs = fs;
	rc = bramble_cache_open(&co, &cf->cache, err, errlen);
	if (rc == 0)
		rc = bramble_readpath_new(cf->cache, &cf->rp);
	if (rc < 0) {
		chunkfs_free(cf);
		return rc;
	}
	*out = cf;
	return 0;
}

void chunkfs_peers_start(struct chunkfs *cf)
{
	int rc;

	unsigned char key[BRAMBLE_PEER_KEY_LEN];
	struct bramble_peers_opts po = { .key = NULL };

	if (!cf || cf->fs->opts.nopeers || cf->peer_port)
		return;
	/* On disk, the node's key: `bramble stage' joins this service. */
	if (cf->fs->opts.cache_mode == BRAMBLE_CACHE_DISK) {
		const char *dir = cf->fs->opts.cache_dir ? cf->fs->opts.cache_dir
							 : BRAMBLE_CACHE_DIR;

		rc = bramble_peers_node_key(dir, key);
		if (rc < 0) {
			log_warn("peer fan-out off: %s/peer.key: %s", dir, strerror(-rc));
			return;
		}
		po.key = key;
	}
	rc = bramble_peers_start(cf->fs->cl, cf->cache, &po);
	if (rc == 0) {
		struct bramble_peer_stats ps;

		bramble_peers_get_stats(cf->fs->cl, &ps);
		log_info("peer fan-out on: serving chunks on port %u", ps.port);
		cf->peer_port = ps.port;
	} else if (rc != -EOPNOTSUPP) {
		log_warn("peer fan-out off: %s", strerror(-rc));
	}
}

unsigned int chunkfs_peer_port(const struct chunkfs *cf)
{
	return cf ? cf->peer_port : 0;
}

void chunkfs_free(struct chunkfs *cf)
{
	if (!cf)
		return;
	bramble_readpath_free(cf->rp);
	bramble_cache_close(cf->cache);
	free(cf);
}

/* ---- opens, changes, reads */

void chunkfs_open(struct chunkfs *cf, uint64_t ino, const struct stat *st,
		  bool write)
{
	if (cf)
		bramble_readpath_open(cf->rp, ino, st, write);
}

void chunkfs_release(struct chunkfs *cf, uint64_t ino, bool write)
{
	if (cf)
		bramble_readpath_release(cf->rp, ino, write);
}

void chunkfs_changed(struct chunkfs *cf, uint64_t ino)
{
	if (cf)
		bramble_readpath_changed(cf->rp, ino);
}

ssize_t chunkfs_read(struct chunkfs *cf, struct bfs_file *f, uint64_t off,
		     void *buf, size_t len)
{
	if (!cf)
		return -ENOTSUP;
	return bramble_readpath_read(cf->rp, cf->fs->cl, &f->cred, &f->fh, f->ino,
				     off, buf, len);
}

void chunkfs_read_done(struct chunkfs *cf, uint64_t ino, uint64_t off,
		       const void *buf, size_t len)
{
	if (cf)
		bramble_readpath_read_done(cf->rp, ino, off, buf, len);
}

void chunkfs_stats(struct chunkfs *cf, struct bramble_reader_stats *rd,
		   struct bramble_cache_stats *cache)
{
	memset(rd, 0, sizeof(*rd));
	memset(cache, 0, sizeof(*cache));
	if (!cf)
		return;
	bramble_readpath_get_stats(cf->rp, rd);
	bramble_cache_get_stats(cf->cache, cache);
}
