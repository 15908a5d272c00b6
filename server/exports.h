/* exports.h - the set of exports one brambled serves, and its reload.
 *
 * An exports file (brambled --exports FILE) has one export per line:
 *
 *   # NAME    PATH              OPTIONS (optional, comma-separated)
 *   data      /srv/data         ro,allow=10.0.0.0/24
 *   scratch   /srv/scratch      rw,allow=10.0.0.0/24;10.0.1.0/24,no_root_squash
 *
 * NAME: 1-64 of [A-Za-z0-9._-], not starting with '.'.  PATH: absolute, a
 * directory, no white space.  OPTIONS: ro | rw, root_squash |
 * no_root_squash, allow=CIDR[;CIDR...] (a ',' also continues the list when
 * what follows is a network), auth=sys | munge, id=N (0..65535).  A line's
 * options default to the command line's (--read-only, --no-root-squash,
 * --allow).  Errors are reported all at once, each as "FILE:LINE: what".
 * `brambled --export DIR' is the same as a file with the one line
 * "basename(DIR)  DIR".
 *
 * Export ids.  Each handle carries its export's 16-bit id (fhandle.h),
 * derived from the NAME (the first two bytes of its BLAKE2b hash), so
 * handles survive restarts and reloads as long as the name stays; `id=N'
 * overrides it when two names collide (refused at load, naming both).
 *
 * Lifetime and locking.  A `struct exports' holds the current table under
 * its mutex.  A table is immutable once published; its entries are
 * immutable too except for their reference count.  Readers (the loop
 * thread, workers) take the lock only to find an entry and take a
 * reference (exports_get_*), and drop it with exports_unref() when their
 * call is over, so a reload never frees an export a call is using.
 * exports_reload() (loop thread, on SIGHUP) builds the new table outside
 * the lock -- reading the file, opening new exports -- then swaps it in
 * and drops the old table's references: a removed export lives on until
 * its last in-flight call finishes, and its handles get ESTALE from the
 * next call on.  An export whose name, path, id and options are all
 * unchanged keeps its entry (and decoded-handle cache); a changed one gets
 * a new entry whose options apply from the next call.  A file that does
 * not load keeps the old table.
 *
 * Functions return 0 or -errno; error text for the administrator goes
 * into a struct buf (one "file:line: message" line per problem). */
#ifndef BR_EXPORTS_H
#define BR_EXPORTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "allow.h"
#include "buf.h"
#include "fhandle.h"

#define EXPORTS_NAME_MAX 64

/* How calls on an export must authenticate.  MUNGE: only calls with a
 * BR_AUTH_MUNGE credential (see the MUNGE support in dispatch). */
enum export_auth { EXPORT_AUTH_SYS, EXPORT_AUTH_MUNGE };

/* One export.  Immutable once its table is published, but for refs. */
struct exports_entry {
	char *name;
	char *path;                     /* absolute, no trailing '/' (but "/") */
	uint16_t id;
	bool read_only;
	bool root_squash;
	enum export_auth auth;
	struct allow allow;             /* networks that may use it */
	bool local;                     /* export_is_local(): inline calls allowed */
	struct export *ex;              /* owned; NULL until opened */
	unsigned int line;              /* in the file, for messages */
	bool id_given;                  /* id=N, not from the name */
	atomic_uint refs;
};

/* A parsed file: entries in file order. */
struct exports_table {
	struct exports_entry **v;
	size_t n;
};

/* Where file handles come from (brambled --handles): kernel handles,
 * the persistent handle table (handletab.h), or kernel handles where the
 * filesystem makes them and the table where it does not. */
enum export_handles { EXPORT_HANDLES_AUTO, EXPORT_HANDLES_KERNEL, EXPORT_HANDLES_TABLE };

/* Options of a line that does not give them (the command line's), and
 * what every export shares. */
struct exports_defaults {
	const char *allow;              /* CIDR[,CIDR...] */
	bool read_only;
	bool root_squash;
	enum export_auth auth;
	enum export_handles handles;
	const char *db_path;            /* bramble.db, for handle tables; NULL: none */
};

