/* handletab.c - the persistent handle table (see handletab.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handletab.h"
#include "proto.h"
#include "state.h"
#include "util.h"
#include "xalloc.h"

#define DEPTH_MAX 512            /* components in a path we will rebuild */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS handle_exports("
	" id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,"
	" uuid BLOB NOT NULL, root_ident INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS handle_objs("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, export INTEGER NOT NULL,"
	" parent INTEGER NOT NULL, name TEXT NOT NULL, ident INTEGER NOT NULL,"
	" UNIQUE(export, parent, name));"
	"CREATE INDEX IF NOT EXISTS handle_objs_ident ON handle_objs(export, ident);";

enum stmt {
	S_FIND,             /* id, ident of (parent, name) */
	S_BY_IDENT,         /* rows naming one object */
	S_INSERT,
	S_MOVE,             /* set parent, name of id */
	S_DELETE_ID,
	S_DELETE_NAME,
	S_CHAIN,            /* names from the root down to id */
	S_COUNT,
	S_N
};

static const char *const stmt_sql[S_N] = {
	[S_FIND] = "SELECT id, ident FROM handle_objs WHERE export=?1 AND parent=?2 AND name=?3",
	[S_BY_IDENT] = "SELECT id FROM handle_objs WHERE export=?1 AND ident=?2",
	[S_INSERT] = "INSERT INTO handle_objs(export, parent, name, ident) VALUES(?1, ?2, ?3, ?4)",
	[S_MOVE] = "UPDATE OR REPLACE handle_objs SET parent=?2, name=?3 WHERE export=?1 AND id=?4",
	[S_DELETE_ID] = "DELETE FROM handle_objs WHERE export=?1 AND id=?2",
	[S_DELETE_NAME] = "DELETE FROM handle_objs WHERE export=?1 AND parent=?2 AND name=?3",
	[S_CHAIN] =
		"WITH RECURSIVE up(id, parent, name, ident, depth) AS ("
		" SELECT id, parent, name, ident, 0 FROM handle_objs WHERE export=?1 AND id=?2"
		" UNION ALL SELECT h.id, h.parent, h.name, h.ident, up.depth + 1"
		" FROM handle_objs h JOIN up ON h.id = up.parent"
		" WHERE h.export=?1 AND up.depth < ?3)"
		" SELECT id, name, ident FROM up ORDER BY depth DESC",
	[S_COUNT] = "SELECT count(*) FROM handle_objs WHERE export=?1",
};

struct handletab {
	pthread_mutex_t lock;       /* the connection and its statements */
	sqlite3 *db;
	sqlite3_stmt *st[S_N];
	int64_t export;             /* handle_exports.id */
	int64_t root;               /* the root's handle_objs.id */
	int root_fd;                /* borrowed */
	char *root_path;            /* as the kernel names it (/proc/self/fd) */
	size_t root_len;
	unsigned char uuid[HANDLETAB_UUID_LEN];
};

/* ---- small SQLite helpers */

static sqlite3_stmt *stmt(struct handletab *ht, enum stmt s)
{
	sqlite3_stmt *q = ht->st[s];

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	sqlite3_bind_int64(q, 1, ht->export);
	return q;
}

/* Run a statement that returns no rows. */
static int exec_done(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_errno(rc);
}

static int exec_sql(struct handletab *ht, const char *sql)
{
	int rc = sqlite3_exec(ht->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : state_sqlite_errno(rc);
}

/* ---- rows */

static int find(struct handletab *ht, int64_t parent, const char *name,
		int64_t *id, int64_t *ident)
{
	sqlite3_stmt *q = stmt(ht, S_FIND);
	int rc;

	sqlite3_bind_int64(q, 2, parent);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(q, 0);
		*ident = sqlite3_column_int64(q, 1);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : state_sqlite_errno(rc);
	}
	sqlite3_reset(q);
	return rc;
}

static int insert(struct handletab *ht, int64_t parent, const char *name,
		  int64_t ident, int64_t *id)
{
	sqlite3_stmt *q = stmt(ht, S_INSERT);
	int rc;

	sqlite3_bind_int64(q, 2, parent);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, ident);
	rc = exec_done(q);
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(ht->db);
	return rc;
}

