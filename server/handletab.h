/* handletab.h - the persistent handle table: file handles for an export
 * whose filesystem cannot make its own (name_to_handle_at fails: some FUSE
 * and network filesystems, overlayfs without nfs_export), or when
 * `--handles=table' asks for it.
 *
 * Each object a client got a handle for has a row in bramble.db:
 *
 *   handle_objs(id, export, parent, name, ident)
 *
 * (parent, name) is where the object was last seen, as a path from the
 * export root, and ident what it was.  A handle carries the row's id (ids
 * are never reused: AUTOINCREMENT), so decoding walks the rows up to the
 * root, opens that path beneath the export root without following any
 * symlink, and checks the object's identity (inode number and birth time,
 * like the generation in a kernel handle): an object replaced by another
 * of the same name, even one reusing its inode number, is ESTALE, never
 * the other object.  Directories are
 * single rows that their children point to, so renaming a directory
 * through the server (handletab_renamed) keeps every handle beneath it
 * valid; an object renamed behind the server's back gets its row
 * corrected the next time a handle is made for it from its open fd.  The
 * table survives restarts (it is the point), and a per-export random
 * `uuid' bound into handle MACs makes handles of a lost table never
 * verify against a new one.
 *
 * One object has one row and so one handle, whatever name it is reached
 * by (hard links), as with kernel handles.
 *
 * Weaknesses, by design of a fallback: a row remembers one name of a file
 * with several links; when that name goes away its handle is stale until
 * the file is looked up again by another name (which moves the row,
 * keeping the id); a directory renamed behind the server's back makes the
 * handles beneath it stale until they are looked up again.
 *
 * Thread-safe: one mutex around the database connection (its own, in WAL
 * mode, beside the other users of bramble.db).  Functions return 0 or
 * -errno. */
#ifndef BR_HANDLETAB_H
#define BR_HANDLETAB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define HANDLETAB_UUID_LEN 16

struct handletab;

/* Open (creating the tables if needed) the table of the export called
 * `export' (its name or path: the key rows belong to) in the database at
 * db_path, for the export whose root directory is open at root_fd
 * (borrowed).  On failure err (>= 256 bytes) says why. */
int handletab_open(const char *db_path, const char *export, int root_fd,
		   struct handletab **out, char *err, size_t errlen);
void handletab_close(struct handletab *ht);

/* Random bytes made when this export's table was created. */
const unsigned char *handletab_uuid(const struct handletab *ht);

/* The id of the object open at fd (any kind, O_PATH included), which lies
 * beneath the export root; rows are made or corrected on the way.
 * -EOPNOTSUPP if fd is not beneath the root (another mount, or gone). */
int handletab_id_of_fd(struct handletab *ht, int fd, uint64_t *id);
/* The id of dirfd/name (never following a symlink). */
int handletab_id_at(struct handletab *ht, int dirfd, const char *name,
		    uint64_t *id);

/* Open the object of id: a new O_PATH fd (caller closes) and its
 * attributes.  -ESTALE if the id is unknown or its path no longer leads to
 * the same inode. */
int handletab_open_id(struct handletab *ht, uint64_t id, int *fd_out,
		      struct stat *st);

/* The server renamed olddir/oldname to newdir/newname (already done):
 * move the row, dropping the one of an object it replaced. */
void handletab_renamed(struct handletab *ht, int olddirfd, const char *oldname,
		       int newdirfd, const char *newname);
/* The server removed dir/name (already done), the object's last link or
 * not: drop its row when nothing is left of it. */
void handletab_removed(struct handletab *ht, int dirfd, const char *name,
		       bool last_link);

/* Rows held for this export (for tests and logs). */
int64_t handletab_count(struct handletab *ht);

#endif
