/* stage_args.h - what `bramble stage` was asked for: its options (parsed
 * by cmd_stage.c) and the paths they name (gathered by stage_args.c) --
 * arguments, quoted globs (expanded as the user staged for), a manifest,
 * the NUL-separated list on stdin that bramblefs passes (--paths0), and a
 * mount's learned sets (--learned).
 *
 * A name that leads to no path (a glob that matches nothing, a learned
 * set that is not there) is not an error of the command: it is kept in
 * pre_path/pre_why and reported with the files that failed to stage
 * ("not staged: PATH: REASON"). */
#ifndef BR_TOOLS_STAGE_ARGS_H
#define BR_TOOLS_STAGE_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "bramble.h"

/* A growing list of strings, each malloc'd and owned by the list. */
struct strlist {
	char **v;
	size_t n;
};

void strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

struct stage_args {
	bool quiet, json, paths0;
	const char *job, *manifest, *learned, *record_dir, *cache_dir, *release;
	const char *user, *owner, *user_max;
	int64_t expires;
	unsigned long long expires_rel;
	unsigned threads;
	/* who the staging is for (cmd_stage.c's setup_cred) */
	struct bramble_cred cred;
	char name[200];            /* ... their user name (or uid) */
	bool for_user;             /* ... not this process's effective uid */
	struct strlist paths;      /* what to stage */
	struct strlist pre_path, pre_why;   /* failures before staging */
};

/* Record that path could not be staged, and why. */
void stage_args_fail(struct stage_args *a, const char *path, const char *why);

/* A path, or a glob the shell left quoted (expanded as a->cred when
 * a->for_user, so names the user may not list are never seen). */
void stage_args_add(struct stage_args *a, const char *arg);

/* The paths in file, one per line ('#' comments, blanks trimmed), as
 * stage_args_add.  0, or -1 (said) when file cannot be read. */
int stage_args_manifest(struct stage_args *a, const char *file);

/* --paths0: the NUL-separated paths on stdin, taken as they are (no
 * globbing).  0, or -1 (said) on a read error. */
int stage_args_paths0(struct stage_args *a);

/* The files of learned set a->learned of the mount mount_path is in
 * (from a->record_dir, else the mount's record directory). */
void stage_args_learned(struct stage_args *a, const char *mount_path);

/* The same without a PATH: the current directory's mount, else every
 * bramblefs mount whose record directory holds the set. */
void stage_args_learned_anywhere(struct stage_args *a);

/* Every bramblefs mount point of this machine, into out. */
void stage_args_all_mounts(struct strlist *out);

#endif
