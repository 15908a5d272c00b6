/* stage.c - staging (stage.h): resolve the paths to mounts and handles,
 * walk the trees, plan which chunks to fetch and pin, check the quota,
 * then hand the work to stage_fetch.c and store the maps. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bramble_peers.h"
#include "buf.h"
#include "log.h"
#include "stage_int.h"
#include "util.h"
#include "xalloc.h"

#define TIMEOUT_MS 60000

void stage_fail(struct stage *s, const char *path, const char *fmt, ...)
{
	struct stage_result *r = s->r;
	struct buf why = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&why, fmt, ap);
	va_end(ap);
	r->failed = xrealloc(r->failed, (r->nfailed + 1) * sizeof(*r->failed));
	r->failed[r->nfailed].path = xstrdup(path);
	r->failed[r->nfailed].reason = buf_detach(&why, NULL);
	r->nfailed++;
}

static bool transport_error(int err)
{
	switch (-err) {
	case ETIMEDOUT: case ECONNREFUSED: case ECONNRESET: case ENOTCONN:
	case EPIPE: case EHOSTUNREACH: case ENETUNREACH: case ESHUTDOWN:
	case ECONNABORTED:
		return true;
	default:
		return false;
	}
}

static void no_room(struct stage *s, struct scache *sc, char *out, size_t len)
{
	struct bramble_cache_stats cs;

	bramble_cache_get_stats(sc->cache, &cs);
	snprintf(out, len, "no room in the node cache (quota %llu, pinned %llu)",
		 (unsigned long long)cs.quota, (unsigned long long)cs.pinned_bytes);
	(void)s;
}

void stage_fail_file(struct stage *s, struct sfile *f, int err)
{
	char why[256];

	if (f->err)
		return;
	f->err = err;
	if (err == -ENOSPC) {
		no_room(s, f->m->sc, why, sizeof(why));
	} else if (transport_error(err)) {
		snprintf(why, sizeof(why), "server %s:%d gone: %s", f->m->t.host,
			 f->m->t.port, strerror(-err));
	} else {
		snprintf(why, sizeof(why), "%s", err == -ESTALE ?
			 "the file changed while it was being staged" : strerror(-err));
		stage_fail(s, f->path, "%s", why);
		return;
	}
	/* the same cause for every file of the argument: said once */
	if (!s->arg_failed[f->arg]) {
		s->arg_failed[f->arg] = true;
		stage_fail(s, s->paths[f->arg], "%s", why);
	}
}

/* ---- mounts and caches */

/* dir (and its index, when there is one) writable by this process;
 * a directory not made yet is (bramble_cache_open makes it). */
static bool cache_writable(const char *dir)
{
	char idx[4200];

	snprintf(idx, sizeof(idx), "%s/index.db", dir);
	if (access(dir, W_OK) < 0 && errno != ENOENT)
		return false;
	return access(idx, W_OK) == 0 || errno == ENOENT;
}

static struct scache *cache_for(struct stage *s, const char *dir, char *err, size_t len)
{
	struct bramble_cache_opts co = { .mode = BRAMBLE_CACHE_DISK, .dir = dir };
	struct scache *sc;

	for (size_t i = 0; i < s->ncaches; i++)
		if (!strcmp(s->caches[i]->dir, dir))
			return s->caches[i];
	/* An ordinary user on root's cache (it would fail at the first pin,
	 * "attempt to write a readonly database"): say what to do instead. */
	if (geteuid() != 0 && !cache_writable(dir)) {
		snprintf(err, len, "the node cache %s is root's: an ordinary user stages "
			 "through the mount's bramblefs, and no mount offers that here "
			 "(bramblefs not run as root, or -o stage_user_max=0)", dir);
		return NULL;
	}
	sc = xcalloc(1, sizeof(*sc));
	if (bramble_cache_open(&co, &sc->cache, err, len) < 0) {
		free(sc);
		return NULL;
	}
	sc->dir = xstrdup(dir);
	s->caches = xrealloc(s->caches, (s->ncaches + 1) * sizeof(*s->caches));
	s->caches[s->ncaches++] = sc;
	return sc;
}