static int move_row(struct handletab *ht, int64_t id, int64_t parent,
		    const char *name)
{
	sqlite3_stmt *q = stmt(ht, S_MOVE);

	sqlite3_bind_int64(q, 2, parent);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, id);
	return exec_done(q);
}

static int delete_id(struct handletab *ht, int64_t id)
{
	sqlite3_stmt *q = stmt(ht, S_DELETE_ID);

	sqlite3_bind_int64(q, 2, id);
	return exec_done(q);
}

/* ---- object identity */

/* What tells one object from another that later gets the same inode
 * number: the inode number mixed with the birth time where the filesystem
 * keeps one (ext4, XFS, btrfs, tmpfs do), like the generation number in a
 * kernel file handle.  path "" with AT_EMPTY_PATH: dirfd itself. */
static int ident_at(int dirfd, const char *path, int64_t *ident)
{
	struct statx sx;
	uint64_t v;

	if (statx(dirfd, path, AT_SYMLINK_NOFOLLOW | (*path ? 0 : AT_EMPTY_PATH),
		  STATX_INO | STATX_BTIME, &sx) < 0)
		return -errno;
	v = sx.stx_ino;
	if (sx.stx_mask & STATX_BTIME) {
		/* splitmix64 of the birth time: spread over all 64 bits */
		uint64_t b = (uint64_t)sx.stx_btime.tv_sec * 1000000000u +
			     sx.stx_btime.tv_nsec + 0x9E3779B97F4A7C15u;

		b = (b ^ (b >> 30)) * 0xBF58476D1CE4E5B9u;
		b = (b ^ (b >> 27)) * 0x94D049BB133111EBu;
		v ^= b ^ (b >> 31);
	}
	*ident = (int64_t)v;
	return 0;
}

/* ---- paths */

/* Open the object of a path beneath the root without following any
 * symlink on the way (the trailing one included: an O_PATH fd of the
 * link itself). */
static int open_beneath(struct handletab *ht, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, ht->root_fd, *path ? path : ".", &how,
			  sizeof(how));
	char comp[BR_NAME_MAX + 1];
	int cur, next;

	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return -errno;
	/* No openat2: one component at a time, each O_NOFOLLOW. */
	cur = openat(ht->root_fd, ".", O_PATH | O_CLOEXEC);
	while (cur >= 0 && *path) {
		size_t n = strcspn(path, "/");

		if (n == 0 || n > BR_NAME_MAX) {
			close(cur);
			return -EINVAL;
		}
		memcpy(comp, path, n);
		comp[n] = '\0';
		path += n + (path[n] == '/');
		next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC |
			      (*path ? O_DIRECTORY : 0));
		close(cur);
		cur = next;
	}
	return cur < 0 ? -errno : cur;
}

/* The kernel's name of what fd is open on: an absolute path, with
 * " (deleted)" appended for a removed object. */
static ssize_t fd_name(int fd, char *buf, size_t len)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, len - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return n;
}

/* The path of fd relative to the export root ("" for the root), or
 * -EOPNOTSUPP when it is not beneath it.  A removed object whose name
 * ends in " (deleted)" fails the fstatat() of the walk that follows. */
static int rel_path(struct handletab *ht, int fd, char *buf, size_t len)
{
	ssize_t n = fd_name(fd, buf, len);

	if (n < 0)
		return (int)n;
	if (strncmp(buf, ht->root_path, ht->root_len) != 0)
		return -EOPNOTSUPP;
	if (ht->root_len == 1)          /* the export is "/" itself */
		memmove(buf, buf + 1, (size_t)n);
	else if (buf[ht->root_len] == '/')
		memmove(buf, buf + ht->root_len + 1, (size_t)n - ht->root_len);
	else if (buf[ht->root_len] == '\0')
		buf[0] = '\0';
	else
		return -EOPNOTSUPP;     /* /srv/data2 is not beneath /srv/data */
	return 0;
}

