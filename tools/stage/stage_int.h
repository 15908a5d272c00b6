/* stage_int.h - what stage.c (resolving, walking, planning) and
 * stage_fetch.c (the threads: maps, chunks, progress) share.
 *
 * Ownership: everything hangs off struct stage and is freed by
 * stage.c at the end of stage_run().  Locking: the planning runs on the
 * calling thread only; during the parallel phases workers touch only
 * their own struct sfile, the chunk entries' state (under s->mu) and the
 * counters (under s->mu). */
#ifndef BR_TOOLS_STAGE_INT_H
#define BR_TOOLS_STAGE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "bramble.h"
#include "bramble_cache.h"
#include "bramble_reader.h"
#include "hashtab.h"
#include "stage.h"
#include "target.h"

/* One node cache directory (mounts normally share one). */
struct scache {
	char *dir;
	struct bramble_cache *cache;
	uint64_t need_bytes;       /* unique chunks to fetch into it */
	uint64_t set_bytes;        /* unique chunks of the set in it */
	char *nofit;               /* set: the set does not fit (the reason) */
};

/* One mount the paths live in, with its own connection. */
struct smount {
	struct target t;
	struct bramble *b;
	struct bramble_fh root;
	struct scache *sc;
	struct bramble_reader *rd;
};

/* CH_MISSING: found evicted when pinned (pin_cached), to fetch */
enum { CH_CACHED, CH_FETCH, CH_DONE, CH_FAILED, CH_MISSING };

/* A distinct chunk of the set, per cache. */
struct schunk {
	struct hashtab_node hn;    /* in stage.chunks */
	struct scache *sc;
	unsigned char hash[BRAMBLE_HASH_LEN];
	uint64_t len;
	int state;                 /* CH_*; under s->mu while fetching */
};

struct sfile {
	struct smount *m;
	size_t arg;                /* the path argument it came from */
	char *path;                /* as the user sees it (for messages) */
	struct bramble_fh fh;
	struct stat st;
	struct bramble_filemap *map;   /* NULL: not fetched yet */
	struct schunk **chunks;    /* per chunk of map */
	bool *mine;                /* ... first met in this file: fetched here */
	uint64_t need_bytes;       /* bytes of the chunks fetched here */
	int err;                   /* -errno: not staged */
	bool from_set;             /* map kept for it, the directory unchanged */
	bool readable;             /* TREE opened it as the user (no map: not indexed) */
};

/* A mount point of this machine (/proc/self/mountinfo; the last of a
 * stack of mounts on one point is the one seen). */
struct smnt {
	char *dir;
	bool bramble;              /* fuse.bramblefs */
};

struct stage {
	const struct stage_opts *o;
	struct stage_result *r;
	struct bramble_cred cred;
	char *const *paths;
	size_t npaths;
	bool *arg_failed;          /* a failure was reported for the argument */
	struct smount **mounts;
	size_t nmounts;
	struct smnt *mnts;         /* every mount point, read once */
	size_t nmnts;
	struct scache **caches;
	size_t ncaches;
	struct sfile *files;
	size_t nfiles, capfiles;
	struct hashtab chunks;     /* every schunk, by (cache, hash) */
	struct sset **sets;        /* per argument: a directory's digest (stage_sets.c) */
	struct hashtab dirs;       /* directories resolved (stage_path.c) */
	bool dirs_init;
	/* parallel phases */
	pthread_mutex_t mu;
	size_t next;               /* next file to hand out */
	uint64_t todo_bytes, done_bytes;   /* of the fetch phase */
	size_t todo_files, done_files;
	int64_t start_ns;
};

/* Record a failure of a path (printf-style reason). */
void stage_fail(struct stage *s, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A file's failure: transport and quota errors fail its whole argument
 * (once), others the file. */
void stage_fail_file(struct stage *s, struct sfile *f, int err);

/* stage.c: the mount t is in (found by target_mount_root; taken over):
 * one met already, or a new connection.  NULL with err set. */
struct smount *stage_mount_for(struct stage *s, struct target *t, char *err, size_t len);

/* stage_path.c: every mount point of the machine into s->mnts; path
 * (as given) to its mount, handle and attributes as s->cred (see there).
 * 0 with *mp NULL: not in a bramble mount; -errno, with err set when the
 * reason is not strerror's. */
void stage_load_mounts(struct stage *s);
int stage_resolve(struct stage *s, const char *path, struct smount **mp,
		  struct bramble_fh *fh, struct stat *st, char *err, size_t len);
void stage_forget_dirs(struct stage *s);

/* stage.c: a file of the set (NULL: named already). */
struct sfile *stage_file_add(struct stage *s, struct smount *m, size_t arg,
			     const char *path, const struct bramble_fh *fh,
			     const struct stat *st);
/* stage_files.c: arguments naming several files of one directory (a
 * learned set) staged by one TREE of it; done[arg] set for those. */
void stage_add_siblings(struct stage *s, bool *done);

/* stage_fetch.c: the parallel phases.  Maps of files without one
 * (CHUNKMAP); the chunks planned CH_FETCH, with a progress line. */
void stage_fetch_maps(struct stage *s);
/* stage_sets.c: a directory staged before (see there).  again: when
 * argument arg, directory fh of m, is as it was when last staged
 * completely by this user, add its files (named base/...) with their
 * kept maps and return true; else false, and the caller walks it with
 * maps: begin before that walk, entry for each entry it returns, store
 * once everything is staged (keeps the digests of complete walks). */
struct sset;
bool stage_set_again(struct stage *s, size_t arg, struct smount *m,
		     const struct bramble_fh *fh, const char *base);
void stage_set_begin(struct stage *s, size_t arg, struct smount *m,
		     const struct bramble_fh *fh);
void stage_set_entry(struct stage *s, size_t arg, const struct bramble_tree_entry *e);
void stage_set_store(struct stage *s);
void stage_set_free(struct stage *s);
void stage_fetch_chunks(struct stage *s);

#endif
