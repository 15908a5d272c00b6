/* envcp_rw.h - what `bramble envcp` does to bytes: find an environment's
 * prefix, rewrite it in text files, #! lines and binaries, and read and
 * write the marker file that records the prefix a copy was made for.
 *
 * Pure functions over memory (the marker functions aside): no walking, no
 * threads.  The engine (envcp.c) and --check (envcp_check.c) use them. */
#ifndef BR_ENVCP_RW_H
#define BR_ENVCP_RW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"

/* Name of the marker file at an environment's root. */
#define ENVCP_MARKER ".bramble-envcp"
/* Longest #! line (without the newline) that every kernel we run on
 * honours: BINPRM_BUF_SIZE was 128 before Linux 5.1.  Longer ones are made
 * portable. */
#define ENVCP_SHEBANG_MAX 127

struct envcp_prefixes {
	const char *old;        /* the prefix the files embed, no trailing '/' */
	size_t oldlen;
	const char *new;        /* the prefix they get */
	size_t newlen;
	const char *oldbase;    /* basenames (a venv's prompt holds them) */
	const char *newbase;
};

/* Fill the lengths and basenames of p from p->old and p->new. */
void envcp_prefixes_init(struct envcp_prefixes *p, const char *old, const char *new);

/* Offset of the first occurrence of pat[0..plen) in data at or after
 * `from' that stands alone as a path: not preceded nor followed by a
 * file-name character ([A-Za-z0-9_.+-]), so /a/env matches in "/a/env/lib"
 * and "/a/env:" but not in "/a/env2" or "/a/env.old".  -1 if none. */
ssize_t envcp_find(const char *data, size_t len, size_t from,
		   const char *pat, size_t plen);

/* Text, by content: no NUL byte in the first `len' bytes.  (conda-pack
 * asks for valid UTF-8; a latin-1 text file has no NUL either and must not
 * be NUL-padded.) */
bool envcp_is_text(const char *data, size_t len);

/* Flags of envcp_rewrite_text's *what. */
#define ENVCP_RW_SHEBANG      1u   /* the #! line held the prefix */
#define ENVCP_RW_LONG_SHEBANG 2u   /* ... and was made portable */
#define ENVCP_RW_PROMPT       4u   /* a venv activate script's (basename) prompt */

/* Rewrite a text file: every occurrence of p->old becomes p->new; in a
 * file whose name begins with "activate" the prompt "(OLDBASE) " becomes
 * "(NEWBASE) "; a #! line that grew past ENVCP_SHEBANG_MAX is made portable
 * (a python interpreter through the /bin/sh exec trick that keeps its exact
 * path, anything else through `/usr/bin/env [-S] NAME ARGS'), keeping the
 * interpreter's arguments.  Appends the result to out and returns the
 * number of prefix occurrences replaced. */
size_t envcp_rewrite_text(const char *data, size_t len, const struct envcp_prefixes *p,
			  const char *name, struct buf *out, unsigned int *what);

/* Rewrite a binary in place, conda style: each occurrence, with the rest
 * of its NUL-terminated string, moves left and the string is padded with
 * NULs, so every offset and length outside the string stays the same.
 * Returns the number of occurrences, or -ENOSPC without touching data when
 * the new prefix is longer and there is at least one. */
ssize_t envcp_rewrite_binary(char *data, size_t len, const struct envcp_prefixes *p);

/* New target for a symlink: p->new + rest when target is p->old or lies
 * beneath it (absolute), else NULL.  Caller frees. */
char *envcp_rewrite_link(const char *target, const struct envcp_prefixes *p);

/* True for compiled Python (.pyc/.pyo): marshal strings are length-prefixed,
 * so they are never NUL-padded. */
bool envcp_is_pyc(const char *name);

/* ---- the marker file */

struct envcp_marker {
	char *prefix;           /* the prefix the environment was made for */
	char *from;             /* the prefix it was copied from (may be NULL) */
	char **rewrite;         /* sorted: files that hold the prefix */
	size_t nrewrite;
	char **unsafe;          /* files left holding `from' */
	size_t nunsafe;
	struct timespec mtime;  /* the marker's own mtime: files changed later
				 * (ctime) are scanned, not trusted */
};

/* Read root/ENVCP_MARKER.  0, -ENOENT when there is none, -EPROTO when it is
 * not one of ours, or -errno.  On failure *m needs no release. */
int envcp_marker_read(const char *root, struct envcp_marker *m);
void envcp_marker_release(struct envcp_marker *m);
/* True when rel (a path relative to the root) is in m->rewrite. */
bool envcp_marker_lists(const struct envcp_marker *m, const char *rel);
/* Write root/ENVCP_MARKER (beside, then renamed) with the given lists.
 * 0 or -errno. */
int envcp_marker_write(const char *root, const char *prefix, const char *from,
		       char **rewrite, size_t nrewrite, char **unsafe, size_t nunsafe);

/* Append s to out as a JSON string, quotes included. */
void envcp_json_str(struct buf *out, const char *s);

#endif