/* Does row id's path still lead to the object ident?  (A row moved behind
 * our back may be corrected instead of duplicated.) */
static bool row_still_valid(struct handletab *ht, int64_t id, int64_t ident);

/* The row of `name' (the object ident) in directory row `parent':
 * found, corrected, or made. */
static int child_id(struct handletab *ht, int64_t parent, const char *name,
		    int64_t ident, int64_t *id)
{
	int64_t row_ident;
	int rc = find(ht, parent, name, id, &row_ident);

	if (rc == 0 && row_ident == ident)
		return 0;
	if (rc == 0) {
		/* Another object took the name: its handles must not reach
		 * this one.  The old row goes (its children become orphans,
		 * whose chains no longer reach the root: stale). */
		rc = delete_id(ht, *id);
		if (rc < 0)
			return rc;
	} else if (rc != -ENOENT) {
		return rc;
	}
	/* The same object known under another name: one object, one handle
	 * (as with kernel handles), so a hard link reuses the row while its
	 * path still leads to the object; a row whose path no longer does
	 * (renamed or unlinked behind our back) moves here, keeping its id. */
	sqlite3_stmt *q = stmt(ht, S_BY_IDENT);
	int64_t cand[8];
	int n = 0;

	sqlite3_bind_int64(q, 2, ident);
	while (n < 8 && sqlite3_step(q) == SQLITE_ROW)
		cand[n++] = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	for (int i = 0; i < n; i++) {
		if (cand[i] != ht->root && row_still_valid(ht, cand[i], ident)) {
			*id = cand[i];
			return 0;
		}
	}
	if (n > 0 && cand[0] != ht->root) {
		*id = cand[0];
		return move_row(ht, cand[0], parent, name);
	}
	return insert(ht, parent, name, ident, id);
}

/* Names from the root down to id (excluding the root) joined by '/'. */
static int chain_path(struct handletab *ht, int64_t id, char *buf, size_t len,
		      int64_t *ident)
{
	sqlite3_stmt *q = stmt(ht, S_CHAIN);
	size_t used = 0;
	bool reached_root = false;
	int rc;

	sqlite3_bind_int64(q, 2, id);
	sqlite3_bind_int(q, 3, DEPTH_MAX);
	buf[0] = '\0';
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t row = sqlite3_column_int64(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 1);
		size_t n = strlen(name ? name : "");

		*ident = sqlite3_column_int64(q, 2);
		if (row == ht->root) {
			reached_root = true;
			continue;
		}
		if (!reached_root || used + n + 2 > len) {
			rc = SQLITE_DONE;
			reached_root = false;   /* an orphan, or too deep */
			break;
		}
		if (used)
			buf[used++] = '/';
		memcpy(buf + used, name, n + 1);
		used += n;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return state_sqlite_errno(rc);
	return reached_root ? 0 : -ESTALE;
}

static bool row_still_valid(struct handletab *ht, int64_t id, int64_t ident)
{
	char path[BR_PATH_MAX + 1];
	int64_t row_ident, now;
	int fd;

	if (chain_path(ht, id, path, sizeof(path), &row_ident) < 0)
		return false;
	fd = open_beneath(ht, path);
	if (fd < 0)
		return false;
	bool ok = ident_at(fd, "", &now) == 0 && now == ident;

	close(fd);
	return ok;
}

/* Walk rel from the root, making or correcting the row of each prefix. */
static int id_of_path(struct handletab *ht, const char *rel, uint64_t *id_out)
{
	char prefix[BR_PATH_MAX + 1];
	int64_t cur = ht->root;
	const char *p = rel;
	int rc = 0;

	while (*p && rc == 0) {
		size_t n = strcspn(p, "/");
		size_t plen = (size_t)(p - rel) + n;
		char name[BR_NAME_MAX + 1];
		int64_t ident;

		if (n == 0 || n > BR_NAME_MAX || plen > BR_PATH_MAX)
			return -EOPNOTSUPP;
		memcpy(name, p, n);
		name[n] = '\0';
		memcpy(prefix, rel, plen);
		prefix[plen] = '\0';
		rc = ident_at(ht->root_fd, prefix, &ident);
		if (rc == 0)
			rc = child_id(ht, cur, name, ident, &cur);
		p += n + (p[n] == '/');
	}
	if (rc == 0)
		*id_out = (uint64_t)cur;
	return rc;
}