static int connect_mount(struct smount *m, char *err, size_t len)
{
	struct bramble_mount_res mr;
	struct bramble_opts bo;
	const char *auth = getenv("BRAMBLE_AUTH");
	char *sub = bramble_ctl_value(m->t.ctl, BRAMBLE_CTL_KEY_SUBDIR);
	const char *p = sub ? sub : "";
	int rc;

	bramble_opts_init(&bo);
	bo.host = m->t.host;
	bo.port = m->t.port;
	bo.timeout_ms = TIMEOUT_MS;
	bo.client_name = "bramble stage " PACKAGE_VERSION;
	bo.munge_socket = getenv("BRAMBLE_MUNGE_SOCKET");
	rc = auth && *auth ? bramble_auth_parse(auth, &bo.auth) : 0;
	if (rc < 0)
		snprintf(err, len, "BRAMBLE_AUTH=%s: not sys, munge or auto", auth);
	if (rc == 0 && (rc = bramble_new(&bo, &m->b)) < 0)
		snprintf(err, len, "server %s:%d gone: %s", m->t.host, m->t.port,
			 strerror(-rc));
	while (*p == '/')
		p++;
	if (rc == 0 && (rc = bramble_mount(m->b, p, &mr)) < 0)
		snprintf(err, len, "server %s:%d: cannot mount '/%s': %s", m->t.host,
			 m->t.port, p, strerror(-rc));
	if (rc == 0)
		m->root = mr.root;
	free(sub);
	return rc;
}

/* Fan-out as the mount does it (its control file says): the chunks this
 * stage fetches come from other nodes where the server says, and are
 * served to them -- from this process's RAM, as they came, while it runs,
 * and by the mount's service from the node cache after it exits
 * (bramble_peers_start with the node's service).  Without it the stage
 * still works, from the server alone. */
static void start_peers(struct smount *m, const char *cache_dir)
{
	char *port = bramble_ctl_value(m->t.ctl, BRAMBLE_CTL_KEY_PEERS);
	unsigned char key[BRAMBLE_PEER_KEY_LEN];
	long p = port ? strtol(port, NULL, 10) : 0;
	int rc = 0;

	free(port);
	if (p <= 0 || p > 65535)
		return;
	rc = bramble_peers_node_key(cache_dir, key);
	if (rc == 0)
		rc = bramble_peers_start(m->b, m->sc->cache,
					 &(struct bramble_peers_opts){ .node_port = (uint16_t)p,
								       .node_key = key });
	if (rc < 0)
		log_info("staging from the server alone: peer fan-out: %s", strerror(-rc));
}

struct smount *stage_mount_for(struct stage *s, struct target *t, char *err, size_t len)
{
	struct smount *m;
	char *mode, *dir;

