/* bramble.h - libbramble, the bramble client library (the public header
 * of client/, with bramble_cache.h for the node chunk cache).
 *
 * A `struct bramble` is one client of one brambled: a TCP connection with
 * many calls in flight at once (pipelined, matched by XID; one reader
 * thread per connection), reconnected automatically.  Every function here
 * is safe to call from any number of threads at once on the same handle;
 * no lock is held across a round trip.
 *
 * Errors.  Every call returns 0 (or a byte count) on success, or -errno:
 *  - the server's status, converted once by br_stat_to_errno() (ENOENT,
 *    EACCES, ESTALE, ...);
 *  - -ETIMEDOUT: the server could not be reached (or did not answer)
 *    before the call's deadline (opts.timeout_ms).  bramblefs maps it to
 *    EIO for applications, as NFS hard-with-timeout mounts do;
 *  - -EACCES also when the server refuses the credentials themselves
 *    (AUTH_TOOWEAK: a non-root client using a port >= 1024 against a
 *    server without --insecure);
 *  - -EPROTONOSUPPORT (not a bramble server / wrong version), -ENOSYS (an
 *    older server without this procedure), -EBADMSG (a reply that does not
 *    decode), -EREMOTEIO (server system error), -EINVAL (bad arguments,
 *    e.g. a name longer than BRAMBLE_NAME_MAX).
 *
 * Reconnect.  When the connection breaks, calls in flight are re-sent on
 * the next connection (same XID) and new calls wait for it; attempts back
 * off from 100 ms to 2 s until each call's deadline.  Handles stay valid
 * across a server restart, so callers never need to remount.  A
 * non-idempotent call that was re-sent (CREATE, MKDIR, REMOVE, RENAME,
 * LINK, ...) gets the reply of its first execution from the server's
 * duplicate-request cache, which survives a server crash; the client id
 * that identifies these calls is random per struct bramble.
 *
 * Hard calls (opts.hard): no deadline, a call waits for the server for
 * as long as it takes, as on an NFS hard mount.  Such a wait can still be
 * abandoned through a cancel token (below): the call returns -EINTR.
 *
 * Credentials.  Every call on a file carries credentials given by the
 * caller (struct bramble_cred); the server performs the call as that
 * user.  NULL, INFO and MOUNT use AUTH_NONE.  The credentials go as
 * AUTH_SYS, or, with MUNGE (opts.auth), as a MUNGE session of that
 * uid/gid: the server then trusts munged, not the client, and looks the
 * supplementary groups up itself.
 *
 * Ownership.  Strings and buffers passed in are borrowed for the call;
 * results are copied into caller-provided memory.  No XDR types appear
 * here. */
#ifndef BRAMBLE_H
#define BRAMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

/* A constant here that the protocol also has (the port, the limits, the
 * capability and flag values below) equals its BR_* in bramble_prot.x:
 * client/consts.c (or the procedure file that uses it) checks each one
 * at compile time, so change both together. */
#define BRAMBLE_DEFAULT_PORT 7049
#define BRAMBLE_DEFAULT_TIMEOUT_MS 60000
#define BRAMBLE_FH_MAX 64
#define BRAMBLE_NAME_MAX 255
#define BRAMBLE_PATH_MAX 4096
#define BRAMBLE_DATA_MAX 1048576   /* largest READ/WRITE */
#define BRAMBLE_TEXT_MAX 1024
#define BRAMBLE_XATTR_SIZE_MAX 65536
#define BRAMBLE_DIRENT_MAX 4096
#define BRAMBLE_NGROUPS 16         /* AUTH_SYS carries at most 16 groups */
#define BRAMBLE_NPROCS 41          /* procedures 0..40 of version 1 */

struct bramble;
struct bramble_cache;

/* ---- connecting */

struct bramble_opts {
	const char *host;          /* name or literal; borrowed during _new */
	int port;                  /* 0: BRAMBLE_DEFAULT_PORT */
	unsigned int timeout_ms;   /* per call deadline; 0: default (60 s) */
	bool hard;                 /* calls have no deadline (timeout_ms then
				    * bounds only bramble_new's first connect) */
	/* Source port: -1 (default) binds a reserved port (< 1024) when
	 * running as root and an ordinary one otherwise; 1 always tries a
	 * reserved port (fails with -EACCES when not permitted); 0 never. */
	int resvport;
	unsigned int nconn;        /* connections; 0/1 (more: later work) */
	/* HELLO: capabilities (BRAMBLE_CAP_*) this client uses, those it
	 * cannot work without (a server lacking one is refused), and a name
	 * for the server's log ("bramblefs 0.1.0"; borrowed during _new). */
	uint64_t caps;             /* default: BRAMBLE_CAP_CHUNK_ZSTD */
	uint64_t need;
	const char *client_name;
	/* Authentication of calls with credentials (BRAMBLE_AUTH_*), and
	 * munged's socket (NULL: libmunge's default; borrowed during _new). */
	int auth;
	const char *munge_socket;
};

