/* stage.h - staging: make files of bramblefs mounts local to this node
 * before a job reads them (`bramble stage`, `bramble cache pin PATH`).
 *
 * stage_run() resolves each path to its mount (the .bramble control file
 * names the server, the MOUNT path and the node cache directory) and to
 * a file handle (MOUNT, then LOOKUP per component -- READLINK for a
 * symbolic link -- as the user it stages for, o->cred), without any call
 * through the mount itself: a stat there would be made with the
 * caller's own credentials (root's, in a Prolog, which the server
 * squashes) and would wait for a server that is down.  Components
 * outside bramblefs mounts are looked at locally (lstat, readlink).
 * walks directories with TREE (entries, attributes and chunk maps in a few
 * calls), fetches the maps TREE did not carry with CHUNKMAP, then brings
 * every chunk the node cache lacks in with the chunk reader (many files
 * and chunks in flight), pinned for the owner, and stores each file's map
 * in the node cache with the file's size/mtime/ctime -- so the mount
 * then reads the files with no data call at all.
 *
 * Cheap when there is little to do: a directory staged completely before
 * by the same user and unchanged since costs one TREE of attributes and a
 * comparison with the digest the node cache kept (stage_sets.c), and its
 * chunks are pinned in a few transactions; many files of one directory
 * (a learned set) are taken from one TREE of it, and each directory of
 * the paths is resolved once (stage_files.c, stage_path.c).
 *
 * Quota: before fetching anything it checks that the set fits beside
 * what is pinned already (and within the user's limit, when there is
 * one); when it cannot, nothing is fetched or pinned for that cache and
 * every path of it is reported "no room" (or "over the limit").  Pins of
 * other owners are never touched (the node cache never evicts a pinned
 * chunk).
 *
 * Single-threaded caller; stage_run() runs its own threads inside. */
#ifndef BR_TOOLS_STAGE_H
#define BR_TOOLS_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bramble_cred;

struct stage_opts {
	const char *owner;         /* pin owner, "job:ID" or "user:NAME" */
	/* Every server call is made as this user (uid, gid, groups); NULL:
	 * the process's real uid, gid and groups. */
	const struct bramble_cred *cred;
	/* Per-user limit (bramblefs -o stage_user_max, for ordinary users):
	 * when limit_prefix is set, the bytes pinned by the owners
	 * limit_prefix and limit_prefix:* plus the set's bytes must stay
	 * within limit_bytes, or limit_pct percent of the cache's quota when
	 * limit_bytes is 0; else nothing of that cache is staged. */
	const char *limit_prefix;
	uint64_t limit_bytes;
	unsigned int limit_pct;
	int64_t expires;           /* pins' expiry, unix seconds; 0: never */
	const char *cache_dir;     /* NULL: each mount's cache_dir= */
	bool progress;             /* a progress line on stderr */
	unsigned int threads;      /* files in flight; 0: default */
};

/* A path that could not be staged, and why (both malloc'd). */
struct stage_failure {
	char *path;
	char *reason;
};

struct stage_result {
	uint64_t files, bytes;     /* files staged completely, their bytes */
	uint64_t chunks;           /* chunks of those files (with repeats) */
	uint64_t fetched, bytes_fetched;   /* transferred from the server now */
	uint64_t cached, bytes_cached;     /* already in the node cache */
	uint64_t dedup, bytes_dedup;       /* a chunk met again in the set */
	uint64_t maps;             /* file maps stored in the node cache */
	uint64_t quota, pinned;    /* of the (last) node cache, at the end */
	double seconds;
	size_t nfailed;
	struct stage_failure *failed;
};

/* Stage paths (existing files or directories in bramblefs mounts).
 * Fills *r (release with stage_result_free); every path or file that
 * could not be staged is in r->failed.  Returns 0 when everything was
 * staged, 1 otherwise. */
int stage_run(const struct stage_opts *o, char *const *paths, size_t npaths,
	      struct stage_result *r);
void stage_result_free(struct stage_result *r);

struct bramble_cache;
struct buf;

/* ---- stage_req.c: an ordinary user's staging, done by bramblefs
 * (the protocol: fuse/stagereq.h). */

/* The stage socket (.bramble: stage_socket=) of the mount of the first
 * path in one (NULL when that one offers none); with no path in a mount,
 * of the current directory's mount, else of any bramblefs mount.  Caller
 * frees. */
char *stage_req_socket(char *const *paths, size_t npaths);
/* Append one field of a request: "key=value", or "key" (value NULL). */
void stage_req_add(struct buf *req, const char *key, const char *value);
/* Send req (with this process's stdout and stderr, where bramblefs
 * writes everything) to sock and wait for the answer: the exit status,
 * or 1 (said on stderr) when there was none. */
int stage_req_run(const char *sock, const struct buf *req);

/* "1.5 GiB" */
void stage_human(uint64_t bytes, char *out, size_t len);

/* `bramble cache gc`: remove the pins "job:ID" of Slurm jobs that no
 * longer exist, when Slurm can be asked (squeue, else scontrol, in PATH).
 * Says what it did on out (stderr: Slurm did not answer).  *removed: pins removed.  0, or -errno when
 * the cache failed; Slurm not answering is said and is not an error. */
int stage_gc_dead_jobs(struct bramble_cache *c, FILE *out, uint64_t *removed);
/* Whether each Slurm job ids[i] (digits) exists: alive[i] 1 yes, 0 gone
 * (ended or unknown to Slurm), -1 cannot tell (no Slurm here, or it did
 * not answer: said on stderr).  One squeue for all, else scontrol per job. */
void stage_jobs_alive(char *const *ids, size_t n, int *alive);

#endif
