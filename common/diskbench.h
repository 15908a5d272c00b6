/* diskbench.h - how fast a filesystem's disk writes and reads, measured
 * with one scratch file: brambled's BENCH_DISK (the export's disk) and
 * `bramble bench' (the node's cache disk) both use it, so the two figures
 * mean the same thing.
 *
 * The file is an O_TMPFILE in the directory -- never visible, freed by
 * the kernel even if the process dies halfway -- or, on a filesystem
 * without O_TMPFILE, a name removed right after it is made.  O_DIRECT
 * keeps the page cache out of both figures; where the filesystem refuses
 * O_DIRECT, the writes are buffered and end in fdatasync (timed), and
 * POSIX_FADV_DONTNEED drops the (then clean) pages before the reads.
 * Blocks of DISKBENCH_BLOCK bytes, each different and none all zeros, so
 * neither compression nor dedup flatters the figure.
 *
 * Blocking, no shared state: any thread may run it. */
#ifndef BR_DISKBENCH_H
#define BR_DISKBENCH_H

#include <stdbool.h>
#include <stdint.h>

#define DISKBENCH_BLOCK 1048576

struct diskbench {
	uint64_t write_bytes, write_ns;   /* writes + the final fdatasync */
	uint64_t read_bytes, read_ns;
	bool direct;               /* O_DIRECT */
	bool tmpfile;              /* an O_TMPFILE */
	uint64_t fs_free;          /* bytes available before (statvfs) */
};

/* How much to write in dirfd's filesystem: want, at most max, in whole
 * blocks, leaving free 5 % of the filesystem (at least 64 MiB).  *free_out
 * (may be NULL): bytes available now.  0, or -ENOSPC when not even one
 * block fits, or -errno of fstatvfs. */
int diskbench_size(int dirfd, uint64_t want, uint64_t max, uint64_t *size,
		   uint64_t *free_out);

/* Write size bytes (a multiple of DISKBENCH_BLOCK) to a scratch file in
 * dirfd, fdatasync, read them back; each phase stops after budget_ns
 * (having done at least one block).  The file is gone on return.  0 with
 * *out filled (fs_free left as it was), or -errno. */
int diskbench_run(int dirfd, uint64_t size, int64_t budget_ns, struct diskbench *out);

#endif