/* How calls carry their credentials.  MUNGE: munged vouches for the
 * uid/gid (the library, when root, makes each user's credential as that
 * user); AUTO (the default): AUTH_SYS until the server asks for MUNGE
 * (BRAMBLE_CAP_MUNGE in HELLO, or an AUTH_TOOWEAK answer). */
#define BRAMBLE_AUTH_AUTO 0
#define BRAMBLE_AUTH_SYS 1
#define BRAMBLE_AUTH_MUNGE 2
/* "auto", "sys" or "munge" -> *out.  0 or -EINVAL. */
int bramble_auth_parse(const char *s, int *out);

/* Capabilities a server announces in HELLO (== BR_CAP_* of the protocol). */
#define BRAMBLE_CAP_LOCKS 1        /* cluster-wide locks (LOCK/TESTLOCK) */
#define BRAMBLE_CAP_MUNGE 2        /* MUNGE authentication */
#define BRAMBLE_CAP_DRC 4          /* duplicate request cache */
#define BRAMBLE_CAP_EXPORTS 8      /* MOUNT by export name */
#define BRAMBLE_CAP_CHUNKS 16      /* chunk index: CHUNKMAP, READ_CHUNK */
#define BRAMBLE_CAP_STATS 32       /* STATS: the server's counters */
#define BRAMBLE_CAP_OPENS 512      /* open state: *_HOLD flags, CLOSE */
#define BRAMBLE_CAP_CHUNKMAP_KNOWN 2048 /* bramble_chunkmap_known */
#define BRAMBLE_CAP_CHUNK_ZSTD 4096 /* READ_CHUNK2 answers zstd-compressed chunks */
#define BRAMBLE_CAP_PEERS 8192     /* READ_CHUNK2 sends clients to peers */

/* What the server said in HELLO on the current connection. */
struct bramble_hello {
	uint32_t revision;         /* agreed protocol revision (1: no HELLO) */
	uint32_t min_revision, max_revision; /* the server's range */
	uint64_t caps;             /* BRAMBLE_CAP_* */
	uint64_t instance;         /* random per server start; 0: unknown */
	uint32_t grace_left;       /* seconds of lock grace at connect time */
	char server[BRAMBLE_TEXT_MAX + 1];  /* "brambled 0.1.0" */
	char message[BRAMBLE_TEXT_MAX + 1]; /* why it was refused, if it was */
};

/* Fill *o with the defaults (host NULL). */
void bramble_opts_init(struct bramble_opts *o);

/* Resolve the host and connect once (TCP_NODELAY, reserved port as
 * above) and exchange HELLO, waiting at most timeout_ms.  On success *out
 * owns the client (free: bramble_free()).  Returns 0 or -errno
 * (-ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, ...; -EPROTO when the server
 * and this client refuse each other: the reason, in words, is logged and
 * left in hello_out when that is not NULL); *out is untouched on failure.
 * Later breaks of the connection are repaired by the library, which
 * repeats HELLO on every new connection. */
int bramble_new(const struct bramble_opts *o, struct bramble **out);
int bramble_new_hello(const struct bramble_opts *o, struct bramble **out,
		      struct bramble_hello *hello_out);

/* The HELLO answer of the current connection. */
void bramble_server_hello(struct bramble *b, struct bramble_hello *out);
/* Whether the server of the current connection announced cap
 * (BRAMBLE_CAP_*). */
bool bramble_server_can(struct bramble *b, uint64_t cap);
/* The server's instance (changes when it restarts; 0 for an older server). */
uint64_t bramble_server_instance(struct bramble *b);

/* Called after the library reconnected to a server whose instance differs
 * from the one before (it restarted), before any call is re-sent on the
 * new connection.  It runs on the library's reader thread with no lock
 * held and MUST NOT make calls on b itself (they would wait for the very
 * thread running it): hand the work (e.g. reclaiming locks) to another
 * thread.  One hook per struct bramble; fn NULL removes it. */
typedef void bramble_restart_fn(void *ctx, uint64_t old_instance,
				uint64_t new_instance);
void bramble_set_reconnect_hook(struct bramble *b, bramble_restart_fn *fn,
				void *ctx);

/* Close the connection and stop its reader thread.  Calls still in
 * progress on other threads must have returned.  Accepts NULL. */
void bramble_free(struct bramble *b);

/* "127.0.0.1:7049" of the server (resolved address). */
const char *bramble_server_addr(const struct bramble *b);

/* ---- types used by the calls */

/* An opaque server handle; compare with bramble_fh_eq() only. */
struct bramble_fh {
	uint32_t len;
	unsigned char data[BRAMBLE_FH_MAX];
};

static inline bool bramble_fh_eq(const struct bramble_fh *a,
				 const struct bramble_fh *b)
{
	return a->len == b->len && __builtin_memcmp(a->data, b->data, a->len) == 0;
}

/* Who performs a call (AUTH_SYS).  ngroups <= BRAMBLE_NGROUPS; extra
 * groups are dropped. */
struct bramble_cred {
	uint32_t uid;
	uint32_t gid;
	uint32_t ngroups;
	uint32_t groups[BRAMBLE_NGROUPS];
};

