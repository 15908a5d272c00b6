/* envcp.h - the engine of `bramble envcp`: copy an environment prefix
 * (conda env, venv, compiled tree) and rewrite its embedded prefix; and
 * --check, which verifies a copy.
 *
 * The copy walks SRC once (one thread), creating DST's directories, then a
 * few worker threads copy files: a file that does not hold the old prefix
 * is copied with copy_file_range (inside a bramble mount: one COPY_RANGE
 * call on the server, no data over the network), one that does is read,
 * rewritten, written beside its final name and renamed into place.  Hard
 * links, symlinks, sparse holes, modes, owners (as root) and times are kept.
 * A marker file (envcp_rw.h) records the prefix DST was made for and which
 * files hold it, so a later copy of DST needs to read only those. */
#ifndef BR_ENVCP_H
#define BR_ENVCP_H

#include <stdbool.h>
#include <stdint.h>

struct envcp_opts {
	const char *src, *dst;          /* as given on the command line */
	const char *old_prefix;         /* NULL: SRC's marker, else SRC's path */
	unsigned int threads;           /* workers, >= 1 */
	bool skip_unsafe;               /* a file that cannot be rewritten is
					 * not a failure (still reported) */
	bool progress;                  /* a status line on stderr */
};

/* Counters, updated by the workers with atomics. */
struct envcp_stats {
	uint64_t total;                 /* entries found by the walk */
	uint64_t done;                  /* entries finished */
	uint64_t files, dirs, symlinks, hardlinks, special;
	uint64_t bytes;                 /* regular file bytes (st_size) */
	uint64_t text, binary;          /* files rewritten */
	uint64_t shebangs, long_shebangs, prompts, links_rewritten;
	uint64_t offloaded;             /* copied whole by copy_file_range */
	uint64_t scanned;               /* files read to look for the prefix */
	uint64_t trusted;               /* not read: the marker says no prefix */
	uint64_t pyc;                   /* compiled Python, copied as is */
	uint64_t unsafe, errors;
};

/* A file the copy could not handle: refused (cannot grow) or failed. */
struct envcp_issue {
	char *path;                     /* relative to the root */
	char *msg;
	bool unsafe;                    /* refused, copied unchanged */
};

struct envcp_result {
	char *src, *dst;                /* absolute */
	char *old_prefix, *new_prefix;
	const char *old_from;           /* where old_prefix came from: "marker",
					 * "option" or "path" */
	struct envcp_stats st;
	struct envcp_issue *issues;     /* sorted by path */
	size_t nissues;
	double seconds;
};

/* Copy o->src to o->dst (which must not exist, or be an empty directory).
 * Messages about SRC/DST themselves go to stderr; per-file issues land in
 * res->issues.  Returns 0 when every file was copied (unsafe ones count as
 * copied), or -errno of the first failure that stopped the copy; res is
 * filled in either case (release it with envcp_result_release). */
int envcp_copy(const struct envcp_opts *o, struct envcp_result *res);
void envcp_result_release(struct envcp_result *res);

/* Live counters for --progress (valid during envcp_copy). */
const struct envcp_stats *envcp_live_stats(void);

/* ---- --check */

struct envcp_problem {
	char *kind;                     /* "prefix", "lib", "interp", "python",
					 * "marker", "read" */
	char *path;                     /* relative to the root ("" = root) */
	long long offset;               /* for "prefix", else -1 */
	char *msg;
};

struct envcp_check_result {
	char *dst;
	char *old_prefix;               /* searched for, or NULL */
	char *made_for;                 /* the marker's prefix, or NULL */
	uint64_t files, elfs, scripts;
	char *python;                   /* bin/python's sys.prefix, if it ran */
	struct envcp_problem *problems;
	size_t nproblems;
};

/* Verify the environment at dst: no leftover old prefix (old_prefix, else
 * the marker's `from'), every ELF's libraries resolve, every script's
 * interpreter exists, bin/python runs.  0 (problems or not: see
 * res->nproblems) or -errno when dst cannot be walked. */
int envcp_check(const char *dst, const char *old_prefix, struct envcp_check_result *res);
void envcp_check_release(struct envcp_check_result *res);

#endif
