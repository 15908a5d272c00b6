/* state.c - state directory: handle key and SQLite database.
 *
 * This file and (later) chunkidx.c are the only places SQLite result codes
 * exist; they are turned into -errno here. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sqlerr.h"
#include "state.h"
#include "util.h"
#include "xalloc.h"

#define STATE_SCHEMA_VERSION "1"

int state_sqlite_errno(int rc)
{
	return sqlite_errno(rc);
}

int state_db_open(const char *path, const char *what, const char *schema,
		  sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *db;
	char *msg;
	int rc;

	rc = sqlite_open_schema(path, 5000, schema, &db, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the %s in '%s': %s", what, path,
			 msg ? msg : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		rc = sqlite_errno(rc);
		return rc ? rc : -EIO;
	}
	*out = db;
	return 0;
}

/* Read the key, or make one.  A new key is written to a temporary file,
 * synced and linked into place, so a crash never leaves a short key that
 * would later be read as valid. */
static int load_key(struct state *st)
{
	char path[4096], tmp[4096];
	int fd, rc;
	ssize_t n;
	unsigned char extra;

	snprintf(path, sizeof(path), "%s/handle.key", st->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read_full(fd, st->key, sizeof(st->key));
		if (n == (ssize_t)sizeof(st->key) && read(fd, &extra, 1) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		snprintf(st->err, sizeof(st->err),
			 "'%s' is not a %d-byte key; refusing to replace it", path,
			 STATE_KEY_LEN);
		return -EINVAL;
	}
	if (errno != ENOENT) {
		rc = -errno;
		snprintf(st->err, sizeof(st->err), "cannot open '%s': %s", path,
			 strerror(-rc));
		return rc;
	}
	randombytes_buf(st->key, sizeof(st->key));
	snprintf(tmp, sizeof(tmp), "%s/.handle.key.%ld", st->dir, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = write_all(fd, st->key, sizeof(st->key));
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	/* link() rather than rename(): if another brambled raced us to it,
	 * keep the first key instead of silently replacing it. */
	if (rc == 0 && link(tmp, path) < 0)
		rc = -errno;
	unlink(tmp);
	if (rc == -EEXIST)
		return load_key(st);
	if (rc == 0)
		return 0;
fail:
	snprintf(st->err, sizeof(st->err), "cannot create '%s': %s", path,
		 strerror(-rc));
	return rc;
}

/* One brambled per state directory: a second would load the first's
 * duplicate-request cache and lock clients and write the same database.
 * The lock is held until the process exits (a crash releases it too);
 * the file holds the owner's pid, for the message. */
static int lock_dir(struct state *st)
{
	char path[4096], pid[32] = "";
	ssize_t n;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/brambled.lock", st->dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(st->err, sizeof(st->err), "cannot open '%s': %s", path,
			 strerror(-rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
		if (rc == -EBUSY)
			snprintf(st->err, sizeof(st->err), "state directory '%s' is in use "
				 "by another brambled%s%s (it holds '%s'): give each "
				 "brambled its own --state", st->dir, *pid ? ", pid " : "",
				 pid, path);
		else
			snprintf(st->err, sizeof(st->err), "cannot lock '%s': %s", path,
				 strerror(-rc));
		close(fd);
		return rc;
	}
	st->lock_fd = fd;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write the pid into '%s': %s", path, strerror(errno));
	return 0;
}

static int open_db(struct state *st)
{
	char path[4096];
	char *msg = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/bramble.db", st->dir);
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(st->db, 5000);
		rc = sqlite3_exec(st->db,
				  "PRAGMA journal_mode=WAL;"
				  "CREATE TABLE IF NOT EXISTS meta("
				  " key TEXT PRIMARY KEY, value TEXT NOT NULL);"
				  "INSERT OR IGNORE INTO meta VALUES"
				  " ('schema_version', '" STATE_SCHEMA_VERSION "');",
				  NULL, NULL, &msg);
	}
	if (rc != SQLITE_OK) {
		snprintf(st->err, sizeof(st->err), "cannot open database '%s': %s",
			 path, msg ? msg : st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sqlite_errno(rc) ? sqlite_errno(rc) : -EIO;
	}
	return 0;
}

int state_open(const char *dir, struct state **out, char *err_out, size_t err_len)
{
	struct state *st = xcalloc(1, sizeof(*st));
	struct stat sb;
	char buf[32];
	int rc = 0;

	st->dir = xstrdup(dir);
	st->lock_fd = -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(st->err, sizeof(st->err), "cannot create state directory '%s': %s",
			 dir, strerror(-rc));
	} else if (stat(dir, &sb) < 0) {
		rc = -errno;
	} else if (!S_ISDIR(sb.st_mode)) {
		rc = -ENOTDIR;
	}
	if (rc < 0 && !st->err[0])
		snprintf(st->err, sizeof(st->err), "state directory '%s': %s", dir,
			 strerror(-rc));
	if (rc == 0)
		rc = lock_dir(st);
	if (rc == 0)
		rc = load_key(st);
	if (rc == 0)
		rc = open_db(st);
	if (rc == 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)time(NULL));
		rc = state_meta_set(st, "last_start", buf);
		if (rc < 0)
			snprintf(st->err, sizeof(st->err), "cannot write '%s/bramble.db': %s",
				 dir, strerror(-rc));
	}
	if (rc < 0) {
		snprintf(err_out, err_len, "%s", st->err);
		state_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	sodium_memzero(st->key, sizeof(st->key));
	if (st->lock_fd >= 0)
		close(st->lock_fd);     /* releases the directory */
	free(st->dir);
	free(st);
}

int state_meta_get(struct state *st, const char *key, char **value_out)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = ?",
				    -1, &s, NULL);

	if (rc != SQLITE_OK)
		return sqlite_errno(rc);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*value_out = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return sqlite_errno(rc);
}

int state_meta_set(struct state *st, const char *key, const char *value)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db,
				    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
				    -1, &s, NULL);

	if (rc != SQLITE_OK)
		return sqlite_errno(rc);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return sqlite_errno(rc);
}