/* INFO: what the server is. */
struct bramble_info {
	char server_version[BRAMBLE_TEXT_MAX + 1]; /* "brambled 0.1.0" */
	char export_path[BRAMBLE_PATH_MAX + 1];
	uint32_t proto_vers;
	int64_t start_time;        /* Unix seconds */
	int64_t uptime;            /* seconds */
	uint32_t max_data;         /* largest READ/WRITE the server accepts */
	bool read_only;
};

/* MOUNT: the root of (a subdirectory of) the export. */
struct bramble_mount_res {
	struct bramble_fh root;
	struct stat attr;
	uint32_t max_data;
	bool read_only;
};

/* SETATTR: which fields apply (values of BR_SET_* in the protocol). */
#define BRAMBLE_SET_MODE 1
#define BRAMBLE_SET_UID 2
#define BRAMBLE_SET_GID 4
#define BRAMBLE_SET_SIZE 8
#define BRAMBLE_SET_ATIME 16
#define BRAMBLE_SET_MTIME 32
#define BRAMBLE_SET_ATIME_NOW 64   /* with _ATIME: the server's clock */
#define BRAMBLE_SET_MTIME_NOW 128  /* with _MTIME: the server's clock */
#define BRAMBLE_SET_OPEN 256       /* the size: ftruncate through the caller's
				    * held open file (BRAMBLE_OPEN_HOLD) */
#define BRAMBLE_SET_KILL_SETID 512 /* clear set-id bits as a write would */

struct bramble_setattr {
	uint32_t valid;            /* BRAMBLE_SET_* */
	mode_t mode;               /* permission bits */
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
};

#define BRAMBLE_CREATE_EXCL 1
#define BRAMBLE_CREATE_TRUNC 2
#define BRAMBLE_CREATE_HOLD 4      /* with BRAMBLE_CAP_OPENS: as OPEN_HOLD */
#define BRAMBLE_CREATE_READ 8      /* the access it is opened with */
#define BRAMBLE_CREATE_WRITE 16
#define BRAMBLE_OPEN_READ 1
#define BRAMBLE_OPEN_WRITE 2
#define BRAMBLE_OPEN_TRUNC 4
#define BRAMBLE_OPEN_HOLD 8        /* with BRAMBLE_CAP_OPENS: the server keeps
				    * the open file for this client's WRITEs
				    * until bramble_close() */
#define BRAMBLE_WRITE_SYNC 1       /* on stable storage before the reply */
#define BRAMBLE_COMMIT_DATASYNC 1
#define BRAMBLE_RENAME_NOREPLACE 1
#define BRAMBLE_RENAME_EXCHANGE 2

/* One READDIRPLUS entry, handed to a callback.  fh->len == 0 means the
 * server could not make a handle (a mount point): look the name up. */
struct bramble_dirent {
	const char *name;          /* NUL-terminated, valid during the callback */
	uint64_t cookie;           /* resume after this entry */
	const struct bramble_fh *fh;
	const struct stat *attr;
};

/* Return 0 to continue, anything else to stop (that value is returned by
 * bramble_readdirplus; entries after it are not delivered). */
typedef int bramble_dirent_fn(void *ctx, const struct bramble_dirent *de);

/* ---- calls, one per procedure of bramble_prot.x */

/* One NULL round trip (AUTH_NONE). */
int bramble_null(struct bramble *b);
/* Open cr's MUNGE session now (uid/gid only; a session already open on
 * this connection is reused): 0 when the server accepted the MUNGE
 * credential, -EOPNOTSUPP when this client does not use MUNGE (AUTH_SYS,
 * or auto and the server has not asked for it), -EACCES when munged or
 * the server refused (logged), -ETIMEDOUT. */
int bramble_auth_open(struct bramble *b, const struct bramble_cred *cr);
int bramble_info(struct bramble *b, struct bramble_info *out);

/* STATS: the server's counters since it started (server/stats.h).  One
 * entry per procedure the server knows; latencies in microseconds from
 * the request read to the reply queued (percentiles within 25 %). */
#define BRAMBLE_STATS_PROCS_MAX 64
#define BRAMBLE_STATS_COUNTERS_MAX 256
#define BRAMBLE_STATS_NAME_MAX 32
struct bramble_server_proc_stats {
	char name[BRAMBLE_STATS_NAME_MAX + 1]; /* "GETATTR" */
	uint64_t calls, errors;    /* errors: status other than OK */
	uint64_t bytes_in, bytes_out; /* whole RPC records */
	uint64_t p50_us, p90_us, p99_us, max_us, sum_us;
};
struct bramble_server_stats {
	int64_t start_time;        /* Unix seconds */
	uint64_t uptime_ms;
	size_t nprocs;
	struct bramble_server_proc_stats procs[BRAMBLE_STATS_PROCS_MAX];
	uint64_t conns_current, conns_total, conns_refused;
	uint64_t disk_read_bytes, disk_write_bytes;
	uint64_t disk_read_ns, disk_write_ns;
	/* Named counters (hot-chunk cache, chunk index; brambled(8) lists
	 * them): a name ending in _total only grows, others are levels.
	 * None from a server that predates them. */
	size_t ncounters;
	struct bramble_server_counter {
		char name[BRAMBLE_STATS_NAME_MAX + 1];
		uint64_t value;
	} counters[BRAMBLE_STATS_COUNTERS_MAX];
};
/* Any user's credentials will do (AUTH_SYS; the counters name no file).
 * -ENOSYS from a server older than revision 3. */