	for (size_t i = 0; i < s->nmounts; i++) {
		if (!strcmp(s->mounts[i]->t.mount, t->mount)) {
			target_release(t);
			return s->mounts[i];
		}
	}
	mode = bramble_ctl_value(t->ctl, BRAMBLE_CTL_KEY_CACHE);
	if (mode && bramble_cache_mode_parse(mode) != BRAMBLE_CACHE_DISK) {
		snprintf(err, len, "the mount %s has no node cache on disk (cache=%s)",
			 t->mount, mode);
		free(mode);
		target_release(t);
		return NULL;
	}
	free(mode);
	/* a user's request (bramblefs --user-max): only into the caches of
	 * mounts that stage for users */
	if (s->o->limit_prefix && !bramble_ctl_has(t->ctl, BRAMBLE_CTL_KEY_STAGE_SOCKET)) {
		snprintf(err, len, "the mount %s does not stage for ordinary users "
			 "(bramblefs -o stage_user_max=0, or not run as root)", t->mount);
		target_release(t);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->t = *t;
	memset(t, 0, sizeof(*t));
	dir = s->o->cache_dir ? xstrdup(s->o->cache_dir) :
	      bramble_ctl_value(m->t.ctl, BRAMBLE_CTL_KEY_CACHE_DIR);
	m->sc = cache_for(s, dir ? dir : BRAMBLE_CACHE_DIR, err, len);
	if (!m->sc || connect_mount(m, err, len) < 0 ||
	    bramble_reader_new(m->b, m->sc->cache,
			       &(struct bramble_reader_opts){ .threads = 16 }, &m->rd) < 0) {
		if (m->sc && !*err)
			snprintf(err, len, "cannot start the chunk reader");
		bramble_free(m->b);
		target_release(&m->t);
		free(m);
		free(dir);
		return NULL;
	}
	/* (bramblefs serves from its own cache: not from another --cache-dir) */
	if (!s->o->cache_dir)
		start_peers(m, dir ? dir : BRAMBLE_CACHE_DIR);
	free(dir);
	s->mounts = xrealloc(s->mounts, (s->nmounts + 1) * sizeof(*s->mounts));
	s->mounts[s->nmounts++] = m;
	return m;
}

/* ---- files */

struct sfile *stage_file_add(struct stage *s, struct smount *m, size_t arg,
			     const char *path, const struct bramble_fh *fh,
			     const struct stat *st)
{
	struct sfile *f;

	/* a file named twice (a directory and a file in it) is staged once */
	for (size_t i = s->nfiles; i-- > 0 && i + 64 >= s->nfiles;)
		if (s->files[i].m == m && bramble_fh_eq(&s->files[i].fh, fh))
			return NULL;
	if (s->nfiles == s->capfiles) {
		s->capfiles = s->capfiles ? 2 * s->capfiles : 256;
		s->files = xrealloc(s->files, s->capfiles * sizeof(*s->files));
	}
	f = &s->files[s->nfiles++];
	memset(f, 0, sizeof(*f));
	f->m = m;
	f->arg = arg;
	f->path = xstrdup(path);
	f->fh = *fh;
	f->st = *st;
	return f;
}

struct walk {
	struct stage *s;
	struct smount *m;
	size_t arg;
	const char *base;          /* the directory as the user named it */
};

static int walk_entry(void *ctx, const struct bramble_tree_entry *e)
{
	struct walk *w = ctx;
	struct buf path = BUF_INIT;
	struct sfile *f;

	buf_addf(&path, "%s/%s", w->base, e->path);
	stage_set_entry(w->s, w->arg, e);
	if (e->status < 0 && (!e->attr->st_mode || S_ISDIR(e->attr->st_mode))) {
		if (e->status == -EXDEV)
			stage_fail(w->s, path.data, "another filesystem is mounted there");
		else
			stage_fail(w->s, path.data, "%s", strerror(-e->status));
	} else if (S_ISREG(e->attr->st_mode) && e->fh->len) {
		f = stage_file_add(w->s, w->m, w->arg, path.data, e->fh, e->attr);
		if (f) {
			f->map = bramble_filemap_from_tree(e);
			/* opened as the user, not indexed: a map kept for
			 * these attributes may serve (stage_fetch.c) */
			f->readable = e->has_map && e->map_status == -ENODATA;
		}
	}
	buf_release(&path);
	return 0;
}

/* Strip trailing slashes for messages ("dir/" + "/a" would be "dir//a"). */
static char *display_base(const char *arg)
{
	char *d = xstrdup(arg);
	size_t n = strlen(d);

	while (n > 1 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

static void add_path(struct stage *s, size_t arg)
{
	const char *path = s->paths[arg];
	struct smount *m;
	struct bramble_fh fh;
	struct stat st;
	char err[512] = "";
	int rc;

	if (s->o->progress) {
		fprintf(stderr, "\rstaging: walking %s\033[K", path);
		fflush(stderr);
	}
	rc = stage_resolve(s, path, &m, &fh, &st, err, sizeof(err));
	if (rc < 0) {
		stage_fail(s, path, "%s", *err ? err : transport_error(rc) ? "server gone" :
			   strerror(-rc));
		goto failed;
	}
	if (!m) {
		stage_fail(s, path, "not in a bramble mount");
		goto failed;
	}
	if (S_ISREG(st.st_mode)) {
		stage_file_add(s, m, arg, path, &fh, &st);
	} else if (S_ISDIR(st.st_mode)) {
		struct walk w = { .s = s, .m = m, .arg = arg, .base = display_base(path) };

		if (stage_set_again(s, arg, m, &fh, w.base)) {
			free((char *)w.base);
			return;
		}
		stage_set_begin(s, arg, m, &fh);
		rc = bramble_tree_walk(m->b, &s->cred, &fh,
				       BRAMBLE_TREE_CHUNKS | BRAMBLE_TREE_HASH, walk_entry, &w);
		free((char *)w.base);
		if (rc < 0) {
			stage_fail(s, path, "%s", rc == -ENOSYS ?
				   "the server cannot walk trees (TREE): brambled is too old" :
				   transport_error(rc) ? "server gone" : strerror(-rc));
			goto failed;
		}
	} else {
		stage_fail(s, path, "not a regular file or directory");
		goto failed;
	}
	return;
failed:
	s->arg_failed[arg] = true;
}

/* ---- planning */

static uint64_t chunk_key_hash(const struct scache *sc, const unsigned char *hash)
{
	uint64_t k;

	memcpy(&k, hash, sizeof(k));   /* a content hash: well mixed already */
	return k ^ hash_u64((uintptr_t)sc);
}

struct chunk_key { const struct scache *sc; const unsigned char *hash; };

static bool chunk_is(const struct hashtab_node *n, const void *key)
{
	const struct schunk *c = HASHTAB_ENTRY(n, struct schunk, hn);
	const struct chunk_key *k = key;

	return c->sc == k->sc && !memcmp(c->hash, k->hash, BRAMBLE_HASH_LEN);
}

/* The set's entry of a chunk of cache sc, or NULL. */
static struct schunk *chunk_find(const struct stage *s, const struct scache *sc,
				 const unsigned char *hash)
{
	struct chunk_key k = { sc, hash };
	struct hashtab_node *n = hashtab_find(&s->chunks, chunk_key_hash(sc, hash),
					      chunk_is, &k);

	return n ? HASHTAB_ENTRY(n, struct schunk, hn) : NULL;
}

/* The set's entry of a chunk; *fresh when it was not in the set yet. */
static struct schunk *chunk_get(struct stage *s, struct scache *sc,
				const unsigned char *hash, uint64_t len, bool *fresh)
{
	struct schunk *c = chunk_find(s, sc, hash);

	*fresh = !c;
	if (c)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->sc = sc;
	memcpy(c->hash, hash, BRAMBLE_HASH_LEN);
	c->len = len;
	c->state = bramble_cache_has(sc->cache, hash) ? CH_CACHED : CH_FETCH;
	hashtab_insert(&s->chunks, &c->hn, chunk_key_hash(sc, hash));
	return c;
}

static int chunk_free(struct hashtab_node *n, void *arg)
{
	free(HASHTAB_ENTRY(n, struct schunk, hn));
	return 0;
}

static uint64_t chunk_len(const struct bramble_filemap *m, uint32_t i)
{
	uint64_t start = (uint64_t)i * m->chunk_size;

	return BR_MIN((uint64_t)m->chunk_size, m->size - start);
}

/* Each file's chunks against the set: which to fetch where. */
static void plan(struct stage *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		struct sfile *f = &s->files[i];

		if (f->err || !f->map)
			continue;
		f->chunks = xcalloc(BR_MAX(f->map->nchunks, 1u), sizeof(*f->chunks));
		f->mine = xcalloc(BR_MAX(f->map->nchunks, 1u), sizeof(*f->mine));
		for (uint32_t k = 0; k < f->map->nchunks; k++) {
			bool fresh;
			struct schunk *c = chunk_get(s, f->m->sc, f->map->hashes[k],
						     chunk_len(f->map, k), &fresh);

			f->chunks[k] = c;
			if (fresh)
				f->m->sc->set_bytes += c->len;
			if (fresh && c->state == CH_FETCH) {
				f->mine[k] = true;
				f->need_bytes += c->len;
				f->m->sc->need_bytes += c->len;
			}
		}
	}
}

/* Bytes of the set's cached chunks in sc that no one has pinned yet
 * (pinning them takes room from what eviction could free). */
struct unpinned_ctx { struct stage *s; struct scache *sc; uint64_t bytes; };

static int unpinned_cb(void *ctx, const struct bramble_cache_entry *e)
{
	struct unpinned_ctx *u = ctx;
	struct stage *s = u->s;

	if (!e->npins && chunk_find(s, u->sc, e->hash))
		u->bytes += e->len;
	return 0;
}

/* Bytes pinned by the owners o->limit_prefix and o->limit_prefix:*. */
struct userpins_ctx { const char *prefix; size_t len; uint64_t bytes; };

static int userpins_cb(void *ctx, const struct bramble_cache_pininfo *p)
{
	struct userpins_ctx *u = ctx;

	if (!strncmp(p->owner, u->prefix, u->len) &&
	    (p->owner[u->len] == '\0' || p->owner[u->len] == ':'))
		u->bytes += p->bytes;
	return 0;
}

/* Within the user's limit (bramblefs -o stage_user_max)?  The set counts
 * whole, also what the user has pinned of it already: a set staged again
 * under the same owner is counted again (release it first). */
static void check_limit(struct stage *s, struct scache *sc, uint64_t quota)
{
	const struct stage_opts *o = s->o;
	struct userpins_ctx u = { .prefix = o->limit_prefix, .len = strlen(o->limit_prefix) };
	uint64_t limit = o->limit_bytes ? o->limit_bytes : quota / 100 * o->limit_pct;
	char why[512];

	if (bramble_cache_list_pins(sc->cache, userpins_cb, &u) < 0)
		u.bytes = UINT64_MAX / 2;      /* cannot tell: refuse */
	if (u.bytes + sc->set_bytes <= limit)
		return;
	snprintf(why, sizeof(why), "over the per-user staging limit of the node cache "
		 "(stage_user_max %llu bytes; %s pins %llu, the set needs %llu): "
		 "release some with bramble stage --release ID",
		 (unsigned long long)limit, o->limit_prefix, (unsigned long long)u.bytes,
		 (unsigned long long)sc->set_bytes);
	sc->nofit = xstrdup(why);
}

/* Will the set fit beside what is pinned?  Decided before anything is
 * pinned or fetched, so a set too large changes nothing. */
static void check_room(struct stage *s, struct scache *sc)
{
	struct unpinned_ctx u = { .s = s, .sc = sc };
	struct bramble_cache_stats cs;
	char why[256];

	bramble_cache_get_stats(sc->cache, &cs);
	/* Nothing to fetch: every chunk of the set is in the cache, which
	 * never holds more than its quota -- pinning them all fits (and the
	 * listing of the whole cache below is not needed). */
	if (sc->need_bytes == 0) {
		if (s->o->limit_prefix)
			check_limit(s, sc, cs.quota);
		return;
	}
	if (bramble_cache_list(sc->cache, unpinned_cb, &u) < 0)
		u.bytes = 0;
	if (cs.pinned_bytes + u.bytes + sc->need_bytes > cs.quota) {
		no_room(s, sc, why, sizeof(why));
		sc->nofit = xstrdup(why);
	} else if (s->o->limit_prefix) {
		check_limit(s, sc, cs.quota);
	}
}

/* Pin the set's chunks that are cached already (those to fetch are pinned
 * by their fetch), all of a cache in few transactions.  One evicted
 * meanwhile is fetched after all. */
static void pin_cache(struct stage *s, struct scache *sc)
{
	unsigned char (*hashes)[BRAMBLE_HASH_LEN] = NULL;
	struct schunk **who = NULL;
	bool *missing;
	size_t n = 0, cap = 0;
	int rc;

	for (size_t i = 0; i < s->nfiles; i++) {
		struct sfile *f = &s->files[i];

		for (uint32_t k = 0; f->chunks && !f->err && k < f->map->nchunks; k++) {
			struct schunk *c = f->chunks[k];

			if (c->sc != sc || c->state != CH_CACHED)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 1024;
				hashes = xrealloc(hashes, cap * sizeof(*hashes));
				who = xrealloc(who, cap * sizeof(*who));
			}
			memcpy(hashes[n], c->hash, BRAMBLE_HASH_LEN);
			who[n++] = c;
			c->state = CH_DONE;    /* met once: listed once */
		}
	}
	missing = xcalloc(BR_MAX(n, (size_t)1), sizeof(*missing));
	rc = n ? bramble_cache_pin_many(sc->cache, (const void *)hashes, n, s->o->owner,
					s->o->expires, missing) : 0;
	for (size_t i = 0; i < n; i++)
		who[i]->state = rc < 0 ? CH_FAILED : missing[i] ? CH_MISSING : CH_DONE;
	free(missing);
	free(hashes);
	free(who);
	for (size_t i = 0; i < s->nfiles; i++) {
		struct sfile *f = &s->files[i];

		for (uint32_t k = 0; f->chunks && !f->err && k < f->map->nchunks; k++) {
			struct schunk *c = f->chunks[k];

			if (c->sc != sc)
				continue;
			if (c->state == CH_FAILED) {
				stage_fail_file(s, f, rc);
			} else if (c->state == CH_MISSING) {
				/* the first file that has it fetches it */
				c->state = CH_FETCH;
				f->mine[k] = true;
				f->need_bytes += c->len;
			}
		}
	}
}

static void pin_cached(struct stage *s)
{
	for (size_t i = 0; i < s->ncaches; i++)
		if (!s->caches[i]->nofit)
			pin_cache(s, s->caches[i]);
}

/* ---- finishing */

static void finish_file(struct stage *s, struct sfile *f)
{
	struct stage_result *r = s->r;
	struct bramble_filemap_attr a;

	for (uint32_t k = 0; k < f->map->nchunks; k++)
		if (f->chunks[k]->state != CH_DONE) {
			stage_fail_file(s, f, -EIO);
			return;
		}
	/* kept for the attributes the mount's opens will compare (kept
	 * already when it came from there) */
	bramble_filemap_attr_of(&a, &f->st);
	if (f->from_set)
		r->maps++;
	else
		r->maps += bramble_filemap_keep(f->m->sc->cache, &f->fh, f->map, &a) == 0;
	r->files++;
	r->bytes += f->map->size;
	r->chunks += f->map->nchunks;
}

/* The counts of what was fetched, cached and met again, per chunk. */
static void count_chunks(struct stage *s)
{
	struct stage_result *r = s->r;

	for (size_t i = 0; i < s->nfiles; i++) {
		struct sfile *f = &s->files[i];

		for (uint32_t k = 0; f->chunks && k < f->map->nchunks; k++) {
			struct schunk *c = f->chunks[k];

			if (c->state != CH_DONE)
				continue;
			if (c->sc == NULL) {   /* counted already: a repeat */
				r->dedup++;
				r->bytes_dedup += c->len;
			} else if (f->mine[k]) {
				r->fetched++;
				r->bytes_fetched += c->len;
				c->sc = NULL;
			} else {
				r->cached++;
				r->bytes_cached += c->len;
				c->sc = NULL;
			}
		}
	}
}

static void free_stage(struct stage *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		free(s->files[i].path);
		free(s->files[i].chunks);
		free(s->files[i].mine);
		bramble_filemap_put(s->files[i].map);
	}
	free(s->files);
	hashtab_foreach(&s->chunks, chunk_free, NULL);
	hashtab_release(&s->chunks);
	for (size_t i = 0; i < s->nmounts; i++) {
		bramble_reader_free(s->mounts[i]->rd);
		bramble_free(s->mounts[i]->b);
		target_release(&s->mounts[i]->t);
		free(s->mounts[i]);
	}
	free(s->mounts);
	for (size_t i = 0; i < s->ncaches; i++) {
		bramble_cache_close(s->caches[i]->cache);
		free(s->caches[i]->dir);
		free(s->caches[i]->nofit);
		free(s->caches[i]);
	}
	free(s->caches);
	for (size_t i = 0; i < s->nmnts; i++)
		free(s->mnts[i].dir);
	free(s->mnts);
	stage_set_free(s);
	stage_forget_dirs(s);
	free(s->arg_failed);
	pthread_mutex_destroy(&s->mu);
}