/* ---- the interface */

int handletab_id_of_fd(struct handletab *ht, int fd, uint64_t *id)
{
	char rel[BR_PATH_MAX + 64];
	int rc = rel_path(ht, fd, rel, sizeof(rel));

	if (rc < 0)
		return rc == -ENAMETOOLONG ? -EOPNOTSUPP : rc;
	pthread_mutex_lock(&ht->lock);
	rc = exec_sql(ht, "BEGIN IMMEDIATE");
	if (rc == 0) {
		rc = id_of_path(ht, rel, id);
		/* Committed before the handle leaves the server: a client
		 * must never hold an id a crash could forget. */
		int crc = exec_sql(ht, rc == 0 ? "COMMIT" : "ROLLBACK");

		if (rc == 0)
			rc = crc;
	}
	pthread_mutex_unlock(&ht->lock);
	return rc;
}

int handletab_id_at(struct handletab *ht, int dirfd, const char *name,
		    uint64_t *id)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = handletab_id_of_fd(ht, fd, id);
	close(fd);
	return rc;
}

int handletab_open_id(struct handletab *ht, uint64_t id, int *fd_out,
		      struct stat *st)
{
	char path[BR_PATH_MAX + 1];
	int64_t ident = 0, now;
	int fd, rc;

	if (id > INT64_MAX)
		return -ESTALE;
	pthread_mutex_lock(&ht->lock);
	rc = chain_path(ht, (int64_t)id, path, sizeof(path), &ident);
	pthread_mutex_unlock(&ht->lock);
	if (rc < 0)
		return rc;
	fd = open_beneath(ht, path);
	if (fd < 0)
		return fd == -ENOMEM ? fd : -ESTALE;
	if (ident_at(fd, "", &now) < 0 || now != ident || fstat(fd, st) < 0) {
		close(fd);
		return -ESTALE;
	}
	*fd_out = fd;
	return 0;
}

/* The row id of an open directory, or 0 when it has none (yet). */
static int64_t dir_row(struct handletab *ht, int dirfd)
{
	uint64_t id;

	return handletab_id_of_fd(ht, dirfd, &id) == 0 ? (int64_t)id : 0;
}

void handletab_renamed(struct handletab *ht, int olddirfd, const char *oldname,
		       int newdirfd, const char *newname)
{
	int64_t from = dir_row(ht, olddirfd), to = dir_row(ht, newdirfd);
	int64_t id, ident;

	if (!from || !to)
		return;
	pthread_mutex_lock(&ht->lock);
	if (find(ht, from, oldname, &id, &ident) == 0) {
		/* UPDATE OR REPLACE drops the row of an object it replaced. */
		if (move_row(ht, id, to, newname) < 0)
			delete_id(ht, id);
	}
	pthread_mutex_unlock(&ht->lock);
}

void handletab_removed(struct handletab *ht, int dirfd, const char *name,
		       bool last_link)
{
	int64_t dir;

	/* With another link left the row stays: the next handle made for
	 * the object through that link moves it there, keeping its id. */
	if (!last_link)
		return;
	dir = dir_row(ht, dirfd);
	if (!dir)
		return;
	pthread_mutex_lock(&ht->lock);
	sqlite3_stmt *q = stmt(ht, S_DELETE_NAME);

	sqlite3_bind_int64(q, 2, dir);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	exec_done(q);
	pthread_mutex_unlock(&ht->lock);
}

int64_t handletab_count(struct handletab *ht)
{
	int64_t n = -1;

	pthread_mutex_lock(&ht->lock);
	sqlite3_stmt *q = stmt(ht, S_COUNT);

	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	pthread_mutex_unlock(&ht->lock);
	return n;
}