int bramble_server_stats(struct bramble *b, const struct bramble_cred *cr,
			 struct bramble_server_stats *out);
/* path: relative to the export root, "" or "/" for the root itself. */
int bramble_mount(struct bramble *b, const char *path,
		  struct bramble_mount_res *out);

int bramble_getattr(struct bramble *b, const struct bramble_cred *cr,
		    const struct bramble_fh *fh, struct stat *st);
/* st (may be NULL) gets the attributes afterwards. */
int bramble_setattr(struct bramble *b, const struct bramble_cred *cr,
		    const struct bramble_fh *fh, const struct bramble_setattr *sa,
		    struct stat *st);
int bramble_lookup(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *dir, const char *name,
		   struct bramble_fh *fh, struct stat *st);
/* mask: R_OK|W_OK|X_OK, or 0 for existence. */
int bramble_access(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, unsigned int mask);
/* Copies the target NUL-terminated into buf (size >= BRAMBLE_PATH_MAX + 1
 * is always enough).  Returns its length, or -ERANGE when it does not fit. */
ssize_t bramble_readlink(struct bramble *b, const struct bramble_cred *cr,
			 const struct bramble_fh *fh, char *buf, size_t size);
/* Up to count (<= BRAMBLE_DATA_MAX) bytes at off straight into buf.
 * Returns bytes read (0 at or past the end); *eof (may be NULL) is set
 * when the read reached the end of the file. */
ssize_t bramble_read(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, uint64_t off, void *buf,
		     size_t count, bool *eof);
/* Returns bytes written; st (may be NULL) gets the attributes after it.
 * flags: BRAMBLE_WRITE_SYNC. */
ssize_t bramble_write(struct bramble *b, const struct bramble_cred *cr,
		      const struct bramble_fh *fh, uint64_t off,
		      const void *buf, size_t count, unsigned int flags,
		      struct stat *st);
/* Calls that make a name: fh and st get the new object's handle and
 * attributes.  mode: permission bits with the umask applied (mknod: type
 * bits too).  create flags: BRAMBLE_CREATE_*. */
int bramble_create(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *dir, const char *name, mode_t mode,
		   unsigned int flags, struct bramble_fh *fh, struct stat *st);
int bramble_mkdir(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *dir, const char *name, mode_t mode,
		  struct bramble_fh *fh, struct stat *st);
int bramble_symlink(struct bramble *b, const struct bramble_cred *cr,
		    const struct bramble_fh *dir, const char *name,
		    const char *target, struct bramble_fh *fh, struct stat *st);
int bramble_mknod(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *dir, const char *name, mode_t mode,
		  dev_t rdev, struct bramble_fh *fh, struct stat *st);
/* link: a new name in dir for fh; st gets fh's attributes afterwards. */
int bramble_link(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *fh, const struct bramble_fh *dir,
		 const char *name, struct stat *st);
int bramble_remove(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *dir, const char *name);
int bramble_rmdir(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *dir, const char *name);
/* flags: BRAMBLE_RENAME_NOREPLACE or _EXCHANGE (renameat2 values). */
int bramble_rename(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *from_dir, const char *from_name,
		   const struct bramble_fh *to_dir, const char *to_name,
		   unsigned int flags);
/* Entries after cookie (0: from the start; "." and ".." never appear),
 * at most max_entries (0: server's choice up to BRAMBLE_DIRENT_MAX) in a
 * reply of about max_bytes (0: 64 KiB).  fn is called for each entry in
 * order.  *eof (may be NULL) is set when the last entry of the directory
 * was delivered.  Returns 0, fn's non-zero value, or -errno. */
int bramble_readdirplus(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *dir, uint64_t cookie,
			unsigned int max_entries, unsigned int max_bytes,
			bramble_dirent_fn *fn, void *ctx, bool *eof);
int bramble_statfs(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, struct statvfs *out);
/* fsync (or fdatasync with BRAMBLE_COMMIT_DATASYNC) on the server. */
int bramble_commit(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, unsigned int flags);
/* Permission check as the caller (the server really opens the file),
 * truncation with BRAMBLE_OPEN_TRUNC; st gets the attributes afterwards
 * (close-to-open revalidation). */
int bramble_open(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *fh, unsigned int flags,
		 struct stat *st);
/* Drop a hold an OPEN_HOLD (or CREATE_HOLD) took, with the same cred and
 * BRAMBLE_OPEN_READ/WRITE flags (bramble_prot.x "Open state"); with
 * BRAMBLE_CLOSE_LAST this node's last open of the file is over, and the
 * orphan bramble_remove_open() made of it goes.  0 or -errno; a hold the
 * server no longer has is no error. */