/* ---- parsing (no file system access; exposed for the unit tests) */

/* Parse text (the contents of file, named in messages) into *out (free:
 * exports_table_free()).  Every error is appended to err; -EINVAL if
 * there was any (*out untouched), else 0.  An empty file is an error. */
int exports_parse(const char *file, const char *text,
		  const struct exports_defaults *d, struct exports_table **out,
		  struct buf *err);
void exports_table_free(struct exports_table *t);
/* The id a name gets without id=N. */
uint16_t exports_name_id(const char *name);
/* A valid NAME (see above). */
bool exports_name_ok(const char *s);
/* Append e (its reference passes to t). */
void exports_table_add(struct exports_table *t, struct exports_entry *e);

/* ---- the live set */

struct exports {
	pthread_mutex_t lock;
	struct exports_table *cur;      /* protected by lock; never NULL */
	char *file;                     /* NULL: one --export DIR, no reload */
	struct exports_defaults def;    /* strings owned */
	unsigned char key[EXPORT_KEY_LEN];
	unsigned int cache_max;         /* decoded handles, shared by all exports */
};

/* Load FILE, opening every export.  On success *out owns the set (free:
 * exports_free()); on failure err says why. */
int exports_new_file(const char *file, const struct exports_defaults *d,
		     const unsigned char key[EXPORT_KEY_LEN], unsigned int cache_max,
		     struct exports **out, struct buf *err);
/* One export of dir with the defaults (brambled --export DIR). */
int exports_new_dir(const char *dir, const struct exports_defaults *d,
		    const unsigned char key[EXPORT_KEY_LEN], unsigned int cache_max,
		    struct exports **out, struct buf *err);
void exports_free(struct exports *xs);
/* Call fn for each export of the current table, with the table's lock
 * held (fn must not call back into xs). */
void exports_each(struct exports *xs, void (*fn)(void *arg, const struct exports_entry *e),
		  void *arg);
/* Log one line per export: name, path, id and options. */
void exports_log(struct exports *xs);
/* Re-read the file (loop thread).  0: the new table is in place and
 * summary says what changed; -errno: the old one stays, err says why.
 * A set made from a dir has nothing to re-read: 0, summary empty. */
int exports_reload(struct exports *xs, struct buf *summary, struct buf *err);

/* Find an export and take a reference (drop it: exports_unref()); NULL if
 * there is none. */
struct exports_entry *exports_get_id(struct exports *xs, uint16_t id);
struct exports_entry *exports_get_name(struct exports *xs, const char *name);
/* The export a wire handle claims by its id (the MAC is checked when the
 * handle is decoded). */
struct exports_entry *exports_get_fh(struct exports *xs, const void *fh, size_t len);
void exports_unref(struct exports_entry *e);
size_t exports_count(struct exports *xs);

/* The export a MOUNT path names, and the rest of the path beneath it
 * (pointing into path):
 *   "NAME[/sub]"            an export by name;
 *   "/abs/path[/sub]"       the export whose PATH is the longest prefix
 *                           (with or without the leading '/': clients
 *                           strip it);
 *   "", "/" or "sub"        the only export, when there is exactly one.
 * -ENOENT when none matches. */
int exports_find_mount(struct exports *xs, const char *path,
		       struct exports_entry **out, const char **rest);

/* May a client at peer (its socket address) use e? */
bool exports_entry_allows(const struct exports_entry *e, const struct sockaddr *peer);
/* May a connection from sa be accepted: is it in any export's networks? */
bool exports_accepts(struct exports *xs, const struct sockaddr *sa);
/* For INFO: the exports peer may use, "NAME=PATH[ (ro)]" joined by "; ",
 * or only the path when there is one export.  *read_only: all of them
 * are read-only. */
void exports_describe(struct exports *xs, const struct sockaddr *peer,
		      struct buf *out, bool *read_only);

#endif