const unsigned char *handletab_uuid(const struct handletab *ht)
{
	return ht->uuid;
}

/* ---- open / close */

/* This export's row in handle_exports, made (with a new uuid and root
 * row) when missing or when the root directory is not the one the table
 * was made for: then every old handle must go stale. */
static int load_export(struct handletab *ht, const char *key, int64_t root_ident)
{
	sqlite3_stmt *q;
	int rc;

	rc = sqlite3_prepare_v2(ht->db,
		"SELECT id, uuid, root_ident FROM handle_exports WHERE key=?1",
		-1, &q, NULL);
	if (rc != SQLITE_OK)
		return state_sqlite_errno(rc);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(q, 1) == HANDLETAB_UUID_LEN &&
	    sqlite3_column_int64(q, 2) == root_ident) {
		ht->export = sqlite3_column_int64(q, 0);
		memcpy(ht->uuid, sqlite3_column_blob(q, 1), HANDLETAB_UUID_LEN);
		sqlite3_finalize(q);
		return 0;
	}
	sqlite3_finalize(q);
	randombytes_buf(ht->uuid, sizeof(ht->uuid));
	rc = sqlite3_prepare_v2(ht->db,
		"INSERT OR REPLACE INTO handle_exports(key, uuid, root_ident) "
		"VALUES(?1, ?2, ?3)", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return state_sqlite_errno(rc);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, ht->uuid, sizeof(ht->uuid), SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (int64_t)root_ident);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return state_sqlite_errno(rc);
	ht->export = sqlite3_last_insert_rowid(ht->db);
	return 0;
}

static int load_root(struct handletab *ht, int64_t root_ident)
{
	int64_t ident;
	int rc = find(ht, 0, "", &ht->root, &ident);

	if (rc == 0 && ident == root_ident)
		return 0;
	if (rc == 0 || rc == -ENOENT) {
		/* A table made for another directory: start afresh. */
		sqlite3_stmt *q;

		if (sqlite3_prepare_v2(ht->db, "DELETE FROM handle_objs WHERE export=?1",
				       -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, ht->export);
			sqlite3_step(q);
			sqlite3_finalize(q);
		}
		return insert(ht, 0, "", root_ident, &ht->root);
	}
	return rc;
}

int handletab_open(const char *db_path, const char *export, int root_fd,
		   struct handletab **out, char *err, size_t errlen)
{
	struct handletab *ht = xcalloc(1, sizeof(*ht));
	char root[BR_PATH_MAX + 64];
	int64_t root_ident;
	ssize_t n;
	int rc;

	pthread_mutex_init(&ht->lock, NULL);
	ht->root_fd = root_fd;
	n = fd_name(root_fd, root, sizeof(root));
	if (n < 0 || root[0] != '/') {
		rc = n < 0 ? (int)n : -EINVAL;
		snprintf(err, errlen, "handle table: cannot name the export root: %s",
			 strerror(-rc));
		goto fail;
	}
	ht->root_path = xstrdup(root);
	ht->root_len = (size_t)n;

	rc = state_db_open(db_path, "handle table", schema, &ht->db, err, errlen);
	if (rc < 0)
		goto fail;
	for (int i = 0; i < S_N && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v3(ht->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &ht->st[i], NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "handle table in %s: %s", db_path,
			 sqlite3_errmsg(ht->db));
		rc = state_sqlite_errno(rc);
		goto fail;
	}
	rc = ident_at(root_fd, "", &root_ident);
	if (rc == 0)
		rc = load_export(ht, export, root_ident);
	if (rc == 0)
		rc = load_root(ht, root_ident);
	if (rc < 0) {
		snprintf(err, errlen, "handle table in %s: %s", db_path, strerror(-rc));
		goto fail;
	}
	*out = ht;
	return 0;
fail:
	handletab_close(ht);
	return rc;
}

void handletab_close(struct handletab *ht)
{
	if (!ht)
		return;
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(ht->st[i]);
	sqlite3_close(ht->db);
	pthread_mutex_destroy(&ht->lock);
	free(ht->root_path);
	free(ht);
}