#define BRAMBLE_CLOSE_LAST 4
int bramble_close(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *fh, unsigned int flags);
/* REMOVE of a name whose file is open on this node (BRAMBLE_CAP_OPENS):
 * its last link keeps the file on the server, nameless, until
 * bramble_close(BRAMBLE_CLOSE_LAST). */
int bramble_remove_open(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *dir, const char *name);
/* "user." names only.  size 0: return the size needed only.  Returns the
 * size of the value (list), -ERANGE when it exceeds a non-zero size. */
ssize_t bramble_getxattr(struct bramble *b, const struct bramble_cred *cr,
			 const struct bramble_fh *fh, const char *name,
			 void *buf, size_t size);
ssize_t bramble_listxattr(struct bramble *b, const struct bramble_cred *cr,
			  const struct bramble_fh *fh, char *buf, size_t size);
/* flags: XATTR_CREATE / XATTR_REPLACE. */
int bramble_setxattr(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, const char *name,
		     const void *value, size_t size, unsigned int flags);
int bramble_removexattr(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *fh, const char *name);
/* Server-side copy_file_range.  Returns bytes copied (short at end of
 * file); dst_st (may be NULL) gets dst's attributes afterwards. */
ssize_t bramble_copy_range(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *src, uint64_t src_off,
			   const struct bramble_fh *dst, uint64_t dst_off,
			   uint64_t count, struct stat *dst_st);

/* ---- chunks (CHUNKMAP / READ_CHUNK; the server announces
 * BRAMBLE_CAP_CHUNKS).  The server cuts a file into chunk_size pieces,
 * each named by the XXH3-128 hash of its bytes (16 bytes, canonical
 * big-endian form), and versions the list: a change of the file on the
 * server, through bramble or not, gives a new version and new hashes. */
#define BRAMBLE_CHUNK_HASH_LEN 16
#define BRAMBLE_CHUNKS_MAX 4096    /* hashes in one CHUNKMAP */
struct bramble_chunkmap {
	uint64_t version;          /* of the file's contents, per file */
	uint64_t size;             /* the file's size when hashed */
	uint32_t chunk_size;
	uint32_t first;            /* hashes[0] is chunk first */
	uint32_t count;            /* hashes filled */
	bool eof;                  /* hashes[count - 1] is the last chunk */
};
/* Hashes of chunks first .. first+max (max <= BRAMBLE_CHUNKS_MAX; 0: that
 * many) into hashes (room for max, or BRAMBLE_CHUNKS_MAX when 0).  The
 * server hashes the file on first demand: this may take a while for a
 * large file.  0 or -errno. */
int bramble_chunkmap(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, uint32_t first, uint32_t max,
		     unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN],
		     struct bramble_chunkmap *out);
/* The same, but the server never hashes (CHUNKMAP_KNOWN, a server with
 * BRAMBLE_CAP_CHUNKMAP_KNOWN): -ENODATA when it holds no settled map of
 * the file as it is now.  Quick whatever the file's size. */
int bramble_chunkmap_known(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *fh, uint32_t first, uint32_t max,
			   unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN],
			   struct bramble_chunkmap *out);
/* Chunk idx of the file into buf (size >= the map's chunk_size), but only
 * when its bytes hash to hash: the server checks, and so does this
 * function before returning (never wrong bytes: -EIO when they do not
 * match, whatever the server said).  Returns the chunk's length, -ESTALE
 * when the file changed since the map of `version' (fetch it again),
 * -EINVAL for a chunk beyond the end of that version, or -errno. */
ssize_t bramble_read_chunk(struct bramble *b, const struct bramble_cred *cr,
			   const struct bramble_fh *fh, uint32_t idx,
			   const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			   uint64_t version, void *buf, size_t size);

/* How a chunk travelled (bramble_read_chunk_ex).  A server announcing
 * BRAMBLE_CAP_CHUNK_ZSTD is asked with READ_CHUNK2 and may answer a
 * zstd frame (when the client put BRAMBLE_CAP_CHUNK_ZSTD in
 * bramble_opts.caps: bramblefs -o compress=off leaves it out); others
 * with READ_CHUNK, raw.  Either way the chunk returned is the decoded,
 * checked bytes. */
#define BRAMBLE_ENC_RAW 0
#define BRAMBLE_ENC_ZSTD 1
struct bramble_chunk_wire {
	int enc;                   /* BRAMBLE_ENC_* as received */
	size_t wire_len;           /* chunk bytes received (encoded) */
	/* Set keep (in) to be handed the encoded bytes as received, in
	 * bytes (malloc'd: the caller frees; NULL on failure or without
	 * keep): what a peer passes on unchanged. */
	bool keep;
	void *bytes;
};
/* bramble_read_chunk, telling how the chunk came in *wire (NULL: not
 * wanted).  Also -EBADMSG: an encoding that does not decode to the
 * chunk's length (chunkcodec.h). */
ssize_t bramble_read_chunk_ex(struct bramble *b, const struct bramble_cred *cr,
			      const struct bramble_fh *fh, uint32_t idx,
			      const unsigned char hash[BRAMBLE_CHUNK_HASH_LEN],
			      uint64_t version, void *buf, size_t size,
			      struct bramble_chunk_wire *wire);

