/* orphans.h - files removed while a client has them open (REMOVE_OPEN).
 *
 * On Linux an open file whose last name is removed lives on, nameless,
 * with st_nlink 0, until its last close; its directory can be removed.
 * NFS clients imitate that by renaming the file aside (".nfsXXXX"), which
 * leaves a visible name and a directory that cannot be removed.  bramble
 * keeps the file on the server instead: REMOVE_OPEN links it into the
 * export's orphan directory (ORPHAN_DIR at the export's root, same
 * filesystem, 0700 root) before removing the name as the caller, so it has
 * no name a client can see, its handle keeps working, and a server
 * restart keeps it too.  Its attributes report st_nlink without that link.
 *
 * Each orphan belongs to the client that made it (the client id of its
 * credentials); its name there is "<client id, 16 hex>.<random, 16 hex>".
 * It goes when that client says its last open is over (CLOSE with
 * BR_CLOSE_LAST), when the client's lease runs out (lock.h client_gone),
 * and -- for orphans a restarted server finds in the directory -- when
 * the client does not come back within its lease.
 *
 * Threads: workers call in; one mutex guards the table.  orphans_is()
 * skips the lock while the table is empty, which it nearly always is. */
#ifndef BR_ORPHANS_H
#define BR_ORPHANS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define ORPHAN_DIR ".bramble-orphans"

/* The orphan directory's name is reserved in every directory: never
 * listed, looked up, made or removed through bramble (simpler to explain
 * than "at an export's root only", and as unlikely to be wanted). */
static inline bool orphans_reserved(const char *name)
{
	return name && !strcmp(name, ORPHAN_DIR);
}

struct orphans;

/* Never fails (xmalloc). */
struct orphans *orphans_new(void);
/* Forgets the table; the files stay in their directories.  Accepts NULL. */
void orphans_free(struct orphans *o);

/* Record the orphans export_path's orphan directory holds (a restart).
 * Their clients are returned one by one through fn, to be expected back
 * (lockmgr_client_expect).  0, or -errno when the directory cannot be
 * read (none is fine). */
int orphans_load(struct orphans *o, const char *export_path,
		 void (*fn)(void *arg, uint64_t client), void *arg);

/* Remove name from dirfd as the caller, keeping its file for client in
 * export_path's orphan directory where name is the last link of a
 * regular file.  Runs as root and switches to the caller only for the
 * removal (become_user / become_root below); st: name's attributes
 * (lstat).  0 or -errno (the name is then untouched). */
int orphans_remove(struct orphans *o, const char *export_path, int dirfd,
		   const char *name, const struct stat *st, uint64_t client,
		   int (*become_user)(void *arg), void (*become_root)(void *arg),
		   void *arg);

/* Is (dev, ino) an orphan?  Its st_nlink counts the orphan link. */
bool orphans_is(struct orphans *o, dev_t dev, ino_t ino);

/* client's last open of (dev, ino) is over: its orphan goes. */
void orphans_release(struct orphans *o, uint64_t client, dev_t dev, ino_t ino);
/* client's lease ran out: its orphans go. */
void orphans_client_gone(struct orphans *o, uint64_t client);

/* Orphans held (stats, tests). */
unsigned int orphans_count(struct orphans *o);

#endif
