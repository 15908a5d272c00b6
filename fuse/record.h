/* record.h - learned input sets (-o record=DIR): which regular files
 * each Slurm job opened on this mount, so that `bramble stage --learned'
 * can fetch exactly those next time.
 *
 * The job of an open is the opening process's SLURM_JOB_ID, else a
 * "job_ID" component of its cgroup path (recjob.h, cached per process);
 * processes with neither are not recorded.
 *
 * Paths.  The inode table knows handles, not names, and the server has
 * no "path of a handle", so this module keeps its own map handle ->
 * (parent handle, name) (recname.h), filled just before a reply gives the
 * kernel an entry (lookup, readdirplus, create, mkdir, mknod, link) and
 * updated by rename (a hard link's path is its latest name).  Before the
 * reply, because the kernel may open the entry the moment it has it.  An
 * open resolves its path by walking up to the root.  Entries whose handle
 * the kernel no longer knows (no inode in the table) are swept every 30 s
 * once untouched for that long, so the map stays the size of the kernel's
 * own name cache.  Names removed by
 * unlink stay until swept (a removed name cannot be opened anyway).
 *
 * Sets.  Each job's set lists each path once, in first-open order, capped
 * at RECORD_MAX_PATHS paths / RECORD_MAX_BYTES bytes (then a final
 * "# truncated" line says so).  It is written as DIR/job-ID.set
 * (tmp + rename) every RECORD_INTERVAL_S seconds while it changed, when
 * the control file .bramble is opened (so a tool reading it sees every
 * open made before), and at unmount: a kill -9 loses at most the opens
 * of the last RECORD_INTERVAL_S seconds.  A set that was already written
 * is loaded again when its job opens more files after a restart of
 * bramblefs or after it was dropped from memory (clean and idle for
 * RECORD_IDLE_S seconds).
 *
 * Format: "# bramble learned set v1", then one path per line relative to
 * the mount root, '\\' and newline written as "\\\\" and "\\n"; a path
 * starting with '#' is written "./#...", so every line starting with '#'
 * is a comment.
 *
 * Thread-safe: one mutex for names and sets, never held during file or
 * /proc I/O; the pid -> job cache has its own.  Every function accepts
 * fs->rec == NULL (recording off) and then returns at once. */
#ifndef BR_FUSE_RECORD_H
#define BR_FUSE_RECORD_H

#include <stddef.h>

#include "bfs.h"

#define RECORD_MAX_PATHS 1000000
#define RECORD_MAX_BYTES (256u << 20)
#define RECORD_INTERVAL_S 5
#define RECORD_IDLE_S 600
#define RECORD_HEADER "# bramble learned set v1\n"

struct record;

/* Make dir (absolute) if missing (0755), check that it is a directory
 * this process can write, and lock it (DIR/.lock, flock) against a second
 * mount recording there.  No thread yet.  0, or -errno with a message in
 * err; *out owns the recorder (free: record_free). */
int record_new(const char *dir, struct record **out, char *err, size_t errlen);
/* Start the writer thread (after daemonizing).  0 or -errno. */
int record_start(struct bfs *fs);
/* Stop the thread, write every changed set, free.  NULL is fine. */
void record_free(struct record *r);

/* The kernel is about to get fh as dir/name. */
void record_name(struct bfs *fs, const struct bramble_fh *dir,
		 const char *name, const struct bramble_fh *fh);
/* A successful rename (flags: RENAME_*). */
void record_rename(struct bfs *fs, const struct bramble_fh *from,
		   const char *name, const struct bramble_fh *to,
		   const char *newname, unsigned int flags);
/* The caller of req opened the regular file fh: add its path to the
 * caller's job's set.  Call before replying (req is still valid). */
void record_open(struct bfs *fs, fuse_req_t req, const struct bramble_fh *fh);
/* create: record_name() then record_open(). */
void record_create(struct bfs *fs, fuse_req_t req, const struct bramble_fh *dir,
		   const char *name, const struct bramble_fh *fh);
/* For .bramble: write the changed sets now, then add the record.*
 * counters to out. */
void record_ctl(struct bfs *fs, struct buf *out);

#endif