/* ---- TREE: a whole directory tree's metadata in few round trips (the
 * server announces BRAMBLE_CAP_TREE; bramble_prot.x has the details).
 *
 * Every object beneath dir (not dir itself) comes once, depth first, a
 * directory right before its contents, names sorted bytewise in each
 * directory.  Symlinks are reported (with their target), never followed;
 * another filesystem mounted in the tree is reported (-EXDEV) but not
 * entered; a directory the caller cannot read is reported with its error
 * and its contents are missing -- the walk goes on.  The walk is
 * stateless on the server: the path of an entry is a cookie from which a
 * walk resumes, even after a reconnect or a server restart.  A tree that
 * changes during a walk gives a mix of before and after, never a loop or
 * a repeated entry. */
#define BRAMBLE_CAP_TREE 128
#define BRAMBLE_TREE_CHUNKS 1      /* chunk maps of regular files */
#define BRAMBLE_TREE_HASH 2        /* ... hashing files not indexed yet */
#define BRAMBLE_TREE_CHUNKS_MAX 64 /* larger files: -EFBIG, use CHUNKMAP */
#define BRAMBLE_TREE_ENTRIES_MAX 8192

struct bramble_tree_entry {
	const char *path;          /* relative to dir ("a/b"), NUL-terminated */
	/* 0, or why the entry is incomplete: on a directory (attr valid) its
	 * contents are missing (-EACCES: not readable; -EXDEV: a mount point,
	 * fh empty; -ENAMETOOLONG: too deep); attr->st_mode == 0: the object
	 * could not even be stat'ed (a parent readable, not searchable). */
	int status;
	const struct bramble_fh *fh;   /* len 0: none */
	const struct stat *attr;
	const char *target;        /* a symlink's target, else "" */
	/* With BRAMBLE_TREE_CHUNKS, for regular files with status 0:
	 * has_map, and map_status 0 with the whole map (map.first 0,
	 * map.count hashes, map.eof), or -ENODATA (not indexed on the
	 * server and not hashed by this call: use bramble_chunkmap or
	 * BRAMBLE_TREE_HASH), -EFBIG (more than BRAMBLE_TREE_CHUNKS_MAX
	 * chunks), -EACCES (not readable), -EOPNOTSUPP (no chunk index). */
	bool has_map;
	int map_status;
	struct bramble_chunkmap map;
	const unsigned char (*hashes)[BRAMBLE_CHUNK_HASH_LEN];
};

/* Return 0 to go on, anything else to stop (returned by the walk). */
typedef int bramble_tree_fn(void *ctx, const struct bramble_tree_entry *e);

struct bramble_tree_args {
	const char *cookie;        /* NULL or "": from the start; else an
				    * entry's path (resume after it) */
	uint32_t flags;            /* BRAMBLE_TREE_* */
	uint32_t max_depth;        /* 0: no limit; 1: dir's entries only */
	uint32_t max_entries;      /* 0: the server's bound */
	uint32_t max_bytes;        /* soft cap on the reply; 0: the server's */
};

/* One TREE call: fn for each entry in order.  next (may be NULL; room
 * for BRAMBLE_PATH_MAX + 1) gets the cookie to pass back to go on, *eof
 * whether the walk is complete (false when fn stopped it).  Returns 0,
 * fn's non-zero value, or -errno (-ENOSYS: a server before revision 4). */
int bramble_tree(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *dir, const struct bramble_tree_args *a,
		 bramble_tree_fn *fn, void *ctx, char *next, bool *eof);
/* The whole walk: bramble_tree() from the start until eof, with the
 * server's largest replies (a few calls for 10,000 files).  flags:
 * BRAMBLE_TREE_*.  Returns 0, fn's non-zero value, or -errno. */
int bramble_tree_walk(struct bramble *b, const struct bramble_cred *cr,
		      const struct bramble_fh *dir, uint32_t flags,
		      bramble_tree_fn *fn, void *ctx);

/* ---- benchmarks (BENCH_NET / BENCH_DISK; the server announces
 * BRAMBLE_CAP_BENCH; bramble_prot.x has the contract).  What `bramble
 * bench' cannot measure from the client alone. */
#define BRAMBLE_CAP_BENCH 256
#define BRAMBLE_BENCH_DISK_MAX 1073741824ULL  /* bytes the server writes at most */
#define BRAMBLE_BENCH_DISK_MS_MAX 30000       /* per phase, at most */

/* Send send_bytes and get reply_bytes back (each <= BRAMBLE_DATA_MAX);
 * the server touches no disk.  Any user.  Returns the bytes received
 * (== reply_bytes) or -errno (-ENOSYS: a server without it).  Safe to
 * call from many threads at once: that is how to fill a link. */
ssize_t bramble_bench_net(struct bramble *b, const struct bramble_cred *cr,
			  size_t send_bytes, size_t reply_bytes);