static void init_cred(struct bramble_cred *cr)
{
	gid_t groups[BRAMBLE_NGROUPS];
	int n = getgroups(BRAMBLE_NGROUPS, groups);

	memset(cr, 0, sizeof(*cr));
	cr->uid = (uint32_t)getuid();
	cr->gid = (uint32_t)getgid();
	for (int i = 0; i < n; i++)
		cr->groups[cr->ngroups++] = (uint32_t)groups[i];
}

/* A cache the set does not fit in: every argument of its mounts fails. */
static void fail_nofit(struct stage *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		struct sfile *f = &s->files[i];

		if (f->m->sc->nofit && !f->err) {
			f->err = -ENOSPC;
			if (!s->arg_failed[f->arg]) {
				s->arg_failed[f->arg] = true;
				stage_fail(s, s->paths[f->arg], "%s", f->m->sc->nofit);
			}
		}
	}
}

int stage_run(const struct stage_opts *o, char *const *paths, size_t npaths,
	      struct stage_result *r)
{
	struct stage s = { .o = o, .r = r, .paths = paths, .npaths = npaths };
	bool *done;

	memset(r, 0, sizeof(*r));
	s.start_ns = now_ns();
	pthread_mutex_init(&s.mu, NULL);
	hashtab_init(&s.chunks, 1024);
	if (o->cred)
		s.cred = *o->cred;
	else
		init_cred(&s.cred);
	stage_load_mounts(&s);
	s.arg_failed = xcalloc(BR_MAX(npaths, (size_t)1), sizeof(bool));
	done = xcalloc(BR_MAX(npaths, (size_t)1), sizeof(bool));
	stage_add_siblings(&s, done);
	for (size_t i = 0; i < npaths; i++)
		if (!done[i])
			add_path(&s, i);
	free(done);
	stage_fetch_maps(&s);
	plan(&s);
	for (size_t i = 0; i < s.ncaches; i++)
		check_room(&s, s.caches[i]);
	fail_nofit(&s);
	pin_cached(&s);
	stage_fetch_chunks(&s);
	for (size_t i = 0; i < s.nfiles; i++)
		if (!s.files[i].err && s.files[i].map)
			finish_file(&s, &s.files[i]);
	count_chunks(&s);
	stage_set_store(&s);
	if (s.ncaches) {
		struct bramble_cache_stats cs;

		bramble_cache_get_stats(s.caches[s.ncaches - 1]->cache, &cs);
		r->quota = cs.quota;
		r->pinned = cs.pinned_bytes;
	}
	r->seconds = (double)(now_ns() - s.start_ns) / 1e9;
	free_stage(&s);
	return r->nfailed ? 1 : 0;
}

void stage_result_free(struct stage_result *r)
{
	for (size_t i = 0; i < r->nfailed; i++) {
		free(r->failed[i].path);
		free(r->failed[i].reason);
	}
	free(r->failed);
	memset(r, 0, sizeof(*r));
}