struct bramble_bench_disk {
	uint64_t write_bytes, write_ns;   /* writes + fdatasync */
	uint64_t read_bytes, read_ns;
	bool direct;               /* O_DIRECT (else fdatasync + DONTNEED) */
	bool tmpfile;              /* an O_TMPFILE (else a name removed at once) */
	uint64_t fs_free;          /* bytes free on that filesystem before */
};

/* The server writes size bytes (fewer: within its free space and
 * BRAMBLE_BENCH_DISK_MAX) to a scratch file in the filesystem of dir's
 * export, reads them back past its page cache, deletes it.  Each phase
 * stops after max_ms (0: the server's limit, 30 s): the call may take
 * twice that, so give the struct bramble a timeout above it.  -EPERM:
 * not root (see brambled --bench-disk), -EBUSY: another one runs,
 * -EROFS: a read-only export, -ENOSPC: no room, -ENOSYS: an older server. */
int bramble_bench_disk(struct bramble *b, const struct bramble_cred *cr,
		       const struct bramble_fh *dir, uint64_t size,
		       unsigned int max_ms, struct bramble_bench_disk *out);

/* ---- locks (LOCK / TESTLOCK; the server announces BRAMBLE_CAP_LOCKS)
 *
 * The server holds each lock for (this struct bramble, lk->owner): owners
 * are the caller's business (bramblefs passes the kernel's lock owner).
 * POSIX kind: fcntl and OFD byte ranges (length 0: to end of file);
 * FLOCK kind: whole file, start and length ignored.  Flags:
 *  - WAIT: the server keeps the call until the lock is granted.  The
 *    call still ends at the usual deadline (-ETIMEDOUT): send it again to
 *    go on waiting (a new wait of the same owner and range replaces the
 *    old one on the server, and a lock granted meanwhile is simply granted
 *    again).  An UNLOCK with WAIT set cancels the owner's wait on that
 *    range without releasing anything; the waiting call returns -EINTR.
 *    A server with too many waits on one connection answers -EAGAIN
 *    instead of waiting: poll then;
 *  - RECLAIM: re-take a lock held before the server restarted (the only
 *    locks granted during its grace period); RECLAIM | ALL with type
 *    UNLOCK says "done reclaiming" (fh and owner ignored);
 *  - ALL with UNLOCK: drop every lock this client holds on fh.
 * Returns 0, -EAGAIN (a conflicting lock: *holder, may be NULL), -EINTR
 * (a wait cancelled), -BRAMBLE_EGRACE (the server restarted and takes
 * only reclaims for now: wait a moment and try again), -ENOLCK (the
 * server's table is full, or it has no locks), or a transport error. */
#define BRAMBLE_LK_POSIX 0
#define BRAMBLE_LK_FLOCK 1
#define BRAMBLE_LOCK_READ 1
#define BRAMBLE_LOCK_WRITE 2
#define BRAMBLE_LOCK_UNLOCK 3
#define BRAMBLE_LOCK_WAIT 1
#define BRAMBLE_LOCK_RECLAIM 2
#define BRAMBLE_LOCK_ALL 4
#define BRAMBLE_EGRACE 10013       /* not an errno: BR_EGRACE */

struct bramble_lock {
	uint64_t owner;
	uint32_t kind;             /* BRAMBLE_LK_* */
	uint32_t type;             /* BRAMBLE_LOCK_READ/WRITE/UNLOCK */
	uint64_t start, length;    /* length 0: to end of file */
	uint32_t pid;              /* for the holder's reports */
	uint32_t flags;            /* BRAMBLE_LOCK_WAIT/RECLAIM/ALL */
};

struct bramble_lock_holder {
	uint32_t type;             /* READ/WRITE; UNLOCK: nobody */
	uint64_t start, length;
	uint32_t pid;
	bool same_client;          /* held through this struct bramble */
};

int bramble_lock(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *fh, const struct bramble_lock *lk,
		 struct bramble_lock_holder *holder);
/* Could lk (READ or WRITE) be granted?  0 with holder->type UNLOCK when
 * it could, 0 with the conflicting lock otherwise. */
int bramble_testlock(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, const struct bramble_lock *lk,
		     struct bramble_lock_holder *holder);

/* ---- cancelling a waiting call
 *
 * A thread that must be able to give up a call (bramblefs: the kernel
 * interrupts the request of a process that got a signal) binds a token to
 * itself.  bramble_cancel(), from any thread, then makes the call that
 * thread is waiting in return -EINTR at once, and every later call of the
 * thread too, until bramble_cancel_reset().  The call may or may not have
 * been executed by the server (NFS's intr has the same rule).
 * Thread-safe; a token is bound to one thread at a time. */
struct bramble_cancel;

/* Free: bramble_cancel_free(), once no thread has it bound. */
struct bramble_cancel *bramble_cancel_new(void);
void bramble_cancel_free(struct bramble_cancel *t);
/* Calls of the calling thread, on any struct bramble, watch t (NULL: no
 * token). */
void bramble_cancel_bind(struct bramble_cancel *t);
void bramble_cancel(struct bramble_cancel *t);
void bramble_cancel_reset(struct bramble_cancel *t);
/* Whether the calling thread's token has been cancelled: for the
 * caller's own waits outside libbramble. */
bool bramble_cancelled(void);

/* ---- a deadline for several calls
 *
 * A thread that makes several calls for one request of its own caller
 * (bramblefs: the calls of one system call) can bound them together, so
 * that the request as a whole gives up in time, not each call.  While a
 * deadline is set, every call of the calling thread, on any struct
 * bramble (hard ones too), ends at the earlier of its own deadline and
 * this one with -ETIMEDOUT; a call that starts after it has passed sends
 * nothing.  deadline_ns is CLOCK_MONOTONIC (as now_ns()); 0 clears it.
 * bramble_deadline() returns the thread's deadline (0: none), for the
 * caller's own waits outside libbramble. */
void bramble_deadline_set(int64_t deadline_ns);
int64_t bramble_deadline(void);

/* ---- counters */

struct bramble_proc_stats {
	const char *name;          /* "LOOKUP", static */
	uint64_t calls;            /* completed calls (success or not) */
	uint64_t errors;           /* calls that returned < 0 */
	uint64_t total_us;         /* sum of call latencies */
};

struct bramble_conn_stats {
	uint64_t connects;         /* successful connects, the first included */
	uint64_t resent;           /* calls re-sent after a reconnect */
	uint64_t timeouts;         /* calls that ran out of time */
	uint32_t in_flight;        /* calls waiting for a reply right now */
	bool connected;
};

/* Fill out[0..n) with procedures 0..n-1 (n <= BRAMBLE_NPROCS); conn (may
 * be NULL) gets the connection's counters.  Counters are read without a
 * lock: each value is exact, the set is not a snapshot. */
void bramble_stats(struct bramble *b, struct bramble_proc_stats *out,
		   size_t n, struct bramble_conn_stats *conn);

/* ---- callbacks (bramble_prot.x "Callbacks"; BRAMBLE_CAP_CALLBACKS)
 *
 * A client that asks for BRAMBLE_CAP_CALLBACKS (bramble_opts.caps) and
 * sets a hook is told by the server when objects it fetched change:
 * attributes and entries it got from GETATTR, LOOKUP, OPEN and
 * READDIRPLUS stay right until a BRAMBLE_CB_CHANGED names them.  The
 * server forgets everything it watched for a connection when that breaks;
 * the hook then gets BRAMBLE_CB_FORGET: trust nothing fetched before.
 *
 * A result is trustworthy only if bramble_callback_epoch() is the same
 * before the call was sent and after its reply came: a callback that
 * arrived meanwhile may describe a change the result predates.  Changes
 * made on the server's disk behind brambled's back are never called back:
 * bound trust by a lease time. */
#define BRAMBLE_CAP_CALLBACKS 64
/* With BRAMBLE_CAP_CALLBACKS: a BRAMBLE_CB_SELF object this client still
 * watched comes with its attributes after the change (has_attr) and stays
 * watched -- trust them as a fresh result (bramble_prot.x). */
#define BRAMBLE_CAP_CB_ATTRS 1024

#define BRAMBLE_CB_CHANGED 1       /* objs name what changed */
#define BRAMBLE_CB_FORGET 2        /* the connection broke: forget all */
/* bramble_cb_obj.flags (== BR_CB_* of the protocol) */
#define BRAMBLE_CB_DROPPED 1       /* not changed, but no longer watched */
#define BRAMBLE_CB_SELF 2          /* changed by a call of this client */
#define BRAMBLE_CB_RACE 4          /* changed while this client fetched it */
#define BRAMBLE_CB_ENTRIES 8       /* a directory: names added/removed */
#define BRAMBLE_CB_NAMES_MAX 16

struct bramble_cb_obj {
	struct bramble_fh fh;
	unsigned int flags;
	unsigned int nnames;
	const char *names[BRAMBLE_CB_NAMES_MAX]; /* valid during the hook */
	bool has_attr;             /* BRAMBLE_CB_SELF, BRAMBLE_CAP_CB_ATTRS */
	struct stat attr;          /* ... the object's, after the change */
};

struct bramble_cb_event {
	int kind;                  /* BRAMBLE_CB_CHANGED or BRAMBLE_CB_FORGET */
	unsigned int nobjs;
	const struct bramble_cb_obj *objs; /* valid during the hook */
};

/* Runs on the thread reading the connection with no lock held: it must
 * not block nor make calls on b (queue the work elsewhere). */
typedef void bramble_callback_fn(void *ctx, const struct bramble_cb_event *ev);
/* Set once, right after bramble_new(), before any call. */
void bramble_set_callback_hook(struct bramble *b, bramble_callback_fn *fn,
			       void *ctx);
/* Callbacks are on for the current connection: the hook is set, and this
 * client and the server both announced BRAMBLE_CAP_CALLBACKS. */
bool bramble_callbacks_on(struct bramble *b);
/* Bumped before the hook is called for every event. */
uint64_t bramble_callback_epoch(struct bramble *b);
/* Events received: callbacks, objects named in them, forgets. */
void bramble_callback_counters(struct bramble *b, uint64_t *callbacks,
			       uint64_t *objects, uint64_t *forgets);

#endif
